//! Threshold conditions written as `"> 8000"`: an operator and a number.

use std::fmt;

use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// `value OP threshold`. NaN never matches (as in PromQL comparisons).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub op: Op,
    pub threshold: f64,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, String> {
        let t = text.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .iter()
        .find_map(|(sym, op)| t.strip_prefix(sym).map(|rest| (*op, rest)))
        .ok_or_else(|| {
            format!("expected a condition like \"> 8000\" (operator > >= < <= == != then a number), got {t:?}")
        })?;
        let number = rest.trim().replace('_', "");
        let threshold: f64 = number.parse().map_err(|_| {
            format!(
                "expected a number after {:?} in condition {t:?}, got {:?}",
                op.symbol(),
                rest.trim()
            )
        })?;
        if threshold.is_nan() {
            return Err(format!(
                "condition {t:?} compares with NaN, which never matches"
            ));
        }
        Ok(Condition { op, threshold })
    }

    pub fn matches(&self, value: f64) -> bool {
        match self.op {
            Op::Gt => value > self.threshold,
            Op::Ge => value >= self.threshold,
            Op::Lt => value < self.threshold,
            Op::Le => value <= self.threshold,
            Op::Eq => value == self.threshold,
            Op::Ne => value != self.threshold && !value.is_nan(),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.threshold)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept `when: 5` as "== 5"? No: a bare number is ambiguous, ask for an operator.
        let text = String::deserialize(d)?;
        Condition::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operator() {
        for (t, op, n) in [
            ("> 8000", Op::Gt, 8000.0),
            (">=1e3", Op::Ge, 1000.0),
            ("< 7", Op::Lt, 7.0),
            ("<= -2.5", Op::Le, -2.5),
            ("== 0", Op::Eq, 0.0),
            ("!= 1", Op::Ne, 1.0),
            ("> 10_000", Op::Gt, 10000.0),
        ] {
            assert_eq!(
                Condition::parse(t).unwrap(),
                Condition { op, threshold: n },
                "{t}"
            );
        }
    }

    #[test]
    fn rejects_bad_operators_and_numbers() {
        for t in ["=> 5", "8000", "> lots", ">", "~ 3", "> NaN"] {
            assert!(Condition::parse(t).is_err(), "{t}");
        }
        assert!(Condition::parse("=> 5").unwrap_err().contains("operator"));
    }

    #[test]
    fn nan_never_matches() {
        for t in ["> 1", "< 1", "!= 1", "== 1"] {
            assert!(!Condition::parse(t).unwrap().matches(f64::NAN), "{t}");
        }
        assert!(Condition::parse(">= 3").unwrap().matches(3.0));
        assert!(!Condition::parse("> 3").unwrap().matches(3.0));
    }
}
