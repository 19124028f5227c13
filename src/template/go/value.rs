//! Go values as the template engine sees them: [`Val`], the alert data
//! (`.Labels`, `.Value`...), Go type names and truthiness.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::template::query::QuerySample;

/// Go's reflect name of the data struct passed by Prometheus 2.42
/// (`template.AlertTemplateData`; since 2.50 `Value` is `interface {}`).
const DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }";

#[derive(Debug)]
pub(super) struct RootData {
    pub(super) labels: Rc<BTreeMap<String, String>>,
    pub(super) external_labels: Rc<BTreeMap<String, String>>,
    pub(super) external_url: String,
    pub(super) value: f64,
}

/// A Go value as seen by the template engine.
#[derive(Clone, Debug)]
pub(super) enum Val {
    /// The zero reflect.Value / nil interface.
    Invalid,
    Bool(bool),
    Int(i64),
    Byte(u8),
    Float(f64),
    Str(String),
    StrMap(Rc<BTreeMap<String, String>>),
    IfaceMap(Rc<BTreeMap<String, Val>>),
    Data(Rc<RootData>),
    /// `*time.Time` (always UTC), as Unix nanoseconds.
    Time(i64),
    /// `*time.Duration`, in nanoseconds.
    Duration(i64),
    /// Prometheus's `*template.sample` (one series of a `query` result).
    Sample(Rc<QuerySample>),
    /// Prometheus's `template.queryResult` (`[]*sample`). Shared and mutable
    /// like a Go slice: `sortByLabel` sorts it in place.
    QueryResult(Rc<RefCell<Vec<Rc<QuerySample>>>>),
}

impl Val {
    pub(super) fn query_result(samples: Vec<Rc<QuerySample>>) -> Val {
        Val::QueryResult(Rc::new(RefCell::new(samples)))
    }
}

pub(super) const SAMPLE_TYPE: &str = "*template.sample";
pub(super) const QUERY_RESULT_TYPE: &str = "template.queryResult";
/// What Go's runtime says when a function dereferences a nil pointer.
pub(super) const NIL_DEREF: &str =
    "runtime error: invalid memory address or nil pointer dereference";

pub(super) fn type_name(v: &Val) -> &'static str {
    match v {
        Val::Invalid => "<nil>",
        Val::Bool(_) => "bool",
        Val::Int(_) => "int",
        Val::Byte(_) => "uint8",
        Val::Float(_) => "float64",
        Val::Str(_) => "string",
        Val::StrMap(_) => "map[string]string",
        Val::IfaceMap(_) => "map[string]interface {}",
        Val::Data(_) => DATA_TYPE,
        Val::Time(_) => "*time.Time",
        Val::Duration(_) => "*time.Duration",
        Val::Sample(_) => SAMPLE_TYPE,
        Val::QueryResult(_) => QUERY_RESULT_TYPE,
    }
}

pub(super) fn is_true(v: &Val) -> bool {
    match v {
        Val::Invalid => false,
        Val::Bool(b) => *b,
        Val::Int(i) => *i != 0,
        Val::Byte(b) => *b != 0,
        Val::Float(f) => *f != 0.0,
        Val::Str(s) => !s.is_empty(),
        Val::StrMap(m) => !m.is_empty(),
        Val::IfaceMap(m) => !m.is_empty(),
        Val::QueryResult(q) => !q.borrow().is_empty(),
        Val::Data(_) | Val::Time(_) | Val::Duration(_) | Val::Sample(_) => true,
    }
}

impl RootData {
    pub(super) fn field(&self, name: &str) -> Option<Val> {
        Some(match name {
            "Labels" => Val::StrMap(self.labels.clone()),
            "ExternalLabels" => Val::StrMap(self.external_labels.clone()),
            "ExternalURL" => Val::Str(self.external_url.clone()),
            "Value" => Val::Float(self.value),
            _ => return None,
        })
    }
}

/// Go's float64 -> int64 conversion as performed on amd64 (out of range and
/// NaN give math.MinInt64).
pub(super) fn go_f64_to_i64(v: f64) -> i64 {
    if v.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}
