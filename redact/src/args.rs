//! Credentials outside HTTP: command lines.
//!
//! `agentsight record -- env ANTHROPIC_API_KEY=sk-ant-… agent`, `curl -H
//! "Authorization: Bearer …"` and `gh --token ghp_…` put secrets into argv,
//! which the recorder stores for every exec and in the manifest. They are
//! masked at record time under the same switch as headers. A masked value
//! becomes `«masked:XXXXXXXX»` where X is the start of the SHA-256 of the
//! secret: two uses of one key still correlate across processes, and 32 bits
//! are far too few to confirm a guess of a real key (a short password could
//! be narrowed down, which is why a weak secret is still better not typed on
//! a command line).

use std::borrow::Cow;

use crate::secrets::{at_token_boundary, masked, token_at};
use crate::Redactor;

/// Words that make a variable or option name a credential's
/// (`ANTHROPIC_API_KEY`, `--auth-token`, `DB_PASSWORD`, `--client-secret`).
const SECRET_NAME_WORDS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "credential",
    "auth",
    "cookie",
    "session",
];

/// Names that contain a word above but hold no secret.
const NOT_SECRET_NAMES: &[&str] = &["keyboard", "keymap", "author", "sessionid_file"];

/// True when `name` (a variable or an option without its dashes) names a credential.
fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if NOT_SECRET_NAMES.contains(&lower.as_str()) {
        return false;
    }
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| {
            SECRET_NAME_WORDS
                .iter()
                .any(|w| word.ends_with(w) || word.starts_with(w))
        })
        && !matches!(lower.as_str(), "pwd" | "oldpwd")
}

/// A variable name as `env`, shells and `docker -e` accept it.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `--api-key` / `-token` → `api-key` / `token`, when the argument is an option name.
fn option_name(arg: &str) -> Option<&str> {
    let name = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then_some(name)
}

impl Redactor {
    /// Masks the credentials in one command line. An option whose name is a
    /// credential's masks the argument after it (`--token ghp_…`).
    pub fn mask_argv<'a>(&self, argv: Vec<Cow<'a, str>>) -> Vec<Cow<'a, str>> {
        let mut value_is_secret = false;
        argv.into_iter()
            .map(|arg| {
                if std::mem::take(&mut value_is_secret) && !arg.is_empty() && !arg.starts_with('-')
                {
                    return Cow::Owned(masked(&arg));
                }
                value_is_secret = option_name(&arg).is_some_and(is_secret_name);
                match self.mask_arg(&arg) {
                    Cow::Owned(m) => Cow::Owned(m),
                    Cow::Borrowed(_) => arg,
                }
            })
            .collect()
    }

    /// Masks the credentials inside one argument: `NAME=value` and
    /// `--name=value` with a credential's name, `Header: value` with a
    /// configured header name, `Bearer …`, and known token shapes anywhere.
    pub fn mask_arg<'a>(&self, arg: &'a str) -> Cow<'a, str> {
        if let Some((name, value)) = arg.split_once('=') {
            let bare = option_name(name).unwrap_or(name);
            let named = (bare.len() < name.len() || is_variable_name(name)) && is_secret_name(bare);
            if named && !value.is_empty() {
                return Cow::Owned(format!("{name}={}", masked(value)));
            }
        }
        if let Some((name, value)) = arg.split_once(':') {
            let lower = name.trim().to_ascii_lowercase();
            let value = value.trim();
            if self.names.matches(lower.as_bytes()) && !value.is_empty() {
                return Cow::Owned(format!("{name}: {}", masked(value)));
            }
        }
        mask_token_shapes(arg)
    }
}

