//! The database's connection limit, evaluated from its parameter group's `max_connections`.
//!
//! The value is a number, or an RDS parameter formula ("Specifying DB parameters" in the RDS
//! user guide): integers, formulas in braces (`{DBInstanceClassMemory/9531392}`,
//! `{DBInstanceClassMemory*3/4}`: a variable or integer, then `*` and `/` applied left to right
//! with the quotient truncated) and the functions `GREATEST`, `LEAST` and `SUM` (names in any
//! case, at least one argument). Not set, RDS for PostgreSQL's default applies:
//! `LEAST({DBInstanceClassMemory/9531392},5000)`. Anything else (`IF`, `log(…)`, an unknown
//! variable, an unknown class) is a typed error: a limit that is guessed would feed the
//! connection check a number nobody stated.

use super::class::{DbInstanceClass, UnknownClass};
use serde::Serialize;
use std::fmt;

/// RDS for PostgreSQL's default `max_connections` (AWS Prescriptive Guidance, "Tuning
/// PostgreSQL parameters": `LEAST(DBInstanceClassMemory/9531392,5000)`; the parameter group
/// writes it with braces).
pub const POSTGRES_DEFAULT_MAX_CONNECTIONS: &str = "LEAST({DBInstanceClassMemory/9531392},5000)";

/// `max_connections` as the parameter group holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum MaxConnectionsSetting {
    Number(u32),
    Formula(String),
    /// The parameter has no value: the engine's default applies.
    EngineDefault,
}

impl MaxConnectionsSetting {
    /// From DescribeDBParameters' `ParameterValue` (absent or empty: the engine default).
    pub fn from_parameter_value(value: Option<&str>) -> Self {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Self::EngineDefault,
            Some(text) => match text.parse::<u32>() {
                Ok(number) => Self::Number(number),
                Err(_) => Self::Formula(text.to_string()),
            },
        }
    }
}

/// What a formula's variables stand for, for one DB instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormulaContext<'a> {
    pub engine: &'a str,
    pub class: &'a str,
    pub allocated_storage_gib: u32,
    pub port: Option<u16>,
}

/// An evaluated limit, and how far it can be trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionLimit {
    pub connections: u32,
    /// The formula evaluated, if the value was not a plain number (the engine's default when
    /// the parameter is not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formula: Option<String>,
    /// The formula reads `DBInstanceClassMemory`, which RDS computes by subtracting an
    /// undocumented reserve from the class's memory: the real limit is somewhat lower.
    pub upper_bound: bool,
}

impl fmt::Display for ConnectionLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.formula, self.upper_bound) {
            (None, _) => write!(f, "{} (max_connections)", self.connections),
            (Some(formula), true) => write!(
                f,
                "at most {} (max_connections = {formula}, with the class's whole memory: RDS reserves an undocumented part of it)",
                self.connections
            ),
            (Some(formula), false) => {
                write!(f, "{} (max_connections = {formula})", self.connections)
            }
        }
    }
}

/// Why a limit could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionLimitError {
    #[error(transparent)]
    UnknownClass(#[from] UnknownClass),
    #[error("max_connections {formula:?} does not parse at character {at}: {reason}")]
    Unparseable {
        formula: String,
        at: usize,
        reason: String,
    },
    #[error("max_connections {formula:?} uses {name}, which this engine does not evaluate")]
    Unsupported { formula: String, name: String },
    #[error("max_connections {formula:?} divides by zero")]
    DivisionByZero { formula: String },
    #[error("max_connections {formula:?} evaluates to {value}, not a number of connections")]
    OutOfRange { formula: String, value: i128 },
    #[error(
        "max_connections is not set and the default of engine {engine:?} is not known here (only postgres)"
    )]
    UnknownEngineDefault { engine: String },
    #[error("max_connections reads the endpoint's port, and the database has no endpoint yet")]
    NoPort,
}

/// Evaluates the setting for one DB instance.
pub fn evaluate_max_connections(
    setting: &MaxConnectionsSetting,
    context: &FormulaContext<'_>,
) -> Result<ConnectionLimit, ConnectionLimitError> {
    let formula = match setting {
        MaxConnectionsSetting::Number(connections) => {
            return Ok(ConnectionLimit {
                connections: *connections,
                formula: None,
                upper_bound: false,
            })
        }
        MaxConnectionsSetting::Formula(text) => text.as_str(),
        MaxConnectionsSetting::EngineDefault if context.engine == "postgres" => {
            POSTGRES_DEFAULT_MAX_CONNECTIONS
        }
        MaxConnectionsSetting::EngineDefault => {
            return Err(ConnectionLimitError::UnknownEngineDefault {
                engine: context.engine.to_string(),
            })
        }
    };
    let mut parser = Parser {
        formula,
        at: 0,
        context,
        reads_memory: false,
    };
    let value = parser.expression()?;
    parser.skip_spaces();
    if parser.at < formula.len() {
        return Err(parser.unparseable("unexpected text after the value"));
    }
    let connections = u32::try_from(value)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ConnectionLimitError::OutOfRange {
            formula: formula.to_string(),
            value,
        })?;
    Ok(ConnectionLimit {
        connections,
        formula: Some(formula.to_string()),
        upper_bound: parser.reads_memory,
    })
}

