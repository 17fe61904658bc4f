//! Rule files: `queries/anomalies/<id>.sql` (built in) and `--rules DIR`.
//!
//! ```sql
//! -- id: chmod_exec_written
//! -- title: A file the agent's tree wrote was made executable
//! -- severity: medium
//! -- tags: T1222, T1059
//! -- description: chmod +x of a file created or written earlier by the same tree.
//! -- false_positives: build scripts that generate and run helpers.
//! --
//! -- Free comment lines after an empty `--` line.
//! SELECT capture, ts_ns, proc_key, summary, evidence, ... FROM ...
//! ```
//!
//! A header line is `-- key: value`; a comment line without a key continues
//! the previous value; an empty `--` ends the header. Lists and macros the
//! rules share are views in `shared/` (same format as `queries/*.sql`).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::views::{self, ViewDef};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    pub description: String,
    pub false_positives: String,
    /// The whole file (header included), so SQL error positions are file lines.
    pub sql: String,
    /// `builtin:anomalies/<file>` or the path it was read from.
    pub source: String,
    /// 1-based line of the first SQL line.
    pub sql_line: usize,
}

/// A rule or shared list that cannot run, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub source: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.source, self.line, self.message)
    }
}

fn err(source: &str, line: usize, message: impl Into<String>) -> RuleError {
    RuleError {
        source: source.to_string(),
        line,
        message: message.into(),
    }
}

const KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "tags",
    "description",
    "false_positives",
];

/// `key: value` when the comment starts with a lower-case word and a colon.
fn header_key(comment: &str) -> Option<(&str, &str)> {
    let (key, value) = comment.split_once(':')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .then_some((key, value.trim()))
}

