//! Settings the node accepts anywhere but that a production stack should
//! not run with: a wildcard CORS origin, debug logging, and a log directory
//! on the root volume that grows without a size cap.
//!
//! The node boots with each of them, so they are warnings, reported only
//! for a production stack (`EnvironmentPolicy.production`); an error would
//! make the parameter function roll the change back, which these settings
//! do not warrant on their own.

use toml::Value;

use super::finding::{ConfigStyle, Finding, FindingCode};
use super::parameters::Parameters;
use super::policy::EnvironmentPolicy;
use super::stack::Stack;
use super::toml_tree::TableView;

/// One setting as the style names it: where a finding about it points,
/// and its value as text, when it is set.
struct Setting<'a> {
    parameter: &'a str,
    field: Option<&'static str>,
    value: Option<String>,
}

impl Setting<'_> {
    /// The name a person looks for: the TOML field or the variable.
    fn name(&self) -> &str {
        self.field.unwrap_or(self.parameter)
    }

    fn finding(&self, code: FindingCode, message: String) -> Finding {
        let finding = Finding::new(code, self.parameter, message);
        match self.field {
            Some(field) => finding.with_field(field),
            None => finding,
        }
    }
}

/// The settings these rules read, from either style.
struct LogAndWeb<'a> {
    allow_origins: Setting<'a>,
    log_level: Setting<'a>,
    log_dir: Setting<'a>,
    root_dir: Setting<'a>,
    log_max_size: Setting<'a>,
    log_max_backups: Setting<'a>,
    log_max_age: Setting<'a>,
}

fn toml_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

fn v2_settings<'a>(parameter: &'a str, root: &TableView<'_>) -> LogAndWeb<'a> {
    let setting = |field: &'static str| Setting {
        parameter,
        field: Some(field),
        value: root.get_path(field).and_then(toml_text),
    };
    LogAndWeb {
        allow_origins: setting("WebServer.AllowOrigins"),
        log_level: setting("Log.Level"),
        log_dir: setting("Log.File.Dir"),
        root_dir: setting("RootDir"),
        log_max_size: setting("Log.File.MaxSize"),
        log_max_backups: setting("Log.File.MaxBackups"),
        log_max_age: setting("Log.File.MaxAgeDays"),
    }
}

fn legacy_settings<'a>(params: &Parameters<'a>) -> LogAndWeb<'a> {
    let setting = |name: &'static str| Setting {
        parameter: name,
        field: None,
        value: params.text(name).map(|v| v.trim().to_owned()),
    };
    LogAndWeb {
        allow_origins: setting("ALLOW_ORIGINS"),
        log_level: setting("LOG_LEVEL"),
        log_dir: setting("LOG_FILE_DIR"),
        root_dir: setting("ROOT"),
        log_max_size: setting("LOG_FILE_MAX_SIZE"),
        log_max_backups: setting("LOG_FILE_MAX_BACKUPS"),
        log_max_age: setting("LOG_FILE_MAX_AGE"),
    }
}

fn check_allow_origins(setting: &Setting<'_>, out: &mut Vec<Finding>) {
    let Some(origins) = &setting.value else {
        return;
    };
    if let Some(wildcard) = origins.split(',').map(str::trim).find(|o| o.contains('*')) {
        out.push(setting.finding(
            FindingCode::AllowOriginsWildcard,
            format!(
                "{} allows the origin '{wildcard}' in a production stack: any web page may call the node's API \
                 from an operator's browser. The node's docs recommend the explicit URL the UI is reached at.",
                setting.name()
            ),
        ));
    }
}

fn check_log_level(setting: &Setting<'_>, out: &mut Vec<Finding>) {
    if setting
        .value
        .as_deref()
        .is_some_and(|level| level.eq_ignore_ascii_case("debug"))
    {
        out.push(setting.finding(
            FindingCode::LogLevelDebugInProduction,
            format!(
                "{} is debug in a production stack: debug logging ('useful for forensic debugging') multiplies the \
                 log volume on screen and on disk. Use info, and debug only while investigating.",
                setting.name()
            ),
        ));
    }
}

/// A log size such as `5120mb`, `5.12gb` or `0`: whether it is zero, which
/// turns disk logging off. An unreadable size is the type checks' concern.
fn is_zero_size(text: &str) -> bool {
    let number = text
        .trim()
        .trim_end_matches(|c: char| c.is_ascii_alphabetic());
    number.trim().parse::<f64>().is_ok_and(|n| n == 0.0)
}

/// The log directory is the node's default, `RootDir` (`~/.chainlink`) on
/// the root volume, and `MaxBackups = 0` keeps every rotated file: the
/// node's disk log (lumberjack) then grows without a size cap. A
/// directory set explicitly may be on a volume of its own, which the
/// parameters cannot show, so it is not judged.
fn check_log_file(settings: &LogAndWeb<'_>, out: &mut Vec<Finding>) {
    let backups = &settings.log_max_backups;
    let keeps_all = backups
        .value
        .as_deref()
        .is_some_and(|n| n.parse::<u64>() == Ok(0));
    let logs_to_disk = !settings
        .log_max_size
        .value
        .as_deref()
        .is_some_and(is_zero_size);
    let default_dir = settings.log_dir.value.is_none() && settings.root_dir.value.is_none();
    if !(keeps_all && logs_to_disk && default_dir) {
        return;
    }
    let age = match settings.log_max_age.value.as_deref() {
        Some(days) if days.parse::<u64>().is_ok_and(|d| d > 0) => {
            format!(
                "{} = {days} bounds them by age only",
                settings.log_max_age.name()
            )
        }
        _ => format!("{} deletes none by age", settings.log_max_age.name()),
    };
    out.push(backups.finding(
        FindingCode::LogFileUncapped,
        format!(
            "{} = 0 keeps every rotated log file ('retains all old log files') and {age}, in the node's root \
             directory ({} and {} unset: ~/.chainlink), on the instance's root volume: the logs grow until the \
             volume is full. Set {} (disk use is about MaxSize × (MaxBackups + 1)), or point {} at a volume of \
             its own.",
            backups.name(),
            settings.log_dir.name(),
            settings.root_dir.name(),
            backups.name(),
            settings.log_dir.name()
        ),
    ));
}

