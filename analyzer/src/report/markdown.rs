//! `report.md`: the report as GitHub-flavoured Markdown for a ticket or a
//! pull request, with the causal tree as a Mermaid flowchart.
//!
//! Captured text appears only as [`code`] spans (fenced by more backticks
//! than it contains, pipes escaped for tables, line breaks flattened) or in
//! the transcript's indented code blocks: a prompt carrying HTML or Markdown shows literally.
//! Credentials in captured text are masked, as in `report.html`.

use std::fmt::Write as _;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{masked_line as shorten, Report, ReportFinding};
use crate::graph::render::mermaid_text;

/// Cited rows shown per finding in Markdown (all of them are in the bundle).
const ROWS_PER_FINDING: usize = 20;
const CELL_CHARS: usize = 160;

/// Captured text as a code span in a table cell: pipes escaped, as GFM
/// splits cells on them even inside code spans.
pub fn cell(s: &str) -> String {
    code(&s.replace('|', "\\|"))
}

/// Captured text as a code span that no content can close.
pub fn code(s: &str) -> String {
    let flat: String = crate::transcript::shown(s)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.trim().is_empty() {
        return "` `".to_string();
    }
    let longest = flat.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {flat} {fence}")
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", code(&r.title));
    let _ = writeln!(
        o,
        "Generated {} by {}.{}\n",
        r.generated_at,
        r.generator,
        if r.scope.is_empty() {
            String::new()
        } else {
            format!(" Scope: {}.", code(&r.scope.join(", ")))
        }
    );
    o.push_str("## Capture\n\n| | |\n|---|---|\n");
    for c in &r.captures {
        for (k, v) in c.fields() {
            let _ = writeln!(o, "| {k} | {} |", cell(&v));
        }
    }
    let s = &r.summary;
    let _ = writeln!(
        o,
        "\n## Summary\n\n- {} processes, {} conversations, {} LLM calls ({} tokens in / {} out), {} tool calls\n- findings: {}\n",
        s.processes,
        s.conversations,
        s.llm_calls,
        s.input_tokens,
        s.output_tokens,
        s.tool_calls,
        s.findings_by_severity
            .iter()
            .map(|(sev, n)| format!("{n} {}", sev.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(o, "## Findings ({})\n", r.findings.len());
    for e in &r.rule_errors {
        let _ = writeln!(o, "- rule not run: {}", code(e));
    }
    if r.findings.is_empty() {
        o.push_str("No rule fired. Read the blind spots below before trusting that.\n\n");
    }
    for f in &r.findings {
        finding(&mut o, r, f);
    }
    mermaid(&mut o, r);
    o.push_str("## Conversations\n\n");
    if r.transcripts_md.trim().is_empty() {
        o.push_str("No LLM traffic was decoded (see the blind spots).\n\n");
    }
    // The transcript's headings move two levels down; its captured text is
    // in indented code blocks, so a line starting with '#' is a heading.
    // (Its captured text is masked field by field, by `transcript::shown`.)
    for line in r.transcripts_md.lines() {
        if line.starts_with('#') {
            let _ = writeln!(o, "##{line}");
        } else {
            let _ = writeln!(o, "{line}");
        }
    }
    o.push_str("\n## Blind spots\n\n");
    if r.blind_spots.is_empty() {
        o.push_str("The capture records no loss: no dropped events, no unhooked TLS target, no partial state, redaction on.\n");
    }
    for b in &r.blind_spots {
        let _ = writeln!(
            o,
            "- {} {}: {}",
            code(&b.capture),
            code(&b.kind),
            code(&b.detail)
        );
    }
    let rows: usize = r.evidence.iter().map(|t| t.refs.len()).sum();
    let _ = writeln!(
        o,
        "\n## Evidence bundle\n\n`evidence/` holds the {rows} cited row(s) as Parquet and CSV, the manifest, `bundle.json` and `SHA256SUMS`: `agentsight verify --bundle evidence [--capture DIR]`."
    );
    o
}

fn finding(o: &mut String, r: &Report, f: &ReportFinding) {
    let _ = writeln!(
        o,
        "### {} · {} · {}\n\n{}\n\n- time: {}\n- rule: {}{}\n",
        f.id,
        f.finding.severity.as_str().to_uppercase(),
        code(&f.finding.rule_id),
        code(&shorten(&f.finding.summary, 400)),
        f.time,
        code(&f.finding.title),
        if f.finding.tags.is_empty() {
            String::new()
        } else {
            format!(" ({})", code(&f.finding.tags.join(", ")))
        }
    );
    if !f.chain.is_empty() {
        o.push_str("Why it happened:\n\n");
        for (i, s) in f.chain.iter().enumerate() {
            let _ = write!(
                o,
                "{}. {}{} {}",
                i + 1,
                s.verb.map(|v| format!("{v} ")).unwrap_or_default(),
                code(&s.node_id),
                code(&shorten(&s.label, CELL_CHARS))
            );
            if let Some(e) = &s.edge {
                let _ = write!(
                    o,
                    " — {} at {}, {} (confidence {:.2})",
                    e,
                    s.time,
                    code(&s.method),
                    s.confidence
                );
            }
            o.push('\n');
            if let Some((what, said)) = &s.text {
                let _ = writeln!(o, "\n   {what}: {}\n", code(&shorten(said, 400)));
            }
        }
        // A code span, not an indented block: after the list above an
        // indented line would continue the last item as Markdown.
        if let Some(end) = &f.chain_end {
            let _ = writeln!(o, "\nIt starts from: {}", code(&shorten(end, 1000)));
        }
        o.push('\n');
    }
    rows(o, r, &f.id);
}

fn rows(o: &mut String, r: &Report, id: &str) {
    let opts = FormatOptions::default().with_null("");
    let mut last_table = "";
    for (shown, (t, i)) in super::rows_cited_by(r, id).enumerate() {
        if shown == ROWS_PER_FINDING {
            let _ = writeln!(o, "\n(more cited rows in the bundle)");
            break;
        }
        let schema = t.batch.schema();
        let cols: Vec<usize> = (0..schema.fields().len())
            .filter(|&c| {
                !matches!(
                    schema.field(c).name().as_str(),
                    "tid" | "uid" | "gid" | "cgroup_id" | "capture" | "data"
                )
            })
            .collect();
        if t.table != last_table {
            last_table = t.table;
            let _ = writeln!(o, "\nCited `{}` rows:\n", t.table);
            let _ = writeln!(
                o,
                "| {} |",
                cols.iter()
                    .map(|&c| schema.field(c).name().as_str())
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            let _ = writeln!(o, "|{}", "---|".repeat(cols.len()));
        }
        let cells: Vec<String> = cols
            .iter()
            .map(|&c| {
                let col = t.batch.column(c);
                let v = if matches!(col.data_type(), DataType::Binary) {
                    String::from_utf8_lossy(col.as_binary::<i32>().value(i)).into_owned()
                } else if col.is_null(i) {
                    String::new()
                } else {
                    ArrayFormatter::try_new(col.as_ref(), &opts)
                        .map(|f| f.value(i).to_string())
                        .unwrap_or_default()
                };
                cell(&shorten(&v, CELL_CHARS))
            })
            .collect();
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o.push('\n');
}

/// Rows of the causal tree drawn as a Mermaid flowchart (first 300).
fn mermaid(o: &mut String, r: &Report) {
    const MAX: usize = 300;
    o.push_str("## Causal graph\n\n");
    if r.tree.is_empty() {
        o.push_str("No process or LLM activity in scope.\n\n");
        return;
    }
    o.push_str("```mermaid\nflowchart LR\n");
    let mut stack: Vec<usize> = Vec::new();
    for (i, row) in r.tree.iter().take(MAX).enumerate() {
        stack.truncate(row.depth);
        let label = match &row.more {
            Some(m) => m.clone(),
            None => format!("{}: {}", row.node_kind, shorten(&row.label, 80)),
        };
        let _ = writeln!(
            o,
            "  r{i}[\"{}\"]",
            mermaid_text(&agentsight_redact::mask_secrets(&label))
        );
        if let Some(&p) = stack.last() {
            let via = row.via.as_deref().map(mermaid_text).unwrap_or_default();
            if via.is_empty() {
                let _ = writeln!(o, "  r{p} --> r{i}");
            } else {
                let _ = writeln!(o, "  r{p} -->|\"{via}\"| r{i}");
            }
        }
        stack.push(i);
    }
    o.push_str("```\n\n");
    if r.tree.len() > MAX {
        let _ = writeln!(
            o,
            "({} more rows in report.html and `agentsight graph`)\n",
            r.tree.len() - MAX
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_are_fenced_past_any_backtick_run() {
        assert_eq!(code("plain"), "` plain `");
        assert_eq!(code("a `b` c"), "`` a `b` c ``");
        assert_eq!(code("``` x ````"), "````` ``` x ```` `````");
        assert_eq!(code("two\nlines\u{7}"), "` two lines⟨U+0007⟩ `");
        assert_eq!(code(""), "` `");
        assert_eq!(cell("a|b"), "` a\\|b `");
    }
}
