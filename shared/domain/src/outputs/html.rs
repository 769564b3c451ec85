//! The report as one HTML page that needs nothing but itself: the run's heading, the stack
//! file's warnings, per stack the actions and their outcomes, the findings, the exposures, what
//! was left alone, and the flow check drawn as a diagram per path (source → security groups
//! and network ACLs, in the order a packet crosses them → target; the reply's ACL hops below).
//!
//! Opening it reaches no network: CSS and SVG are inline, there is no script, font or image,
//! and a `Content-Security-Policy` forbids loading any. Every piece of text is escaped: group
//! names and descriptions come from AWS, where anyone who may create a group writes them.
//!
//! The structure is for tests as much as for people: each flow is an element with
//! `data-flow="<name>"` (and `data-status`/`data-after`), each hop one with `data-layer` and
//! `data-verdict` (`allowed`, `blocked` or `unknown`).

use super::{action_lines, outcome_name, result_line, status_name};
use crate::organization::OrganizationReport;
use crate::report::{Report, StackReport};
use crate::security_groups::report::{FlowReport, SecurityGroupReport};
use crate::security_groups::{FlowStatus, Hop, HopLayer, PathCheck, Verdict};
use chainlink::Finding;
use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::{self, Write};

/// The whole page. `generated_at` is the time shown in its heading.
pub fn render_html(report: &Report, generated_at: DateTime<Utc>) -> String {
    let mut page = String::with_capacity(32 * 1024);
    // Writing into a `String` cannot fail.
    let _ = write_page(&mut page, report, generated_at);
    page
}

/// `text` with the five characters that mean something in HTML replaced by their entities:
/// safe between tags and inside a quoted attribute.
pub fn escape(text: &str) -> String {
    Esc(text).to_string()
}

/// A `Display` whose output is escaped as it is written: any value the report shows goes
/// through it, so nothing from AWS reaches the page as markup.
struct Esc<T>(T);

