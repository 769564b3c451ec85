//! `remediator`: the engine from a terminal. `plan` previews, `apply` enforces, `validate`
//! checks the node parameters, `handle` runs a function's exact code path for one event file,
//! `decide` approves or denies a remediation that waits for a person (its link or token).
//!
//! Exit codes (scripts rely on them): 0 converged or planned, 1 an action failed, a limit
//! refused the run or a remediation waits for approval, 2 bad input (stack file, event file,
//! arguments).

use anyhow::Context;
use clap::{Parser, Subcommand};
use shared::aws::{load_sdk_config, Clients};
use shared::domain::approvals::token_of;
use shared::domain::event::approval_event;
use shared::domain::ids::DocumentName;
use shared::domain::report::{Execution, Report, RunError, Status};
use shared::domain::signal::Signal;
use shared::domain::stack::{Problem, StackFile};
use shared::engine::{Capabilities, Engine};
use shared::invocation::{run_event, run_signal, Retryable};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod organization;

#[derive(Debug, Parser)]
#[command(
    name = "remediator",
    version,
    about = "Keeps Chainlink node stacks on AWS as their stack file declares"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Observe and print the plan; changes nothing. With --event, the plan for that event
    /// (an alarm, a CloudTrail call…) instead of a sweep.
    Plan {
        #[command(flatten)]
        common: Common,
        /// An event as a function receives it; without it, every guarded stack is swept.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
    },
    /// Observe, plan, apply (if the stack file's mode is enforce) and print the report.
    Apply(Common),
    /// Validate the stack's node parameters in Parameter Store; changes nothing.
    Validate(Common),
    /// Run the Lambda code path for one event file, in the stack file's mode.
    Handle {
        #[command(flatten)]
        common: Common,
        /// The event as a function receives it (EventBridge, SNS or an alarm action's JSON).
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
    },
    /// Decide on a remediation that waits for approval, as the approval handler's confirmation
    /// does: the approve or deny link (or bare token) from its report. The token is verified
    /// under the stack's key, the remediation re-planned, and applied only if the plan is still
    /// the one approved.
    Decide {
        #[command(flatten)]
        common: Common,
        /// The approve or deny link, or its bare token.
        #[arg(value_name = "LINK")]
        link: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct Common {
    /// The stack file (TOML) describing the desired state.
    #[arg(long, value_name = "FILE")]
    stack: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// The stack's SSM document that extends a filesystem after a disk growth (the templates'
    /// output `FilesystemDocumentName`); default: the FILESYSTEM_DOCUMENT variable. Without
    /// either, a disk growth grows the volume and reports that the filesystem must be extended
    /// by hand: the CLI never runs a command through AWS-RunShellScript.
    #[arg(long, value_name = "NAME", value_parser = parse_document)]
    filesystem_document: Option<DocumentName>,
    /// Also write the report as one self-contained HTML page (inline CSS and SVG, no network
    /// when opened): actions, findings, and each flow drawn hop by hop.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// With an `[organization]` section: how many account × region targets run at once (each
    /// target's calls go to its own account's rate limits; one run per target at a time).
    #[arg(long, value_name = "N", default_value_t = shared::organization::DEFAULT_CONCURRENCY,
          value_parser = parse_concurrency)]
    concurrency: usize,
}

pub(crate) const EXIT_BAD_INPUT: u8 = 2;

fn parse_concurrency(raw: &str) -> Result<usize, String> {
    match raw.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!("{raw:?} is not a number of targets from 1 to 256")),
    }
}

fn parse_document(raw: &str) -> Result<DocumentName, String> {
    DocumentName::parse(raw).ok_or_else(|| format!("{raw:?} is not an SSM document name"))
}

pub(crate) const EXIT_FAILED: u8 = 1;

/// What a run's report needs before anything is known: the command, and how to print.
#[derive(Clone, Debug)]
pub(crate) struct Output {
    command: &'static str,
    execution: Execution,
    json: bool,
    html: Option<PathBuf>,
}

