//! Declared signatures of template functions and methods: each parameter's
//! type, fixed ones then maybe a variadic one (what Go's reflection gives
//! `text/template`), and reading a string argument.

use super::value::{QUERY_RESULT_TYPE, SAMPLE_TYPE, Val};

/// Declared parameter types of template functions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ParamType {
    Any,
    Str,
    /// `template.queryResult`
    Query,
    /// `*template.sample`
    Sample,
}

impl ParamType {
    pub(super) fn name(self) -> &'static str {
        match self {
            ParamType::Any => "interface {}",
            ParamType::Str => "string",
            ParamType::Query => QUERY_RESULT_TYPE,
            ParamType::Sample => SAMPLE_TYPE,
        }
    }

    /// Slices and pointers take `nil` (as their zero value).
    pub(super) fn can_be_nil(self) -> bool {
        matches!(self, ParamType::Any | ParamType::Query | ParamType::Sample)
    }
}

/// A function's declared parameters: fixed ones, then maybe a variadic one.
#[derive(Clone, Copy)]
pub(super) struct Sig {
    pub(super) fixed: &'static [ParamType],
    pub(super) variadic: Option<ParamType>,
}

pub(super) const ANY: &[ParamType] = &[ParamType::Any];
pub(super) const ANY2: &[ParamType] = &[ParamType::Any, ParamType::Any];
pub(super) const STR: &[ParamType] = &[ParamType::Str];
pub(super) const NONE: &[ParamType] = &[];

pub(super) fn str_arg(v: Option<&Val>) -> &str {
    match v {
        Some(Val::Str(s)) => s,
        _ => "",
    }
}
