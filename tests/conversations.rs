//! End to end: real SDK clients (python and node, Anthropic and OpenAI,
//! streaming and not, multi-turn tool loops) talk to the scripted mock LLM
//! server under `agentsight record`; the decoded tables must equal what the
//! server says it served, call by call.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::mock::*;
use common::*;

use serde_json::{json, Value};

/// The LLM exchanges of the server log, by (client port, exchange on the connection).
fn served_calls(log: &Path) -> BTreeMap<(u64, u64), Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["type"] == "exchange"
                && ["anthropic", "openai_chat", "openai_responses"]
                    .contains(&v["endpoint"].as_str().unwrap_or(""))
        })
        .map(|v| {
            let peer = v["peer"].as_str().unwrap();
            let port: u64 = peer.rsplit(':').next().unwrap().parse().unwrap();
            ((port, v["seq"].as_u64().unwrap()), v)
        })
        .collect()
}

/// What the clients' tool returns (tests/clients/_mockenv.py and .mjs).
fn tool_result(args: &Value) -> Value {
    let unit = args["unit"].as_str().unwrap_or("celsius");
    json!({
        "city": args["city"],
        "unit": unit,
        "temperature": if unit == "celsius" { 18 } else { 64 },
        "conditions": "sunny",
    })
}

fn opt_u64(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

#[test]
#[cfg_attr(
    no_ebpf,
    ignore = "needs root and kernel BTF to record (CI=true runs it and fails instead)"
)]
fn sdk_conversations_equal_the_script() {
    let _g = serial();
    if !can_record() {
        return;
    }
    let work = tempdir();
    let script = repo().join("tests/support/scripts/conversation.json");
    let server = MockServer::start_with(work.path(), &["--script", &script.display().to_string()]);
    let out = work.path().join("cap");
    // Every client run starts from the script's first turn.
    let reset = "curl -sk --http1.1 -o /dev/null -X POST \"$MOCK_BASE_URL/_control/reset\"";
    let runs = [
        "python3 tests/clients/py_anthropic.py --mode loop",
        "python3 tests/clients/py_anthropic.py --mode loop-stream",
        "python3 tests/clients/py_openai.py --mode chat-loop",
        "python3 tests/clients/py_openai.py --mode responses-loop",
        "python3 tests/clients/py_openai.py --mode chat-stream",
        "python3 tests/clients/py_openai.py --mode responses-stream",
        "node tests/clients/node_anthropic.mjs --mode loop",
        "node tests/clients/node_anthropic.mjs --mode loop-stream",
        "node tests/clients/node_openai.mjs --mode chat-loop",
        "node tests/clients/node_openai.mjs --mode responses-loop",
        // HTTP/2 (curl negotiates it by ALPN): one streaming Anthropic call
        "curl -s --http2 --cacert \"$SSL_CERT_FILE\" -H 'content-type: application/json' \
         -H \"x-api-key: $MOCK_API_KEY\" -H 'anthropic-version: 2023-06-01' \
         -d '{\"model\":\"claude-mock-conv\",\"max_tokens\":64,\"stream\":true,\
         \"messages\":[{\"role\":\"user\",\"content\":\"over h2\"}]}' \
         \"$MOCK_BASE_URL/v1/messages\"",
    ];
    let shell: Vec<String> = runs
        .iter()
        .map(|r| format!("{reset} && {r} > /dev/null"))
        .collect();
    let o = record_with(&server, &out, &[], &["sh", "-c", &shell.join(" && ")]);
    assert!(o.status.success(), "clients failed");
    let log = server.log.clone();
    drop(server.stop());
    let served = served_calls(&log);
    // 8 loops of 3 calls + 3 single streaming calls
    assert_eq!(served.len(), 27, "server log: {served:#?}");
    assert_eq!(
        served.values().filter(|v| v["proto"] == "h2").count(),
        1,
        "curl spoke HTTP/2"
    );

    let calls = query_json(
        &out,
        "SELECT c.*, h.local_port, h.request_headers FROM llm_calls c \
         JOIN http_exchanges h USING (capture, conn_id, exchange_index) ORDER BY call_id",
    );
    let tools = query_json(
        &out,
        "SELECT * FROM tool_calls ORDER BY call_id, tool_index",
    );
    assert_eq!(
        calls.len(),
        served.len(),
        "one llm_calls row per served call"
    );

    let mut matched = BTreeSet::new();
    for c in &calls {
        let key = (opt_u64(&c["local_port"]), opt_u64(&c["exchange_index"]));
        let s = served
            .get(&key)
            .unwrap_or_else(|| panic!("captured call {c} not in the server log"));
        assert!(matched.insert(key), "two calls matched {key:?}");
        let turn = &s["turn"];
        let id = &c["call_id"];
        assert_eq!(c["provider"], s["endpoint"], "call {id}");
        assert_eq!(c["streaming"], s["stream"], "call {id}");
        assert_eq!(c["partial"], false, "call {id}");
        assert_eq!(c["status"], 200, "call {id}");
        assert_eq!(c["model"], turn["model"], "call {id}");
        assert_eq!(c["stop_reason"], turn["stop_reason"], "call {id}");
        assert_eq!(c["response_text"], turn["text"], "call {id}");
        assert_eq!(
            c["thinking_text"].as_str().unwrap_or(""),
            turn["thinking"].as_str().unwrap_or(""),
            "call {id}"
        );
        let usage = &turn["usage"];
        assert_eq!(c["input_tokens"], usage["input_tokens"], "call {id}");
        assert_eq!(c["output_tokens"], usage["output_tokens"], "call {id}");
        assert_eq!(
            opt_u64(&c["cache_read_tokens"]),
            opt_u64(&usage["cache_read_input_tokens"]),
            "call {id}"
        );
        assert!(opt_u64(&c["duration_ns"]) > 0, "call {id} has timings");
        // Credentials stay redacted in the decoded headers.
        let headers = c["request_headers"].as_str().unwrap().to_ascii_lowercase();
        assert!(
            !headers.contains(&API_KEY.to_ascii_lowercase()),
            "API key in call {id}"
        );
        assert!(
            headers.contains("x-api-key") || headers.contains("authorization"),
            "credential header name kept: {headers}"
        );

        let mine: Vec<&Value> = tools.iter().filter(|t| t["call_id"] == *id).collect();
        let want = turn["tool_calls"].as_array().unwrap();
        assert_eq!(mine.len(), want.len(), "tool calls of call {id}");
        for (t, w) in mine.iter().zip(want) {
            assert_eq!(t["tool_call_id"], w["id"], "call {id}");
            assert_eq!(t["name"], w["name"], "call {id}");
            let args: Value = serde_json::from_str(t["arguments_json"].as_str().unwrap()).unwrap();
            assert_eq!(args, w["arguments"], "arguments of {}", w["id"]);
        }
    }

    // Conversations: each loop is one thread of three calls whose tool
    // results come back in the next call; the single calls stand alone.
    let convs = query_json(&out, "SELECT * FROM conversations ORDER BY conversation_id");
    let sizes: Vec<u64> = convs.iter().map(|c| opt_u64(&c["calls"])).collect();
    assert_eq!(
        sizes.iter().filter(|n| **n == 3).count(),
        8,
        "8 three-call loops: {sizes:?}"
    );
    assert_eq!(sizes.iter().filter(|n| **n == 1).count(), 3, "{sizes:?}");
    let h2 = query_json(
        &out,
        "SELECT c.response_text FROM llm_calls c JOIN http_exchanges h \
         USING (capture, conn_id, exchange_index) WHERE h.http_version = '2'",
    );
    assert_eq!(h2.len(), 1, "the HTTP/2 call was decoded: {h2:?}");
    for conv in convs.iter().filter(|c| c["calls"] == 3) {
        let cid = &conv["conversation_id"];
        let members: Vec<&Value> = calls
            .iter()
            .filter(|c| c["conversation_id"] == *cid)
            .collect();
        let turns: Vec<u64> = members.iter().map(|c| opt_u64(&c["turn"])).collect();
        assert_eq!(turns, [0, 1, 2], "conversation {cid}");
        assert!(
            members
                .iter()
                .all(|c| c["proc_key"] == members[0]["proc_key"]),
            "one process per loop"
        );
        let in_sum: u64 = members.iter().map(|c| opt_u64(&c["input_tokens"])).sum();
        assert_eq!(opt_u64(&conv["input_tokens"]), in_sum);
        assert_eq!(conv["final_text"], members[2]["response_text"]);
        for (k, m) in members.iter().take(2).enumerate() {
            let asked: Vec<&Value> = tools
                .iter()
                .filter(|t| t["call_id"] == m["call_id"])
                .collect();
            assert!(!asked.is_empty());
            for t in asked {
                assert_eq!(
                    t["result_call_id"],
                    members[k + 1]["call_id"],
                    "result of {} comes with the next turn",
                    t["tool_call_id"]
                );
                let args: Value =
                    serde_json::from_str(t["arguments_json"].as_str().unwrap()).unwrap();
                let sent: Value = serde_json::from_str(t["result_text"].as_str().unwrap())
                    .unwrap_or_else(|e| panic!("result of {}: {e}: {t}", t["tool_call_id"]));
                assert_eq!(sent, tool_result(&args), "{}", t["tool_call_id"]);
            }
        }
        // The prompt is new once, then repeated history.
        let prompts = query_json(
            &out,
            &format!(
                "SELECT new_in_conversation FROM llm_messages WHERE conversation_id = {cid} \
                 AND source = 'request' AND role = 'user' AND text LIKE 'What is the weather%' \
                 ORDER BY call_id"
            ),
        );
        let flags: Vec<bool> = prompts
            .iter()
            .map(|p| p["new_in_conversation"] == true)
            .collect();
        assert_eq!(flags, [true, false, false], "conversation {cid}");
    }

    // The transcript commands agree with the tables.
    let o = agentsight(&[
        "conversations",
        &out.display().to_string(),
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let listed = doc["conversations"].as_array().unwrap();
    assert_eq!(listed.len(), convs.len());
    let turns: usize = listed
        .iter()
        .map(|c| c["turns"].as_array().unwrap().len())
        .sum();
    assert_eq!(turns, calls.len());
    let o = agentsight(&["conversations", &out.display().to_string()]);
    assert!(o.status.success());
    let md = String::from_utf8_lossy(&o.stdout);
    assert_eq!(md.matches("# Conversation ").count(), convs.len());
    // Captured markup only ever appears inside indented (literal) blocks.
    let markup: Vec<&str> = md.lines().filter(|l| l.contains("<b>")).collect();
    assert!(!markup.is_empty());
    assert!(markup.iter().all(|l| l.starts_with("    ")), "{markup:?}");
}