/// The production-only rules; nothing outside production.
pub(super) fn check_production(
    stack: &Stack<'_>,
    policy: &EnvironmentPolicy,
    out: &mut Vec<Finding>,
) {
    if !policy.production {
        return;
    }
    let settings = match stack.style {
        ConfigStyle::Legacy => legacy_settings(&stack.params),
        ConfigStyle::V2 | ConfigStyle::Mixed => match stack.config_view() {
            Some((parameter, root)) => v2_settings(parameter, &root),
            None => return,
        },
        ConfigStyle::Unknown => return,
    };
    check_allow_origins(&settings.allow_origins, out);
    check_log_level(&settings.log_level, out);
    check_log_file(&settings, out);
}

#[cfg(test)]
mod tests {
    use super::super::test_support::entries;
    use super::*;
    use FindingCode::*;

    fn run(pairs: &[(&str, &str)], production: bool) -> Vec<(FindingCode, String)> {
        let entries = entries(pairs);
        let policy = EnvironmentPolicy {
            production,
            ..EnvironmentPolicy::default()
        };
        let mut out = Vec::new();
        let stack = Stack::load(&entries, &mut out);
        check_production(&stack, &policy, &mut out);
        out.into_iter()
            .map(|f| (f.code, f.field.unwrap_or(f.parameter)))
            .collect()
    }

    #[test]
    fn v2_production_table() {
        let cases: &[(&str, &[(FindingCode, &str)])] = &[
            ("", &[]),
            (
                "[WebServer]\nAllowOrigins = '*'\n",
                &[(AllowOriginsWildcard, "WebServer.AllowOrigins")],
            ),
            (
                "[WebServer]\nAllowOrigins = 'https://ui.example,https://*.example'\n",
                &[(AllowOriginsWildcard, "WebServer.AllowOrigins")],
            ),
            ("[WebServer]\nAllowOrigins = 'https://ui.example'\n", &[]),
            (
                "[Log]\nLevel = 'debug'\n",
                &[(LogLevelDebugInProduction, "Log.Level")],
            ),
            ("[Log]\nLevel = 'info'\n", &[]),
            (
                "[Log.File]\nMaxBackups = 0\n",
                &[(LogFileUncapped, "Log.File.MaxBackups")],
            ),
            (
                "[Log.File]\nMaxBackups = 0\nMaxAgeDays = 7\n",
                &[(LogFileUncapped, "Log.File.MaxBackups")],
            ),
            // The defaults keep one backup: MaxSize × 2 at most.
            ("[Log.File]\nMaxSize = '5120mb'\n", &[]),
            // No disk logging, or a directory the operator chose.
            ("[Log.File]\nMaxBackups = 0\nMaxSize = '0b'\n", &[]),
            (
                "[Log.File]\nMaxBackups = 0\nDir = '/var/log/chainlink'\n",
                &[],
            ),
            ("RootDir = '/chainlink'\n[Log.File]\nMaxBackups = 0\n", &[]),
        ];
        for (config, expected) in cases {
            let expected: Vec<(FindingCode, String)> =
                expected.iter().map(|(c, f)| (*c, f.to_string())).collect();
            assert_eq!(run(&[("config.toml", config)], true), expected, "{config}");
            assert_eq!(run(&[("config.toml", config)], false), vec![], "{config}");
        }
    }

    #[test]
    fn legacy_production_table() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [(FindingCode, &'a str)]);
        let cases: &[Case<'_>] = &[
            (
                &[("ALLOW_ORIGINS", "*")],
                &[(AllowOriginsWildcard, "ALLOW_ORIGINS")],
            ),
            (
                &[("LOG_LEVEL", "DEBUG")],
                &[(LogLevelDebugInProduction, "LOG_LEVEL")],
            ),
            (
                &[("LOG_FILE_MAX_BACKUPS", "0")],
                &[(LogFileUncapped, "LOG_FILE_MAX_BACKUPS")],
            ),
            (
                &[("LOG_FILE_MAX_BACKUPS", "0"), ("ROOT", "/data/chainlink")],
                &[],
            ),
            (&[("LOG_FILE_MAX_BACKUPS", "3"), ("LOG_LEVEL", "info")], &[]),
        ];
        for (pairs, expected) in cases {
            let mut pairs = pairs.to_vec();
            pairs.push(("DATABASE_URL", "postgresql://x"));
            let expected: Vec<(FindingCode, String)> =
                expected.iter().map(|(c, f)| (*c, f.to_string())).collect();
            assert_eq!(run(&pairs, true), expected, "{pairs:?}");
            assert_eq!(run(&pairs, false), vec![], "{pairs:?}");
        }
    }

    #[test]
    fn log_sizes_read_zero_in_any_unit() {
        for (text, zero) in [
            ("0", true),
            ("0b", true),
            ("0.00mb", true),
            ("5120mb", false),
            ("5.12gb", false),
        ] {
            assert_eq!(is_zero_size(text), zero, "{text}");
        }
    }
}
