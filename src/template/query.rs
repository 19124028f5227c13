//! What Prometheus's `query` template function needs: something that runs a
//! PromQL instant query while a template renders.
//!
//! Rendering is synchronous. The evaluation engine supplies a runner that
//! blocks on its async datasource client from a blocking-pool thread (see
//! `eval::template_query`); unit tests supply fixed samples.

use crate::alert::Labels;

/// One series of a template query's result: Prometheus's `sample` (its
/// `.Labels` include `__name__`, its `.Value` is the float value).
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySample {
    pub labels: Labels,
    pub value: f64,
}

/// Runs PromQL instant queries for `query` in Go templates.
pub trait QueryRunner {
    /// The instant vector `expr` evaluates to (a scalar is one sample with no
    /// labels), or the error text that Prometheus would put after
    /// `error calling query: `.
    fn query(&self, expr: &str) -> Result<Vec<QuerySample>, String>;
}
