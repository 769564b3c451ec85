//! Reading the node's TOML the way the node does.
//!
//! The node decodes with go-toml, which matches keys case-insensitively (so
//! `HTTPURl` sets `HTTPURL`), merges several documents in order with
//! `[[EVM]]` entries matched by `ChainID` and nodes by `Name`, and reports a
//! wrongly typed value as a validation error rather than failing the whole
//! file. A typed serde model would do none of that, so documents are kept as
//! `toml::Table` and read through `TableView`, which turns each field into a
//! typed value or a finding.

use std::ops::Range;

use toml::{Table, Value};

use super::finding::{Finding, FindingCode};
use super::go_duration::parse_go_duration;
use super::url_display::scrub_urls;
use super::wei::Wei;

/// Where a document failed to parse. The message is the parser's own and may
/// quote the source line, so callers decide whether it may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

pub(super) fn parse_toml(text: &str) -> Result<Table, SyntaxError> {
    text.parse::<Table>().map_err(|error| {
        let (line, column) = error
            .span()
            .map_or((0, 0), |span| line_and_column(text, span));
        SyntaxError {
            line,
            column,
            message: error.message().trim().to_owned(),
        }
    })
}

fn line_and_column(text: &str, span: Range<usize>) -> (usize, usize) {
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn key_matching<'t>(table: &'t Table, key: &str) -> Option<&'t String> {
    table.keys().find(|k| k.eq_ignore_ascii_case(key))
}