/// Parses one rule file; `file_name` gives the expected id.
pub fn parse(file_name: &str, source: &str, text: &str) -> Result<Rule, RuleError> {
    let stem = file_name.strip_suffix(".sql").unwrap_or(file_name);
    let mut fields: Vec<(&'static str, String, usize)> = Vec::new();
    let mut current: Option<usize> = None;
    let mut in_header = true;
    let mut sql_line = None;
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let Some(comment) = t.strip_prefix("--") else {
            sql_line = Some(n);
            break;
        };
        if !in_header {
            continue;
        }
        let comment = comment.trim();
        if comment.is_empty() {
            in_header = fields.is_empty();
            continue;
        }
        match header_key(comment) {
            Some((key, value)) => {
                let Some(&known) = KEYS.iter().find(|k| **k == key) else {
                    return Err(err(
                        source,
                        n,
                        format!(
                            "unknown header key `{key}` (expected one of {})",
                            KEYS.join(", ")
                        ),
                    ));
                };
                if fields.iter().any(|(k, _, _)| *k == known) {
                    return Err(err(source, n, format!("`{key}` given twice")));
                }
                fields.push((known, value.to_string(), n));
                current = Some(fields.len() - 1);
            }
            None => match current {
                Some(i) => {
                    let v = &mut fields[i].1;
                    if !v.is_empty() {
                        v.push(' ');
                    }
                    v.push_str(comment);
                }
                None => {
                    return Err(err(
                        source,
                        n,
                        "the header must start with `-- id: ...` lines (see docs/anomalies.md)",
                    ))
                }
            },
        }
    }
    let get = |k: &str| fields.iter().find(|(key, _, _)| *key == k);
    let required = |k: &str| -> Result<(String, usize), RuleError> {
        match get(k) {
            Some((_, v, n)) if !v.is_empty() => Ok((v.clone(), *n)),
            Some((_, _, n)) => Err(err(source, *n, format!("`{k}` is empty"))),
            None => Err(err(
                source,
                1,
                format!("the header needs a `-- {k}: ...` line"),
            )),
        }
    };
    let (id, id_line) = required("id")?;
    if id != stem {
        return Err(err(
            source,
            id_line,
            format!("id `{id}` differs from the file name `{file_name}` (one file per rule, named <id>.sql)"),
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(err(
            source,
            id_line,
            format!("id `{id}` must be lower-case letters, digits and _"),
        ));
    }
    let (title, _) = required("title")?;
    let (severity_text, severity_line) = required("severity")?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        err(
            source,
            severity_line,
            format!("severity `{severity_text}` is not one of info, low, medium, high, critical"),
        )
    })?;
    let (description, _) = required("description")?;
    let tags = get("tags")
        .map(|(_, v, _)| {
            v.split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let false_positives = get("false_positives")
        .map(|(_, v, _)| v.clone())
        .unwrap_or_default();
    let sql_line = sql_line.ok_or_else(|| err(source, 1, "no SQL statement after the header"))?;
    Ok(Rule {
        id,
        title,
        severity,
        tags,
        description,
        false_positives,
        sql: text.trim_end().trim_end_matches(';').to_string(),
        source: source.to_string(),
        sql_line,
    })
}

/// The rules and shared views to run, and the files that did not parse.
#[derive(Clone, Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub shared: Vec<ViewDef>,
    pub errors: Vec<RuleError>,
}

impl RuleSet {
    fn add_rule(&mut self, file: &str, source: String, text: &str) {
        match parse(file, &source, text) {
            Ok(rule) => match self.rules.iter_mut().find(|r| r.id == rule.id) {
                Some(r) => *r = rule,
                None => self.rules.push(rule),
            },
            Err(e) => {
                // A broken replacement must not leave the built-in in place
                // silently: the file that failed names the rule.
                let stem = file.strip_suffix(".sql").unwrap_or(file);
                self.rules.retain(|r| r.id != stem);
                self.errors.push(e);
            }
        }
    }

    fn add_shared(&mut self, file: &str, source: String, text: &str) {
        match views::parse(file, &source, text) {
            Ok(v) => match self.shared.iter_mut().find(|s| s.name == v.name) {
                Some(s) => *s = v,
                None => self.shared.push(v),
            },
            Err(e) => self.errors.push(err(&source, 1, format!("{e:#}"))),
        }
    }
}

/// Built-in rules, then each directory in order: `DIR/*.sql` replace the
/// rule of the same id or add one, `DIR/shared/*.sql` replace or add shared
/// views. A file that does not parse is an error in the set; the rest load.
pub fn load(dirs: &[PathBuf]) -> anyhow::Result<RuleSet> {
    let mut set = RuleSet::default();
    for (path, text) in views::QUERY_FILES {
        let Some(rel) = path.strip_prefix("anomalies/") else {
            continue;
        };
        let source = format!("builtin:{path}");
        match rel.split_once('/') {
            None => set.add_rule(rel, source, text),
            Some(("shared", file)) if !file.contains('/') => set.add_shared(file, source, text),
            Some(_) => {}
        }
    }
    for dir in dirs {
        for (file, path) in sql_files(dir)? {
            let text = read(&path)?;
            set.add_rule(&file, path.display().to_string(), &text);
        }
        let shared = dir.join("shared");
        if shared.is_dir() {
            for (file, path) in sql_files(&shared)? {
                let text = read(&path)?;
                set.add_shared(&file, path.display().to_string(), &text);
            }
        }
    }
    Ok(set)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
}

/// `*.sql` files directly in `dir`, by name.
fn sql_files(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("reading rules directory {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "sql"))
        .filter_map(|p| Some((p.file_name()?.to_str()?.to_string(), p)))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "-- id: x_rule\n-- title: T\n-- severity: High\n-- tags: T1059, exec\n-- description: one\n--   and two\n-- false_positives: builds\n--\n-- note: free text\nSELECT 1\n";

    #[test]
    fn header_fields_and_continuations() {
        let r = parse("x_rule.sql", "f", GOOD).unwrap();
        assert_eq!(r.severity, Severity::High);
        assert_eq!(r.tags, ["T1059", "exec"]);
        assert_eq!(r.description, "one and two");
        assert_eq!(r.false_positives, "builds");
        assert_eq!(r.sql_line, 10);
    }

    #[test]
    fn broken_headers_name_their_line() {
        let cases = [
            (GOOD.replace("High", "urgent"), 3, "severity `urgent`"),
            (
                GOOD.replace("-- tags", "-- tgas"),
                4,
                "unknown header key `tgas`",
            ),
            (
                GOOD.replace("id: x_rule", "id: other"),
                1,
                "differs from the file name",
            ),
            (GOOD.replace("-- title: T\n", ""), 1, "`-- title: ...`"),
            (GOOD.replace("SELECT 1\n", ""), 1, "no SQL"),
            (
                "just a comment\n-- id: x\nSELECT 1".to_string(),
                1,
                "the header needs a `-- id",
            ),
        ];
        for (text, line, want) in cases {
            let e = parse("x_rule.sql", "f", &text).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(want), "{e}");
        }
    }

    #[test]
    fn builtin_rules_parse_and_document_themselves() {
        let set = load(&[]).unwrap();
        assert!(set.errors.is_empty(), "{:?}", set.errors);
        assert!(set.rules.len() >= 14, "{}", set.rules.len());
        for r in &set.rules {
            assert!(!r.false_positives.is_empty(), "{}: false_positives", r.id);
            assert!(!r.tags.is_empty(), "{}: tags", r.id);
        }
        assert!(!set.shared.is_empty());
    }

    #[test]
    fn a_user_file_replaces_or_breaks_the_rule_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let first = load(&[]).unwrap().rules[0].id.clone();
        std::fs::write(
            dir.path().join(format!("{first}.sql")),
            format!(
                "-- id: {first}\n-- title: mine\n-- severity: low\n-- description: d\nSELECT 1"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("broken.sql"), "-- id: broken\nSELECT 1").unwrap();
        let set = load(&[dir.path().to_path_buf()]).unwrap();
        let mine = set.rules.iter().find(|r| r.id == first).unwrap();
        assert_eq!(mine.title, "mine");
        assert_eq!(set.errors.len(), 1);
        assert!(set.errors[0].source.ends_with("broken.sql"));
    }
}
