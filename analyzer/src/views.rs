//! Named views: SQL files from `queries/`, compiled into the binary and
//! replaceable (or extended) with `--queries DIR`. The build script finds the
//! files; a view is a `.sql` file directly in `queries/` (subfolders hold
//! other kinds of queries, such as anomaly rules).
//!
//! Each file is one SELECT statement preceded by a header comment:
//!
//! ```sql
//! -- name: processes
//! -- description: One row per process ...
//! SELECT ...
//! ```
//!
//! `name` defaults to the file name without `.sql`; `description` is required
//! because `agentsight views` shows it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use datafusion::prelude::SessionContext;

// `QUERY_FILES`: every `.sql` file under queries/, sorted by relative path.
include!(concat!(env!("OUT_DIR"), "/queries.rs"));

/// The order `agentsight views` and docs/views.md list the built-in views in:
/// processes first, then each kind of activity, then the merged timeline.
/// Creating them does not need it ([`register`] retries), and a view file not
/// named here is listed after these, in path order.
const LISTING_ORDER: &[&str] = &[
    "processes.sql",
    "process_tree.sql",
    "file_activity.sql",
    "net_activity.sql",
    "timeline.sql",
];

/// The built-in view files, (file name, contents), in listing order.
fn builtin_files() -> Vec<(&'static str, &'static str)> {
    let mut files: Vec<_> = QUERY_FILES
        .iter()
        .copied()
        .filter(|(path, _)| !path.contains('/'))
        .collect();
    // Stable, so unlisted files keep the table's path order.
    files.sort_by_key(|(path, _)| {
        LISTING_ORDER
            .iter()
            .position(|f| f == path)
            .unwrap_or(LISTING_ORDER.len())
    });
    files
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViewDef {
    pub name: String,
    pub description: String,
    /// The SELECT statement (header comment included).
    pub sql: String,
    /// `builtin:<file>` or the path it was read from.
    pub source: String,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses one view file. `file_name` gives the default name.
pub fn parse(file_name: &str, source: &str, text: &str) -> Result<ViewDef> {
    let mut name = file_name
        .strip_suffix(".sql")
        .unwrap_or(file_name)
        .to_string();
    let mut description = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        if let Some((key, value)) = comment.trim().split_once(':') {
            match key.trim().to_ascii_lowercase().as_str() {
                "name" => name = value.trim().to_string(),
                "description" => description = value.trim().to_string(),
                _ => {}
            }
        }
    }
    if !valid_name(&name) {
        bail!("{source}: view name {name:?} must be lower-case letters, digits and _");
    }
    if description.is_empty() {
        bail!("{source}: the header needs a `-- description: ...` line");
    }
    let sql = text.trim_end().trim_end_matches(';').trim_end().to_string();
    if sql
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with("--"))
    {
        bail!("{source}: no SQL statement after the header");
    }
    Ok(ViewDef {
        name,
        description,
        sql,
        source: source.to_string(),
    })
}

pub fn builtin() -> Vec<ViewDef> {
    builtin_files()
        .into_iter()
        .map(|(file, text)| {
            parse(file, &format!("builtin:{file}"), text).expect("built-in views parse (tested)")
        })
        .collect()
}

/// Built-in views, with files from `dir` replacing those of the same name
/// and adding new ones (in file-name order, after the built-ins).
pub fn load(dir: Option<&Path>) -> Result<Vec<ViewDef>> {
    let mut views = builtin();
    let Some(dir) = dir else { return Ok(views) };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading views directory {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql") && p.is_file())
        .collect();
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let def = parse(&file_name, &path.display().to_string(), &text)?;
        match views.iter_mut().find(|v| v.name == def.name) {
            Some(v) => *v = def,
            None => views.push(def),
        }
    }
    Ok(views)
}

/// Creates every view in `ctx`. Views may use each other in any order: ones
/// that fail are retried while others keep succeeding; a view that still
/// fails is reported with the file it came from.
pub async fn register(ctx: &SessionContext, views: &[ViewDef]) -> Result<()> {
    let mut pending: Vec<&ViewDef> = views.iter().collect();
    loop {
        let mut failed = Vec::new();
        for v in pending.iter().copied() {
            let create = format!("CREATE OR REPLACE VIEW {} AS\n{}", v.name, v.sql);
            match ctx.sql(&create).await {
                Ok(_) => {}
                Err(e) => failed.push((v, e)),
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        if failed.len() == pending.len() {
            let (v, e) = &failed[0];
            bail!("view {} ({}) does not compile: {e}", v.name, v.source);
        }
        pending = failed.into_iter().map(|(v, _)| v).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_views_have_headers() {
        let v = builtin();
        let names: Vec<_> = v.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "processes",
                "process_tree",
                "file_activity",
                "net_activity",
                "timeline"
            ]
        );
        assert!(v
            .iter()
            .all(|v| !v.description.is_empty() && !v.sql.ends_with(';')));
    }

    #[test]
    fn listing_order_names_existing_views() {
        let files: Vec<_> = builtin_files().into_iter().map(|(f, _)| f).collect();
        assert_eq!(files[..LISTING_ORDER.len()], *LISTING_ORDER);
    }

    /// The generated table is what is on disk: every `.sql` file below
    /// queries/, sorted, with its contents.
    #[test]
    fn query_table_matches_the_queries_dir() {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.file_name().unwrap().to_string_lossy().starts_with('.') {
                    continue;
                }
                if p.is_dir() {
                    walk(root, &p, out);
                } else if p.extension().is_some_and(|x| x == "sql") {
                    let rel = p.strip_prefix(root).unwrap().to_string_lossy();
                    let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../queries");
        let mut disk = Vec::new();
        walk(&root, &root, &mut disk);
        disk.sort();
        let table: Vec<_> = QUERY_FILES
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        assert_eq!(table, disk);
    }

    #[test]
    fn header_parsing() {
        let d = parse(
            "x.sql",
            "t",
            "-- description: hello\n-- name: my_view\nSELECT 1;\n",
        )
        .unwrap();
        assert_eq!(
            (d.name.as_str(), d.description.as_str()),
            ("my_view", "hello")
        );
        assert!(parse("x.sql", "t", "SELECT 1")
            .unwrap_err()
            .to_string()
            .contains("description"));
        assert!(parse("Bad-Name.sql", "t", "-- description: d\nSELECT 1").is_err());
        assert!(parse("x.sql", "t", "-- description: d\n").is_err());
        // A description further down (after SQL) does not count.
        assert!(parse("x.sql", "t", "SELECT 1\n-- description: d").is_err());
    }
}