/// Applies `overlay` on top of `base` as the node applies a later config file.
pub(super) fn merge_into(base: &mut Table, overlay: &Table) {
    for (key, value) in overlay {
        let existing = key_matching(base, key).cloned();
        match (existing.as_ref().and_then(|k| base.get_mut(k)), value) {
            (Some(Value::Table(base_table)), Value::Table(overlay_table)) => {
                merge_into(base_table, overlay_table)
            }
            (Some(Value::Array(base_items)), Value::Array(overlay_items))
                if is_array_of_tables(base_items) && is_array_of_tables(overlay_items) =>
            {
                merge_array_of_tables(base_items, overlay_items);
            }
            _ => {
                if let Some(existing) = existing {
                    base.remove(&existing);
                }
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn is_array_of_tables(items: &[Value]) -> bool {
    items.iter().all(Value::is_table)
}

/// The identity the node matches entries by: `ChainID` for chains, `Name` for nodes.
fn identity(table: &Table) -> Option<(&'static str, String)> {
    for key in ["ChainID", "Name"] {
        if let Some(value) = key_matching(table, key).and_then(|k| table.get(k)) {
            return Some((key, scalar_text(value)));
        }
    }
    None
}

fn merge_array_of_tables(base: &mut Vec<Value>, overlay: &[Value]) {
    for item in overlay {
        let Value::Table(overlay_table) = item else {
            continue;
        };
        let wanted = identity(overlay_table);
        let target = wanted.as_ref().and_then(|wanted| {
            base.iter_mut().find_map(|candidate| match candidate {
                Value::Table(t) if identity(t).as_ref() == Some(wanted) => Some(t),
                _ => None,
            })
        });
        match target {
            Some(target) => merge_into(target, overlay_table),
            None => base.push(item.clone()),
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where findings about one document go, and whether its values may be shown.
pub(super) struct FindingSink<'o> {
    pub parameter: String,
    /// False for secrets.toml: no value from it appears in a message.
    pub show_values: bool,
    pub out: &'o mut Vec<Finding>,
}

impl FindingSink<'_> {
    pub fn push(&mut self, code: FindingCode, field: Option<String>, message: String) {
        let finding = Finding::new(code, self.parameter.clone(), message);
        self.out.push(match field {
            Some(field) => finding.with_field(field),
            None => finding,
        });
    }

    pub fn push_finding(&mut self, finding: Finding) {
        self.out.push(finding);
    }

    /// A value for a message: scalars from config.toml with URLs reduced to
    /// their origin; nothing from secrets.
    pub fn show(&self, value: &Value) -> String {
        if !self.show_values {
            return "*****".to_owned();
        }
        match value {
            Value::String(s) => scrub_urls(s),
            Value::Integer(_) | Value::Float(_) | Value::Boolean(_) => value.to_string(),
            other => format!("a {}", other.type_str()),
        }
    }
}

/// A table inside a document, with its path in the node's notation.
#[derive(Clone)]
pub(super) struct TableView<'a> {
    table: &'a Table,
    path: String,
}

impl<'a> TableView<'a> {
    pub fn root(table: &'a Table) -> Self {
        Self {
            table,
            path: String::new(),
        }
    }

    /// The same table under another path, for a merged copy of a table
    /// that findings should name by its original place.
    pub fn with_path(self, path: &str) -> Self {
        Self {
            table: self.table,
            path: path.to_owned(),
        }
    }

    pub fn raw(&self) -> &'a Table {
        self.table
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// `Path.key`, the name the node gives a field in its errors.
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        key_matching(self.table, key).and_then(|k| self.table.get(k))
    }

    pub fn table(&self, key: &str) -> Option<TableView<'a>> {
        match self.get(key) {
            Some(Value::Table(table)) => Some(TableView {
                table,
                path: self.field(key),
            }),
            _ => None,
        }
    }

    /// A dotted path of sub-tables, e.g. `"P2P.V2"`.
    pub fn descend(&self, dotted: &str) -> Option<TableView<'a>> {
        dotted
            .split('.')
            .try_fold(self.clone(), |view, key| view.table(key))
    }

    /// The value at a dotted path of sub-tables and a key, e.g.
    /// `"Log.File.MaxSize"`.
    pub fn get_path(&self, dotted: &str) -> Option<&'a Value> {
        match dotted.rsplit_once('.') {
            Some((tables, key)) => self.descend(tables)?.get(key),
            None => self.get(dotted),
        }
    }

    /// `[[key]]` entries, each with path `Path.key.i`.
    pub fn tables(&self, key: &str) -> Vec<TableView<'a>> {
        let field = self.field(key);
        match self.get(key) {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    Value::Table(table) => Some(TableView {
                        table,
                        path: format!("{field}.{i}"),
                    }),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn mismatch(&self, key: &str, value: &Value, expected: &str, sink: &mut FindingSink<'_>) {
        let shown = sink.show(value);
        sink.push(
            FindingCode::TomlValueType,
            Some(self.field(key)),
            format!(
                "{}: invalid value ({shown}): expected {expected}",
                self.field(key)
            ),
        );
    }

    pub fn bool(&self, key: &str, sink: &mut FindingSink<'_>) -> Option<bool> {
        match self.get(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.mismatch(key, other, "bool", sink);
                None
            }
        }
    }

    pub fn string(&self, key: &str, sink: &mut FindingSink<'_>) -> Option<&'a str> {
        match self.get(key)? {
            Value::String(s) => Some(s.as_str()),
            other => {
                self.mismatch(key, other, "a string", sink);
                None
            }
        }
    }

    pub fn integer(&self, key: &str, sink: &mut FindingSink<'_>) -> Option<i64> {
        match self.get(key)? {
            Value::Integer(i) => Some(*i),
            other => {
                self.mismatch(key, other, "an integer", sink);
                None
            }
        }
    }

    /// Strings and integers alike, as text (chain IDs are written both ways).
    pub fn text(&self, key: &str, sink: &mut FindingSink<'_>) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Integer(i) => Some(i.to_string()),
            other => {
                self.mismatch(key, other, "a string", sink);
                None
            }
        }
    }

    pub fn duration(&self, key: &str, sink: &mut FindingSink<'_>) -> Option<u128> {
        let value = self.get(key)?;
        match value {
            Value::String(s) => {
                let parsed = parse_go_duration(s);
                if parsed.is_none() {
                    self.mismatch(key, value, "a duration such as '10s' or '1m0s'", sink);
                }
                parsed
            }
            other => {
                self.mismatch(key, other, "a duration string such as '10s'", sink);
                None
            }
        }
    }

    pub fn wei(&self, key: &str, sink: &mut FindingSink<'_>) -> Option<Wei> {
        let value = self.get(key)?;
        let parsed = match value {
            Value::String(s) => Wei::parse(s),
            Value::Integer(i) => Wei::from_integer(*i),
            _ => None,
        };
        if parsed.is_none() {
            self.mismatch(key, value, "an amount such as '20 gwei'", sink);
        }
        parsed
    }

    /// A list of strings, e.g. `P2P.V2.ListenAddresses`.
    pub fn strings(&self, key: &str, sink: &mut FindingSink<'_>) -> Option<Vec<&'a str>> {
        match self.get(key)? {
            Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect()),
            other => {
                self.mismatch(key, other, "a list of strings", sink);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        parse_toml(text).unwrap()
    }

    #[test]
    fn syntax_errors_have_positions() {
        let cases = [
            ("{ bad syntax {", 1, 1),
            ("Dev = false\nDev = true", 2, 1),
            ("[A]\nx = 'unterminated\n", 2, 18),
        ];
        for (text, line, column) in cases {
            let error = parse_toml(text).unwrap_err();
            assert_eq!(
                (error.line, error.column),
                (line, column),
                "{text:?}: {}",
                error.message
            );
        }
    }

    #[test]
    fn keys_match_case_insensitively() {
        let doc = table("[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nHTTPURl = 'http://x'\n");
        let root = TableView::root(&doc);
        let chains = root.tables("evm");
        assert_eq!(chains.len(), 1);
        let nodes = chains[0].tables("Nodes");
        assert_eq!(nodes[0].path(), "evm.0.Nodes.0");
        assert!(nodes[0].get("HTTPURL").is_some());
    }

    #[test]
    fn merge_matches_chains_and_nodes() {
        let mut base =
            table("Log.Level = 'info'\n[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\nWSURL = 'wss://a'\n");
        let overlay = table(
            "log.level = 'debug'\n[[EVM]]\nChainID = '1'\n[[EVM.Nodes]]\nName = 'a'\nHTTPURL = 'https://a'\n\
             [[EVM.Nodes]]\nName = 'b'\n[[EVM]]\nChainID = '10'\n",
        );
        merge_into(&mut base, &overlay);
        let root = TableView::root(&base);
        let mut out = Vec::new();
        let mut sink = FindingSink {
            parameter: "config.toml".into(),
            show_values: true,
            out: &mut out,
        };
        assert_eq!(
            root.descend("Log")
                .and_then(|l| l.string("Level", &mut sink)),
            Some("debug")
        );
        let chains = root.tables("EVM");
        assert_eq!(chains.len(), 2);
        let nodes = chains[0].tables("Nodes");
        assert_eq!(nodes.len(), 2);
        assert!(nodes[0].get("WSURL").is_some() && nodes[0].get("HTTPURL").is_some());
    }

    #[test]
    fn type_mismatches_become_findings_without_secret_values() {
        let doc = table("Enabled = 1\nURL = 7\n");
        let root = TableView::root(&doc);
        let mut out = Vec::new();
        let mut sink = FindingSink {
            parameter: "config.toml".into(),
            show_values: true,
            out: &mut out,
        };
        assert_eq!(root.bool("Enabled", &mut sink), None);
        let mut secrets_sink = FindingSink {
            parameter: "secrets.toml".into(),
            show_values: false,
            out: sink.out,
        };
        assert_eq!(root.string("URL", &mut secrets_sink), None);
        assert_eq!(out[0].message, "Enabled: invalid value (1): expected bool");
        assert_eq!(
            out[1].message,
            "URL: invalid value (*****): expected a string"
        );
    }
}
