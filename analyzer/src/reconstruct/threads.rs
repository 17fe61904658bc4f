//! Groups LLM calls into conversations.
//!
//! Clients resend the whole history on every turn, so a call continues an
//! earlier one when (strongest evidence first) it names that call's response
//! as `previous_response_id`, it returns results for that call's tool calls,
//! or its messages start with exactly that call's messages. Ties between
//! identical histories go to the call whose answer the new request repeats.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::fast::FixedState;

use agentsight_decode::llm::{ChatMessage, Part};

/// What grouping needs to know about one call.
pub struct CallShape<'a> {
    /// Calls are grouped within one capture only.
    pub capture: &'a str,
    pub messages: &'a [ChatMessage],
    pub response_text: &'a str,
    pub response_id: Option<&'a str>,
    pub previous_response_id: Option<&'a str>,
    pub tool_call_ids: Vec<&'a str>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub conversation: u64,
    pub turn: u32,
    /// Leading request messages already sent by the previous call of the
    /// conversation (0 for a first call).
    pub repeated: usize,
}

/// Fingerprint of a message's content (role, text, tool ids and results).
/// Tool-use arguments are left out: clients re-serialise them.
fn fingerprint(m: &ChatMessage) -> u64 {
    // A fast fixed-seed hash: message text adds up to most of the capture.
    let mut h = FixedState::with_seed(0).build_hasher();
    m.role.hash(&mut h);
    for p in &m.parts {
        match p {
            Part::Text { text } => (0u8, text).hash(&mut h),
            Part::Thinking { .. } => 1u8.hash(&mut h),
            Part::ToolUse { id, name, .. } => (2u8, id, name).hash(&mut h),
            Part::ToolResult {
                tool_use_id, text, ..
            } => (3u8, tool_use_id, text).hash(&mut h),
            Part::Other { kind } => (4u8, kind).hash(&mut h),
        }
    }
    h.finish()
}

fn chain(prev: u64, fp: u64) -> u64 {
    FixedState::with_seed(0).hash_one((prev, fp))
}

fn tool_result_ids(messages: &[ChatMessage]) -> impl Iterator<Item = &str> {
    messages.iter().flat_map(|m| {
        m.parts.iter().filter_map(|p| match p {
            Part::ToolResult { tool_use_id, .. } if !tool_use_id.is_empty() => {
                Some(tool_use_id.as_str())
            }
            _ => None,
        })
    })
}

