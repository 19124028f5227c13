//! One series of a query result: what every datasource answers.

use super::labels::Labels;

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}