/// A recursive-descent reader of one formula, evaluating as it goes.
struct Parser<'a> {
    formula: &'a str,
    at: usize,
    context: &'a FormulaContext<'a>,
    reads_memory: bool,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.formula[self.at..]
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.formula.len() - trimmed.len();
    }

    fn unparseable(&self, reason: &str) -> ConnectionLimitError {
        ConnectionLimitError::Unparseable {
            formula: self.formula.to_string(),
            at: self.at,
            reason: reason.to_string(),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.rest().starts_with(c) {
            self.at += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> &str {
        self.skip_spaces();
        let start = self.at;
        let len = self
            .rest()
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(self.rest().len());
        self.at += len;
        &self.formula[start..self.at]
    }

    fn integer(text: &str) -> Option<i128> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<i128>().ok())
            .flatten()
    }

    /// An integer, a `{…}` formula, or a function call.
    fn expression(&mut self) -> Result<i128, ConnectionLimitError> {
        if self.eat('{') {
            let value = self.product()?;
            if !self.eat('}') {
                return Err(self.unparseable("expected '}'"));
            }
            return Ok(value);
        }
        let word = self.word().to_string();
        if let Some(number) = Self::integer(&word) {
            return Ok(number);
        }
        if word.is_empty() {
            return Err(self.unparseable("expected a number, a {formula} or a function"));
        }
        if !self.eat('(') {
            return Err(self.unparseable("expected '(' after a function name"));
        }
        let function = word.to_ascii_uppercase();
        if !matches!(function.as_str(), "GREATEST" | "LEAST" | "SUM") {
            return Err(ConnectionLimitError::Unsupported {
                formula: self.formula.to_string(),
                name: format!("the function {word}"),
            });
        }
        let mut arguments = vec![self.expression()?];
        while self.eat(',') {
            arguments.push(self.expression()?);
        }
        if !self.eat(')') {
            return Err(self.unparseable("expected ',' or ')'"));
        }
        Ok(match function.as_str() {
            "GREATEST" => arguments.into_iter().max().unwrap_or_default(),
            "LEAST" => arguments.into_iter().min().unwrap_or_default(),
            _ => arguments.into_iter().sum(),
        })
    }

    /// Inside braces: operands joined by `*` and `/`, left to right, truncating.
    fn product(&mut self) -> Result<i128, ConnectionLimitError> {
        let mut value = self.operand()?;
        loop {
            if self.eat('*') {
                value = value.saturating_mul(self.operand()?);
            } else if self.eat('/') {
                let divisor = self.operand()?;
                if divisor == 0 {
                    return Err(ConnectionLimitError::DivisionByZero {
                        formula: self.formula.to_string(),
                    });
                }
                value /= divisor;
            } else {
                return Ok(value);
            }
        }
    }

    fn operand(&mut self) -> Result<i128, ConnectionLimitError> {
        let word = self.word().to_string();
        if let Some(number) = Self::integer(&word) {
            return Ok(number);
        }
        let context = self.context;
        let class = || DbInstanceClass::parse(context.class).map(|class| class.spec());
        match word.as_str() {
            "DBInstanceClassMemory" => {
                self.reads_memory = true;
                Ok(i128::from(class()?.memory_bytes()))
            }
            "DBInstanceVCPU" => Ok(i128::from(class()?.vcpus)),
            "AllocatedStorage" => Ok(i128::from(context.allocated_storage_gib) << 30),
            "EndPointPort" => context
                .port
                .map(i128::from)
                .ok_or(ConnectionLimitError::NoPort),
            "" => Err(self.unparseable("expected a variable or a number")),
            other => {
                self.skip_spaces();
                Err(ConnectionLimitError::Unsupported {
                    formula: self.formula.to_string(),
                    name: if self.rest().starts_with('(') {
                        format!("the function {other}")
                    } else {
                        format!("the variable {other}")
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(class: &str) -> FormulaContext<'_> {
        FormulaContext {
            engine: "postgres",
            class,
            allocated_storage_gib: 100,
            port: Some(5432),
        }
    }

    fn limit(setting: MaxConnectionsSetting, class: &str) -> u32 {
        match evaluate_max_connections(&setting, &context(class)) {
            Ok(limit) => limit.connections,
            Err(e) => panic!("{setting:?} on {class}: {e}"),
        }
    }

    fn formula(text: &str) -> MaxConnectionsSetting {
        MaxConnectionsSetting::Formula(text.into())
    }

    #[test]
    fn the_postgres_default_by_class() {
        // DBInstanceClassMemory / 9531392 with the class's whole memory: 1 GiB → 112, the
        // figure published for db.t3.micro and db.t4g.micro; 8 GiB → 901; 16 GiB → 1802.
        // Observed databases report less (db.t2.small: 198, not 225): RDS's reserve.
        for (class, expected) in [
            ("db.t3.micro", 112),
            ("db.t4g.small", 225),
            ("db.t4g.medium", 450),
            ("db.m5.large", 901),
            ("db.r5.large", 1802),
            ("db.m6i.4xlarge", 5000),
        ] {
            assert_eq!(
                limit(MaxConnectionsSetting::EngineDefault, class),
                expected,
                "{class}"
            );
        }
        let default = evaluate_max_connections(
            &MaxConnectionsSetting::EngineDefault,
            &context("db.m5.large"),
        );
        assert!(default.is_ok_and(
            |l| l.upper_bound && l.formula.as_deref() == Some(POSTGRES_DEFAULT_MAX_CONNECTIONS)
        ));
    }

    #[test]
    fn formulas_as_rds_documents_them() {
        let cases = [
            ("LEAST({DBInstanceClassMemory/9531392},5000)", 901),
            ("GREATEST({DBInstanceClassMemory/9531392}, 1000)", 1000),
            ("least( {DBInstanceClassMemory/9531392} , 50 )", 50),
            ("SUM(100, {DBInstanceVCPU*10})", 120),
            ("{DBInstanceClassMemory*3/4/1048576}", 6144),
            // Left to right, truncating at each step: 7/2 = 3, then × 2.
            ("{7/2*2}", 6),
            ("{DBInstanceVCPU}", 2),
            ("{AllocatedStorage/1073741824}", 100),
            ("{EndPointPort}", 5432),
            ("LEAST(GREATEST(10, 20), SUM(5, 6, 7))", 18),
            ("250", 250),
        ];
        for (text, expected) in cases {
            assert_eq!(limit(formula(text), "db.m5.large"), expected, "{text}");
        }
        assert_eq!(
            MaxConnectionsSetting::from_parameter_value(Some(" 200 ")),
            MaxConnectionsSetting::Number(200)
        );
        assert_eq!(
            MaxConnectionsSetting::from_parameter_value(Some("")),
            MaxConnectionsSetting::EngineDefault
        );
        assert!(matches!(
            MaxConnectionsSetting::from_parameter_value(Some("{DBInstanceVCPU}")),
            MaxConnectionsSetting::Formula(_)
        ));
    }

    #[test]
    fn a_number_is_exact() {
        let exact = evaluate_max_connections(
            &MaxConnectionsSetting::Number(300),
            &context("db.unknown.class"),
        );
        assert_eq!(
            exact,
            Ok(ConnectionLimit {
                connections: 300,
                formula: None,
                upper_bound: false
            })
        );
        let vcpu =
            evaluate_max_connections(&formula("{DBInstanceVCPU*100}"), &context("db.m5.large"));
        assert!(
            vcpu.is_ok_and(|l| !l.upper_bound),
            "only memory is estimated"
        );
    }

    #[test]
    fn what_cannot_be_evaluated_is_a_typed_error() {
        let error = |setting: MaxConnectionsSetting, class: &str| {
            evaluate_max_connections(&setting, &context(class)).expect_err("no limit")
        };
        assert!(matches!(
            error(MaxConnectionsSetting::EngineDefault, "db.z9.large"),
            ConnectionLimitError::UnknownClass(_)
        ));
        for (text, expected) in [
            (
                "LEAST({DBInstanceClassMemory/9531392},5000",
                "expected ',' or ')'",
            ),
            ("{DBInstanceClassMemory/9531392", "expected '}'"),
            ("LEAST()", "expected a number"),
            ("5000 connections", "unexpected text"),
            ("DBInstanceClassMemory/9531392", "expected '('"),
        ] {
            let got = error(formula(text), "db.m5.large");
            assert!(
                matches!(&got, ConnectionLimitError::Unparseable { reason, .. } if reason.starts_with(expected)),
                "{text}: {got}"
            );
        }
        for (text, name) in [
            (
                "IF({DBInstanceClassHugePagesDefault},1,2)",
                "the function IF",
            ),
            (
                "{log(DBInstanceClassMemory/8187281418)*1000}",
                "the function log",
            ),
            (
                "{DBInstanceClassHugePagesDefault}",
                "the variable DBInstanceClassHugePagesDefault",
            ),
        ] {
            let got = error(formula(text), "db.m5.large");
            assert!(
                matches!(&got, ConnectionLimitError::Unsupported { name: n, .. } if n == name),
                "{text}: {got}"
            );
        }
        assert!(matches!(
            error(formula("{DBInstanceVCPU/0}"), "db.m5.large"),
            ConnectionLimitError::DivisionByZero { .. }
        ));
        assert!(matches!(
            error(formula("{DBInstanceVCPU/4}"), "db.m5.large"),
            ConnectionLimitError::OutOfRange { value: 0, .. }
        ));
        let mysql = FormulaContext {
            engine: "mysql",
            ..context("db.m5.large")
        };
        assert!(matches!(
            evaluate_max_connections(&MaxConnectionsSetting::EngineDefault, &mysql),
            Err(ConnectionLimitError::UnknownEngineDefault { .. })
        ));
    }
}
