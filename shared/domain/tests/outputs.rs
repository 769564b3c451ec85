//! The report where operators look: the HTML page with its flow diagrams, Security Hub findings
//! in ASFF, and the Chatbot notification, each from a report the real planner produced.

use chainlink::{ConfigStyle, Finding, FindingCode, SecretValue, Severity};
use chrono::{DateTime, TimeZone, Utc};
use domain::ids::ParameterName;
use domain::metrics::emf_documents;
use domain::outcome::Outcome;
use domain::outputs::security_hub::{
    severity_label, AsffFinding, ComplianceStatus, RecordState, SeverityLabel,
};
use domain::outputs::{
    batches, chatbot_notification, render_html, security_hub_findings, sns_message,
};
use domain::parameters::{ParameterAction, ParameterKind};
use domain::report::{
    ActionReport, Execution, FlowReport, ParameterActionReport, ParameterReport, Report,
    SecurityGroupReport, StackReport, Status,
};
use domain::security_groups::load_balancers::Scheme;
use domain::security_groups::observed::Direction::{Inbound, Outbound};
use domain::security_groups::observed::ObservedStack;
use domain::security_groups::report::GroupLabel;
use domain::security_groups::{
    check_flows, plan_security_groups, world_exposures, FlowStatus, Verdict,
};
use domain::signal::Signal;
use domain::stack::{Mode, Problem};
use serde_json::Value;
use test_support::*;

const SECRET: &str = "postgres://node:Sup3r-Secret-Pa55@db.prod.demo.internal/chainlink";
const HOSTILE: &str = "<script>alert(1)</script>";
const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, hour, 2, 1)
        .single()
        .unwrap_or_else(|| panic!("a valid time"))
}

/// The demo stack, drifted: the database lost the node's rule (node-db blocked until the run
/// adds it back), the node opens SSH to the world, an ACL blocks the operators' UI whatever the
/// groups say, a load balancer puts the UI in front of the world, and the node group's name is
/// hostile markup.
fn drifted() -> ObservedStack {
    let mut stack = healthy_demo()
        .with_instance("i-node", "node", "subnet-app", &["sg-node"])
        .with_instance("i-db", "db", "subnet-data", &["sg-db"])
        .with_subnet("subnet-app", "10.0.1.0/24", "acl-app")
        .with_subnet("subnet-data", "10.0.2.0/24", "acl-data")
        .with_acl(
            "acl-app",
            vec![
                acl_entry(90, Inbound, Some((6688, 6688)), "10.20.0.0/16", false),
                acl_entry(100, Inbound, None, "0.0.0.0/0", true),
                acl_entry(100, Outbound, None, "0.0.0.0/0", true),
            ],
        )
        .with_acl(
            "acl-data",
            vec![
                acl_entry(100, Inbound, None, "0.0.0.0/0", true),
                acl_entry(100, Outbound, None, "0.0.0.0/0", true),
            ],
        );
    for group in &mut stack.groups {
        match group.id.as_str() {
            "sg-db" => group.ingress.clear(),
            "sg-node" => {
                group.name = HOSTILE.to_string();
                group.ingress.push(tcp(22).from("0.0.0.0/0"));
                group.ingress.push(tcp(6688).from("sg-0a1b"));
            }
            _ => {}
        }
    }
    stack.load_balancers.push(load_balancer(
        "public-alb",
        Scheme::InternetFacing,
        vec![group("sg-0a1b", "").allow(tcp(443).from("0.0.0.0/0"))],
        &[("HTTPS", 443, "ui")],
        &[("ui", "HTTP", &[("i-node", 6688)])],
    ));
    stack
}

fn finding(code: FindingCode, parameter: &str, message: &str) -> Finding {
    Finding::new(code, parameter, message)
}

/// A database URL with SSL off (reverted this run, `revert`) and a debug log level (left alone).
fn parameters(revert: Outcome) -> ParameterReport {
    ParameterReport {
        prefix: "/chainlink/demo/".into(),
        style: ConfigStyle::Legacy,
        valid: false,
        findings: vec![
            finding(
                FindingCode::DatabaseSslDisabled,
                "DATABASE_URL",
                "sslmode=disable sends the database password in clear",
            ),
            finding(
                FindingCode::LogLevelDebugInProduction,
                "LOG_LEVEL",
                "debug logs in production",
            ),
        ],
        actions: vec![ParameterActionReport {
            action: ParameterAction::RevertParameter {
                name: ParameterName::new("/chainlink/demo/DATABASE_URL"),
                parameter_type: ParameterKind::SecureString,
                kms_key: None,
                from_version: 4,
                to_version: 3,
                label: "last-known-good".into(),
                rejected_for: vec!["CL-DB-006".into()],
                value: SecretValue::new(SECRET),
            },
            outcome: revert.into(),
        }],
        note: None,
        error: None,
    }
}

