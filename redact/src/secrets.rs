//! Credential shapes, shared by the command-line masking (record time) and
//! the analyzer's secret scan (anomaly rules): one list of what a key looks
//! like, and one fingerprint, so a finding's hash matches the
//! `«masked:…»` the recorder left in an argv.

use sha2::{Digest, Sha256};

/// Token prefixes whose shape alone says "credential", wherever they appear,
/// with the class a finding reports. Each comes with the shortest tail that
/// makes a match a real key rather than the prefix in prose (`sk-` alone is
/// common in text). Longer prefixes first: the first match wins.
const TOKEN_PREFIXES: &[(&str, usize, &str)] = &[
    ("sk-ant-", 16, "anthropic_api_key"),
    ("sk-proj-", 16, "openai_api_key"),
    ("sk-", 20, "openai_api_key"),
    ("AKIA", 16, "aws_access_key_id"),
    ("ASIA", 16, "aws_access_key_id"),
    ("ghp_", 20, "github_token"),
    ("gho_", 20, "github_token"),
    ("ghu_", 20, "github_token"),
    ("ghs_", 20, "github_token"),
    ("ghr_", 20, "github_token"),
    ("github_pat_", 20, "github_token"),
    ("glpat-", 20, "gitlab_token"),
    ("xoxb-", 10, "slack_token"),
    ("xoxp-", 10, "slack_token"),
    ("xoxa-", 10, "slack_token"),
    ("xoxs-", 10, "slack_token"),
    ("xoxr-", 10, "slack_token"),
    ("AIza", 30, "google_api_key"),
    ("hf_", 30, "huggingface_token"),
];

/// The first 32 bits of the SHA-256 of a secret, as 8 hex digits: enough to
/// correlate two uses of one key, far too few to confirm a guess of it.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// What a masked secret is replaced with.
pub fn masked(secret: &str) -> String {
    format!("«masked:{}»", fingerprint(secret))
}

pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// True when a token may start at byte `i` of `text`: not inside a longer
/// word, where a JSON or C escape (`\n`, `\t`, `\r`) before it counts as
/// whitespace, as it is once decoded (request bodies are scanned as sent).
pub(crate) fn at_token_boundary(text: &str, i: usize) -> bool {
    if !text.is_char_boundary(i) {
        return false;
    }
    let before = &text[..i];
    !before.ends_with(is_token_char)
        || before.ends_with("\\n")
        || before.ends_with("\\t")
        || before.ends_with("\\r")
}

/// The secret at the start of `text`, as (offset, length): a bearer token
/// (base64 and JWT characters, after the word) or a prefixed key.
pub(crate) fn token_at(text: &str) -> Option<(usize, usize)> {
    shape_at(text).map(|(offset, len, _)| (offset, len))
}

fn shape_at(text: &str) -> Option<(usize, usize, &'static str)> {
    let run = |from: usize, allowed: fn(char) -> bool| {
        text[from..]
            .find(|c: char| !allowed(c))
            .unwrap_or(text.len() - from)
    };
    if text
        .get(..7)
        .is_some_and(|w| w.eq_ignore_ascii_case("bearer "))
    {
        let len = run(7, |c| {
            is_token_char(c) || matches!(c, '.' | '+' | '/' | '=' | '~')
        });
        return (len >= 8).then_some((7, len, "bearer_token"));
    }
    let (prefix, tail, class) = TOKEN_PREFIXES
        .iter()
        .find(|(p, _, _)| text.starts_with(p))?;
    let len = run(0, is_token_char);
    (len >= prefix.len() + tail).then_some((0, len, *class))
}

/// One credential found in a text: its class, where it is (byte offset and
/// length) and its [`fingerprint`]. Never the value itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretHit {
    pub class: &'static str,
    pub offset: usize,
    pub len: usize,
    pub fingerprint: String,
}

const PEM_BEGIN: &str = "-----BEGIN ";
const PEM_PRIVATE: &str = "PRIVATE KEY-----";
/// `aws_secret_access_key = …` as in ~/.aws/credentials and env dumps.
const AWS_SECRET_NAMES: &[&str] = &["aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"];

/// Every credential in `text`, in order: known token shapes and bearer
/// tokens (as the command-line masking finds them), PEM private keys (the
/// whole block, or what there is of it when cut) and AWS secret keys after
/// their variable name.
pub fn find_secrets(text: &str) -> Vec<SecretHit> {
    let mut hits = Vec::new();
    let mut push = |class, offset: usize, len: usize| {
        hits.push(SecretHit {
            class,
            offset,
            len,
            fingerprint: fingerprint(&text[offset..offset + len]),
        })
    };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < text.len() {
        // The first byte filter keeps the scan cheap on long prose.
        let starts = matches!(
            bytes[i],
            b's' | b'A' | b'g' | b'x' | b'h' | b'B' | b'b' | b'-' | b'a'
        );
        if !starts || !at_token_boundary(text, i) {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        if let Some((offset, len, class)) = shape_at(rest) {
            push(class, i + offset, len);
            i += offset + len;
        } else if let Some(len) = pem_private_key(rest) {
            push("private_key", i, len);
            i += len;
        } else if let Some((offset, len)) = aws_secret_at(rest) {
            push("aws_secret_access_key", i + offset, len);
            i += offset + len;
        } else {
            i += 1;
        }
    }
    hits
}

/// `text` with every [`find_secrets`] hit replaced by [`masked`]: for
/// showing captured text to people (reports), never for evidence.
pub fn mask_secrets(text: &str) -> std::borrow::Cow<'_, str> {
    let hits = find_secrets(text);
    if hits.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for h in hits {
        out.push_str(&text[at..h.offset]);
        out.push_str(&format!("«masked:{}»", h.fingerprint));
        at = h.offset + h.len;
    }
    out.push_str(&text[at..]);
    std::borrow::Cow::Owned(out)
}