impl<T: fmt::Display> fmt::Display for Esc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);
        impl fmt::Write for Escaping<'_, '_> {
            fn write_str(&mut self, text: &str) -> fmt::Result {
                let mut rest = text;
                while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
                    self.0.write_str(&rest[..at])?;
                    let entity = match rest.as_bytes()[at] {
                        b'&' => "&amp;",
                        b'<' => "&lt;",
                        b'>' => "&gt;",
                        b'"' => "&quot;",
                        _ => "&#39;",
                    };
                    self.0.write_str(entity)?;
                    rest = &rest[at + 1..];
                }
                self.0.write_str(rest)
            }
        }
        write!(Escaping(f), "{}", self.0)
    }
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem;color:#1f2328;max-width:1400px}
h1{font-size:1.4rem;margin:0 0 .3rem}h2{font-size:1.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta{color:#59636e;margin:.2rem 0}
.status{font-weight:600;padding:.1rem .5rem;border-radius:1rem;border:1px solid}
.status-converged{color:#1a7f37;background:#e6f4ea}.status-planned{color:#0550ae;background:#ddf4ff}
.status-refused,.status-invalid,.status-rejected{color:#9a6700;background:#fff8c5}.status-failed{color:#cf222e;background:#ffebe9}
.result{font-weight:600}
table{border-collapse:collapse;margin:.3rem 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
pre{white-space:pre-wrap;margin:0;font:inherit}
.outcome-applied,.outcome-already_converged{color:#1a7f37}.outcome-planned{color:#0550ae}
.outcome-skipped{color:#9a6700}.outcome-failed{color:#cf222e;font-weight:600}
.severity-critical,.severity-error{color:#cf222e;font-weight:600}.severity-warning{color:#9a6700}.severity-info{color:#59636e}
.warning{color:#9a6700}
figure.flow{margin:1rem 0;padding:.5rem;border:1px solid #d0d7de;border-radius:6px}
figure.flow figcaption{font-weight:600;margin-bottom:.4rem}
.flow-open{color:#1a7f37}.flow-blocked{color:#cf222e}.flow-unverified{color:#9a6700}
.changed{font-weight:600;color:#0550ae}
svg{display:block;max-width:100%;height:auto;margin:.3rem 0}
details{margin:.2rem 0 .6rem}summary{cursor:pointer;color:#59636e}
";

fn write_page(out: &mut String, report: &Report, generated_at: DateTime<Utc>) -> fmt::Result {
    let status = status_name(report.status);
    let when = generated_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    write_head(out, &report.command, status, &when)?;
    let mode = report
        .mode
        .map_or_else(|| "none (no stack file)".to_string(), |m| m.to_string());
    writeln!(
        out,
        "<p class=\"meta\">mode {} · status <span class=\"status status-{status}\">{status}</span> · signal {} · generated <time datetime=\"{}\">{}</time></p>",
        Esc(&mode),
        Esc(&report.signal),
        Esc(&when),
        Esc(&when)
    )?;
    if let Some(result) = result_line(report) {
        writeln!(out, "<p class=\"result\">{}</p>", Esc(result))?;
    }
    writeln!(out, "</header>")?;
    write_warnings(out, &report.warnings)?;
    write_run(out, report)?;
    writeln!(out, "</body>\n</html>")
}

/// The page of a run over an organisation: its summary, then each target as a section with
/// `data-account`, `data-region` and `data-status`, holding what a single account's page holds.
pub fn render_organization_html(
    report: &OrganizationReport,
    generated_at: DateTime<Utc>,
) -> String {
    let mut page = String::with_capacity(32 * 1024);
    // Writing into a `String` cannot fail.
    let _ = write_organization_page(&mut page, report, generated_at);
    page
}

fn write_organization_page(
    out: &mut String,
    report: &OrganizationReport,
    generated_at: DateTime<Utc>,
) -> fmt::Result {
    let status = status_name(report.status);
    let when = generated_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    write_head(out, &report.command, status, &when)?;
    let counts = |map: &std::collections::BTreeMap<&str, usize>| {
        map.iter()
            .map(|(name, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(
        out,
        "<p class=\"meta\">mode {} · status <span class=\"status status-{status}\">{status}</span> · organisation: {} target(s) · generated <time datetime=\"{}\">{}</time></p>",
        Esc(&report.mode),
        report.targets.len(),
        Esc(&when),
        Esc(&when)
    )?;
    writeln!(
        out,
        "<p class=\"result\">targets: {}; actions: {}</p>\n</header>",
        Esc(counts(&report.summary.targets)),
        Esc(counts(&report.summary.actions))
    )?;
    write_warnings(out, &report.warnings)?;
    if let Some(error) = &report.error {
        writeln!(out, "<p class=\"outcome-failed\">error: {}</p>", Esc(error))?;
    }
    for reason in &report.skipped {
        writeln!(out, "<p>{}</p>", Esc(reason))?;
    }
    for target in &report.targets {
        let target_status = status_name(target.report.status);
        writeln!(
            out,
            "<section class=\"target\" data-account=\"{}\" data-region=\"{}\" data-status=\"{target_status}\">\n<h2>{} · <span class=\"status status-{target_status}\">{target_status}</span></h2>",
            Esc(&target.target.account),
            Esc(&target.target.region),
            Esc(&target.target)
        )?;
        write_run(out, &target.report)?;
        writeln!(out, "</section>")?;
    }
    writeln!(out, "</body>\n</html>")
}

/// The document's head, and the header's opening with its title.
fn write_head(out: &mut String, command: &str, status: &str, when: &str) -> fmt::Result {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    )?;
    // Belt and braces: even a markup bug could load or run nothing.
    writeln!(
        out,
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    )?;
    writeln!(
        out,
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    )?;
    writeln!(
        out,
        "<title>chainlink-remediator {} · {status} · {}</title>",
        Esc(command),
        Esc(when)
    )?;
    writeln!(out, "<style>\n{STYLE}</style>\n</head>\n<body>")?;
    writeln!(
        out,
        "<header data-status=\"{status}\">\n<h1>chainlink-remediator {}</h1>",
        Esc(command)
    )
}

fn write_warnings(out: &mut String, warnings: &[crate::stack::Problem]) -> fmt::Result {
    if warnings.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<section class=\"warnings\">\n<h2>Stack file warnings</h2>\n<ul>"
    )?;
    for warning in warnings {
        writeln!(out, "<li class=\"warning\">{}</li>", Esc(warning))?;
    }
    writeln!(out, "</ul>\n</section>")
}

/// A run's error, what it left alone, and its stacks.
fn write_run(out: &mut String, report: &Report) -> fmt::Result {
    if let Some(error) = &report.error {
        writeln!(
            out,
            "<p class=\"outcome-failed\">error: {} ({}{})</p>",
            Esc(error),
            Esc(&error.code),
            if error.retryable { ", retryable" } else { "" }
        )?;
    }
    if !report.skipped.is_empty() {
        writeln!(out, "<h2>Left alone</h2>\n<ul>")?;
        for reason in &report.skipped {
            writeln!(out, "<li>{}</li>", Esc(reason))?;
        }
        writeln!(out, "</ul>")?;
    }
    for stack in &report.stacks {
        write_stack(out, stack)?;
    }
    Ok(())
}

fn write_stack(out: &mut String, stack: &StackReport) -> fmt::Result {
    writeln!(
        out,
        "<section class=\"stack\" data-stack=\"{}\">\n<h2>Stack {}</h2>",
        Esc(&stack.stack),
        Esc(&stack.stack)
    )?;
    write_actions(out, stack)?;
    write_findings(out, stack)?;
    write_left_alone(out, &stack.security_groups)?;
    write_exposures(out, &stack.security_groups)?;
    write_flows(out, &stack.security_groups)?;
    writeln!(out, "</section>")
}

fn write_actions(out: &mut String, stack: &StackReport) -> fmt::Result {
    if let Some(parameters) = &stack.parameters {
        writeln!(
            out,
            "<p class=\"meta\">parameters under {} ({} configuration): {}</p>",
            Esc(&parameters.prefix),
            Esc(parameters.style),
            if parameters.valid { "valid" } else { "INVALID" }
        )?;
        if let Some(note) = &parameters.note {
            writeln!(out, "<p class=\"meta\">note: {}</p>", Esc(note))?;
        }
        if let Some(error) = &parameters.error {
            writeln!(
                out,
                "<p class=\"outcome-failed\">the parameters could not be read: {}</p>",
                Esc(error)
            )?;
        }
    }
    let alarms = stack.instances.iter().map(|i| {
        (
            &i.alarm,
            &i.incident,
            i.remediation,
            i.target.clone(),
            &i.decision,
        )
    });
    let database = stack.database.iter().map(|d| {
        let target = format!("DB instance {}", d.database);
        (&d.alarm, &d.incident, d.remediation, target, &d.decision)
    });
    for (alarm, incident, remediation, target, decision) in alarms.chain(database) {
        writeln!(
            out,
            "<p class=\"meta\">alarm {} (incident {}) → {} of {}</p>",
            Esc(alarm),
            Esc(incident),
            Esc(remediation.as_str()),
            Esc(&target)
        )?;
        match decision {
            crate::instances::Decision::Act => {}
            crate::instances::Decision::NoAction(reason) => {
                writeln!(out, "<p class=\"meta\">no action: {}</p>", Esc(reason))?;
            }
            crate::instances::Decision::Refused(reason) => {
                writeln!(out, "<p class=\"warning\">refused: {}</p>", Esc(reason))?;
            }
        }
    }
    for finding in stack.database.iter().flat_map(|d| &d.findings) {
        writeln!(out, "<p class=\"meta\">{}</p>", Esc(&finding.to_string()))?;
    }
    let rows = action_lines(stack);
    writeln!(out, "<h3>Actions</h3>")?;
    if rows.is_empty() {
        return writeln!(out, "<p>nothing to do</p>");
    }
    writeln!(
        out,
        "<table class=\"actions\">\n<tr><th>#</th><th>capability</th><th>action</th><th>outcome</th></tr>"
    )?;
    for (i, row) in rows.iter().enumerate() {
        let kind = outcome_name(row.outcome);
        write!(
            out,
            "<tr data-outcome=\"{kind}\"><td>{}</td><td>{}</td><td><pre>{}</pre></td><td class=\"outcome-{kind}\">{}",
            i + 1,
            row.capability,
            Esc(&row.action),
            Esc(row.outcome)
        )?;
        for extra in [row.detail, row.recovery].into_iter().flatten() {
            write!(out, "<br>{}", Esc(extra))?;
        }
        writeln!(out, "</td></tr>")?;
    }
    writeln!(out, "</table>")
}

fn write_findings(out: &mut String, stack: &StackReport) -> fmt::Result {
    let parameter_findings = stack.parameters.iter().flat_map(|p| &p.findings);
    let findings: Vec<&Finding> = parameter_findings
        .chain(&stack.security_groups.findings)
        .collect();
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<h3>Findings</h3>\n<table class=\"findings\">\n<tr><th>code</th><th>severity</th><th>parameter</th><th>message</th></tr>"
    )?;
    for finding in findings {
        let field = finding
            .field
            .as_deref()
            .map(|field| format!(" ({field})"))
            .unwrap_or_default();
        writeln!(
            out,
            "<tr data-code=\"{}\"><td>{}</td><td class=\"severity-{}\">{}</td><td>{}{}</td><td>{}</td></tr>",
            Esc(finding.code),
            Esc(finding.code),
            finding.severity,
            finding.severity,
            Esc(&finding.parameter),
            Esc(&field),
            Esc(&finding.message)
        )?;
    }
    writeln!(out, "</table>")
}

fn write_left_alone(out: &mut String, groups: &SecurityGroupReport) -> fmt::Result {
    if let Some(refusal) = &groups.refusal {
        writeln!(
            out,
            "<p class=\"warning\">security groups refused: {}</p>",
            Esc(refusal)
        )?;
    }
    let mut items: Vec<String> = Vec::new();
    items.extend(groups.exempt.iter().map(|exempt| {
        format!(
            "exempt: {} on {} ({})",
            exempt.change,
            groups.label(exempt.group.as_str()),
            exempt.reason
        )
    }));
    items.extend(groups.refused.iter().map(|r| format!("not admitted: {r}")));
    items.extend(groups.unmanaged.iter().map(|u| {
        format!(
            "unmanaged (neither required nor forbidden): {}: {}",
            groups.label(u.group.as_str()),
            u.rule
        )
    }));
    if items.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<details class=\"left-alone\"><summary>{} item(s) left alone</summary>\n<ul>",
        items.len()
    )?;
    for item in &items {
        writeln!(out, "<li>{}</li>", Esc(item))?;
    }
    writeln!(out, "</ul></details>")
}

fn write_exposures(out: &mut String, groups: &SecurityGroupReport) -> fmt::Result {
    if groups.exposures.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<h3>Exposed to the world through a load balancer</h3>\n<p class=\"meta\">reported, not changed: each load balancer belongs to whoever deployed it</p>\n<ul class=\"exposures\">"
    )?;
    for exposure in &groups.exposures {
        writeln!(
            out,
            "<li class=\"severity-error\" data-instance=\"{}\" data-port=\"{}\">{}</li>",
            Esc(&exposure.instance),
            exposure.port,
            Esc(exposure)
        )?;
    }
    writeln!(out, "</ul>")
}

fn flow_status_name(status: FlowStatus) -> &'static str {
    match status {
        FlowStatus::Blocked => "blocked",
        FlowStatus::Unverified => "unverified",
        FlowStatus::Open => "open",
    }
}

fn write_flows(out: &mut String, groups: &SecurityGroupReport) -> fmt::Result {
    if groups.flow_check.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<h3>Flow check</h3>\n<p class=\"meta\">security groups and network ACLs, as observed at the start of the run; the status after this run's changes beside it</p>"
    )?;
    for flow in &groups.flow_check {
        write_flow(out, groups, flow)?;
    }
    Ok(())
}

fn write_flow(out: &mut String, groups: &SecurityGroupReport, flow: &FlowReport) -> fmt::Result {
    let check = &flow.check;
    let now = flow_status_name(check.status);
    let after = flow_status_name(flow.after);
    writeln!(
        out,
        "<figure class=\"flow\" data-flow=\"{}\" data-status=\"{now}\" data-after=\"{after}\">",
        Esc(&check.flow)
    )?;
    write!(
        out,
        "<figcaption>{}: {} → {}, {} {} · <span class=\"flow-{now}\">{now}</span>",
        Esc(&check.flow),
        Esc(&check.from),
        Esc(&check.to),
        Esc(check.protocol),
        Esc(check.ports)
    )?;
    if check.status == flow.after {
        writeln!(out, "</figcaption>")?;
    } else {
        writeln!(
            out,
            " <span class=\"changed\">→ <span class=\"flow-{after}\">{after}</span> after this run</span> ({now} before, {after} after the plan)</figcaption>"
        )?;
    }
    if let Some(note) = &check.note {
        writeln!(out, "<p class=\"warning\">{}</p>", Esc(note))?;
    }
    for path in &check.paths {
        write_path(out, groups, path)?;
    }
    writeln!(out, "</figure>")
}

/// `allowed`, `blocked` or `unknown`: the words the page's `data-verdict` uses.
fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allowed => "allowed",
        Verdict::Denied => "blocked",
        Verdict::Unknown => "unknown",
    }
}

/// The layer as the JSON report spells it (`target_ingress`…), for `data-layer`.
pub(crate) fn layer_name(layer: HopLayer) -> &'static str {
    match layer {
        HopLayer::SourceEgress => "source_egress",
        HopLayer::TargetIngress => "target_ingress",
        HopLayer::SourceAclOutbound => "source_acl_outbound",
        HopLayer::TargetAclInbound => "target_acl_inbound",
        HopLayer::TargetAclReturn => "target_acl_return",
        HopLayer::SourceAclReturn => "source_acl_return",
    }
}

/// What a person calls the layer, on the hop's box.
fn layer_title(layer: HopLayer) -> &'static str {
    match layer {
        HopLayer::SourceEgress => "source SG egress",
        HopLayer::SourceAclOutbound => "source subnet ACL, out",
        HopLayer::TargetAclInbound => "target subnet ACL, in",
        HopLayer::TargetIngress => "target SG ingress",
        HopLayer::TargetAclReturn => "target ACL, reply out",
        HopLayer::SourceAclReturn => "source ACL, reply in",
    }
}

/// Where a packet of the request crosses the layer; `None` for the reply's hops.
fn request_order(layer: HopLayer) -> Option<u8> {
    match layer {
        HopLayer::SourceEgress => Some(0),
        HopLayer::SourceAclOutbound => Some(1),
        HopLayer::TargetAclInbound => Some(2),
        HopLayer::TargetIngress => Some(3),
        HopLayer::TargetAclReturn | HopLayer::SourceAclReturn => None,
    }
}

const BOX_WIDTH: usize = 220;
const GAP: usize = 34;
const LINE: usize = 14;
const MARGIN: usize = 8;
/// Characters per line of a box's text, and lines of a hop's rule text shown in its box (the
/// whole text is in the box's tooltip and in the list below the diagram). Sized for the widest
/// common fallback font (DejaVu Sans: digits are 0.64 em, 7.6 px at 12 px): 26 of them fit the
/// box with its padding, as a headless Chromium screenshot showed 31 did not.
const LINE_CHARS: usize = 26;
const DETAIL_LINES: usize = 5;

/// One box of a diagram.
struct Node<'a> {
    /// `Some` for a hop; `None` for the source and target ends.
    hop: Option<&'a Hop>,
    lines: Vec<String>,
    /// The line that gives the verdict, drawn in the verdict's colour.
    verdict_line: Option<usize>,
    tooltip: String,
}

fn write_path(out: &mut String, groups: &SecurityGroupReport, path: &PathCheck) -> fmt::Result {
    let mut request: Vec<&Hop> = path
        .hops
        .iter()
        .filter(|h| request_order(h.layer).is_some())
        .collect();
    request.sort_by_key(|h| request_order(h.layer));
    let reply: Vec<&Hop> = path
        .hops
        .iter()
        .filter(|h| request_order(h.layer).is_none())
        .collect();
    let source = groups.label(&path.source);
    let target = groups.label(&path.target);
    let end = |role: &str, label: &str| Node {
        hop: None,
        lines: std::iter::once(role.to_string())
            .chain(wrap(label, LINE_CHARS, 3))
            .collect(),
        verdict_line: None,
        tooltip: format!("{role}: {label}"),
    };
    let mut top: Vec<Node<'_>> = vec![end("source", &source)];
    top.extend(request.iter().map(|hop| hop_node(groups, hop)));
    top.push(end("target", &target));
    let bottom: Vec<Node<'_>> = reply.iter().map(|hop| hop_node(groups, hop)).collect();

    let rows = if bottom.is_empty() { 1 } else { 2 };
    let lines = top
        .iter()
        .chain(&bottom)
        .map(|n| n.lines.len())
        .max()
        .unwrap_or(1);
    let box_height = lines * LINE + 2 * MARGIN;
    let reply_label = if bottom.is_empty() { 0 } else { 2 * LINE };
    let width = top.len().max(bottom.len() + 1) * (BOX_WIDTH + GAP) - GAP + 2 * MARGIN;
    let height = rows * box_height + (rows - 1) * (GAP + reply_label) + 2 * MARGIN;
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"path\" role=\"img\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" data-source=\"{}\" data-target=\"{}\" data-status=\"{}\" font-family=\"system-ui, sans-serif\" font-size=\"12\">",
        Esc(&path.source),
        Esc(&path.target),
        flow_status_name(path.status)
    )?;
    writeln!(
        out,
        "<title>{} → {}: {}</title>",
        Esc(&source),
        Esc(&target),
        flow_status_name(path.status)
    )?;
    let y_top = MARGIN;
    for (i, node) in top.iter().enumerate() {
        let x = MARGIN + i * (BOX_WIDTH + GAP);
        write_node(out, node, x, y_top, box_height)?;
        if i + 1 < top.len() {
            write_arrow(
                out,
                x + BOX_WIDTH,
                x + BOX_WIDTH + GAP,
                y_top + box_height / 2,
            )?;
        }
    }
    if !bottom.is_empty() {
        let y_label = y_top + box_height + GAP;
        let y_bottom = y_label + reply_label;
        writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"#59636e\">reply, on ephemeral ports (network ACLs are stateless) ←</text>",
            MARGIN + BOX_WIDTH + GAP,
            y_label + LINE
        )?;
        // The reply runs from the target back to the source: drawn right to left under the
        // request, ending under the source's end.
        let first = (top.len() - 2).max(bottom.len());
        for (i, node) in bottom.iter().enumerate() {
            let slot = first - i;
            let x = MARGIN + slot * (BOX_WIDTH + GAP);
            write_node(out, node, x, y_bottom, box_height)?;
            write_arrow(
                out,
                x + BOX_WIDTH + GAP,
                x + BOX_WIDTH,
                y_bottom + box_height / 2,
            )?;
        }
    }
    writeln!(out, "</svg>")?;
    write_hop_list(out, groups, path)
}

fn hop_node<'a>(groups: &SecurityGroupReport, hop: &'a Hop) -> Node<'a> {
    let verdict = match hop.verdict {
        Verdict::Allowed if hop.broader => "allowed, broader than the flow needs",
        verdict => verdict_name(verdict),
    };
    let resource = groups.label(&hop.resource);
    let mut lines = vec![layer_title(hop.layer).to_string()];
    lines.extend(wrap(&resource, LINE_CHARS, 2));
    let verdict_line = Some(lines.len());
    lines.push(verdict.to_uppercase());
    lines.extend(wrap(&hop.detail, LINE_CHARS, DETAIL_LINES));
    Node {
        hop: Some(hop),
        lines,
        verdict_line,
        tooltip: format!(
            "{}: {resource}: {verdict}: {}",
            layer_title(hop.layer),
            hop.detail
        ),
    }
}