/// A report of `stack` as the engine builds it, each action ending in `outcome`.
fn report_of(stack: &ObservedStack, outcome: Outcome) -> Report {
    let file = sample_stack_file();
    let plan = plan_security_groups(&file, stack);
    let before = check_flows(&file, stack);
    let after = check_flows(&file, &stack.with_actions(&plan.actions));
    let section = SecurityGroupReport {
        actions: plan
            .actions
            .into_iter()
            .map(|action| ActionReport {
                action,
                outcome: outcome.clone().into(),
            })
            .collect(),
        refusal: plan.refusal,
        exempt: plan.exempt,
        unmanaged: plan.unmanaged,
        refused: plan.refused,
        findings: plan.findings,
        flow_check: before
            .into_iter()
            .zip(after)
            .map(|(check, after)| FlowReport {
                check,
                after: after.status,
            })
            .collect(),
        exposures: world_exposures(&file, stack),
        groups: GroupLabel::of(&stack.groups),
    };
    let mut stack_report = StackReport::parameters_only(stack.name.clone(), parameters(outcome));
    stack_report.security_groups = section;
    Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("schedule"),
        vec![stack_report],
        Vec::new(),
    )
    .with_command("apply")
    .with_warnings(&[Problem {
        field: "roles.bastion".into(),
        message: "no flow names this role".into(),
    }])
}

fn applied() -> Report {
    report_of(&drifted(), Outcome::Applied)
}

/// The part of `page` from the element carrying `attribute` to the end of `closing`.
fn element<'a>(page: &'a str, attribute: &str, closing: &str) -> &'a str {
    let start = page
        .find(attribute)
        .unwrap_or_else(|| panic!("no {attribute} in the page"));
    let rest = &page[start..];
    let end = rest
        .find(closing)
        .map_or(rest.len(), |at| at + closing.len());
    &rest[..end]
}

// ---- HTML -------------------------------------------------------------------------------

#[test]
fn the_fixture_has_what_the_pictures_need() {
    let report = applied();
    let flows = &report.stacks[0].security_groups.flow_check;
    let status = |name: &str| {
        flows
            .iter()
            .find(|f| f.check.flow == name)
            .map(|f| (f.check.status, f.after))
    };
    assert_eq!(
        status("node-db"),
        Some((FlowStatus::Blocked, FlowStatus::Open))
    );
    assert_eq!(
        status("operator-ui"),
        Some((FlowStatus::Blocked, FlowStatus::Blocked))
    );
    assert_eq!(report.stacks[0].security_groups.exposures.len(), 1);
    assert_eq!(report.stacks[0].security_groups.actions.len(), 2);
}

#[test]
fn the_page_opens_without_a_network_and_runs_nothing() {
    let page = render_html(&applied(), at(3));
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    let lower = page.to_lowercase();
    for forbidden in [
        "<script", "src=", "href=", "url(", "@import", "<link", "<img",
    ] {
        assert!(!lower.contains(forbidden), "the page contains {forbidden}");
    }
    // The SVG namespace is a name, never fetched; nothing else names a URL (a listener is
    // `HTTPS:443`, which is no URL).
    let urls = lower.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !urls.contains("://") && !urls.contains("//"),
        "a URL on the page"
    );
}

