//! Text and HTML renderings of a [`Report`]. The CLI uses these on the JSON it fetched, so
//! an ERP team reads the same thing whether they ask the admin API or `invois sandbox report`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{ClientReport, Finding, Report, TimelineEntry};

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_ts(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".to_owned(), ts)
}

fn client_title(c: &ClientReport) -> String {
    match &c.on_behalf_of {
        Some(o) => format!("{} (on behalf of {o})", c.client_id),
        None => c.client_id.clone(),
    }
}

fn finding_title(f: &Finding) -> String {
    match f.anti_pattern {
        Some(n) => format!("[anti-pattern {n}] {}", f.title),
        None => f.title.clone(),
    }
}

/// Plain text, findings first.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "invois sandbox integration report, {} (last {} calls kept per client)",
        ts(report.generated_at),
        report.window
    );
    if report.clients.is_empty() {
        let _ = writeln!(out, "\nNo calls recorded yet.");
    }
    for c in &report.clients {
        let _ = writeln!(
            out,
            "\nClient {}: {} call(s), {} .. {}",
            client_title(c),
            c.calls,
            opt_ts(c.first_at),
            opt_ts(c.last_at)
        );
        if c.findings.is_empty() {
            let _ = writeln!(
                out,
                "  No findings: nothing LHDN would throttle this client for."
            );
        } else {
            let _ = writeln!(out, "  {} finding(s):", c.findings.len());
        }
        for f in &c.findings {
            let _ = writeln!(out, "  * {}: {}", finding_title(f), f.summary);
            let _ = writeln!(out, "    fix: {}", f.advice);
            for e in &f.examples {
                let _ = writeln!(
                    out,
                    "    - {}  {}  {}  correlationId {}  {}",
                    ts(e.at),
                    e.endpoint.as_deref().unwrap_or("-"),
                    e.status,
                    e.correlation_id,
                    e.note
                );
            }
        }
        let _ = writeln!(out, "  Calls per endpoint:");
        for e in &c.endpoints {
            let statuses = e
                .statuses
                .iter()
                .map(|(s, n)| format!("{s}x{n}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(out, "    {:<32} {:>7}  {statuses}", e.endpoint, e.calls);
        }
        if c.folded_calls > 0 {
            let _ = writeln!(
                out,
                "  ({} older call(s) folded into the counters above)",
                c.folded_calls
            );
        }
    }
    out
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.2em;border-bottom:1px solid #ccc}\
.finding{border-left:4px solid #c33;padding:.3em .8em;margin:.8em 0;background:#fdf3f3}\
.ok{border-left:4px solid #393;padding:.3em .8em;background:#f3fdf3}\
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;font-size:12px}\
.strip{position:relative;height:14px;background:#f4f4f4;margin:2px 0 8px}\
.m{position:absolute;top:1px;width:2px;height:12px;background:#393}\
.m.e4{background:#e80}.m.e429{background:#c33}.m.e5{background:#606}\
code{font-size:12px}";

/// Marks drawn per endpoint strip; the table under it lists every call in the window.
const MAX_MARKS: usize = 2000;

fn timeline_html(out: &mut String, c: &ClientReport) {
    let (Some(t0), Some(t1)) = (
        c.timeline.first().map(|e| e.at),
        c.timeline.last().map(|e| e.at),
    ) else {
        out.push_str("<p>No calls in the window.</p>");
        return;
    };
    let span = (t1 - t0).num_milliseconds().max(1) as f64;
    let mut by_endpoint: BTreeMap<&str, Vec<&TimelineEntry>> = BTreeMap::new();
    for e in &c.timeline {
        by_endpoint.entry(e.endpoint.as_str()).or_default().push(e);
    }
    let _ = write!(
        out,
        "<p>{} .. {} (left to right)</p>",
        escape(&ts(t0)),
        escape(&ts(t1))
    );
    for (endpoint, calls) in by_endpoint {
        let _ = write!(
            out,
            "<h3>{} ({} call(s))</h3><div class=\"strip\">",
            escape(endpoint),
            calls.len()
        );
        for e in calls.iter().take(MAX_MARKS) {
            let x = (e.at - t0).num_milliseconds() as f64 / span * 99.5;
            let class = match e.status {
                429 => "m e429",
                400..=499 => "m e4",
                500..=599 => "m e5",
                _ => "m",
            };
            let _ = write!(
                out,
                "<span class=\"{class}\" style=\"left:{x:.3}%\" title=\"{} {} {}\"></span>",
                escape(&ts(e.at)),
                e.status,
                escape(&e.correlation_id)
            );
        }
        out.push_str("</div><details><summary>calls</summary><table><tr><th>time</th><th>status</th><th>correlationId</th><th>resource</th></tr>");
        for e in calls {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                escape(&ts(e.at)),
                e.status,
                escape(&e.correlation_id),
                escape(e.resource.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</table></details>");
    }
}

/// One self-contained page (no external assets, every value escaped): findings first, then a
/// timeline of the calls per endpoint.
pub fn html(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>invois sandbox integration report</title><style>{STYLE}</style></head><body><h1>invois sandbox integration report</h1><p>Generated {} (sandbox clock); the last {} calls per client are kept.</p>",
        escape(&ts(report.generated_at)),
        report.window
    );
    if report.clients.is_empty() {
        out.push_str("<p>No calls recorded yet.</p>");
    }
    for c in &report.clients {
        let _ = write!(
            out,
            "<h2>Client {}</h2><p>{} call(s), {} .. {}</p>",
            escape(&client_title(c)),
            c.calls,
            escape(&opt_ts(c.first_at)),
            escape(&opt_ts(c.last_at))
        );
        if c.findings.is_empty() {
            out.push_str(
                "<div class=\"ok\">No findings: nothing LHDN would throttle this client for.</div>",
            );
        }
        for f in &c.findings {
            let _ = write!(
                out,
                "<div class=\"finding\"><strong>{}</strong><p>{}</p><p><em>Fix:</em> {}</p><table><tr><th>time</th><th>endpoint</th><th>status</th><th>correlationId</th><th>note</th></tr>",
                escape(&finding_title(f)),
                escape(&f.summary),
                escape(&f.advice)
            );
            for e in &f.examples {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                    escape(&ts(e.at)),
                    escape(e.endpoint.as_deref().unwrap_or("-")),
                    e.status,
                    escape(&e.correlation_id),
                    escape(&e.note)
                );
            }
            out.push_str("</table></div>");
        }
        out.push_str("<h3>Calls per endpoint</h3><table><tr><th>endpoint</th><th>calls</th><th>statuses</th></tr>");
        for e in &c.endpoints {
            let statuses = e
                .statuses
                .iter()
                .map(|(s, n)| format!("{s}\u{d7}{n}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.endpoint),
                e.calls,
                escape(&statuses)
            );
        }
        out.push_str("</table><h3>Timeline</h3>");
        timeline_html(&mut out, c);
    }
    out.push_str("</body></html>\n");
    out
}