impl Output {
    fn of(command: &Command) -> Self {
        let (name, execution, common) = match command {
            Command::Plan { common, .. } => ("plan", Execution::Plan, common),
            Command::Apply(common) => ("apply", Execution::Apply, common),
            Command::Validate(common) => ("validate", Execution::Plan, common),
            Command::Handle { common, .. } => ("handle", Execution::Apply, common),
            Command::Decide { common, .. } => ("decide", Execution::Apply, common),
        };
        Self {
            command: name,
            execution,
            json: common.json,
            html: common.html.clone(),
        }
    }

    /// Arguments clap refused: the command and `--json` as the raw arguments name them.
    fn from_raw_args() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let command = match args
            .iter()
            .find(|a| !a.starts_with('-'))
            .map(String::as_str)
        {
            Some("plan") => "plan",
            Some("apply") => "apply",
            Some("validate") => "validate",
            Some("handle") => "handle",
            Some("decide") => "decide",
            _ => "remediator",
        };
        Self {
            command,
            execution: match command {
                "apply" | "handle" | "decide" => Execution::Apply,
                _ => Execution::Plan,
            },
            json: args.iter().any(|a| a == "--json"),
            html: None,
        }
    }

    /// A run that stops before the engine reports: the error on stderr, and with `--json` the
    /// one document every run prints, naming it (status `rejected`, exit 2, for bad input).
    pub(crate) fn stop(self, error: RunError, warnings: &[Problem]) -> ExitCode {
        eprintln!("error: {}", error.message);
        let report = Report::bad_input(self.execution, error)
            .with_command(self.command)
            .with_warnings(warnings);
        let code = if self.json {
            print_report(&report, true)
        } else {
            exit_code(&report)
        };
        self.write_html(&report).unwrap_or(code)
    }

    /// Writes the report as HTML when `--html` asks; `Some(exit code)` when that failed: a
    /// report someone expects as a file must not go missing silently.
    fn write_html(&self, report: &Report) -> Option<ExitCode> {
        let path = self.html.as_ref()?;
        write_page(
            path,
            shared::domain::outputs::render_html(report, chrono::Utc::now()),
        )
    }
}

/// Writes an HTML report; `Some(exit code)` when that failed.
fn write_page(path: &Path, page: String) -> Option<ExitCode> {
    match std::fs::write(path, page) {
        Ok(()) => None,
        Err(e) => {
            eprintln!(
                "error: cannot write the HTML report {}: {e}",
                path.display()
            );
            Some(ExitCode::from(EXIT_FAILED))
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let message = e.to_string();
            let _ = e.print();
            let first = message.lines().next().unwrap_or_default();
            let error = RunError::bad_input("BadArgument", first.trim_start_matches("error: "));
            let output = Output::from_raw_args();
            return if output.json {
                print_report(
                    &Report::bad_input(output.execution, error).with_command(output.command),
                    true,
                )
            } else {
                ExitCode::from(EXIT_BAD_INPUT)
            };
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let output = Output::of(&cli.command);
            eprintln!("error: cannot start the async runtime: {e}");
            if output.json {
                let mut report = Report::bad_input(
                    output.execution,
                    RunError::bad_input("Runtime", format!("cannot start the async runtime: {e}")),
                )
                .with_command(output.command);
                report.status = Status::Failed;
                print_report(&report, true);
            }
            return ExitCode::from(EXIT_FAILED);
        }
    };
    runtime.block_on(run(cli))
}