/// Fill and stroke of a box: green allowed, red blocked, amber unknown, grey for an end.
fn colours(hop: Option<&Hop>) -> (&'static str, &'static str) {
    match hop.map(|h| h.verdict) {
        Some(Verdict::Allowed) => ("#e6f4ea", "#1a7f37"),
        Some(Verdict::Denied) => ("#ffebe9", "#cf222e"),
        Some(Verdict::Unknown) => ("#fff8c5", "#9a6700"),
        None => ("#f6f8fa", "#59636e"),
    }
}

fn write_node(out: &mut String, node: &Node<'_>, x: usize, y: usize, height: usize) -> fmt::Result {
    let (fill, stroke) = colours(node.hop);
    match node.hop {
        Some(hop) => writeln!(
            out,
            "<g class=\"hop\" data-layer=\"{}\" data-verdict=\"{}\" data-resource=\"{}\">",
            layer_name(hop.layer),
            verdict_name(hop.verdict),
            Esc(&hop.resource)
        )?,
        None => writeln!(out, "<g class=\"end\">")?,
    }
    writeln!(out, "<title>{}</title>", Esc(&node.tooltip))?;
    let dash = if node.hop.is_some_and(|h| h.broader) {
        " stroke-dasharray=\"6 3\""
    } else {
        ""
    };
    writeln!(
        out,
        "<rect x=\"{x}\" y=\"{y}\" width=\"{BOX_WIDTH}\" height=\"{height}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"2\"{dash}/>"
    )?;
    write!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"#1f2328\">",
        x + MARGIN,
        y + MARGIN
    )?;
    for (i, line) in node.lines.iter().enumerate() {
        // The first line names the layer (or the end), the verdict line stands out in colour.
        let weight = if i == 0 { " font-weight=\"600\"" } else { "" };
        let colour = if node.verdict_line == Some(i) {
            format!(" fill=\"{stroke}\" font-weight=\"700\"")
        } else {
            String::new()
        };
        write!(
            out,
            "<tspan x=\"{}\" dy=\"{LINE}\"{weight}{colour}>{}</tspan>",
            x + MARGIN,
            Esc(line)
        )?;
    }
    writeln!(out, "</text>\n</g>")
}