/// Whether `m` is (part of) `call`'s answer resent as history: the same
/// text, or tool uses the call asked for.
fn is_answer_of(m: &ChatMessage, call: &CallShape<'_>) -> bool {
    if !matches!(m.role.as_str(), "assistant" | "model") {
        return false;
    }
    let tool_ids: Vec<&str> = m
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolUse { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let same_text = m.text == call.response_text;
    let own_tools = tool_ids.iter().all(|id| call.tool_call_ids.contains(id));
    match (m.text.is_empty(), tool_ids.is_empty()) {
        (false, true) => same_text,
        (true, false) => own_tools,
        (false, false) => same_text && own_tools,
        (true, true) => false,
    }
}

/// Places every call (given in request order) in a conversation. Numbers
/// start at 0 per capture, in order of each conversation's first call.
pub fn group(calls: &[CallShape<'_>]) -> Vec<Placement> {
    let fps: Vec<Vec<u64>> = calls
        .iter()
        .map(|c| c.messages.iter().map(fingerprint).collect())
        .collect();
    // Per capture: history hash -> calls whose full request had it.
    let mut by_history: HashMap<(&str, u64), Vec<usize>> = HashMap::new();
    let mut by_tool_id: HashMap<(&str, &str), usize> = HashMap::new();
    let mut by_response_id: HashMap<(&str, &str), usize> = HashMap::new();
    let mut next_conv: HashMap<&str, u64> = HashMap::new();
    let mut turns: HashMap<(&str, u64), u32> = HashMap::new();
    let mut out: Vec<Placement> = Vec::with_capacity(calls.len());

    for (i, c) in calls.iter().enumerate() {
        let cap = c.capture;
        let mut parent = c
            .previous_response_id
            .and_then(|id| by_response_id.get(&(cap, id)).copied());
        if parent.is_none() {
            parent = tool_result_ids(c.messages)
                .filter_map(|id| by_tool_id.get(&(cap, id)).copied())
                .max();
        }
        let mut prefixes = Vec::with_capacity(fps[i].len());
        let mut h = 0u64;
        for fp in &fps[i] {
            h = chain(h, *fp);
            prefixes.push(h);
        }
        if parent.is_none() {
            // Longest proper prefix that was some earlier call's history.
            for k in (1..fps[i].len()).rev() {
                let Some(cands) = by_history.get(&(cap, prefixes[k - 1])) else {
                    continue;
                };
                let answered = |&&j: &&usize| {
                    c.messages[k].role == "assistant"
                        && !calls[j].response_text.is_empty()
                        && c.messages[k].text == calls[j].response_text
                };
                parent = cands.iter().rev().find(answered).or(cands.last()).copied();
                break;
            }
        }
        let placement = match parent {
            Some(p) => {
                let conv = out[p].conversation;
                let turn = turns.entry((cap, conv)).or_insert(0);
                *turn += 1;
                let mut repeated = fps[p]
                    .iter()
                    .zip(&fps[i])
                    .take_while(|(a, b)| a == b)
                    .count();
                // The parent's answer, as the client sends it back, is not new either.
                while c
                    .messages
                    .get(repeated)
                    .is_some_and(|m| is_answer_of(m, &calls[p]))
                {
                    repeated += 1;
                }
                Placement {
                    conversation: conv,
                    turn: *turn,
                    repeated,
                }
            }
            None => {
                let n = next_conv.entry(cap).or_insert(0);
                let conv = *n;
                *n += 1;
                turns.insert((cap, conv), 0);
                Placement {
                    conversation: conv,
                    turn: 0,
                    repeated: 0,
                }
            }
        };
        out.push(placement);
        if let Some(last) = prefixes.last() {
            by_history.entry((cap, *last)).or_default().push(i);
        }
        for id in &c.tool_call_ids {
            if !id.is_empty() {
                by_tool_id.insert((cap, id), i);
            }
        }
        if let Some(id) = c.response_id {
            by_response_id.insert((cap, id), i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(role: &str, text: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            text: text.into(),
            parts: vec![Part::Text { text: text.into() }],
        }
    }

    fn tool_result(id: &str) -> ChatMessage {
        ChatMessage {
            role: "user".into(),
            text: String::new(),
            parts: vec![Part::ToolResult {
                tool_use_id: id.into(),
                text: "sunny".into(),
                is_error: false,
            }],
        }
    }

    fn shape<'a>(m: &'a [ChatMessage], answer: &'a str, tools: Vec<&'a str>) -> CallShape<'a> {
        CallShape {
            capture: "c",
            messages: m,
            response_text: answer,
            response_id: None,
            previous_response_id: None,
            tool_call_ids: tools,
        }
    }

    #[test]
    fn extending_histories_form_one_conversation_and_others_start_new_ones() {
        let a1 = vec![msg("system", "be brief"), msg("user", "hi")];
        let b1 = a1.clone(); // same opening, another conversation
        let a2 = vec![
            msg("system", "be brief"),
            msg("user", "hi"),
            msg("assistant", "hello A"),
            msg("user", "more"),
        ];
        let other = vec![msg("user", "unrelated")];
        let calls = [
            shape(&a1, "hello A", vec![]),
            shape(&b1, "hello B", vec![]),
            shape(&other, "x", vec![]),
            shape(&a2, "done", vec![]),
        ];
        let p = group(&calls);
        assert_eq!(p[0].conversation, 0);
        assert_eq!(
            p[1].conversation, 1,
            "an identical request is not a continuation"
        );
        assert_eq!(p[2].conversation, 2);
        // a2 repeats "hello A", so it continues a1, not the later b1; only
        // its last message is new
        assert_eq!(
            p[3],
            Placement {
                conversation: 0,
                turn: 1,
                repeated: 3
            }
        );
    }

    #[test]
    fn tool_results_and_previous_response_ids_link_calls() {
        let first = vec![msg("user", "weather?")];
        let second = vec![tool_result("toolu_1")];
        let mut calls = vec![
            shape(&first, "", vec!["toolu_1"]),
            shape(&first, "", vec!["toolu_2"]),
            shape(&second, "sunny it is", vec![]),
        ];
        calls[1].response_id = Some("resp_9");
        let third = vec![msg("user", "and tomorrow?")];
        calls.push(shape(&third, "", vec![]));
        calls[3].previous_response_id = Some("resp_9");
        let p = group(&calls);
        assert_eq!(p[2].conversation, p[0].conversation);
        assert_eq!(p[2].turn, 1);
        assert_eq!(p[3].conversation, p[1].conversation);
        assert_ne!(p[0].conversation, p[1].conversation);
    }
}