/// Logs go to stderr so stdout carries only the report; `RUST_LOG` raises the level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> ExitCode {
    let output = Output::of(&cli.command);
    let (common, event) = match &cli.command {
        Command::Apply(common) | Command::Validate(common) | Command::Decide { common, .. } => {
            (common, None)
        }
        Command::Plan { common, event } => (common, event.as_ref()),
        Command::Handle { common, event } => (common, Some(event)),
    };
    let file = match StackFile::load(&common.stack) {
        Ok(file) => file,
        Err(e) => return output.stop(RunError::bad_input("StackFile", e.to_string()), &[]),
    };
    let event = match event.map(|path| read_event(path)).transpose() {
        Ok(event) => event,
        Err(e) => {
            return output.stop(
                RunError::bad_input("EventFile", format!("{e:#}")),
                &file.warnings,
            )
        }
    };
    let capabilities = match &cli.command {
        Command::Validate(_) if file.parameters.is_none() => {
            let message = format!(
                "{} declares no [parameters] section: nothing to validate",
                common.stack.display()
            );
            return output.stop(RunError::bad_input("NoParameters", message), &file.warnings);
        }
        Command::Validate(_) => Capabilities::PARAMETERS,
        _ => Capabilities::ALL,
    };
    let document = match &common.filesystem_document {
        Some(document) => Some(document.clone()),
        None => match std::env::var("FILESYSTEM_DOCUMENT") {
            Ok(raw) if !raw.trim().is_empty() => match parse_document(raw.trim()) {
                Ok(document) => Some(document),
                Err(e) => {
                    return output.stop(
                        RunError::bad_input("BadEnvironment", format!("FILESYSTEM_DOCUMENT: {e}")),
                        &file.warnings,
                    )
                }
            },
            _ => None,
        },
    };
    for warning in &file.warnings {
        tracing::warn!(field = %warning.field, warning = %warning.message, "stack file warning");
    }
    let config = load_sdk_config().await;
    if let Some(organization) = file.organization.clone() {
        let run = organization::Run {
            command: &cli.command,
            common,
            output: &output,
            organization,
            file,
            capabilities,
            document,
        };
        return run.run(&config, event).await;
    }
    let engine = Engine::new(Clients::new(&config), file, capabilities)
        .with_filesystem_document(document)
        .with_approval_url(std::env::var("APPROVAL_URL").ok());
    let report = match (&cli.command, event) {
        (Command::Decide { link, .. }, _) => {
            let event = approval_event(token_of(link), chrono::Utc::now());
            run_event(&engine, event, Execution::Apply).await
        }
        (Command::Handle { .. }, Some(event)) => run_event(&engine, event, Execution::Apply).await,
        (Command::Plan { .. }, Some(event)) => run_event(&engine, event, Execution::Plan).await,
        (Command::Plan { .. } | Command::Validate(_), None) => {
            run_signal(&engine, Signal::sweep("cli"), Execution::Plan).await
        }
        _ => run_signal(&engine, Signal::sweep("cli"), Execution::Apply).await,
    };
    let warnings = &engine.stack_file().warnings;
    let report = match report {
        Ok(report) => report,
        // A failure the function would retry: show what was done before it, and what a retry
        // would do, as the report tells it.
        Err(Retryable {
            report: Some(report),
            error,
        }) => {
            eprintln!("error: {error}; {}", report.retry_note());
            *report
        }
        // Still one document for `--json`: a report that says what could not be read.
        Err(Retryable { error, .. }) => {
            eprintln!("error: {error} (retryable: a Lambda function would run the event again)");
            Report::unreadable(output.execution, engine.stack_file().mode, error)
        }
    };
    let report = report.with_command(output.command).with_warnings(warnings);
    let code = print_report(&report, output.json);
    output.write_html(&report).unwrap_or(code)
}

fn read_event(path: &Path) -> anyhow::Result<serde_json::Value> {
    let raw = std::fs::read(path)
        .with_context(|| format!("cannot read event file {}", path.display()))?;
    serde_json::from_slice(&raw)
        .with_context(|| format!("event file {} is not JSON", path.display()))
}

fn print_report(report: &Report, json: bool) -> ExitCode {
    if json {
        write_stdout(format_args!("{}\n", report.to_json()));
    } else {
        write_stdout(format_args!("{report}"));
    }
    exit_code(report)
}

/// One buffered write path: a sweep's report can be megabytes, and line-buffered stdout
/// would issue a write call per line.
fn write_stdout(document: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let Err(e) = out.write_fmt(document).and_then(|()| out.flush()) {
        eprintln!("error: cannot write the report: {e}");
    }
}

fn exit_code(report: &Report) -> ExitCode {
    ExitCode::from(u8::try_from(report.status.exit_code()).unwrap_or(EXIT_FAILED))
}