/// A horizontal arrow from `from` to `to` at height `y`, its head at `to`.
fn write_arrow(out: &mut String, from: usize, to: usize, y: usize) -> fmt::Result {
    let head = if to > from { to - 7 } else { to + 7 };
    writeln!(
        out,
        "<line x1=\"{from}\" y1=\"{y}\" x2=\"{head}\" y2=\"{y}\" stroke=\"#59636e\" stroke-width=\"2\"/><polygon points=\"{to},{y} {head},{} {head},{}\" fill=\"#59636e\"/>",
        y - 5,
        y + 5
    )
}

/// The path's hops in full, under the diagram: the boxes only have room for part of a rule.
fn write_hop_list(out: &mut String, groups: &SecurityGroupReport, path: &PathCheck) -> fmt::Result {
    writeln!(
        out,
        "<details class=\"hops\"><summary>{} → {}: every hop in full</summary>\n<ol>",
        Esc(groups.label(&path.source)),
        Esc(groups.label(&path.target))
    )?;
    for hop in &path.hops {
        let verdict = verdict_name(hop.verdict);
        writeln!(
            out,
            "<li data-verdict=\"{verdict}\"><span class=\"flow-{}\">{verdict}</span> at {} ({}): {}</li>",
            match hop.verdict {
                Verdict::Allowed => "open",
                Verdict::Denied => "blocked",
                Verdict::Unknown => "unverified",
            },
            Esc(groups.label(&hop.resource)),
            layer_title(hop.layer),
            Esc(&hop.detail)
        )?;
    }
    writeln!(out, "</ol></details>")
}

