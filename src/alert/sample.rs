//! One series of a query result: what every datasource answers.

use std::sync::Arc;

use super::labels::Labels;

/// One series of a query result. The labels are shared: a series that comes
/// back in the next answer keeps the same label set without reading or
/// copying it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Arc<Labels>,
    pub value: f64,
}

impl Sample {
    pub fn new(labels: Labels, value: f64) -> Sample {
        Sample {
            labels: Arc::new(labels),
            value,
        }
    }
}
