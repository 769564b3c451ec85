//! `plan`, `apply`, `validate` and `handle` over an organisation: every account × region of the
//! stack file's `[organization]` (or, for an event, the one it happened in), each target run
//! once, at most `--concurrency` at once, into one report.

use super::{write_page, write_stdout, Command, Common, Output, EXIT_FAILED};
use shared::aws::Clients;
use shared::domain::event::{event_origin, parse_event_value};
use shared::domain::ids::DocumentName;
use shared::domain::organization::OrganizationReport;
use shared::domain::report::RunError;
use shared::domain::signal::Signal;
use shared::domain::stack::{Organization, StackFile};
use shared::engine::{Capabilities, Engine};
use shared::organization::{accounts, MemberSessions, Runner};
use std::io::IsTerminal;
use std::process::ExitCode;

/// One organisation run's inputs.
pub(super) struct Run<'a> {
    pub command: &'a Command,
    pub common: &'a Common,
    pub output: &'a Output,
    pub organization: Organization,
    pub file: StackFile,
    pub capabilities: Capabilities,
    pub document: Option<DocumentName>,
}

impl Run<'_> {
    pub async fn run(
        self,
        config: &aws_config::SdkConfig,
        event: Option<serde_json::Value>,
    ) -> ExitCode {
        let output = self.output.clone();
        let warnings = self.file.warnings.clone();
        if matches!(self.command, Command::Decide { .. }) {
            return output.stop(
                RunError::bad_input(
                    "NotForOrganizations",
                    "decide runs in one account: approvals are not issued for an [organization] stack file",
                ),
                &warnings,
            );
        }
        let organizations = aws_sdk_organizations::Client::new(config);
        let listed = match accounts::targets(&self.organization, &organizations).await {
            Ok(targets) => targets,
            Err(error) => {
                eprintln!("error: the organisation's accounts could not be listed: {error}");
                let report = OrganizationReport::unlisted(
                    output.command,
                    output.execution,
                    self.file.mode,
                    RunError::from(&error),
                )
                .with_warnings(&warnings);
                return finish(self.common, &report);
            }
        };
        let (targets, signal) = match event {
            None => (listed, Signal::sweep("cli")),
            Some(event) => {
                let Some(origin) = event_origin(&event) else {
                    return output.stop(
                        RunError::bad_input(
                            "EventRejected",
                            "the event names no account and region: an [organization] run needs them to know where it happened",
                        ),
                        &warnings,
                    );
                };
                let signal = match parse_event_value(event) {
                    Ok(signal) => signal,
                    Err(error) => {
                        return output.stop(
                            RunError::bad_input("EventRejected", error.to_string()),
                            &warnings,
                        )
                    }
                };
                match self.organization.outside_of(&listed, &origin) {
                    Some(reason) => {
                        let mut report = OrganizationReport::new(
                            output.command,
                            output.execution,
                            self.file.mode,
                            Vec::new(),
                        )
                        .with_warnings(&warnings);
                        report.skipped.push(reason);
                        return finish(self.common, &report);
                    }
                    None => (vec![origin], signal),
                }
            }
        };
        let sessions = MemberSessions::new(config, &self.organization);
        let mode = self.file.mode;
        let (file, capabilities, document) = (&self.file, self.capabilities, &self.document);
        let approval_url = std::env::var("APPROVAL_URL").ok();
        let engine_for = |clients: Clients| {
            Engine::new(clients, file.clone(), capabilities)
                .with_filesystem_document(document.clone())
                .with_approval_url(approval_url.clone())
        };
        let terminal = std::io::stderr().is_terminal();
        let runner = Runner {
            sessions: &sessions,
            engine_for: &engine_for,
            execution: output.execution,
            mode,
        };
        let reports = runner
            .run_all(targets, self.common.concurrency, &signal, |done, total| {
                if terminal {
                    eprint!("\r{done}/{total} targets");
                    if done == total {
                        eprintln!();
                    }
                }
            })
            .await;
        let report = OrganizationReport::new(output.command, output.execution, mode, reports)
            .with_warnings(&warnings);
        finish(self.common, &report)
    }
}

/// The report on stdout, and its page when `--html` asks.
fn finish(common: &Common, report: &OrganizationReport) -> ExitCode {
    let code = print(report, common.json);
    write_html(common, report).unwrap_or(code)
}

/// `--html`: the organisation's page; `Some(exit code)` when it could not be written.
fn write_html(common: &Common, report: &OrganizationReport) -> Option<ExitCode> {
    let path = common.html.as_ref()?;
    write_page(
        path,
        shared::domain::outputs::render_organization_html(report, chrono::Utc::now()),
    )
}

fn print(report: &OrganizationReport, json: bool) -> ExitCode {
    if json {
        write_stdout(format_args!("{}\n", report.to_json()));
    } else {
        write_stdout(format_args!("{report}"));
    }
    ExitCode::from(u8::try_from(report.exit_code()).unwrap_or(EXIT_FAILED))
}
