//! Go text/template conformance: cases checked against Go's own output (and
//! Prometheus's), one file per part of the engine; shared helpers here.

mod exec;
mod fmt;
mod funcs;
mod limits;
mod parse;
mod prometheus_funcs;
mod prometheus_template_test;

use super::*;
use crate::template::query::QuerySample;

fn labels() -> BTreeMap<String, String> {
    [
        ("instance", "host1.example.com:9100"),
        ("job", "node"),
        ("severity", "critical"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn ext_labels() -> BTreeMap<String, String> {
    [("cluster", "prod-eu"), ("region", "eu-west-1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const URL: &str = "http://prom.example.com:9090/prometheus";

fn render_with(text: &str, value: f64, labels: &BTreeMap<String, String>) -> String {
    let t = match GoTemplate::parse(text) {
        Ok(t) => t,
        Err(e) => panic!("parse of {text:?} failed: {e}"),
    };
    let ext = ext_labels();
    t.render(&GoTemplateData {
        labels,
        value,
        external_labels: &ext,
        external_url: URL,
        query: None,
    })
}

fn render_v(text: &str, value: f64) -> String {
    render_with(text, value, &labels())
}

fn render(text: &str) -> String {
    render_v(text, 8123.0)
}

fn parse_err(text: &str) -> String {
    match GoTemplate::parse(text) {
        Ok(_) => panic!("{text:?} parsed but should not"),
        Err(e) => e,
    }
}

/// The exact marker Prometheus produces for an execution error at `col`
/// (columns count the 112-byte prefix Prometheus prepends).
fn marker(col: usize, context: &str, msg: &str) -> String {
    format!(
        "<error expanding template: error executing template __alert: template: __alert:1:{col}: executing \"__alert\" at <{context}>: {msg}>"
    )
}

fn render_query(text: &str, runner: &dyn QueryRunner) -> String {
    let t = GoTemplate::parse(text).unwrap_or_else(|e| panic!("parse of {text:?} failed: {e}"));
    let (l, e) = (labels(), ext_labels());
    t.render(&GoTemplateData {
        labels: &l,
        value: 8123.0,
        external_labels: &e,
        external_url: URL,
        query: Some(runner),
    })
}

fn sample(value: f64, labels: &[(&str, &str)]) -> QuerySample {
    QuerySample {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
    }
}