#[test]
fn a_group_name_from_aws_is_escaped() {
    let page = render_html(&applied(), at(3));
    assert!(!page.contains(HOSTILE), "raw markup reached the page");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn the_heading_names_the_command_mode_status_and_time() {
    let report = applied();
    let page = render_html(&report, at(3));
    let header = element(&page, "<header", "</header>");
    assert!(header.contains("chainlink-remediator apply"), "{header}");
    assert!(header.contains("mode enforce"), "{header}");
    assert!(header.contains("status-converged\">converged"), "{header}");
    assert!(header.contains("2026-05-04T03:02:01Z"), "{header}");
    assert!(page.contains("roles.bastion: no flow names this role"));
}

#[test]
fn actions_findings_and_exposures_are_on_the_page() {
    let page = render_html(&applied(), at(3));
    let actions = element(&page, "<table class=\"actions\"", "</table>");
    assert_eq!(actions.matches("data-outcome=\"applied\"").count(), 3);
    assert!(actions.contains("revert /chainlink/demo/DATABASE_URL"));
    assert!(
        actions.contains("revoke on sg-node (&lt;script&gt;"),
        "{actions}"
    );
    let findings = element(&page, "<table class=\"findings\"", "</table>");
    assert!(findings.contains("CL-DB-006") && findings.contains("DATABASE_URL"));
    assert!(findings.contains("severity-warning"));
    let exposures = element(&page, "<ul class=\"exposures\"", "</ul>");
    assert!(exposures.contains("data-instance=\"i-node\" data-port=\"6688\""));
}

#[test]
fn each_flow_is_drawn_and_each_hop_marked_with_its_layer_and_verdict() {
    let report = applied();
    let page = render_html(&report, at(3));
    let flows = &report.stacks[0].security_groups.flow_check;
    for flow in flows {
        let attribute = format!("data-flow=\"{}\"", flow.check.flow);
        assert_eq!(page.matches(&attribute).count(), 1, "{attribute}");
        let figure = element(&page, &attribute, "</figure>");
        let hops: Vec<_> = flow.check.paths.iter().flat_map(|p| &p.hops).collect();
        let blocked = hops.iter().filter(|h| h.verdict == Verdict::Denied).count();
        let allowed = hops
            .iter()
            .filter(|h| h.verdict == Verdict::Allowed)
            .count();
        assert_eq!(
            figure.matches("class=\"hop\"").count(),
            hops.len(),
            "{figure}"
        );
        assert_eq!(
            figure
                .matches("data-verdict=\"blocked\" data-resource")
                .count(),
            blocked
        );
        assert_eq!(
            figure
                .matches("data-verdict=\"allowed\" data-resource")
                .count(),
            allowed
        );
        assert_eq!(
            figure.matches("<svg").count(),
            flow.check.paths.len(),
            "one diagram per path"
        );
    }
    let ui = element(&page, "data-flow=\"operator-ui\"", "</figure>");
    assert!(
        ui.contains(
            "data-layer=\"target_acl_inbound\" data-verdict=\"blocked\" data-resource=\"acl-app\""
        ),
        "{ui}"
    );
    assert!(ui.contains("rule 90 denies"), "the blocking rule is shown");
    let db = element(&page, "data-flow=\"node-db\"", "</figure>");
    assert!(db.contains("data-status=\"blocked\" data-after=\"open\""));
    assert!(db.contains("after this run"), "{db}");
    assert!(
        db.contains(
            "data-layer=\"target_ingress\" data-verdict=\"blocked\" data-resource=\"sg-db\""
        ),
        "{db}"
    );
    assert!(
        db.contains("data-layer=\"source_egress\" data-verdict=\"allowed\""),
        "{db}"
    );
}

#[test]
fn no_output_carries_a_secret() {
    let report = applied();
    let outputs = [
        render_html(&report, at(3)),
        serde_json::to_string(&security_hub_findings(&report, ACCOUNT, REGION, at(3)))
            .unwrap_or_default(),
        chatbot_notification(&report).to_string(),
        sns_message(&report, &report.to_json()),
    ];
    for output in outputs {
        assert!(!output.is_empty());
        assert!(!output.contains("Sup3r-Secret-Pa55"), "{output}");
    }
}

// ---- Security Hub -----------------------------------------------------------------------

fn ids(findings: &[AsffFinding]) -> Vec<String> {
    let mut ids: Vec<String> = findings.iter().map(|f| f.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn ids_are_stable_across_runs_orders_and_times() {
    let first = security_hub_findings(&applied(), ACCOUNT, REGION, at(3));
    let mut shuffled = applied();
    for stack in &mut shuffled.stacks {
        stack.security_groups.actions.reverse();
        if let Some(parameters) = &mut stack.parameters {
            parameters.findings.reverse();
        }
    }
    let later = security_hub_findings(&shuffled, ACCOUNT, REGION, at(9));
    assert_eq!(ids(&first), ids(&later));
    assert_ne!(
        first.iter().map(|f| &f.id).collect::<Vec<_>>(),
        later.iter().map(|f| &f.id).collect::<Vec<_>>(),
        "the shuffle changed the order"
    );
    assert_eq!(
        first.len(),
        ids(&first)
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    // Elsewhere, the same subjects are other findings.
    let other_account = security_hub_findings(&applied(), "210987654321", REGION, at(3));
    let other_region = security_hub_findings(&applied(), ACCOUNT, "us-east-1", at(3));
    for other in [other_account, other_region] {
        assert!(ids(&other).iter().all(|id| !ids(&first).contains(id)));
    }
}

#[test]
fn every_finding_has_the_fields_batch_import_findings_requires_and_no_workflow() {
    let findings = security_hub_findings(&applied(), ACCOUNT, REGION, at(3));
    // 2 parameter findings, SSH revoked, the database rule added, the exposure.
    assert_eq!(findings.len(), 5, "{findings:#?}");
    let namespaces = [
        "Software and Configuration Checks",
        "TTPs",
        "Effects",
        "Unusual Behaviors",
        "Sensitive Data Identifications",
    ];
    for finding in &findings {
        let json = serde_json::to_value(finding).unwrap_or_default();
        assert_eq!(json["SchemaVersion"], "2018-10-08");
        assert_eq!(
            json["ProductArn"],
            "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
        );
        assert_eq!(json["AwsAccountId"], ACCOUNT);
        assert_eq!(json["CreatedAt"], "2026-05-04T03:02:01.000Z");
        assert_eq!(json["UpdatedAt"], json["CreatedAt"]);
        for text in ["Id", "GeneratorId", "Title", "Description"] {
            assert!(
                json[text].as_str().is_some_and(|t| !t.trim().is_empty()),
                "{text}: {json}"
            );
        }
        assert!(finding.id.chars().count() <= 512 && finding.generator_id.chars().count() <= 512);
        assert!(finding.title.chars().count() <= 256);
        assert!(finding.description.chars().count() <= 1024);
        assert!(!finding.types.is_empty());
        for kind in &finding.types {
            assert!(
                namespaces
                    .iter()
                    .any(|n| kind.starts_with(&format!("{n}/"))),
                "{kind}"
            );
        }
        assert_eq!(json["FindingProviderFields"]["Types"], json["Types"]);
        assert_eq!(
            json["FindingProviderFields"]["Severity"]["Label"],
            json["Severity"]["Label"]
        );
        assert!(["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
            .contains(&json["Severity"]["Label"].as_str().unwrap_or_default()));
        let resources = json["Resources"].as_array().cloned().unwrap_or_default();
        assert!(!resources.is_empty() && resources.len() <= 32);
        for resource in resources {
            assert!(resource["Type"].is_string() && resource["Id"].is_string());
        }
        assert!(["PASSED", "FAILED"]
            .contains(&json["Compliance"]["Status"].as_str().unwrap_or_default()));
        assert!(["ACTIVE", "ARCHIVED"].contains(&json["RecordState"].as_str().unwrap_or_default()));
        let text = json.to_string();
        for owned_by_people in [
            "Workflow",
            "\"Note\"",
            "UserDefinedFields",
            "VerificationState",
        ] {
            assert!(!text.contains(owned_by_people), "{owned_by_people}: {text}");
        }
    }
}

fn by_kind<'a>(findings: &'a [AsffFinding], kind: &str) -> Vec<&'a AsffFinding> {
    findings
        .iter()
        .filter(|f| f.generator_id == format!("chainlink-remediator/{kind}"))
        .collect()
}

#[test]
fn resources_are_named_by_their_arns() {
    let findings = security_hub_findings(&applied(), ACCOUNT, REGION, at(3));
    let ssl = by_kind(&findings, "CL-DB-006");
    assert_eq!(ssl[0].resources[0].kind, "Other");
    assert_eq!(
        ssl[0].resources[0].id,
        "arn:aws:ssm:eu-west-1:123456789012:parameter/chainlink/demo/DATABASE_URL"
    );
    let revoke = by_kind(&findings, "revoke-ingress");
    assert_eq!(revoke[0].resources[0].kind, "AwsEc2SecurityGroup");
    assert_eq!(
        revoke[0].resources[0].id,
        "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-node"
    );
    let exposure = by_kind(&findings, "load-balancer-exposure");
    let kinds: Vec<&str> = exposure[0]
        .resources
        .iter()
        .map(|r| r.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "AwsEc2Instance",
            "AwsElbv2LoadBalancer",
            "AwsEc2SecurityGroup",
            "AwsEc2SecurityGroup"
        ]
    );
}

#[test]
fn severities_map_onto_asffs_scale() {
    assert_eq!(severity_label(Severity::Info), SeverityLabel::Informational);
    assert_eq!(severity_label(Severity::Warning), SeverityLabel::Low);
    assert_eq!(severity_label(Severity::Error), SeverityLabel::High);
    assert_eq!(severity_label(Severity::Critical), SeverityLabel::Critical);
    let findings = security_hub_findings(&applied(), ACCOUNT, REGION, at(3));
    let label = |kind: &str| by_kind(&findings, kind)[0].severity.label;
    assert_eq!(label("CL-DB-006"), SeverityLabel::High);
    assert_eq!(label("CL-LOG-002"), SeverityLabel::Low);
    assert_eq!(label("revoke-ingress"), SeverityLabel::High);
    assert_eq!(label("authorize-ingress"), SeverityLabel::Medium);
    assert_eq!(label("load-balancer-exposure"), SeverityLabel::High);
}

#[test]
fn what_this_run_repaired_is_passed_and_archived_and_the_rest_stays_open() {
    let state = |f: &AsffFinding| (f.compliance.status, f.record_state);
    let repaired = (ComplianceStatus::Passed, RecordState::Archived);
    let open = (ComplianceStatus::Failed, RecordState::Active);
    let findings = security_hub_findings(&applied(), ACCOUNT, REGION, at(3));
    for (kind, expected) in [
        ("CL-DB-006", repaired),
        ("CL-LOG-002", open),
        ("revoke-ingress", repaired),
        ("authorize-ingress", repaired),
        ("load-balancer-exposure", open),
    ] {
        assert_eq!(state(by_kind(&findings, kind)[0]), expected, "{kind}");
    }
    for outcome in [
        Outcome::Planned,
        Outcome::Skipped {
            reason: "gone".into(),
        },
    ] {
        let planned =
            security_hub_findings(&report_of(&drifted(), outcome), ACCOUNT, REGION, at(3));
        assert!(planned.iter().all(|f| state(f) == open), "{planned:#?}");
        assert_eq!(ids(&planned), ids(&findings), "the same findings, updated");
    }
}

#[test]
fn long_texts_are_cut_on_a_character_boundary() {
    let mut report = applied();
    let long = "é𝄞 ".repeat(700);
    if let Some(parameters) = &mut report.stacks[0].parameters {
        parameters.findings[1].message = long.clone();
    }
    let findings = security_hub_findings(&report, ACCOUNT, REGION, at(3));
    let cut = by_kind(&findings, "CL-LOG-002")[0];
    let units = |text: &str| text.encode_utf16().count();
    assert!(
        units(&cut.title) <= 256 && cut.title.ends_with('…'),
        "{}",
        cut.title
    );
    assert!(units(&cut.description) <= 1024 && cut.description.ends_with('…'));
    assert!(
        units(&cut.title) > 250,
        "cut at the limit, not far below it"
    );
}

#[test]
fn findings_go_in_batches_of_at_most_one_hundred() {
    let one = security_hub_findings(&applied(), ACCOUNT, REGION, at(3));
    let many: Vec<AsffFinding> = (0..250)
        .map(|i| {
            let mut finding = one[i % one.len()].clone();
            finding.id = format!("{}-{i}", finding.id);
            finding
        })
        .collect();
    let sizes: Vec<usize> = batches(&many).map(<[AsffFinding]>::len).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(batches(&[]).count(), 0);
}

// ---- Chat -------------------------------------------------------------------------------

#[test]
fn the_notification_is_in_chatbots_custom_format() {
    let report = applied();
    let notification = chatbot_notification(&report);
    assert_eq!(notification["version"], "1.0");
    assert_eq!(notification["source"], "custom");
    let content = &notification["content"];
    assert_eq!(content["textType"], "client-markdown");
    let title = content["title"].as_str().unwrap_or_default();
    assert!(
        title.contains("demo") && title.contains("converged"),
        "{title}"
    );
    let description = content["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("*Actions:* 3 applied"),
        "{description}"
    );
    assert!(
        description.contains("*Findings:* 1 error · 1 warning"),
        "{description}"
    );
    let error = description.find("`CL-DB-006`");
    let warning = description.find("`CL-LOG-002`");
    assert!(
        error.is_some() && error < warning,
        "worst first: {description}"
    );
    assert!(description.contains("*Exposures:* 1 forbidden port"));
    assert!(description.contains("*Blocked after this run:* operator-ui (demo)"));
    assert!(
        description.contains("revoke on sg-node (‹script›alert(1)‹/script›, role node)"),
        "a group's name from AWS can neither link nor mention: {description}"
    );
    assert!(!description.contains('<') && !title.contains('<'));
    assert!(content["keywords"]
        .as_array()
        .is_some_and(|k| k.contains(&Value::from("converged"))));
    assert_eq!(
        notification["metadata"]["threadId"],
        "chainlink-remediator-demo"
    );
    assert!(content["nextSteps"].as_array().is_some_and(|steps| steps
        .iter()
        .any(|s| s.as_str().is_some_and(|s| s.contains("load balancer")))));
}

/// A remediation an approval rule kept from running leaves the stack as it was: the run is
/// refused (exit 1), never converged, and every output says why.
#[test]
fn a_remediation_held_by_an_approval_rule_is_refused_not_converged() {
    let reason = "security_groups waits for approval, but no approval can be asked: the approval key /k could not be read; nothing was done";
    let mut stacks = report_of(
        &drifted(),
        Outcome::Skipped {
            reason: reason.into(),
        },
    )
    .stacks;
    stacks[0].parameters = None;
    let converged = Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("schedule"),
        stacks.clone(),
        Vec::new(),
    );
    assert_eq!(converged.status, Status::Converged, "skipped alone");
    stacks[0].held.push(reason.into());
    let report = Report::new(
        Execution::Apply,
        Mode::Enforce,
        Signal::sweep("schedule"),
        stacks,
        Vec::new(),
    );
    assert_eq!(report.status, Status::Refused);
    assert_eq!(report.status.exit_code(), 1);
    assert!(
        report
            .to_string()
            .contains(&format!("refused: demo: {reason}")),
        "{report}"
    );
    let json: Value = serde_json::from_str(&report.to_json()).unwrap_or_default();
    assert_eq!(json["stacks"][0]["held"][0], reason);
    let steps = chatbot_notification(&report)["content"]["nextSteps"].clone();
    let steps: Vec<&str> = steps
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(steps.iter().any(|s| s.contains(reason)), "{steps:?}");
    assert!(
        !steps
            .iter()
            .any(|s| s.contains("A limit of the stack file")),
        "{steps:?}"
    );
    let metrics = emf_documents(&report, "Test", "demo", 0, false);
    assert_eq!(metrics[0]["RemediationsRefused"], 1);
}

#[test]
fn a_long_report_is_summed_up_not_pasted() {
    let mut report = applied();
    if let Some(parameters) = &mut report.stacks[0].parameters {
        for i in 0..40 {
            parameters.findings.push(finding(
                FindingCode::RpcChainMismatch,
                &format!("ETH_URL_{i}"),
                &"x".repeat(500),
            ));
        }
    }
    let notification = chatbot_notification(&report);
    let description = notification["content"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(description.chars().count() <= 2800);
    assert_eq!(description.matches("• [").count(), 5, "{description}");
    assert!(description.contains("*Findings:* 40 critical · 1 error · 1 warning"));
}

#[test]
fn a_plan_in_report_mode_says_what_to_do_next() {
    let mut report = report_of(&drifted(), Outcome::Planned);
    report.mode = Some(Mode::Report);
    let notification = chatbot_notification(&report);
    assert!(notification["content"]["title"]
        .as_str()
        .is_some_and(|t| t.contains("planned")));
    assert!(notification["content"]["nextSteps"][0]
        .as_str()
        .is_some_and(|s| s.contains("report mode")));
}

#[test]
fn the_sns_message_keeps_the_report_json_for_everyone_but_https() {
    let report = applied();
    let json = report.to_json();
    let message: Value = serde_json::from_str(&sns_message(&report, &json)).unwrap_or_default();
    let keys: Vec<&String> = message
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["default", "https"]);
    assert_eq!(message["default"].as_str(), Some(json.as_str()));
    let https: Value = message["https"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    assert_eq!(https, chatbot_notification(&report));
}
