//! [`Report::render`]: the report as text (for a terminal), JSON (the
//! [`Report`] serialized), CSV (one row per control, CRLF line ends, quoted
//! fields) or a self-contained HTML page (inline style, no script, no
//! link out).

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::health::Status;
use crate::model::ReportFormat;
use crate::report::control::ControlStatus;
use crate::report::document::Report;
use crate::report::duration::human_secs;

impl Report {
    /// The report in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Text => self.text(),
            ReportFormat::Json => {
                serde_json::to_string_pretty(self).expect("a report serializes") + "\n"
            }
            ReportFormat::Csv => self.csv(),
            ReportFormat::Html => self.html(),
        }
    }

    fn text(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "coffer compliance report, {:.0} (period since {:.0})\nconfiguration: {}\n{} passed, {} failed, {} not evaluated\n",
            self.generated_at,
            self.period_start,
            self.config.display(),
            self.summary.pass,
            self.summary.fail,
            self.summary.not_evaluated
        );
        for c in &self.controls {
            let _ = writeln!(o, "[{}] {}: {}", c.status, c.id, c.title);
            for e in &c.evidence {
                let mark = if c.failing.contains(e) { "FAIL" } else { "ok" };
                let _ = writeln!(o, "    {mark:<4} {e}");
            }
            if c.evidence.is_empty() {
                let _ = writeln!(o, "    nothing to evaluate");
            }
        }
        let _ = writeln!(o, "\nsources:");
        for s in &self.sources {
            let _ = writeln!(o, "    {:<9} {}", s.status.as_str(), s.health.source);
        }
        let _ = writeln!(o, "\njobs since {:.0}:", self.period_start);
        if self.jobs.is_empty() {
            let _ = writeln!(o, "    none");
        }
        for j in &self.jobs {
            let states: Vec<String> = j.states.iter().map(|(s, n)| format!("{n} {s}")).collect();
            let _ = writeln!(o, "    {:<13} {}", j.kind, states.join(", "));
        }
        o
    }

    fn csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut o = String::from("control,title,status,failing_resources,evidence\r\n");
        for c in &self.controls {
            let _ = write!(
                o,
                "{},{},{},{},{}\r\n",
                field(&c.id),
                field(&c.title),
                c.status,
                field(&c.failing.join("\n")),
                field(&c.evidence.join("\n"))
            );
        }
        o
    }

    fn html(&self) -> String {
        fn esc(s: &str) -> String {
            let mut o = String::with_capacity(s.len());
            for ch in s.chars() {
                match ch {
                    '&' => o.push_str("&amp;"),
                    '<' => o.push_str("&lt;"),
                    '>' => o.push_str("&gt;"),
                    '"' => o.push_str("&quot;"),
                    '\'' => o.push_str("&#39;"),
                    c => o.push(c),
                }
            }
            o
        }
        let class = |s: ControlStatus| match s {
            ControlStatus::Pass => "pass",
            ControlStatus::Fail => "fail",
            ControlStatus::NotEvaluated => "na",
        };
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>coffer compliance report {gen}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}}
h1{{font-size:1.5em}} h2{{font-size:1.15em;margin-top:2em}}
table{{border-collapse:collapse;width:100%}} th,td{{border:1px solid #ccc;padding:.35em .6em;text-align:left;vertical-align:top}}
th{{background:#f3f3f3}} .pass{{color:#0a6b2d;font-weight:bold}} .fail{{color:#b00020;font-weight:bold}} .na{{color:#666;font-weight:bold}}
ul{{margin:.2em 0;padding-left:1.2em}} li.fail{{font-weight:normal}} .meta{{color:#555}}
</style></head><body>
<h1>coffer compliance report</h1>
<p class="meta">Generated {gen} for the period since {since}.<br>Configuration: <code>{cfg}</code></p>
<p><span class="pass">{p} passed</span>, <span class="fail">{f} failed</span>, <span class="na">{n} not evaluated</span>.</p>
<h2>Controls</h2>
<table><thead><tr><th>Control</th><th>Status</th><th>Evidence</th></tr></thead><tbody>
"#,
            gen = esc(&format!("{:.0}", self.generated_at)),
            since = esc(&format!("{:.0}", self.period_start)),
            cfg = esc(&self.config.display().to_string()),
            p = self.summary.pass,
            f = self.summary.fail,
            n = self.summary.not_evaluated,
        );
        for c in &self.controls {
            let _ = write!(
                o,
                "<tr id=\"{id}\"><td><b>{id}</b><br>{title}</td><td class=\"{cls}\">{status}</td><td>",
                id = esc(&c.id),
                title = esc(&c.title),
                cls = class(c.status),
                status = c.status
            );
            if c.evidence.is_empty() {
                o.push_str("nothing to evaluate");
            } else {
                o.push_str("<ul>");
                for e in &c.evidence {
                    let failing = c.failing.contains(e);
                    let _ = write!(
                        o,
                        "<li{}>{}{}</li>",
                        if failing { " class=\"fail\"" } else { "" },
                        if failing { "FAIL: " } else { "" },
                        esc(e)
                    );
                }
                o.push_str("</ul>");
            }
            o.push_str("</td></tr>\n");
        }
        o.push_str("</tbody></table>\n<h2>Sources</h2>\n<table><thead><tr><th>Source</th><th>Status</th><th>Newest good backup</th><th>RPO</th><th>Newest archived WAL</th><th>Last restore</th><th>RTO</th></tr></thead><tbody>\n");
        let opt_t =
            |t: Option<Timestamp>| t.map(|t| format!("{t:.0}")).unwrap_or_else(|| "—".into());
        let opt_s = |s: Option<f64>| s.map(human_secs).unwrap_or_else(|| "—".into());
        for s in &self.sources {
            let h = &s.health;
            let cls = match s.status {
                Status::Ok => "pass",
                Status::Violated => "fail",
                Status::Unknown => "na",
            };
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td class=\"{cls}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&h.source),
                s.status,
                esc(&opt_t(h.newest_good_at)),
                esc(&opt_s(h.rpo_seconds)),
                esc(&opt_t(h.wal_newest_at)),
                esc(&opt_s(h.last_restore_seconds)),
                esc(&opt_s(h.rto_seconds)),
            );
        }
        o.push_str("</tbody></table>\n<h2>Jobs in the period</h2>\n");
        if self.jobs.is_empty() {
            o.push_str("<p>None.</p>\n");
        } else {
            o.push_str("<table><thead><tr><th>Kind</th><th>States</th></tr></thead><tbody>\n");
            for j in &self.jobs {
                let states: Vec<String> =
                    j.states.iter().map(|(s, n)| format!("{n} {s}")).collect();
                let _ = writeln!(
                    o,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    esc(&j.kind),
                    esc(&states.join(", "))
                );
            }
            o.push_str("</tbody></table>\n");
        }
        o.push_str("</body></html>\n");
        o
    }
}
