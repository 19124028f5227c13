//! Prometheus-compatible Go `text/template` rendering for tocsin.
//!
//! Prometheus expands alert labels and annotations with Go's `text/template`
//! plus its own function map (`template/template.go`), after prepending
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! to the text (`rules/alerting.go`). This module is a self-contained port of
//! the parts of Go's `text/template`, `fmt`, `strconv`, `time` and `regexp`
//! that alert templates can reach, so rule files load unchanged and render
//! (including error markers) the way Prometheus does. One file per Go source:
//!
//! * `mod.rs`: the public entry: [`GoTemplate`] (parse, render), its data, the safety limits.
//! * `lex.rs`: the lexer (`text/template/parse/lex.go`).
//! * `node.rs`: parse tree nodes and number literals (`parse/node.go`).
//! * `parse.rs`: the parser (`parse/parse.go`).
//! * `exec.rs`: the executor (`text/template/exec.go`).
//! * `value.rs`: Go values as templates see them, the alert data, type names.
//! * `sig.rs`: the declared signatures of functions and methods.
//! * `funcs.rs`: the signature of a name and the dispatch of a call, Go's built-ins (`text/template/funcs.go`).
//! * `escape.rs`: the `html`, `js` and URL query escapers.
//! * `prometheus_funcs.rs`: Prometheus's function map (`template/template.go`).
//! * `fmt.rs`: `print`, `printf` and `%v` (`fmt/print.go`, `fmt/format.go`).
//! * `strconv.rs`: number parsing and formatting, quoting (`strconv`).
//! * `time.rs`: `time.Time`/`time.Duration` methods, `String()` and `Format`.
//! * `regexp.rs`: Go `regexp` semantics on the `regex` crate.
//! * `tests/`: conformance tests, one file per part, and Prometheus's `template_test.go`.
//!
//! It does not use `gtmpl`: gtmpl 0.7.1 ranges over maps in `HashMap` order (Go
//! sorts keys), runs a `range`'s `{{else}}` even when the range is non-empty,
//! turns the float `-0.5` into `0`, prints `1e6` as `1000000`, leaks `:=`
//! variables out of `if` blocks, and panics on inputs such as `{{"\é"}}`.
//!
//! Behaviour follows Prometheus 2.42 (the version tocsin is tested against)
//! where later versions changed it: `.Value` is a `float64`, `title` is
//! `strings.Title`, `parseDuration` rejects negative durations.
//!
//! Known differences from Prometheus (all deliberate or very rare):
//! * `query` runs through a [`QueryRunner`] (in evaluation: the configured
//!   Prometheus, at the rule's own query time, within one timeout per rule
//!   evaluation); without one it fails with an error marker. Printing a whole
//!   query result shows its samples, where Go prints their addresses.
//! * `toDuration`, `now` and `urlQueryEscape` (Prometheus 2.49+) are
//!   accepted, although Prometheus 2.42 rejects rules using them.
//! * The console-only `tmpl` parses, but fails at execution with "function
//!   tmpl is not supported by tocsin" (Prometheus rejects it in alert rules;
//!   `tocsin check` warns about it).
//! * `now` is the wall clock at render time, not the rule evaluation time.
//! * `Local` on a time value is UTC; the `Month`/`Weekday` methods are absent.
//! * `printf` lacks `%b`/`%x` for floats, `%p`, and Go-syntax `%#v`; `%q` treats
//!   a few rare Unicode format characters as printable.
//! * `match`/`reReplaceAll` use the `regex` crate (RE2 syntax like Go's
//!   `regexp`; `\d \w \s \b` are rewritten to Go's ASCII meaning).
//! * Hexadecimal float strings are not accepted by the humanize functions.
//! * Safety limits Go lacks (so hostile input cannot exhaust the stack, CPU or
//!   memory): block nesting 50, parenthesis nesting 50, 100 nested
//!   if/with/range/template levels at run time, 1,000,000 range iterations and
//!   4 MiB of output per render. The worst case fits in a 1 MiB thread stack.

mod escape;
mod exec;
mod fmt;
mod funcs;
mod lex;
mod node;
mod parse;
mod prometheus_funcs;
mod regexp;
mod sig;
mod strconv;
mod time;
mod value;

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;

use chrono::Utc;

use crate::template::query::QueryRunner;
use exec::run;
use node::{List, functions_in_list};
use parse::parse_tree_set;
use prometheus_funcs::FuncCtx;
use value::{RootData, Val};

pub use escape::query_escape;
pub use prometheus_funcs::humanize;

/// Template name used in error messages by [`GoTemplate::parse`]. Prometheus
/// uses `__alert_<alertname>`; pass that to [`GoTemplate::parse_named`] to get
/// byte-identical error messages.
pub const DEFAULT_TEMPLATE_NAME: &str = "__alert";