/// Masks `Bearer <token>` and every known token prefix followed by a long
/// enough run of token characters.
fn mask_token_shapes(arg: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < arg.len() {
        // a token starts at a boundary, not inside a longer word
        if !at_token_boundary(arg, i) {
            i += 1;
            continue;
        }
        match token_at(&arg[i..]) {
            Some((offset, len)) => {
                let start = i + offset;
                out.push_str(&arg[copied..start]);
                out.push_str(&masked(&arg[start..start + len]));
                copied = start + len;
                i = copied;
            }
            None => i += 1,
        }
    }
    if copied == 0 {
        Cow::Borrowed(arg)
    } else {
        out.push_str(&arg[copied..]);
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(argv: &[&str]) -> Vec<String> {
        let argv = argv.iter().map(|&a| Cow::Borrowed(a)).collect();
        Redactor::new()
            .mask_argv(argv)
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    const ANT: &str = "sk-ant-api03-Zx8Qw1vB7nLk2Jd9Hs4TyUe6";

    #[test]
    fn env_assignments_with_credential_names_are_masked() {
        let out = mask(&[
            "env",
            &format!("ANTHROPIC_API_KEY={ANT}"),
            "DB_PASSWORD=hunter2",
            "HOME=/root",
            "claude",
        ]);
        assert_eq!(out[0], "env");
        assert_eq!(out[1], format!("ANTHROPIC_API_KEY={}", masked(ANT)));
        assert_eq!(out[2], format!("DB_PASSWORD={}", masked("hunter2")));
        assert_eq!(out[3], "HOME=/root");
        assert_eq!(out[4], "claude");
        assert!(!out.concat().contains(ANT));
    }

    #[test]
    fn options_with_credential_names_mask_their_value() {
        let out = mask(&[
            "gh",
            "--token",
            "abc123secret",
            "--auth-token=xyz789",
            "--repo",
            "a/b",
        ]);
        assert_eq!(
            out,
            vec![
                "gh".to_string(),
                "--token".into(),
                masked("abc123secret"),
                format!("--auth-token={}", masked("xyz789")),
                "--repo".into(),
                "a/b".into(),
            ]
        );
    }

    #[test]
    fn header_arguments_and_bearer_tokens_are_masked() {
        let out = mask(&[
            "curl",
            "-H",
            "Authorization: Bearer abcdefghijklmnop",
            "-H",
            "x-api-key: k-123",
            "https://x",
        ]);
        assert_eq!(
            out[2],
            format!("Authorization: {}", masked("Bearer abcdefghijklmnop"))
        );
        assert_eq!(out[4], format!("x-api-key: {}", masked("k-123")));
        assert_eq!(out[5], "https://x");
        let out = mask(&[
            "sh",
            "-c",
            "wget --header='Bearer abcdefghijklmnop' http://h",
        ]);
        assert_eq!(
            out[2],
            format!(
                "wget --header='Bearer {}' http://h",
                masked("abcdefghijklmnop")
            )
        );
    }

    #[test]
    fn token_shapes_are_masked_anywhere_and_prose_is_not() {
        let aws = "AKIAIOSFODNN7EXAMPLE";
        let gh = "ghp_0123456789abcdefghijABCDEFGHIJ";
        let out = mask(&[
            "sh",
            "-c",
            &format!("aws s3 ls --key {aws} && echo {ANT} | gh auth login --with-token {gh}"),
        ]);
        assert_eq!(
            out[2],
            format!(
                "aws s3 ls --key {} && echo {} | gh auth login --with-token {}",
                masked(aws),
                masked(ANT),
                masked(gh)
            )
        );
        for prose in [
            "ask-me",
            "sk-short",
            "risk-assessment-document-final",
            "AKIA",
            "task_sk-1234567890123456789012",
        ] {
            assert_eq!(mask(&[prose]), vec![prose.to_string()], "{prose}");
        }
    }

    #[test]
    fn one_secret_has_one_fingerprint_and_no_secret_survives() {
        let a = mask(&[&format!("OPENAI_API_KEY={ANT}")]);
        let b = mask(&["sh", "-c", &format!("curl -d {ANT} x")]);
        assert!(a[0].ends_with(&masked(ANT)));
        assert!(b[2].contains(&masked(ANT)));
        assert_ne!(masked(ANT), masked("sk-ant-api03-other-key-000000"));
    }

    #[test]
    fn ordinary_command_lines_are_untouched() {
        let argv = [
            "bash",
            "-c",
            "ls -la /tmp && cat keyboard.txt",
            "--author=me",
            "PWD=/home/u",
            "--keymap",
            "us",
        ];
        let out = Redactor::new().mask_argv(argv.iter().map(|&a| Cow::Borrowed(a)).collect());
        assert!(out.iter().all(|a| matches!(a, Cow::Borrowed(_))), "{out:?}");
    }

    #[test]
    fn hostile_unicode_does_not_panic() {
        for arg in [
            "é=ü",
            "Bearer ééééééééééé",
            "sk-ééééééééééééééééééééééé",
            "a:\u{0}",
            "=",
            ":",
            "--=x",
        ] {
            let _ = mask(&[arg, arg]);
        }
    }
}