/// Length of the PEM private key block at the start of `text`, found by
/// its dashes rather than line breaks, so that a JSON-escaped key (`\n`)
/// is found too.
fn pem_private_key(text: &str) -> Option<usize> {
    let after = text.strip_prefix(PEM_BEGIN)?;
    let label_len = after.find("-----")?;
    let label = &after[..label_len];
    if label.len() > 40 || !label.ends_with("PRIVATE KEY") {
        return None;
    }
    let body = PEM_BEGIN.len() + label_len + 5;
    let end = text[body..]
        .find("-----END ")
        .and_then(|e| {
            let e = body + e;
            text[e..]
                .find(PEM_PRIVATE)
                .map(|k| e + k + PEM_PRIVATE.len())
        })
        .unwrap_or(text.len());
    Some(end)
}

/// (offset, length) of the value in `aws_secret_access_key = VALUE`.
fn aws_secret_at(text: &str) -> Option<(usize, usize)> {
    let name = AWS_SECRET_NAMES.iter().find(|n| text.starts_with(*n))?;
    let after = &text[name.len()..];
    let sep = after.find(|c: char| !matches!(c, ' ' | '\t' | '=' | ':' | '"' | '\''))?;
    if !after[..sep].contains(['=', ':']) {
        return None;
    }
    let value = &after[sep..];
    let len = value
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '=')))
        .unwrap_or(value.len());
    (len >= 30).then_some((name.len() + sep, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS_ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn mask_secrets_replaces_each_hit_with_its_fingerprint() {
        let text = format!("id {AWS_ID} and aws_secret_access_key = {AWS_SECRET}; plain");
        let m = mask_secrets(&text);
        assert_eq!(
            m,
            format!(
                "id {} and aws_secret_access_key = {}; plain",
                masked(AWS_ID),
                masked(AWS_SECRET)
            )
        );
        assert!(matches!(
            mask_secrets("nothing here"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn finds_each_class_with_offset_and_fingerprint() {
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        let text = format!(
            "[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n{key}\nAuthorization: Bearer abcdefgh12345678\n"
        );
        let hits = find_secrets(&text);
        let classes: Vec<_> = hits.iter().map(|h| h.class).collect();
        assert_eq!(
            classes,
            [
                "aws_access_key_id",
                "aws_secret_access_key",
                "private_key",
                "bearer_token"
            ]
        );
        for h in &hits {
            assert_eq!(
                h.fingerprint,
                fingerprint(&text[h.offset..h.offset + h.len])
            );
        }
        assert_eq!(&text[hits[0].offset..][..hits[0].len], AWS_ID);
        assert_eq!(&text[hits[1].offset..][..hits[1].len], AWS_SECRET);
        assert_eq!(&text[hits[2].offset..][..hits[2].len], key);
        // The masking and the scan agree on one secret's fingerprint.
        assert_eq!(masked(AWS_ID), format!("«masked:{}»", hits[0].fingerprint));
    }

    #[test]
    fn json_escaped_private_keys_are_found() {
        let body = r#"{"content":"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\nok"}"#;
        let hits = find_secrets(body);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].class, "private_key");
        assert!(body[hits[0].offset..][..hits[0].len].ends_with("END OPENSSH PRIVATE KEY-----"));
    }

    #[test]
    fn json_escapes_separate_tokens() {
        let body =
            format!(r#"{{"content":"[default]\naws_secret_access_key = {AWS_SECRET}\n{AWS_ID}"}}"#);
        let classes: Vec<_> = find_secrets(&body).iter().map(|h| h.class).collect();
        assert_eq!(classes, ["aws_secret_access_key", "aws_access_key_id"]);
        assert_eq!(find_secrets(&format!("x{AWS_ID}")), vec![]);
    }

    #[test]
    fn prose_and_near_misses_are_not_secrets() {
        for text in [
            "ask the risk-assessment team; AKIA is a prefix",
            "aws_secret_access_key is the name of a setting",
            "-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----",
            "task_sk-1234567890123456789012",
        ] {
            assert_eq!(find_secrets(text), vec![], "{text}");
        }
    }

    #[test]
    fn cut_keys_and_hostile_text_do_not_panic() {
        assert_eq!(
            find_secrets("-----BEGIN RSA PRIVATE KEY-----\nMIIEow")[0].class,
            "private_key"
        );
        for t in [
            "é-----BEGIN ",
            "aws_secret_access_key=é",
            "Bearer é",
            "\u{0}sk-é",
        ] {
            let _ = find_secrets(t);
        }
    }
}