/// `text` in lines of at most `width` characters, broken between words where it can be; at
/// most `max_lines`, the last ending in `…` when text is left over.
fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let mut word: &str = word;
        loop {
            let used = current.chars().count();
            let needed = word.chars().count() + usize::from(used > 0);
            if used + needed <= width {
                if used > 0 {
                    current.push(' ');
                }
                current.push_str(word);
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            // A word longer than a line: cut it.
            let cut = word
                .char_indices()
                .nth(width)
                .map_or(word.len(), |(at, _)| at);
            lines.push(word[..cut].to_string());
            word = &word[cut..];
            if word.is_empty() {
                break;
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let kept: String = last.chars().take(width.saturating_sub(1)).collect();
            *last = format!("{kept}…");
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape("<script>alert(\"x\" & 'y')</script>"),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn layer_names_are_the_json_reports() {
        let layers = [
            HopLayer::SourceEgress,
            HopLayer::TargetIngress,
            HopLayer::SourceAclOutbound,
            HopLayer::TargetAclInbound,
            HopLayer::TargetAclReturn,
            HopLayer::SourceAclReturn,
        ];
        for layer in layers {
            assert_eq!(
                serde_json::to_value(layer).ok(),
                Some(serde_json::Value::from(layer_name(layer)))
            );
        }
    }

    #[test]
    fn an_organisations_page_has_a_section_per_target_and_escapes_what_aws_said() {
        use crate::organization::TargetReport;
        use crate::report::Execution;
        use crate::stack::{Mode, Target};
        let unreachable = Report::unreadable(
            Execution::Apply,
            Mode::Enforce,
            crate::Error::Aws {
                operation: "AssumeRole",
                code: "AccessDenied".into(),
                message: "<b>not authorized</b>".into(),
                retryable: false,
            },
        );
        let quiet = Report::new(
            Execution::Apply,
            Mode::Enforce,
            crate::signal::Signal::sweep("cli"),
            Vec::new(),
            Vec::new(),
        );
        let report = OrganizationReport::new(
            "apply",
            Execution::Apply,
            Mode::Enforce,
            vec![
                TargetReport {
                    target: Target::new("222222222222", "us-east-1"),
                    report: quiet,
                },
                TargetReport {
                    target: Target::new("111111111111", "eu-west-1"),
                    report: unreachable,
                },
            ],
        );
        let page = render_organization_html(&report, chrono::DateTime::UNIX_EPOCH);
        let first = page
            .find("data-account=\"111111111111\" data-region=\"eu-west-1\" data-status=\"failed\"")
            .unwrap_or_else(|| panic!("{page}"));
        let second = page
            .find(
                "data-account=\"222222222222\" data-region=\"us-east-1\" data-status=\"converged\"",
            )
            .unwrap_or_else(|| panic!("{page}"));
        assert!(first < second, "targets in order");
        assert!(page.contains("&lt;b&gt;not authorized&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>"), "{page}");
        assert!(page.contains("targets: 1 converged, 1 failed"), "{page}");
    }

    #[test]
    fn wrapping_breaks_between_words_cuts_long_words_and_caps_the_lines() {
        assert_eq!(
            wrap("allowed by rule tcp 5432", 12, 5),
            ["allowed by", "rule tcp", "5432"]
        );
        assert_eq!(wrap("abcdefghij", 4, 5), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("one two three four", 5, 2), ["one", "two…"]);
        assert!(wrap("", 5, 2).is_empty());
        for line in wrap("ünïcödé wörds ünïcödé wörds", 7, 9) {
            assert!(line.chars().count() <= 7, "{line}");
        }
    }
}