/// Prepended to every template, exactly as Prometheus does.
const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

// Safety limits Go lacks (see the module doc): parse time, then run time.
const MAX_BLOCK_DEPTH: usize = 50;
const MAX_PAREN_DEPTH: usize = 50;
const MAX_PIPELINE_CMDS: usize = 10_000;
const MAX_EXEC_DEPTH: usize = 100;
const MAX_ITERATIONS: u64 = 1_000_000;
const MAX_OUTPUT: usize = 4 << 20;

/// A parsed alert template (label or annotation value).
#[derive(Clone, Debug)]
pub struct GoTemplate {
    source: String,
    name: String,
    parsed: Arc<Parsed>,
    /// Function calls, found once when parsed.
    functions: Arc<[FunctionUse]>,
}

/// A parsed template and the templates it defines.
#[derive(Debug)]
struct Parsed {
    /// Full text (`DEFS` + source); node positions index into it.
    text: String,
    /// One tree per template name: the template itself, `define`s, `block`s.
    trees: BTreeMap<String, List>,
}

/// The data an alert template is expanded with.
pub struct GoTemplateData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub value: f64,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    /// Runs `query`; without one, `query` fails with an error marker.
    pub query: Option<&'a dyn QueryRunner>,
}

/// A function call in a template, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionUse {
    pub name: String,
    /// 1-based line and column (in characters) in the template text.
    pub line: usize,
    pub col: usize,
}

impl GoTemplate {
    /// Parses `text` as Prometheus does when it loads a rule
    /// (`testTemplateParsing`); a syntax error is Go's message, such as
    /// `template: __alert:1: unexpected EOF`.
    pub fn parse(text: &str) -> Result<GoTemplate, String> {
        Self::parse_named(DEFAULT_TEMPLATE_NAME, text)
    }

    /// Like [`GoTemplate::parse`], with the template name used in messages
    /// (Prometheus uses `__alert_<alertname>`).
    pub fn parse_named(name: &str, text: &str) -> Result<GoTemplate, String> {
        let full = format!("{DEFS}{text}");
        let trees = match std::panic::catch_unwind(|| parse_tree_set(name, &full)) {
            Ok(result) => result?,
            Err(_) => return Err(format!("template: {name}: internal error while parsing")),
        };
        let parsed = Parsed { text: full, trees };
        let functions = parsed.functions().into();
        Ok(GoTemplate {
            source: text.to_string(),
            name: name.to_string(),
            parsed: Arc::new(parsed),
            functions,
        })
    }

    /// Expands the template. Never fails: an execution error renders as
    /// `<error expanding template: MSG>`, exactly like Prometheus
    /// (`rules/alerting.go`, `expand`).
    pub fn render(&self, data: &GoTemplateData) -> String {
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.execute(data))) {
            Ok(Ok(out)) => out,
            Ok(Err(msg)) => format!(
                "<error expanding template: error executing template {}: {}>",
                self.name, msg
            ),
            Err(_) => format!(
                "<error expanding template: panic expanding template {}: internal error>",
                self.name
            ),
        }
    }

    /// The template text as written in the rule file (without the prefix).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every function the template calls (in `define`d templates too), in
    /// the order they appear, with their positions in [`GoTemplate::source`].
    pub fn functions(&self) -> &[FunctionUse] {
        &self.functions
    }

    /// Whether the template calls the function `name` anywhere.
    pub fn calls(&self, name: &str) -> bool {
        self.functions.iter().any(|f| f.name == name)
    }

    fn execute(&self, data: &GoTemplateData) -> Result<String, String> {
        let root = Val::Data(Rc::new(RootData {
            labels: Rc::new(data.labels.clone()),
            external_labels: Rc::new(data.external_labels.clone()),
            external_url: data.external_url.to_string(),
            value: data.value,
        }));
        let ctx = FuncCtx {
            external_url: data.external_url.to_string(),
            now: Utc::now().timestamp_millis() as f64 / 1000.0,
            query: data.query,
        };
        run(&self.parsed, &self.name, root, ctx)
    }
}

impl Parsed {
    fn functions(&self) -> Vec<FunctionUse> {
        let mut positions = Vec::new();
        for list in self.trees.values() {
            functions_in_list(list, &mut positions);
        }
        positions.sort();
        positions.dedup();
        positions
            .into_iter()
            .filter_map(|(pos, name)| {
                let before = self.text.get(DEFS.len()..pos)?;
                let line = 1 + before.matches('\n').count();
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                let col = 1 + before.get(line_start..).map_or(0, |l| l.chars().count());
                Some(FunctionUse { name, line, col })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
