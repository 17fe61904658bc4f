//! `report.html`: one self-contained file. Inline CSS and JS allowed by
//! hash in a Content-Security-Policy that forbids everything else (no
//! fetch, no image, no frame, no form); every captured string goes through
//! [`text`], and no captured string ever becomes an attribute, a URL, an id
//! or script: anchors are numbers, links point only at anchors of this page.
//! Without JS the page still shows everything; JS adds timeline zoom and
//! filters.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{masked_line as one_line, Report, ReportFinding, MARK_KINDS};

/// Longest captured value shown in a table cell.
const CELL_CHARS: usize = 300;
/// Cited rows shown per finding and table (all of them are in the bundle).
const ROWS_SHOWN: usize = 20;
/// Longest message text shown in a transcript before it is cut.
const MESSAGE_CHARS: usize = 20_000;

const STYLE: &str = r#"
:root{--fg:#1d2330;--muted:#5d6675;--line:#d7dbe3;--bg:#fff;--soft:#f4f6f9;--crit:#7a0019;--high:#c62828;--med:#e07b00;--low:#2d6cdf;--info:#6b7280}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1400px;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;border-bottom:1px solid var(--line);padding-bottom:4px;margin-top:32px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0;font-size:13px}td,th{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}th{background:var(--soft)}
table.kv th{width:170px}div.mono{overflow-x:auto}td.data{min-width:32em;word-break:break-all}pre,code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--soft);padding:8px;white-space:pre-wrap;word-break:break-word;margin:4px 0;max-height:480px;overflow:auto}
.sev{display:inline-block;border-radius:3px;color:#fff;padding:0 6px;font-size:12px;font-weight:600;text-transform:uppercase}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--med)}.sev-low{background:var(--low)}.sev-info{background:var(--info)}
details.finding{border:1px solid var(--line);border-radius:4px;margin:6px 0;padding:4px 10px}details.finding>summary{cursor:pointer;padding:2px 0}
details.finding[open]{background:#fcfcfd}.muted{color:var(--muted)}ol.chain li{margin:4px 0}.cut{color:var(--muted);font-style:italic}
.controls{display:flex;gap:14px;flex-wrap:wrap;align-items:center;margin:6px 0}.controls label{white-space:nowrap}
svg{display:block;max-width:100%}svg text{font:11px ui-monospace,Menlo,Consolas,monospace;fill:var(--fg)}
.k-llm{fill:#7c4dff;opacity:.55}.k-tool{fill:#00897b}.k-exec{fill:#d84315}.k-write{fill:#f9a825}.k-connect{fill:#1565c0}
.agg{opacity:.8}.off,.zoomed-out{display:none}.hide-llm .k-llm,.hide-tool .k-tool,.hide-exec .k-exec,.hide-write .k-write,.hide-connect .k-connect{display:none}
.lane-bg{fill:var(--soft)}.axis{stroke:var(--line)}.tree-line{stroke:#9aa3b2;fill:none}
.nk-conversation{fill:#4527a0}.nk-llm_call{fill:#7c4dff}.nk-tool_call{fill:#00897b}.nk-process{fill:#37474f}.nk-file{fill:#f9a825}.nk-endpoint{fill:#1565c0}.nk-more{fill:#9aa3b2}
.turn{border-left:3px solid var(--line);padding-left:10px;margin:10px 0}.role{font-weight:600}.tool{border:1px dashed var(--line);padding:4px 8px;margin:4px 0}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
.sw-llm{background:#7c4dff}.sw-tool{background:#00897b}.sw-exec{background:#d84315}.sw-write{background:#f9a825}.sw-connect{background:#1565c0}
"#;

const SCRIPT: &str = r#"
(function(){
  var svg=document.getElementById('timeline');
  if(!svg)return;
  var L=+svg.getAttribute('data-left'),W=+svg.getAttribute('data-width'),span=+svg.getAttribute('data-span');
  var v0=0,v1=span;
  var marks=svg.querySelectorAll('.mark');
  function layout(){
    var d=v1-v0;
    for(var i=0;i<marks.length;i++){
      var m=marks[i],t0=+m.getAttribute('data-t0'),t1=+m.getAttribute('data-t1');
      var x=L+(t0-v0)/d*W,w=Math.max(2,(t1-t0)/d*W);
      var out=(t1<v0||t0>v1);
      m.classList.toggle('zoomed-out',out);
      m.setAttribute('x',out?-10:x.toFixed(2));
      m.setAttribute('width',w.toFixed(2));
    }
    var lab=document.getElementById('tl-range');
    if(lab)lab.textContent=(v0/1e9).toFixed(3)+' s \u2013 '+(v1/1e9).toFixed(3)+' s';
  }
  function zoom(f,c){var d=v1-v0;if(c===undefined)c=v0+d/2;var nd=Math.max(1e3,Math.min(span,d*f));
    v0=Math.max(0,c-(c-v0)*nd/d);v1=Math.min(span,v0+nd);v0=Math.max(0,v1-nd);layout();}
  document.getElementById('zoom-in').addEventListener('click',function(){zoom(0.5);});
  document.getElementById('zoom-out').addEventListener('click',function(){zoom(2);});
  document.getElementById('zoom-reset').addEventListener('click',function(){v0=0;v1=span;layout();});
  svg.addEventListener('wheel',function(e){
    var r=svg.getBoundingClientRect(),vb=svg.viewBox.baseVal,px=(e.clientX-r.left)*vb.width/r.width;
    if(px<L)return;e.preventDefault();zoom(e.deltaY<0?0.8:1.25,v0+(px-L)/W*(v1-v0));},{passive:false});
  var boxes=document.querySelectorAll('input.kind');
  for(var i=0;i<boxes.length;i++){boxes[i].addEventListener('change',function(){
    svg.classList.toggle('hide-'+this.value,!this.checked);});}
  var sel=document.getElementById('lane-filter');
  sel.addEventListener('change',function(){
    var v=this.value,rows=svg.querySelectorAll('[data-lane]');
    for(var i=0;i<rows.length;i++){rows[i].classList.toggle('off',v!=='all'&&rows[i].getAttribute('data-lane')!==v);}
  });
  layout();
})();
"#;

/// Captured text as HTML text content, credentials masked (the report is
/// for people; the bundle keeps the rows as captured). Besides the five markup characters,
/// controls, bidirectional overrides and invisible formatting characters
/// are shown as `⟨U+XXXX⟩` so a file name cannot pretend to be another.
pub fn text(s: &str) -> String {
    let s = agentsight_redact::mask_secrets(s);
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if c.is_control() || crate::graph::render::invisible(c) => {
                let _ = write!(out, "⟨U+{:04X}⟩", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// [`text`] of at most `max` characters, saying when it was cut.
fn cut(s: &str, max: usize) -> String {
    // Masked before cutting, so a cut cannot leave half a secret unmatched.
    let s = &*agentsight_redact::mask_secrets(s);
    match s.char_indices().nth(max) {
        Some((i, _)) => format!(
            "{}<span class=\"cut\"> … ({} more characters)</span>",
            text(&s[..i]),
            s[i..].chars().count()
        ),
        None => text(s),
    }
}

fn csp_hash(s: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(s.as_bytes()))
    )
}

/// The page's Content-Security-Policy: only its own style and script.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src 'none'; font-src 'none'; connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; worker-src 'none'; manifest-src 'none'; base-uri 'none'; form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

pub fn render(r: &Report) -> String {
    let mut h = String::with_capacity(1 << 20);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style></head><body>\n",
        content_security_policy(),
        text(&r.title)
    );
    let _ = writeln!(h, "<h1>{}</h1>", text(&r.title));
    let _ = writeln!(
        h,
        "<p class=\"muted\">Generated {} by {}. Every string from the capture is shown as text.{}</p>",
        text(&r.generated_at),
        text(&r.generator),
        if r.scope.is_empty() {
            String::new()
        } else {
            format!(" Scope: {}.", text(&r.scope.join(", ")))
        }
    );
    header(&mut h, r);
    summary(&mut h, r);
    findings(&mut h, r);
    timeline(&mut h, r);
    tree(&mut h, r);
    transcripts(&mut h, r);
    blind_spots(&mut h, r);
    evidence_note(&mut h, r);
    let _ = write!(h, "<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

fn kv(h: &mut String, rows: &[(&str, String)]) {
    h.push_str("<table class=\"kv\">");
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", text(k), text(v));
    }
    h.push_str("</table>\n");
}

fn header(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"capture\">Capture</h2>\n");
    for c in &r.captures {
        kv(h, &c.fields());
    }
}

fn summary(h: &mut String, r: &Report) {
    let s = &r.summary;
    h.push_str("<h2 id=\"summary\">Summary</h2>\n");
    kv(
        h,
        &[
            ("processes", s.processes.to_string()),
            ("conversations", s.conversations.to_string()),
            ("LLM calls", s.llm_calls.to_string()),
            (
                "tokens",
                format!("{} in / {} out", s.input_tokens, s.output_tokens),
            ),
            ("tool calls", s.tool_calls.to_string()),
        ],
    );
    h.push_str("<p>Findings: ");
    for (sev, n) in &s.findings_by_severity {
        let _ = write!(
            h,
            "<span class=\"sev sev-{0}\">{0}</span> {1} &nbsp; ",
            sev.as_str(),
            n
        );
    }
    h.push_str("</p>\n");
}

fn findings(h: &mut String, r: &Report) {
    let _ = writeln!(
        h,
        "<h2 id=\"findings\">Findings ({})</h2>",
        r.findings.len()
    );
    for e in &r.rule_errors {
        let _ = writeln!(h, "<p class=\"cut\">rule not run: {}</p>", text(e));
    }
    if r.findings.is_empty() {
        h.push_str("<p>No rule fired. Read the blind spots below before trusting that.</p>\n");
    }
    for f in &r.findings {
        finding(h, r, f);
    }
}

fn finding(h: &mut String, r: &Report, f: &ReportFinding) {
    let _ = writeln!(
        h,
        "<details class=\"finding\" id=\"{id}\" data-severity=\"{sev}\"><summary><b>{id}</b> <span class=\"sev sev-{sev}\">{sev}</span> <code>{rule}</code> {summary} <span class=\"muted\">{time}</span></summary>",
        id = f.id,
        sev = f.finding.severity.as_str(),
        rule = text(&f.finding.rule_id),
        summary = cut(&f.finding.summary, CELL_CHARS),
        time = text(&f.time)
    );
    let _ = writeln!(
        h,
        "<p><b>{}</b>{}</p>",
        text(&f.finding.title),
        if f.finding.tags.is_empty() {
            String::new()
        } else {
            format!(
                " <span class=\"muted\">{}</span>",
                text(&f.finding.tags.join(", "))
            )
        }
    );
    if !f.details.is_empty() {
        h.push_str("<table class=\"kv\">");
        for (k, v) in &f.details {
            let _ = write!(
                h,
                "<tr><th>{}</th><td>{}</td></tr>",
                text(k),
                cut(v, CELL_CHARS)
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h3>Why it happened</h3>\n<ol class=\"chain\">");
    for step in &f.chain {
        h.push_str("<li>");
        if let Some(v) = step.verb {
            let _ = write!(h, "<span class=\"muted\">{}</span> ", text(v));
        }
        let label = format!(
            "<code>{}</code> {}",
            text(&step.node_id),
            cut(&step.label, CELL_CHARS)
        );
        match &step.anchor {
            Some(a) => {
                let _ = write!(h, "<a href=\"#{a}\">{label}</a>");
            }
            None => h.push_str(&label),
        }
        let _ = write!(h, " <span class=\"muted\">{}", text(&step.time));
        if step.edge.is_some() {
            let _ = write!(
                h,
                ", {} by {}, confidence {:.2}",
                text(step.edge.as_deref().unwrap_or("")),
                text(&step.method),
                step.confidence
            );
        }
        h.push_str("</span>");
        if let Some((what, said)) = &step.text {
            let _ = write!(h, "<pre>{}: {}</pre>", text(what), cut(said, 2000));
        }
        h.push_str("</li>");
    }
    h.push_str("</ol>\n");
    if let Some(end) = &f.chain_end {
        let _ = writeln!(h, "<pre class=\"chain-end\">{}</pre>", cut(end, 2000));
    }
    h.push_str("<h3>Evidence</h3>\n<ul>");
    for e in &f.evidence {
        let label = format!("<code>{}</code> {}", text(&e.id), cut(&e.label, CELL_CHARS));
        match &e.anchor {
            Some(a) => {
                let _ = write!(h, "<li><a href=\"#{a}\">{label}</a></li>");
            }
            None => {
                let _ = write!(h, "<li>{label}</li>");
            }
        }
    }
    h.push_str("</ul>\n");
    cited_rows(h, r, &f.id);
    h.push_str("</details>\n");
}

/// The raw rows a finding cites, as copied into the bundle.
fn cited_rows(h: &mut String, r: &Report, id: &str) {
    let mut by_table: Vec<(&super::bundle::CitedTable, Vec<usize>)> = Vec::new();
    for (t, i) in super::rows_cited_by(r, id) {
        match by_table.iter_mut().find(|(x, _)| std::ptr::eq(*x, t)) {
            Some((_, v)) => v.push(i),
            None => by_table.push((t, vec![i])),
        }
    }
    if by_table.is_empty() {
        return;
    }
    let opts = FormatOptions::default().with_null("");
    for (t, mut rows) in by_table {
        let _ = writeln!(
            h,
            "<p class=\"muted\">{} cited row(s) of <code>{}</code> (bundle file <code>evidence/{}</code>){}</p>",
            rows.len(),
            t.table,
            text(&t.refs[0].file),
            match rows.len() {
                n if n >= super::bundle::MAX_ROWS_PER_CITATION => format!(
                    ", the first {ROWS_SHOWN} shown; the bundle stops at {n}: the capture holds more"
                ),
                n if n > ROWS_SHOWN => format!(", the first {ROWS_SHOWN} shown"),
                _ => String::new(),
            }
        );
        rows.truncate(ROWS_SHOWN);
        h.push_str("<div class=\"mono\"><table class=\"rows\"><tr>");
        let schema = t.batch.schema();
        let shown: Vec<usize> = (0..schema.fields().len())
            .filter(|&c| {
                !matches!(
                    schema.field(c).name().as_str(),
                    "tid" | "uid" | "gid" | "cgroup_id" | "capture"
                )
            })
            .collect();
        for &c in &shown {
            let _ = write!(h, "<th>{}</th>", text(schema.field(c).name()));
        }
        h.push_str("</tr>");
        for i in rows {
            h.push_str("<tr>");
            for &c in &shown {
                let col = t.batch.column(c);
                let binary = matches!(col.data_type(), DataType::Binary);
                let value = if binary {
                    binary_preview(col.as_ref(), i)
                } else {
                    ArrayFormatter::try_new(col.as_ref(), &opts)
                        .map(|f| f.value(i).to_string())
                        .unwrap_or_default()
                };
                let class = if binary { " class=\"data\"" } else { "" };
                let _ = write!(h, "<td{class}>{}</td>", cut(&value, CELL_CHARS));
            }
            h.push_str("</tr>");
        }
        h.push_str("</table></div>\n");
    }
}

fn binary_preview(col: &dyn Array, i: usize) -> String {
    use datafusion::arrow::array::AsArray;
    if col.is_null(i) {
        return String::new();
    }
    col.as_binary_opt::<i32>()
        .map(|b| String::from_utf8_lossy(b.value(i)).into_owned())
        .unwrap_or_default()
}

const TL_LEFT: f64 = 230.0;
const TL_WIDTH: f64 = 1140.0;
const LANE_H: f64 = 18.0;

fn timeline(h: &mut String, r: &Report) {
    let t = &r.timeline;
    let _ = writeln!(
        h,
        "<h2 id=\"timeline-section\">Timeline</h2>\n<p class=\"muted\">From {} · {} events on {} lanes{}. Wheel or the buttons zoom; the boxes filter by kind, the list by lane.</p>",
        text(&t.start_wall),
        t.events,
        t.lanes.len(),
        if t.aggregated {
            " · too many to draw one by one: points are binned, a box's tooltip says how many it holds"
        } else {
            ""
        }
    );
    h.push_str("<div class=\"controls\">");
    for (k, name) in MARK_KINDS {
        let _ = write!(
            h,
            "<label><input type=\"checkbox\" class=\"kind\" value=\"{k}\" checked><span class=\"swatch sw-{k}\"></span>{name}</label>"
        );
    }
    h.push_str("<select id=\"lane-filter\"><option value=\"all\">all lanes</option>");
    for (i, l) in t.lanes.iter().enumerate() {
        let _ = write!(h, "<option value=\"{i}\">{}</option>", cut(&l.label, 60));
    }
    h.push_str("</select><button id=\"zoom-in\" type=\"button\">+</button><button id=\"zoom-out\" type=\"button\">−</button><button id=\"zoom-reset\" type=\"button\">reset</button><span id=\"tl-range\" class=\"muted\"></span></div>\n");
    let span = (t.end_ns - t.start_ns).max(1);
    let height = 24.0 + LANE_H * t.lanes.len() as f64;
    let _ = writeln!(
        h,
        "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" data-left=\"{TL_LEFT}\" data-width=\"{TL_WIDTH}\" data-span=\"{span}\" data-events=\"{events}\" data-marks=\"{marks}\">",
        w = TL_LEFT + TL_WIDTH + 10.0,
        events = t.events,
        marks = t.marks.len()
    );
    for (i, l) in t.lanes.iter().enumerate() {
        let y = 20.0 + LANE_H * i as f64;
        let _ = write!(
            h,
            "<g data-lane=\"{i}\"><rect class=\"lane-bg\" x=\"0\" y=\"{y}\" width=\"{}\" height=\"{}\"/>",
            TL_LEFT + TL_WIDTH,
            LANE_H - 2.0
        );
        // Indented by the lane's depth in the causal tree.
        let depth = l.depth.min(12);
        let label = text(&one_line(&l.label, 34usize.saturating_sub(depth)));
        let x = 4 + 7 * depth;
        let label = format!("<text x=\"{x}\" y=\"{}\">{label}</text>", y + 12.0);
        match &l.anchor {
            Some(a) => {
                let _ = write!(h, "<a href=\"#{a}\">{label}</a>");
            }
            None => h.push_str(&label),
        }
        h.push_str("</g>\n");
    }
    for s in 0..=10 {
        let x = TL_LEFT + TL_WIDTH * s as f64 / 10.0;
        let _ = write!(
            h,
            "<line class=\"axis\" x1=\"{x}\" y1=\"14\" x2=\"{x}\" y2=\"{height}\"/><text x=\"{x}\" y=\"11\">{:.2}s</text>",
            span as f64 * s as f64 / 10.0 / 1e9
        );
    }
    h.push('\n');
    for m in &t.marks {
        let y = 20.0 + LANE_H * m.lane as f64;
        let x = TL_LEFT + m.start_ns as f64 / span as f64 * TL_WIDTH;
        let w = ((m.end_ns - m.start_ns) as f64 / span as f64 * TL_WIDTH).max(2.0);
        let (y, hh) = if m.kind == "llm" {
            (y + 1.0, LANE_H - 4.0)
        } else {
            (y + 3.0, LANE_H - 8.0)
        };
        let class = if m.count > 1 { " agg" } else { "" };
        let body = format!(
            "<rect class=\"mark k-{k}{class}\" data-lane=\"{lane}\" data-t0=\"{t0}\" data-t1=\"{t1}\" data-n=\"{n}\" x=\"{x:.2}\" y=\"{y}\" width=\"{w:.2}\" height=\"{hh}\"><title>{label}</title></rect>",
            k = m.kind,
            lane = m.lane,
            t0 = m.start_ns,
            t1 = m.end_ns,
            n = m.count,
            label = text(&one_line(&m.label, 200))
        );
        match &m.anchor {
            Some(a) => {
                let _ = writeln!(h, "<a href=\"#{a}\">{body}</a>");
            }
            None => {
                h.push_str(&body);
                h.push('\n');
            }
        }
    }
    h.push_str("</svg>\n");
}

const TREE_INDENT: f64 = 18.0;
const TREE_ROW: f64 = 17.0;

fn tree(h: &mut String, r: &Report) {
    let _ = writeln!(
        h,
        "<h2 id=\"graph\">Causal graph</h2>\n<p class=\"muted\">Conversations → LLM calls → tool calls → the processes they ran → files and hosts; then each agent process with what it did outside tool calls. Edges below 1.00 are inferred (method, confidence). Reads are left out (see <code>agentsight graph --reads</code>).</p>"
    );
    if r.tree.is_empty() {
        h.push_str("<p>No process or LLM activity in scope.</p>\n");
        return;
    }
    let height = 8.0 + TREE_ROW * r.tree.len() as f64;
    let _ = writeln!(
        h,
        "<svg id=\"tree\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1380 {height}\" width=\"1380\" height=\"{height}\">"
    );
    // Last row seen at each depth: connectors run from the parent's row.
    let mut parent_at: Vec<usize> = Vec::new();
    for (i, row) in r.tree.iter().enumerate() {
        let y = 4.0 + TREE_ROW * i as f64 + 12.0;
        let x = 8.0 + TREE_INDENT * row.depth as f64;
        parent_at.truncate(row.depth);
        if let Some(&p) = parent_at.last() {
            let py = 4.0 + TREE_ROW * p as f64 + 15.0;
            let px = x - TREE_INDENT + 4.0;
            let _ = write!(
                h,
                "<path class=\"tree-line\" d=\"M{px} {py} V{} H{}\"/>",
                y - 4.0,
                x - 2.0
            );
        }
        parent_at.push(i);
        let mut label = String::new();
        if let Some(v) = &row.via {
            let _ = write!(label, "[{v}] ");
        }
        if let Some(m) = &row.more {
            label.push_str(m);
        } else {
            let _ = write!(label, "{}: {}", row.node_kind, one_line(&row.label, 140));
            if row.repeat {
                label.push_str("  (shown above)");
            }
        }
        let id = row
            .anchor
            .as_ref()
            .map(|a| format!(" id=\"{a}\""))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<g{id}><circle class=\"nk-{k}\" cx=\"{cx}\" cy=\"{cy}\" r=\"4\"/>",
            k = row.node_kind,
            cx = x + 2.0,
            cy = y - 4.0
        );
        let t = format!("<text x=\"{}\" y=\"{y}\">{}</text>", x + 10.0, text(&label));
        match &row.link {
            Some(l) => {
                let _ = write!(h, "<a href=\"#{l}\">{t}</a>");
            }
            None => h.push_str(&t),
        }
        h.push_str("</g>\n");
    }
    h.push_str("</svg>\n");
}

fn transcripts(h: &mut String, r: &Report) {
    let convs = r.transcripts["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(
        h,
        "<h2 id=\"conversations\">Conversations ({})</h2>",
        convs.len()
    );
    if convs.is_empty() {
        h.push_str("<p>No LLM traffic was decoded (see the blind spots).</p>\n");
    }
    // Findings whose chain passes through each tool call.
    let mut cited: HashMap<&str, Vec<&str>> = HashMap::new();
    for f in &r.findings {
        for s in &f.chain {
            if let Some(a) = &s.anchor {
                if a.starts_with('t') {
                    cited.entry(a.as_str()).or_default().push(&f.id);
                }
            }
        }
    }
    let capture_index: HashMap<&str, usize> = r
        .captures
        .iter()
        .enumerate()
        .map(|(i, c)| (c.label.as_str(), i))
        .collect();
    for c in &convs {
        let label = c["capture"].as_str().unwrap_or_default();
        let ci = capture_index.get(label).copied().unwrap_or(0);
        let _ = writeln!(
            h,
            "<h3>Conversation {} <span class=\"muted\">{} · {} · pid {} {} · {} calls · started {}</span></h3>",
            c["conversation_id"],
            text(c["provider"].as_str().unwrap_or("")),
            text(c["model"].as_str().unwrap_or("?")),
            c["process"]["pid"],
            text(c["process"]["comm"].as_str().unwrap_or("")),
            c["calls"],
            text(c["started"].as_str().unwrap_or(""))
        );
        for t in c["turns"].as_array().into_iter().flatten() {
            turn(h, r, ci, t, &cited);
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn turn(h: &mut String, r: &Report, ci: usize, t: &Value, cited: &HashMap<&str, Vec<&str>>) {
    let call_id = t["call_id"].as_u64().unwrap_or(0);
    let _ = writeln!(
        h,
        "<div class=\"turn\"><p class=\"muted\">call {} · turn {} · {} · {} · {} in / {} out{}{}</p>",
        call_id,
        t["turn"],
        text(t["started"].as_str().unwrap_or("")),
        text(t["model"].as_str().unwrap_or("?")),
        t["tokens"]["input"],
        t["tokens"]["output"],
        if t["partial"].as_bool() == Some(true) { " · PARTIAL" } else { "" },
        t["error"].as_str().map(|e| format!(" · error: {}", text(e))).unwrap_or_default()
    );
    for m in t["new_messages"].as_array().into_iter().flatten() {
        let role = m["role"].as_str().unwrap_or("");
        for p in m["parts"].as_array().into_iter().flatten() {
            match p["type"].as_str().unwrap_or("") {
                "text" | "thinking" => {
                    let _ = write!(
                        h,
                        "<p class=\"role\">{}{}</p><pre>{}</pre>",
                        text(role),
                        if p["type"] == "thinking" {
                            " (thinking)"
                        } else {
                            ""
                        },
                        cut(p["text"].as_str().unwrap_or(""), MESSAGE_CHARS)
                    );
                }
                "tool_result" => {
                    let _ = write!(
                        h,
                        "<p class=\"role\">tool result for <code>{}</code>{}</p><pre>{}</pre>",
                        text(p["tool_use_id"].as_str().unwrap_or("")),
                        if p["is_error"].as_bool() == Some(true) {
                            " (error)"
                        } else {
                            ""
                        },
                        cut(p["text"].as_str().unwrap_or(""), MESSAGE_CHARS)
                    );
                }
                "tool_use" => {}
                other => {
                    let _ = write!(h, "<p class=\"muted\">{} part not shown</p>", text(other));
                }
            }
        }
    }
    let resp = &t["response"];
    if let Some(th) = resp["thinking"].as_str().filter(|s| !s.is_empty()) {
        let _ = write!(
            h,
            "<p class=\"role\">assistant (thinking)</p><pre>{}</pre>",
            cut(th, MESSAGE_CHARS)
        );
    }
    if let Some(tx) = resp["text"].as_str().filter(|s| !s.is_empty()) {
        let _ = write!(
            h,
            "<p class=\"role\">assistant</p><pre>{}</pre>",
            cut(tx, MESSAGE_CHARS)
        );
    }
    for tc in resp["tool_calls"].as_array().into_iter().flatten() {
        let api_id = tc["id"].as_str().unwrap_or("").to_string();
        let link = r.tool_anchors.get(&(ci, call_id, api_id.clone()));
        let id_attr = link
            .map(|l| format!(" id=\"{}\"", l.transcript))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<div class=\"tool\"{id_attr}><p><b>tool call</b> <code>{}</code> <code>{}</code>",
            text(tc["name"].as_str().unwrap_or("")),
            text(&api_id)
        );
        if let Some(l) = link.and_then(|l| l.tree.as_ref()) {
            let _ = write!(h, " · <a href=\"#{l}\">in the causal graph</a>");
        }
        if let Some(fs) = link.and_then(|l| cited.get(l.transcript.as_str())) {
            for f in fs {
                let _ = write!(h, " · <a href=\"#{f}\">finding {f}</a>");
            }
        }
        let _ = write!(
            h,
            "</p><pre>{}</pre>",
            cut(&value_text(&tc["arguments"]), MESSAGE_CHARS)
        );
        if let Some(l) = link {
            if !l.effects.is_empty() {
                h.push_str("<ul class=\"effects\">");
                for e in &l.effects {
                    let _ = write!(h, "<li>{}</li>", cut(e, 1000));
                }
                h.push_str("</ul>");
            }
        }
        if let Some(res) = tc["result_text"].as_str() {
            let _ = write!(
                h,
                "<p class=\"muted\">result</p><pre>{}</pre>",
                cut(res, MESSAGE_CHARS)
            );
        }
        h.push_str("</div>");
    }
    h.push_str("</div>\n");
}

fn blind_spots(h: &mut String, r: &Report) {
    h.push_str("<h2 id=\"blind-spots\">Blind spots</h2>\n");
    if r.blind_spots.is_empty() {
        h.push_str("<p>The capture records no loss: no dropped events, no unhooked TLS target, no partial state, redaction on.</p>\n");
        return;
    }
    h.push_str("<table><tr><th>capture</th><th>kind</th><th>what is missing</th></tr>");
    for b in &r.blind_spots {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            text(&b.capture),
            text(&b.kind),
            cut(&b.detail, 1000)
        );
    }
    h.push_str("</table>\n");
}

fn evidence_note(h: &mut String, r: &Report) {
    let rows: usize = r.evidence.iter().map(|t| t.refs.len()).sum();
    let _ = writeln!(
        h,
        "<h2 id=\"evidence\">Evidence bundle</h2>\n<p><code>evidence/</code> holds the {rows} cited row(s) as Parquet and CSV, the capture manifest, <code>bundle.json</code> (each row's segment, row index, segment and row SHA-256) and <code>SHA256SUMS</code>. Check it with <code>agentsight verify --bundle evidence</code>, and against the original capture with <code>--capture DIR</code>.</p>"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_text_is_escaped_and_invisible_characters_shown() {
        assert_eq!(
            text("<img src=x onerror=\"a('b')\">&"),
            "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;"
        );
        // A right-to-left override would make "exe.txt" look like "txt.exe".
        assert_eq!(
            text("a\u{202e}b\u{200b}c\u{1b}[31m"),
            "a⟨U+202E⟩b⟨U+200B⟩c⟨U+001B⟩[31m"
        );
        assert_eq!(text("line\r\nnext\ttab"), "line\r\nnext\ttab");
    }

    #[test]
    fn credentials_are_masked_and_cuts_say_so() {
        let key = "AKIAQWERTYUIOPASDFGH";
        let shown = text(&format!("id={key}"));
        assert!(!shown.contains(key), "{shown}");
        assert!(shown.contains("«masked:"), "{shown}");
        assert_eq!(
            cut("abcdef", 3),
            "abc<span class=\"cut\"> … (3 more characters)</span>"
        );
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; "));
        assert!(csp.contains(&csp_hash(STYLE)) && csp.contains(&csp_hash(SCRIPT)));
        assert!(!csp.contains("unsafe"));
        for directive in [
            "img-src 'none'",
            "connect-src 'none'",
            "form-action 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive}");
        }
    }
}
