//! Prometheus-compatible Go `text/template` rendering for tocsin.
//!
//! Prometheus expands alert labels and annotations with Go's `text/template`
//! plus its own function map (`template/template.go`), after prepending
//! `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
//! to the text (`rules/alerting.go`). This module is a self-contained port of
//! the parts of Go's `text/template` (lexer, parser, executor), `fmt` verbs and
//! `strconv` float formatting that alert templates can reach, so rule files load
//! unchanged and render (including error markers) the way Prometheus does.
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

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::template::query::{QueryRunner, QuerySample};

/// Template name used in error messages by [`GoTemplate::parse`]. Prometheus
/// uses `__alert_<alertname>`; pass that to [`GoTemplate::parse_named`] to get
/// byte-identical error messages.
pub const DEFAULT_TEMPLATE_NAME: &str = "__alert";

/// Prepended to every template, exactly as Prometheus does.
const DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

const MAX_BLOCK_DEPTH: usize = 50;
const MAX_PAREN_DEPTH: usize = 50;
const MAX_EXEC_DEPTH: usize = 100;
const MAX_PIPELINE_CMDS: usize = 10_000;
const MAX_ITERATIONS: u64 = 1_000_000;
const MAX_OUTPUT: usize = 4 << 20;
/// Go's fmt refuses widths/precisions above this (`%!(BADWIDTH)`).
const FMT_MAX_NUM: usize = 1_000_000;

/// Go's reflect name of the data struct passed by Prometheus 2.42
/// (`template.AlertTemplateData`; since 2.50 `Value` is `interface {}`).
const DATA_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }";

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

/// A parsed alert template (label or annotation value).
#[derive(Clone, Debug)]
pub struct GoTemplate {
    source: String,
    name: String,
    parsed: Arc<Parsed>,
    /// Function calls, found once when parsed.
    functions: Arc<[FunctionUse]>,
}

#[derive(Debug)]
struct Parsed {
    /// Full text (`DEFS` + source); node positions index into it.
    text: String,
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
    /// Parse-check like Prometheus's testTemplateParsing; Err(human message incl. what was wrong) on a syntax error.
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

    /// Expand. Never fails: on an execution error returns "<error expanding template: MSG>" exactly like Prometheus (rules/alerting.go expand()).
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

/// Executes the tree `name` of `parsed` with `root` as dot and `$`.
fn run(parsed: &Parsed, name: &str, root: Val, ctx: FuncCtx<'_>) -> Result<String, String> {
    let Some(tree) = parsed.trees.get(name) else {
        return Err(format!(
            "template: {}: {} is an incomplete or empty template",
            name,
            go_quote(name)
        ));
    };
    let mut ex = Exec {
        parsed,
        parse_name: name,
        tmpl_name: name,
        vars: vec![("$".to_string(), root.clone())],
        node: None,
        depth: 0,
        out: String::new(),
        ctx,
        iterations: 0,
    };
    match ex.walk_list(&root, tree) {
        Ok(()) | Err(Flow::Break) | Err(Flow::Continue) => Ok(ex.out),
        Err(Flow::Err(msg)) => Err(msg),
    }
}

fn functions_in_list(list: &List, out: &mut Vec<(usize, String)>) {
    for n in &list.nodes {
        match &n.kind {
            NodeKind::Action(p) => functions_in_pipe(p, out),
            NodeKind::If(b) | NodeKind::Range(b) | NodeKind::With(b) => {
                functions_in_pipe(&b.pipe, out);
                functions_in_list(&b.list, out);
                if let Some(el) = &b.else_list {
                    functions_in_list(el, out);
                }
            }
            NodeKind::Template { pipe: Some(p), .. } => functions_in_pipe(p, out),
            _ => {}
        }
    }
}

fn functions_in_pipe(pipe: &Pipe, out: &mut Vec<(usize, String)>) {
    for cmd in &pipe.cmds {
        for a in &cmd.args {
            functions_in_arg(a, out);
        }
    }
}

fn functions_in_arg(a: &Arg, out: &mut Vec<(usize, String)>) {
    match &a.kind {
        ArgKind::Identifier(name) => out.push((a.pos, name.clone())),
        ArgKind::Pipe(p) => functions_in_pipe(p, out),
        ArgKind::Chain(inner, _) => functions_in_arg(inner, out),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Lexer (port of text/template/parse/lex.go)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Error,
    Bool,
    Char,
    CharConstant,
    Comment,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    Str,
    Text,
    Variable,
    // keywords
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Tok {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Tok::Block
                | Tok::Break
                | Tok::Continue
                | Tok::Dot
                | Tok::Define
                | Tok::Else
                | Tok::End
                | Tok::If
                | Tok::Nil
                | Tok::Range
                | Tok::Template
                | Tok::With
        )
    }
}

fn keyword(word: &str) -> Option<Tok> {
    Some(match word {
        "block" => Tok::Block,
        "break" => Tok::Break,
        "continue" => Tok::Continue,
        "define" => Tok::Define,
        "else" => Tok::Else,
        "end" => Tok::End,
        "if" => Tok::If,
        "range" => Tok::Range,
        "nil" => Tok::Nil,
        "template" => Tok::Template,
        "with" => Tok::With,
        _ => return None,
    })
}

#[derive(Clone, Debug)]
struct Item {
    typ: Tok,
    pos: usize,
    val: String,
    line: usize,
}

impl Item {
    fn eof() -> Item {
        Item {
            typ: Tok::Eof,
            pos: 0,
            val: String::new(),
            line: 0,
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.typ {
            Tok::Eof => f.write_str("EOF"),
            Tok::Error => f.write_str(&self.val),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.len() > 10 => {
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", go_quote(&head))
            }
            _ => f.write_str(&go_quote(&self.val)),
        }
    }
}

#[derive(Clone, Copy)]
enum LexState {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
}

type Next = Option<LexState>;

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    at_eof: bool,
    paren_depth: i64,
    line: usize,
    start_line: usize,
    item: Item,
    inside_action: bool,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// Go's `%#U`.
fn sharp_u(c: Option<char>) -> String {
    match c {
        None => "U+FFFFFFFFFFFFFFFF".to_string(),
        Some(c) if is_print(c) => format!("U+{:04X} '{}'", c as u32, c),
        Some(c) => format!("U+{:04X}", c as u32),
    }
}

impl<'a> Lexer<'a> {
    fn new(input: &'a str) -> Self {
        Lexer {
            input,
            pos: 0,
            start: 0,
            at_eof: false,
            paren_depth: 0,
            line: 1,
            start_line: 1,
            item: Item::eof(),
            inside_action: false,
        }
    }

    fn next_item(&mut self) -> Item {
        self.item = Item {
            typ: Tok::Eof,
            pos: self.pos,
            val: "EOF".to_string(),
            line: self.start_line,
        };
        let mut state = if self.inside_action {
            LexState::InsideAction
        } else {
            LexState::Text
        };
        loop {
            let next = match state {
                LexState::Text => self.lex_text(),
                LexState::LeftDelim => self.lex_left_delim(),
                LexState::Comment => self.lex_comment(),
                LexState::RightDelim => self.lex_right_delim(),
                LexState::InsideAction => self.lex_inside_action(),
                LexState::Space => self.lex_space(),
                LexState::Identifier => self.lex_identifier(),
                LexState::Field => self.lex_field_or_variable(Tok::Field),
                LexState::Variable => self.lex_variable(),
                LexState::Char => self.lex_char(),
                LexState::Number => self.lex_number(),
                LexState::Quote => self.lex_quote(),
                LexState::RawQuote => self.lex_raw_quote(),
            };
            match next {
                Some(s) => state = s,
                None => return std::mem::replace(&mut self.item, Item::eof()),
            }
        }
    }

    fn next(&mut self) -> Option<char> {
        match self.input.get(self.pos..).and_then(|s| s.chars().next()) {
            None => {
                self.at_eof = true;
                None
            }
            Some(c) => {
                self.pos += c.len_utf8();
                if c == '\n' {
                    self.line += 1;
                }
                Some(c)
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    fn backup(&mut self) {
        if !self.at_eof
            && self.pos > 0
            && let Some(c) = self
                .input
                .get(..self.pos)
                .and_then(|s| s.chars().next_back())
        {
            self.pos -= c.len_utf8();
            if c == '\n' {
                self.line = self.line.saturating_sub(1);
            }
        }
    }

    fn slice(&self, a: usize, b: usize) -> &'a str {
        self.input.get(a..b).unwrap_or("")
    }

    fn count_newlines(&self, a: usize, b: usize) -> usize {
        self.slice(a, b).matches('\n').count()
    }

    fn this_item(&mut self, typ: Tok) -> Item {
        let item = Item {
            typ,
            pos: self.start,
            val: self.slice(self.start, self.pos).to_string(),
            line: self.start_line,
        };
        self.start = self.pos;
        self.start_line = self.line;
        item
    }

    fn emit(&mut self, typ: Tok) -> Next {
        let item = self.this_item(typ);
        self.emit_item(item)
    }

    fn emit_item(&mut self, item: Item) -> Next {
        self.item = item;
        None
    }

    fn ignore(&mut self) {
        self.line += self.count_newlines(self.start, self.pos);
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn accept_run(&mut self, valid: &str) {
        loop {
            match self.next() {
                Some(c) if valid.contains(c) => {}
                _ => {
                    self.backup();
                    return;
                }
            }
        }
    }

    fn errorf(&mut self, msg: String) -> Next {
        self.item = Item {
            typ: Tok::Error,
            pos: self.start,
            val: msg,
            line: self.start_line,
        };
        self.start = 0;
        self.pos = 0;
        self.input = "";
        None
    }

    fn has_prefix(&self, at: usize, prefix: &str) -> bool {
        self.input
            .as_bytes()
            .get(at..)
            .is_some_and(|b| b.starts_with(prefix.as_bytes()))
    }

    fn byte_at(&self, at: usize) -> Option<u8> {
        self.input.as_bytes().get(at).copied()
    }

    fn has_left_trim_marker(&self, at: usize) -> bool {
        self.byte_at(at) == Some(b'-') && self.byte_at(at + 1).is_some_and(is_space_byte)
    }

    fn has_right_trim_marker(&self, at: usize) -> bool {
        self.byte_at(at).is_some_and(is_space_byte) && self.byte_at(at + 1) == Some(b'-')
    }

    fn at_right_delim(&self) -> (bool, bool) {
        if self.has_right_trim_marker(self.pos) && self.has_prefix(self.pos + 2, "}}") {
            return (true, true);
        }
        if self.has_prefix(self.pos, "}}") {
            return (true, false);
        }
        (false, false)
    }

    fn left_trim_length(&self, at: usize) -> usize {
        let s = self.input.get(at..).unwrap_or("");
        s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
    }

    fn lex_text(&mut self) -> Next {
        let rest = self.input.get(self.pos..).unwrap_or("");
        if let Some(x) = rest.find("{{") {
            if x > 0 {
                self.pos += x;
                let mut trim = 0;
                if self.has_left_trim_marker(self.pos + 2) {
                    let text = self.slice(self.start, self.pos);
                    trim = text.len() - text.trim_end_matches([' ', '\t', '\r', '\n']).len();
                }
                self.pos -= trim;
                self.line += self.count_newlines(self.start, self.pos);
                let item = self.this_item(Tok::Text);
                self.pos += trim;
                self.ignore();
                if !item.val.is_empty() {
                    return self.emit_item(item);
                }
            }
            return Some(LexState::LeftDelim);
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += self.count_newlines(self.start, self.pos);
            return self.emit(Tok::Text);
        }
        self.emit(Tok::Eof)
    }

    fn lex_left_delim(&mut self) -> Next {
        self.pos += 2;
        let trim = self.has_left_trim_marker(self.pos);
        let after = if trim { 2 } else { 0 };
        if self.has_prefix(self.pos + after, "/*") {
            self.pos += after;
            self.ignore();
            return Some(LexState::Comment);
        }
        let item = self.this_item(Tok::LeftDelim);
        self.inside_action = true;
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        self.emit_item(item)
    }

    fn lex_comment(&mut self) -> Next {
        self.pos += 2;
        match self.input.get(self.pos..).and_then(|s| s.find("*/")) {
            None => return self.errorf("unclosed comment".into()),
            Some(x) => self.pos += x + 2,
        }
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".into());
        }
        self.line += self.count_newlines(self.start, self.pos);
        let _comment = self.this_item(Tok::Comment);
        if trim {
            self.pos += 2;
        }
        self.pos += 2;
        if trim {
            self.pos += self.left_trim_length(self.pos);
        }
        self.ignore();
        Some(LexState::Text)
    }

    fn lex_right_delim(&mut self) -> Next {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += 2;
        let item = self.this_item(Tok::RightDelim);
        if trim {
            self.pos += self.left_trim_length(self.pos);
            self.ignore();
        }
        self.inside_action = false;
        self.emit_item(item)
    }

    fn lex_inside_action(&mut self) -> Next {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return Some(LexState::RightDelim);
            }
            return self.errorf("unclosed left paren".into());
        }
        match self.next() {
            None => self.errorf("unclosed action".into()),
            Some(c) if is_space(c) => {
                self.backup();
                Some(LexState::Space)
            }
            Some('=') => self.emit(Tok::Assign),
            Some(':') => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".into());
                }
                self.emit(Tok::Declare)
            }
            Some('|') => self.emit(Tok::Pipe),
            Some('"') => Some(LexState::Quote),
            Some('`') => Some(LexState::RawQuote),
            Some('$') => Some(LexState::Variable),
            Some('\'') => Some(LexState::Char),
            Some('.') => {
                if let Some(b) = self.byte_at(self.pos)
                    && !b.is_ascii_digit()
                {
                    return Some(LexState::Field);
                }
                self.backup();
                Some(LexState::Number)
            }
            Some(c) if c == '+' || c == '-' || c.is_ascii_digit() => {
                self.backup();
                Some(LexState::Number)
            }
            Some(c) if is_alnum(c) => {
                self.backup();
                Some(LexState::Identifier)
            }
            Some('(') => {
                self.paren_depth += 1;
                self.emit(Tok::LeftParen)
            }
            Some(')') => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right paren".into());
                }
                self.emit(Tok::RightParen)
            }
            Some(c) if c.is_ascii() && !c.is_ascii_control() => self.emit(Tok::Char),
            Some(c) => self.errorf(format!(
                "unrecognized character in action: {}",
                sharp_u(Some(c))
            )),
        }
    }

    fn lex_space(&mut self) -> Next {
        let mut spaces = 0;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.next();
            spaces += 1;
        }
        if self.pos >= 1
            && self.has_right_trim_marker(self.pos - 1)
            && self.has_prefix(self.pos + 1, "}}")
        {
            self.backup();
            if spaces == 1 {
                return Some(LexState::RightDelim);
            }
        }
        self.emit(Tok::Space)
    }

    fn lex_identifier(&mut self) -> Next {
        loop {
            match self.next() {
                Some(c) if is_alnum(c) => {}
                other => {
                    self.backup();
                    let word = self.slice(self.start, self.pos);
                    if !self.at_terminator() {
                        return self.errorf(format!("bad character {}", sharp_u(other)));
                    }
                    if let Some(k) = keyword(word) {
                        return self.emit(k);
                    }
                    if word == "true" || word == "false" {
                        return self.emit(Tok::Bool);
                    }
                    return self.emit(Tok::Identifier);
                }
            }
        }
    }

    fn lex_variable(&mut self) -> Next {
        if self.at_terminator() {
            return self.emit(Tok::Variable);
        }
        self.lex_field_or_variable(Tok::Variable)
    }

    fn lex_field_or_variable(&mut self, typ: Tok) -> Next {
        if self.at_terminator() {
            return self.emit(if typ == Tok::Variable {
                Tok::Variable
            } else {
                Tok::Dot
            });
        }
        let last;
        loop {
            let c = self.next();
            match c {
                Some(c) if is_alnum(c) => {}
                _ => {
                    last = c;
                    self.backup();
                    break;
                }
            }
        }
        if !self.at_terminator() {
            return self.errorf(format!("bad character {}", sharp_u(last)));
        }
        self.emit(typ)
    }

    fn at_terminator(&mut self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.has_prefix(self.pos, "}}"),
        }
    }

    fn lex_char(&mut self) -> Next {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated character constant".into()),
                },
                None | Some('\n') => {
                    return self.errorf("unterminated character constant".into());
                }
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(Tok::CharConstant)
    }

    fn lex_number(&mut self) -> Next {
        if !self.scan_number() {
            let text = self.slice(self.start, self.pos);
            return self.errorf(format!("bad number syntax: {}", go_quote(text)));
        }
        if let Some('+' | '-') = self.peek() {
            if !self.scan_number() || self.byte_at(self.pos.wrapping_sub(1)) != Some(b'i') {
                let text = self.slice(self.start, self.pos);
                return self.errorf(format!("bad number syntax: {}", go_quote(text)));
            }
            return self.emit(Tok::Complex);
        }
        self.emit(Tok::Number)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if let Some(c) = self.peek()
            && is_alnum(c)
        {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> Next {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated quoted string".into()),
                },
                None | Some('\n') => return self.errorf("unterminated quoted string".into()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(Tok::Str)
    }

    fn lex_raw_quote(&mut self) -> Next {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Tok::RawString)
    }
}

// ---------------------------------------------------------------------------
// Parse tree (port of text/template/parse/node.go)
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Node {
    pos: usize,
    kind: NodeKind,
}

#[derive(Debug, Clone)]
enum NodeKind {
    Text(String),
    Action(Pipe),
    If(Box<Branch>),
    Range(Box<Branch>),
    With(Box<Branch>),
    Template {
        name: String,
        pipe: Option<Pipe>,
    },
    Break,
    Continue,
    /// Only produced while parsing; never stored in a tree.
    End,
    /// Only produced while parsing; never stored in a tree.
    Else,
}

#[derive(Debug, Clone)]
struct Branch {
    pipe: Pipe,
    list: List,
    else_list: Option<List>,
}

#[derive(Debug, Clone)]
struct List {
    pos: usize,
    nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
struct Pipe {
    pos: usize,
    is_assign: bool,
    /// Declared/assigned variables: (position, name).
    decl: Vec<(usize, String)>,
    cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
struct Command {
    pos: usize,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
struct Arg {
    pos: usize,
    kind: ArgKind,
}

#[derive(Debug, Clone)]
enum ArgKind {
    Identifier(String),
    Dot,
    Nil,
    Variable(Vec<String>),
    Field(Vec<String>),
    Chain(Box<Arg>, Vec<String>),
    Bool(bool),
    Number(Box<NumberLit>),
    Str { quoted: String, text: String },
    Pipe(Box<Pipe>),
}

#[derive(Debug, Clone)]
struct NumberLit {
    text: String,
    is_int: bool,
    is_uint: bool,
    is_float: bool,
    is_complex: bool,
    int: i64,
    float: f64,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKind::Text(t) => f.write_str(t),
            NodeKind::Action(p) => write!(f, "{{{{{p}}}}}"),
            NodeKind::If(b) => write_branch(f, "if", b),
            NodeKind::Range(b) => write_branch(f, "range", b),
            NodeKind::With(b) => write_branch(f, "with", b),
            NodeKind::Template { name, pipe } => {
                write!(f, "{{{{template {}", go_quote(name))?;
                if let Some(p) = pipe {
                    write!(f, " {p}")?;
                }
                f.write_str("}}")
            }
            NodeKind::Break => f.write_str("{{break}}"),
            NodeKind::Continue => f.write_str("{{continue}}"),
            NodeKind::End => f.write_str("{{end}}"),
            NodeKind::Else => f.write_str("{{else}}"),
        }
    }
}

fn write_branch(f: &mut fmt::Formatter<'_>, name: &str, b: &Branch) -> fmt::Result {
    write!(f, "{{{{{name} {}}}}}{}", b.pipe, b.list)?;
    if let Some(e) = &b.else_list {
        write!(f, "{{{{else}}}}{e}")?;
    }
    f.write_str("{{end}}")
}

impl fmt::Display for List {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.nodes {
            write!(f, "{n}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            for (i, (_, name)) in self.decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
            }
            f.write_str(" := ")?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match &a.kind {
                ArgKind::Pipe(p) => write!(f, "({p})")?,
                _ => write!(f, "{a}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ArgKind::Identifier(n) => f.write_str(n),
            ArgKind::Dot => f.write_str("."),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Variable(id) => f.write_str(&id.join(".")),
            ArgKind::Field(id) => {
                for i in id {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            ArgKind::Chain(node, fields) => {
                match &node.kind {
                    ArgKind::Pipe(p) => write!(f, "({p})")?,
                    _ => write!(f, "{node}")?,
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            ArgKind::Bool(b) => write!(f, "{b}"),
            ArgKind::Number(n) => f.write_str(&n.text),
            ArgKind::Str { quoted, .. } => f.write_str(quoted),
            ArgKind::Pipe(p) => write!(f, "{p}"),
        }
    }
}

fn is_empty_tree(list: &List) -> bool {
    list.nodes.iter().all(|n| match &n.kind {
        NodeKind::Text(t) => t.trim().is_empty(),
        _ => false,
    })
}

// ---------------------------------------------------------------------------
// Parser (port of text/template/parse/parse.go)
// ---------------------------------------------------------------------------

/// Every function name a Prometheus alert template may use.
fn is_known_function(name: &str) -> bool {
    func_sig(name).is_some()
}

struct Parser<'a> {
    lex: Lexer<'a>,
    name: String,
    trees: BTreeMap<String, List>,
    depth: usize,
}

/// Per-tree parsing state (Go gives every `define`/`block` its own Tree).
struct TreeCtx {
    token: [Item; 3],
    peek_count: usize,
    vars: Vec<String>,
    action_line: usize,
    range_depth: usize,
    stack_depth: usize,
}

impl TreeCtx {
    fn new() -> Self {
        TreeCtx {
            token: [Item::eof(), Item::eof(), Item::eof()],
            peek_count: 0,
            vars: vec!["$".to_string()],
            action_line: 0,
            range_depth: 0,
            stack_depth: 0,
        }
    }
}

type PResult<T> = Result<T, String>;

fn parse_tree_set(name: &str, text: &str) -> PResult<BTreeMap<String, List>> {
    let mut p = Parser {
        lex: Lexer::new(text),
        name: name.to_string(),
        trees: BTreeMap::new(),
        depth: 0,
    };
    let mut t = TreeCtx::new();
    let root = p.parse(&mut t)?;
    p.add(&t, name, root)?;
    Ok(p.trees)
}

impl Parser<'_> {
    fn next(&mut self, t: &mut TreeCtx) -> Item {
        if t.peek_count > 0 {
            t.peek_count -= 1;
        } else {
            t.token[0] = self.lex.next_item();
        }
        t.token.get(t.peek_count).cloned().unwrap_or_else(Item::eof)
    }

    fn backup(&mut self, t: &mut TreeCtx) {
        t.peek_count = (t.peek_count + 1).min(3);
    }

    fn backup2(&mut self, t: &mut TreeCtx, t1: Item) {
        t.token[1] = t1;
        t.peek_count = 2;
    }

    fn backup3(&mut self, t: &mut TreeCtx, t2: Item, t1: Item) {
        t.token[1] = t1;
        t.token[2] = t2;
        t.peek_count = 3;
    }

    fn peek(&mut self, t: &mut TreeCtx) -> Item {
        if t.peek_count > 0 {
            return t
                .token
                .get(t.peek_count - 1)
                .cloned()
                .unwrap_or_else(Item::eof);
        }
        t.peek_count = 1;
        t.token[0] = self.lex.next_item();
        t.token[0].clone()
    }

    fn next_non_space(&mut self, t: &mut TreeCtx) -> Item {
        loop {
            let tok = self.next(t);
            if tok.typ != Tok::Space {
                return tok;
            }
        }
    }

    fn peek_non_space(&mut self, t: &mut TreeCtx) -> Item {
        let tok = self.next_non_space(t);
        self.backup(t);
        tok
    }

    fn errorf(&self, t: &TreeCtx, msg: &str) -> String {
        format!("template: {}:{}: {}", self.name, t.token[0].line, msg)
    }

    fn unexpected(&self, t: &TreeCtx, tok: &Item, context: &str) -> String {
        if tok.typ == Tok::Error {
            let mut extra = String::new();
            if t.action_line != 0 && t.action_line != tok.line {
                extra = format!(" in action started at {}:{}", self.name, t.action_line);
                if tok.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(t, &format!("{tok}{extra}"));
        }
        self.errorf(t, &format!("unexpected {tok} in {context}"))
    }

    fn expect(&mut self, t: &mut TreeCtx, expected: Tok, context: &str) -> PResult<Item> {
        let tok = self.next_non_space(t);
        if tok.typ != expected {
            return Err(self.unexpected(t, &tok, context));
        }
        Ok(tok)
    }

    fn add(&mut self, t: &TreeCtx, name: &str, root: List) -> PResult<()> {
        match self.trees.get(name) {
            Some(existing) if !is_empty_tree(existing) => {
                if !is_empty_tree(&root) {
                    return Err(self.errorf(
                        t,
                        &format!(
                            "template: multiple definition of template {}",
                            go_quote(name)
                        ),
                    ));
                }
            }
            _ => {
                self.trees.insert(name.to_string(), root);
            }
        }
        Ok(())
    }

    fn parse(&mut self, t: &mut TreeCtx) -> PResult<List> {
        let pos = self.peek(t).pos;
        let mut root = List { pos, nodes: vec![] };
        while self.peek(t).typ != Tok::Eof {
            if self.peek(t).typ == Tok::LeftDelim {
                let delim = self.next(t);
                if self.next_non_space(t).typ == Tok::Define {
                    let mut nt = TreeCtx::new();
                    self.parse_definition(&mut nt)?;
                    continue;
                }
                self.backup2(t, delim);
            }
            let n = self.text_or_action(t)?;
            match n.kind {
                NodeKind::End | NodeKind::Else => {
                    return Err(self.errorf(t, &format!("unexpected {n}")));
                }
                _ => root.nodes.push(n),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self, t: &mut TreeCtx) -> PResult<()> {
        let context = "define clause";
        let tok = self.next_non_space(t);
        if tok.typ != Tok::Str && tok.typ != Tok::RawString {
            return Err(self.unexpected(t, &tok, context));
        }
        let name = go_unquote(&tok.val).map_err(|e| self.errorf(t, &e))?;
        self.expect(t, Tok::RightDelim, context)?;
        let (root, end) = self.item_list(t)?;
        if !matches!(end.kind, NodeKind::End) {
            return Err(self.errorf(t, &format!("unexpected {end} in {context}")));
        }
        self.add(t, &name, root)
    }

    fn item_list(&mut self, t: &mut TreeCtx) -> PResult<(List, Node)> {
        let pos = self.peek_non_space(t).pos;
        let mut list = List { pos, nodes: vec![] };
        while self.peek_non_space(t).typ != Tok::Eof {
            let n = self.text_or_action(t)?;
            if matches!(n.kind, NodeKind::End | NodeKind::Else) {
                return Ok((list, n));
            }
            list.nodes.push(n);
        }
        Err(self.errorf(t, "unexpected EOF"))
    }

    fn text_or_action(&mut self, t: &mut TreeCtx) -> PResult<Node> {
        let tok = self.next_non_space(t);
        match tok.typ {
            Tok::Text => Ok(Node {
                pos: tok.pos,
                kind: NodeKind::Text(tok.val),
            }),
            Tok::LeftDelim => {
                t.action_line = tok.line;
                let r = self.action(t);
                t.action_line = 0;
                r
            }
            _ => Err(self.unexpected(t, &tok, "input")),
        }
    }

    fn action(&mut self, t: &mut TreeCtx) -> PResult<Node> {
        let tok = self.next_non_space(t);
        match tok.typ {
            Tok::Block => return self.block_control(t),
            Tok::Break | Tok::Continue => return self.break_control(t, &tok),
            Tok::Else => return self.else_control(t),
            Tok::End => return self.end_control(t),
            Tok::If => return self.branch_control(t, "if"),
            Tok::Range => return self.branch_control(t, "range"),
            Tok::Template => return self.template_control(t),
            Tok::With => return self.branch_control(t, "with"),
            _ => {}
        }
        self.backup(t);
        let tok = self.peek(t);
        let pipe = self.pipeline(t, "command", Tok::RightDelim)?;
        Ok(Node {
            pos: tok.pos,
            kind: NodeKind::Action(pipe),
        })
    }

    fn break_control(&mut self, t: &mut TreeCtx, kw: &Item) -> PResult<Node> {
        let (context, kind) = if kw.typ == Tok::Break {
            ("{{break}}", NodeKind::Break)
        } else {
            ("{{continue}}", NodeKind::Continue)
        };
        let tok = self.next_non_space(t);
        if tok.typ != Tok::RightDelim {
            return Err(self.unexpected(t, &tok, context));
        }
        if t.range_depth == 0 {
            return Err(self.errorf(t, &format!("{context} outside {{{{range}}}}")));
        }
        Ok(Node { pos: kw.pos, kind })
    }

    fn pipeline(&mut self, t: &mut TreeCtx, context: &str, end: Tok) -> PResult<Pipe> {
        let tok = self.peek_non_space(t);
        let mut pipe = Pipe {
            pos: tok.pos,
            is_assign: false,
            decl: vec![],
            cmds: vec![],
        };
        loop {
            let v = self.peek_non_space(t);
            if v.typ != Tok::Variable {
                break;
            }
            self.next(t);
            let after = self.peek(t);
            let next = self.peek_non_space(t);
            if next.typ == Tok::Assign || next.typ == Tok::Declare {
                pipe.is_assign = next.typ == Tok::Assign;
                self.next_non_space(t);
                pipe.decl.push((v.pos, v.val.clone()));
                t.vars.push(v.val);
            } else if next.typ == Tok::Char && next.val == "," {
                self.next_non_space(t);
                pipe.decl.push((v.pos, v.val.clone()));
                t.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space(t).typ {
                        Tok::Variable | Tok::RightDelim | Tok::RightParen => continue,
                        _ => return Err(self.errorf(t, "range can only initialize variables")),
                    }
                }
                return Err(self.errorf(t, &format!("too many declarations in {context}")));
            } else if after.typ == Tok::Space {
                self.backup3(t, v, after);
            } else {
                self.backup2(t, v);
            }
            break;
        }
        loop {
            let tok = self.next_non_space(t);
            if tok.typ == end {
                self.check_pipeline(t, &pipe, context)?;
                return Ok(pipe);
            }
            match tok.typ {
                Tok::Bool
                | Tok::CharConstant
                | Tok::Complex
                | Tok::Dot
                | Tok::Field
                | Tok::Identifier
                | Tok::Number
                | Tok::Nil
                | Tok::RawString
                | Tok::Str
                | Tok::Variable
                | Tok::LeftParen => {
                    self.backup(t);
                    let cmd = self.command(t)?;
                    pipe.cmds.push(cmd);
                    if pipe.cmds.len() > MAX_PIPELINE_CMDS {
                        return Err(self.errorf(t, "pipeline too long"));
                    }
                }
                _ => return Err(self.unexpected(t, &tok, context)),
            }
        }
    }

    fn check_pipeline(&self, t: &TreeCtx, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(t, &format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(a) = c.args.first()
                && matches!(
                    a.kind,
                    ArgKind::Bool(_)
                        | ArgKind::Dot
                        | ArgKind::Nil
                        | ArgKind::Number(_)
                        | ArgKind::Str { .. }
                )
            {
                return Err(self.errorf(
                    t,
                    &format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(())
    }

    fn parse_control(
        &mut self,
        t: &mut TreeCtx,
        context: &str,
    ) -> PResult<(Pipe, List, Option<List>)> {
        let saved_vars = t.vars.len();
        self.depth += 1;
        if self.depth > MAX_BLOCK_DEPTH {
            return Err(self.errorf(t, "max nesting depth exceeded"));
        }
        let pipe = self.pipeline(t, context, Tok::RightDelim)?;
        if context == "range" {
            t.range_depth += 1;
        }
        let (list, next) = self.item_list(t)?;
        if context == "range" {
            t.range_depth -= 1;
        }
        let mut else_list = None;
        if matches!(next.kind, NodeKind::Else) {
            let peek = self.peek(t).typ;
            if context == "if" && peek == Tok::If {
                self.next(t);
                let node = self.branch_control(t, "if")?;
                else_list = Some(List {
                    pos: next.pos,
                    nodes: vec![node],
                });
            } else if context == "with" && peek == Tok::With {
                self.next(t);
                let node = self.branch_control(t, "with")?;
                else_list = Some(List {
                    pos: next.pos,
                    nodes: vec![node],
                });
            } else {
                let (el, end) = self.item_list(t)?;
                if !matches!(end.kind, NodeKind::End) {
                    return Err(self.errorf(t, &format!("expected end; found {end}")));
                }
                else_list = Some(el);
            }
        }
        t.vars.truncate(saved_vars);
        self.depth -= 1;
        Ok((pipe, list, else_list))
    }

    fn branch_control(&mut self, t: &mut TreeCtx, context: &str) -> PResult<Node> {
        let (pipe, list, else_list) = self.parse_control(t, context)?;
        let pos = pipe.pos;
        let b = Box::new(Branch {
            pipe,
            list,
            else_list,
        });
        let kind = match context {
            "if" => NodeKind::If(b),
            "range" => NodeKind::Range(b),
            _ => NodeKind::With(b),
        };
        Ok(Node { pos, kind })
    }

    fn end_control(&mut self, t: &mut TreeCtx) -> PResult<Node> {
        let tok = self.expect(t, Tok::RightDelim, "end")?;
        Ok(Node {
            pos: tok.pos,
            kind: NodeKind::End,
        })
    }

    fn else_control(&mut self, t: &mut TreeCtx) -> PResult<Node> {
        let peek = self.peek_non_space(t);
        if peek.typ == Tok::If || peek.typ == Tok::With {
            return Ok(Node {
                pos: peek.pos,
                kind: NodeKind::Else,
            });
        }
        let tok = self.expect(t, Tok::RightDelim, "else")?;
        Ok(Node {
            pos: tok.pos,
            kind: NodeKind::Else,
        })
    }

    fn block_control(&mut self, t: &mut TreeCtx) -> PResult<Node> {
        let context = "block clause";
        let tok = self.next_non_space(t);
        let name = self.parse_template_name(t, &tok, context)?;
        let pipe = self.pipeline(t, context, Tok::RightDelim)?;
        self.depth += 1;
        if self.depth > MAX_BLOCK_DEPTH {
            return Err(self.errorf(t, "max nesting depth exceeded"));
        }
        let mut bt = TreeCtx::new();
        let (root, end) = self.item_list(&mut bt)?;
        if !matches!(end.kind, NodeKind::End) {
            return Err(self.errorf(t, &format!("unexpected {end} in {context}")));
        }
        self.add(&bt, &name, root)?;
        self.depth -= 1;
        Ok(Node {
            pos: tok.pos,
            kind: NodeKind::Template {
                name,
                pipe: Some(pipe),
            },
        })
    }

    fn template_control(&mut self, t: &mut TreeCtx) -> PResult<Node> {
        let context = "template clause";
        let tok = self.next_non_space(t);
        let name = self.parse_template_name(t, &tok, context)?;
        let mut pipe = None;
        if self.next_non_space(t).typ != Tok::RightDelim {
            self.backup(t);
            pipe = Some(self.pipeline(t, context, Tok::RightDelim)?);
        }
        Ok(Node {
            pos: tok.pos,
            kind: NodeKind::Template { name, pipe },
        })
    }

    fn parse_template_name(&self, t: &TreeCtx, tok: &Item, context: &str) -> PResult<String> {
        match tok.typ {
            Tok::Str | Tok::RawString => go_unquote(&tok.val).map_err(|e| self.errorf(t, &e)),
            _ => Err(self.unexpected(t, tok, context)),
        }
    }

    fn command(&mut self, t: &mut TreeCtx) -> PResult<Command> {
        let pos = self.peek_non_space(t).pos;
        let mut cmd = Command { pos, args: vec![] };
        loop {
            self.peek_non_space(t);
            if let Some(op) = self.operand(t)? {
                cmd.args.push(op);
            }
            let tok = self.next(t);
            match tok.typ {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(t),
                Tok::Pipe => {}
                _ => return Err(self.unexpected(t, &tok, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf(t, "empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self, t: &mut TreeCtx) -> PResult<Option<Arg>> {
        let Some(node) = self.term(t)? else {
            return Ok(None);
        };
        if self.peek(t).typ != Tok::Field {
            return Ok(Some(node));
        }
        let pos = self.peek(t).pos;
        let mut fields = vec![];
        while self.peek(t).typ == Tok::Field {
            let f = self.next(t);
            fields.push(f.val.get(1..).unwrap_or("").to_string());
        }
        let kind = match node.kind {
            ArgKind::Field(mut id) => {
                id.extend(fields);
                ArgKind::Field(id)
            }
            ArgKind::Variable(mut id) => {
                id.extend(fields);
                ArgKind::Variable(id)
            }
            ArgKind::Bool(_)
            | ArgKind::Str { .. }
            | ArgKind::Number(_)
            | ArgKind::Nil
            | ArgKind::Dot => {
                return Err(self.errorf(
                    t,
                    &format!("unexpected . after term {}", go_quote(&node.to_string())),
                ));
            }
            other => ArgKind::Chain(
                Box::new(Arg {
                    pos: node.pos,
                    kind: other,
                }),
                fields,
            ),
        };
        Ok(Some(Arg { pos, kind }))
    }

    fn term(&mut self, t: &mut TreeCtx) -> PResult<Option<Arg>> {
        let tok = self.next_non_space(t);
        let pos = tok.pos;
        let kind = match tok.typ {
            Tok::Identifier => {
                if !is_known_function(&tok.val) {
                    return Err(
                        self.errorf(t, &format!("function {} not defined", go_quote(&tok.val)))
                    );
                }
                ArgKind::Identifier(tok.val)
            }
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Variable => {
                let ident: Vec<String> = tok.val.split('.').map(str::to_string).collect();
                let first = ident.first().cloned().unwrap_or_default();
                if !t.vars.contains(&first) {
                    return Err(self.errorf(t, &format!("undefined variable {}", go_quote(&first))));
                }
                ArgKind::Variable(ident)
            }
            Tok::Field => ArgKind::Field(
                tok.val
                    .get(1..)
                    .unwrap_or("")
                    .split('.')
                    .map(str::to_string)
                    .collect(),
            ),
            Tok::Bool => ArgKind::Bool(tok.val == "true"),
            Tok::CharConstant | Tok::Complex | Tok::Number => match new_number(&tok.val, tok.typ) {
                Ok(n) => ArgKind::Number(Box::new(n)),
                Err(e) => return Err(self.errorf(t, &e)),
            },
            Tok::LeftParen => {
                if t.stack_depth >= MAX_PAREN_DEPTH {
                    return Err(self.errorf(t, "max expression depth exceeded"));
                }
                t.stack_depth += 1;
                let r = self.pipeline(t, "parenthesized pipeline", Tok::RightParen);
                t.stack_depth -= 1;
                ArgKind::Pipe(Box::new(r?))
            }
            Tok::Str | Tok::RawString => {
                let text = go_unquote(&tok.val).map_err(|e| self.errorf(t, &e))?;
                ArgKind::Str {
                    quoted: tok.val,
                    text,
                }
            }
            _ => {
                self.backup(t);
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos, kind }))
    }
}

/// Port of parse.(*Tree).newNumber.
fn new_number(text: &str, typ: Tok) -> Result<NumberLit, String> {
    let mut n = NumberLit {
        text: text.to_string(),
        is_int: false,
        is_uint: false,
        is_float: false,
        is_complex: false,
        int: 0,
        float: 0.0,
    };
    match typ {
        Tok::CharConstant => {
            let inner = text.get(1..).unwrap_or("");
            let (value, tail) =
                unquote_char(inner, b'\'').map_err(|_| "invalid syntax".to_string())?;
            if tail != "'" {
                return Err(format!("malformed character constant: {text}"));
            }
            let r = match value {
                Unquoted::Char(c) => c as i64,
                Unquoted::Byte(b) => b as i64,
            };
            n.int = r;
            n.is_int = true;
            n.is_uint = true;
            n.float = r as f64;
            n.is_float = true;
            return Ok(n);
        }
        Tok::Complex => {
            // "a+bi": real part, then signed imaginary part.
            let body = text.strip_suffix('i').unwrap_or(text);
            let split = body
                .char_indices()
                .skip(1)
                .filter(|&(i, c)| {
                    (c == '+' || c == '-')
                        && !matches!(body.as_bytes().get(i - 1), Some(b'e' | b'E' | b'p' | b'P'))
                })
                .map(|(i, _)| i)
                .last();
            let parsed = split.and_then(|i| {
                let re = parse_go_float(body.get(..i)?).ok()?;
                let im = parse_go_float(body.get(i..)?).ok()?;
                Some((re, im))
            });
            let Some((re, im)) = parsed else {
                return Err(format!("illegal number syntax: {}", go_quote(text)));
            };
            n.is_complex = true;
            simplify_complex(&mut n, re, im);
            return Ok(n);
        }
        _ => {}
    }
    if let Some(body) = text.strip_suffix('i')
        && let Ok(f) = parse_go_float(body)
    {
        n.is_complex = true;
        simplify_complex(&mut n, 0.0, f);
        return Ok(n);
    }
    let u = go_parse_uint(text);
    if let Some(u) = u {
        n.is_uint = true;
        n.float = u as f64;
    }
    if let Some(i) = go_parse_int(text) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if n.is_uint {
        n.is_float = true;
    } else if let Ok(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", go_quote(text)));
        }
        n.is_float = true;
        n.float = f;
        if go_f64_to_i64(f) as f64 == f {
            n.is_int = true;
            n.int = go_f64_to_i64(f);
        }
        if (0.0..18_446_744_073_709_551_616.0).contains(&f) && f.fract() == 0.0 {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {}", go_quote(text)));
    }
    Ok(n)
}

fn simplify_complex(n: &mut NumberLit, re: f64, im: f64) {
    n.is_float = im == 0.0;
    if n.is_float {
        n.float = re;
        n.is_int = go_f64_to_i64(re) as f64 == re;
        if n.is_int {
            n.int = go_f64_to_i64(re);
        }
        n.is_uint = (0.0..18_446_744_073_709_551_616.0).contains(&re) && re.fract() == 0.0;
    }
}

/// strconv.ParseUint(s, 0, 64).
fn go_parse_uint(s: &str) -> Option<u64> {
    let (base, digits) = base_prefix(s)?;
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let cleaned: String = digits.chars().filter(|&c| c != '_').collect();
    if cleaned.is_empty() {
        return if s == "0" { Some(0) } else { None };
    }
    u64::from_str_radix(&cleaned, base).ok()
}

/// strconv.ParseInt(s, 0, 64).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// Splits a base-0 integer literal into (radix, digits).
fn base_prefix(s: &str) -> Option<(u32, &str)> {
    let b = s.as_bytes();
    if b.first() == Some(&b'+') || b.first() == Some(&b'-') {
        return None;
    }
    if b.len() >= 2 && b[0] == b'0' {
        return Some(match b[1] {
            b'x' | b'X' => (16, &s[2..]),
            b'o' | b'O' => (8, &s[2..]),
            b'b' | b'B' => (2, &s[2..]),
            _ => (8, &s[1..]),
        });
    }
    Some((10, s))
}

/// strconv's underscoreOK.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(b'+' | b'-') = b.first() {
        b = &b[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1] | 0x20, b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1] | 0x20 == b'x';
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct RootData {
    labels: Rc<BTreeMap<String, String>>,
    external_labels: Rc<BTreeMap<String, String>>,
    external_url: String,
    value: f64,
}

/// A Go value as seen by the template engine.
#[derive(Clone, Debug)]
enum Val {
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
    fn query_result(samples: Vec<Rc<QuerySample>>) -> Val {
        Val::QueryResult(Rc::new(RefCell::new(samples)))
    }
}

const SAMPLE_TYPE: &str = "*template.sample";
const QUERY_RESULT_TYPE: &str = "template.queryResult";
/// What Go's runtime says when a function dereferences a nil pointer.
const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

fn type_name(v: &Val) -> &'static str {
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

fn is_true(v: &Val) -> bool {
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
    fn field(&self, name: &str) -> Option<Val> {
        Some(match name {
            "Labels" => Val::StrMap(self.labels.clone()),
            "ExternalLabels" => Val::StrMap(self.external_labels.clone()),
            "ExternalURL" => Val::Str(self.external_url.clone()),
            "Value" => Val::Float(self.value),
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------
// Executor (port of text/template/exec.go)
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum NodeRef<'t> {
    Node(&'t Node),
    List(&'t List),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

impl NodeRef<'_> {
    fn pos(&self) -> usize {
        match self {
            NodeRef::Node(n) => n.pos,
            NodeRef::List(l) => l.pos,
            NodeRef::Pipe(p) => p.pos,
            NodeRef::Cmd(c) => c.pos,
            NodeRef::Arg(a) => a.pos,
        }
    }

    fn text(&self) -> String {
        match self {
            NodeRef::Node(n) => n.to_string(),
            NodeRef::List(l) => l.to_string(),
            NodeRef::Pipe(p) => p.to_string(),
            NodeRef::Cmd(c) => c.to_string(),
            NodeRef::Arg(a) => a.to_string(),
        }
    }
}

enum Flow {
    Err(String),
    Break,
    Continue,
}

type R<T> = Result<T, Flow>;

/// Declared parameter types of template functions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum P {
    Any,
    Str,
    /// `template.queryResult`
    Query,
    /// `*template.sample`
    Sample,
}

impl P {
    fn name(self) -> &'static str {
        match self {
            P::Any => "interface {}",
            P::Str => "string",
            P::Query => QUERY_RESULT_TYPE,
            P::Sample => SAMPLE_TYPE,
        }
    }

    /// Slices and pointers take `nil` (as their zero value).
    fn can_be_nil(self) -> bool {
        matches!(self, P::Any | P::Query | P::Sample)
    }
}

#[derive(Clone, Copy)]
struct Sig {
    fixed: &'static [P],
    variadic: Option<P>,
    builtin: bool,
}

enum Callee<'a> {
    Func(&'a str),
    Method(Val, &'a str),
}

impl Callee<'_> {
    fn name(&self) -> &str {
        match self {
            Callee::Func(n) | Callee::Method(_, n) => n,
        }
    }
}

struct FuncCtx<'q> {
    external_url: String,
    now: f64,
    query: Option<&'q dyn QueryRunner>,
}

struct Exec<'t> {
    parsed: &'t Parsed,
    parse_name: &'t str,
    tmpl_name: &'t str,
    vars: Vec<(String, Val)>,
    node: Option<NodeRef<'t>>,
    depth: usize,
    out: String,
    ctx: FuncCtx<'t>,
    iterations: u64,
}

impl<'t> Exec<'t> {
    fn errorf(&self, msg: impl AsRef<str>) -> Flow {
        let msg = msg.as_ref();
        match self.node {
            None => Flow::Err(format!("template: {}: {}", self.tmpl_name, msg)),
            Some(n) => {
                let pos = n.pos();
                let text = self.parsed.text.get(..pos).unwrap_or(&self.parsed.text);
                let col = match text.rfind('\n') {
                    None => pos,
                    Some(i) => pos - (i + 1),
                };
                let line = 1 + text.matches('\n').count();
                Flow::Err(format!(
                    "template: {}:{}:{}: executing {} at <{}>: {}",
                    self.parse_name,
                    line,
                    col,
                    go_quote(self.tmpl_name),
                    n.text(),
                    msg
                ))
            }
        }
    }

    fn at(&mut self, n: NodeRef<'t>) {
        self.node = Some(n);
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(self.errorf(format!("template output exceeds {MAX_OUTPUT} bytes")));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(self.errorf(format!(
                "exceeded maximum template depth ({MAX_EXEC_DEPTH})"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_list(&mut self, dot: &Val, list: &'t List) -> R<()> {
        self.at(NodeRef::List(list));
        for n in &list.nodes {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Val, node: &'t Node) -> R<()> {
        self.at(NodeRef::Node(node));
        match &node.kind {
            NodeKind::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at(NodeRef::Node(node));
                    let s = match v {
                        Val::Invalid => "<no value>".to_string(),
                        v => fmt_v(&v),
                    };
                    self.write(&s)?;
                }
                Ok(())
            }
            NodeKind::Break => Err(Flow::Break),
            NodeKind::Continue => Err(Flow::Continue),
            NodeKind::If(b) => self.walk_if_or_with(dot, b, false),
            NodeKind::With(b) => self.walk_if_or_with(dot, b, true),
            NodeKind::Range(b) => self.walk_range(dot, node, b),
            NodeKind::Template { name, pipe } => self.walk_template(dot, node, name, pipe.as_ref()),
            NodeKind::Text(t) => self.write(t),
            NodeKind::End | NodeKind::Else => Err(self.errorf(format!("unknown node: {node}"))),
        }
    }

    fn walk_if_or_with(&mut self, dot: &Val, b: &'t Branch, with: bool) -> R<()> {
        let mark = self.vars.len();
        self.enter()?;
        let r = self.if_or_with_body(dot, b, with);
        self.vars.truncate(mark);
        self.depth -= 1;
        r
    }

    fn if_or_with_body(&mut self, dot: &Val, b: &'t Branch, with: bool) -> R<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        if is_true(&val) {
            if with {
                self.walk_list(&val, &b.list)
            } else {
                self.walk_list(dot, &b.list)
            }
        } else if let Some(el) = &b.else_list {
            self.walk_list(dot, el)
        } else {
            Ok(())
        }
    }

    fn walk_range(&mut self, dot: &Val, node: &'t Node, b: &'t Branch) -> R<()> {
        self.at(NodeRef::Node(node));
        self.enter()?;
        let mark = self.vars.len();
        let r = self.range_body(dot, b);
        self.vars.truncate(mark);
        self.depth -= 1;
        match r {
            Err(Flow::Break) => Ok(()),
            other => other,
        }
    }

    fn range_body(&mut self, dot: &Val, b: &'t Branch) -> R<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let ran = match &val {
            Val::StrMap(m) => {
                for (k, v) in m.iter() {
                    self.one_iteration(b, mark, Val::Str(k.clone()), Val::Str(v.clone()))?;
                }
                !m.is_empty()
            }
            Val::IfaceMap(m) => {
                for (k, v) in m.iter() {
                    self.one_iteration(b, mark, Val::Str(k.clone()), v.clone())?;
                }
                !m.is_empty()
            }
            Val::QueryResult(q) => {
                // Go ranges over the slice header it was given: later changes
                // to the shared array (sortByLabel inside the loop) show.
                let len = q.borrow().len();
                let mut i = 0;
                while i < len {
                    let Some(smp) = q.borrow().get(i).cloned() else {
                        break;
                    };
                    self.one_iteration(b, mark, Val::Int(i as i64), Val::Sample(smp))?;
                    i += 1;
                }
                len > 0
            }
            Val::Int(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.errorf(format!(
                        "can't use {n} to iterate over more than one variable"
                    )));
                }
                for i in 0..*n {
                    self.one_iteration(b, mark, Val::Invalid, Val::Int(i))?;
                }
                *n > 0
            }
            Val::Byte(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.errorf(format!(
                        "can't use {n} to iterate over more than one variable"
                    )));
                }
                for i in 0..*n {
                    self.one_iteration(b, mark, Val::Invalid, Val::Byte(i))?;
                }
                *n > 0
            }
            Val::Invalid => false,
            other => {
                return Err(self.errorf(format!("range can't iterate over {}", fmt_v(other))));
            }
        };
        if !ran && let Some(el) = &b.else_list {
            self.walk_list(dot, el)?;
        }
        Ok(())
    }

    fn one_iteration(&mut self, b: &'t Branch, mark: usize, index: Val, elem: Val) -> R<()> {
        self.iterations += 1;
        if self.iterations > MAX_ITERATIONS {
            return Err(self.errorf(format!("range iteration limit ({MAX_ITERATIONS}) exceeded")));
        }
        let decl = &b.pipe.decl;
        if let Some((_, first)) = decl.first() {
            if b.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(first, index.clone())?;
                } else {
                    self.set_var(first, elem.clone())?;
                }
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if let Some((_, second)) = decl.get(1) {
            if b.pipe.is_assign {
                self.set_var(second, elem.clone())?;
            } else {
                self.set_top_var(2, index);
            }
        }
        let r = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        match r {
            Err(Flow::Continue) => Ok(()),
            other => other,
        }
    }

    fn walk_template(
        &mut self,
        dot: &Val,
        node: &'t Node,
        name: &'t str,
        pipe: Option<&'t Pipe>,
    ) -> R<()> {
        self.at(NodeRef::Node(node));
        let Some(tree) = self.parsed.trees.get(name) else {
            return Err(self.errorf(format!("template {} not defined", go_quote(name))));
        };
        self.enter()?;
        let new_dot = match pipe {
            Some(p) => match self.eval_pipeline(dot, p) {
                Ok(v) => v,
                Err(e) => {
                    self.depth -= 1;
                    return Err(e);
                }
            },
            None => Val::Invalid,
        };
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let saved_name = std::mem::replace(&mut self.tmpl_name, name);
        let saved_node = self.node;
        let r = self.walk_list(&new_dot, tree);
        self.vars = saved_vars;
        self.tmpl_name = saved_name;
        self.node = saved_node;
        self.depth -= 1;
        r
    }

    fn var_value(&self, name: &str) -> R<Val> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, value: Val) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn set_top_var(&mut self, n: usize, value: Val) {
        let len = self.vars.len();
        if n <= len {
            self.vars[len - n].1 = value;
        }
    }

    fn eval_pipeline(&mut self, dot: &Val, pipe: &'t Pipe) -> R<Val> {
        self.at(NodeRef::Pipe(pipe));
        let mut value: Option<Val> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value.take())?);
        }
        let value = value.unwrap_or(Val::Invalid);
        for (_, name) in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, first: &Arg, extra_args: usize, has_final: bool) -> R<()> {
        if extra_args > 0 || has_final {
            return Err(self.errorf(format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Val, cmd: &'t Command, fin: Option<Val>) -> R<Val> {
        let Some((first, rest)) = cmd.args.split_first() else {
            return Err(self.errorf("empty command"));
        };
        match &first.kind {
            ArgKind::Field(ident) => return self.eval_field_node(dot, first, ident, rest, fin),
            ArgKind::Chain(inner, fields) => {
                return self.eval_chain_node(dot, first, inner, fields, rest, fin);
            }
            ArgKind::Identifier(name) => {
                return self.eval_function(dot, first, name, NodeRef::Cmd(cmd), rest, fin);
            }
            ArgKind::Pipe(p) => {
                self.not_a_function(first, rest.len(), fin.is_some())?;
                return self.eval_pipeline(dot, p);
            }
            ArgKind::Variable(ident) => {
                return self.eval_variable_node(dot, first, ident, rest, fin);
            }
            _ => {}
        }
        self.at(NodeRef::Arg(first));
        self.not_a_function(first, rest.len(), fin.is_some())?;
        match &first.kind {
            ArgKind::Bool(b) => Ok(Val::Bool(*b)),
            ArgKind::Dot => Ok(dot.clone()),
            ArgKind::Nil => Err(self.errorf("nil is not a command")),
            ArgKind::Number(n) => self.ideal_constant(first, n),
            ArgKind::Str { text, .. } => Ok(Val::Str(text.clone())),
            _ => Err(self.errorf(format!(
                "can't evaluate command {}",
                go_quote(&first.to_string())
            ))),
        }
    }

    fn ideal_constant(&mut self, node: &'t Arg, n: &NumberLit) -> R<Val> {
        self.at(NodeRef::Arg(node));
        if n.is_complex {
            return Err(self.errorf("complex numbers are not supported by tocsin"));
        }
        let is_hex_int = n.text.len() > 2
            && n.text.starts_with('0')
            && matches!(n.text.as_bytes()[1], b'x' | b'X')
            && !n.text.contains(['p', 'P']);
        let is_rune = n.text.starts_with('\'');
        if n.is_float && !is_hex_int && !is_rune && n.text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Val::Float(n.float));
        }
        if n.is_int {
            return Ok(Val::Int(n.int));
        }
        if n.is_uint {
            return Err(self.errorf(format!("{} overflows int", n.text)));
        }
        Ok(Val::Invalid)
    }

    fn eval_field_node(
        &mut self,
        dot: &Val,
        node: &'t Arg,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        self.at(NodeRef::Arg(node));
        self.eval_field_chain(dot, dot.clone(), NodeRef::Arg(node), ident, args, fin)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Val,
        node: &'t Arg,
        inner: &'t Arg,
        fields: &'t [String],
        args: &'t [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        self.at(NodeRef::Arg(node));
        if fields.is_empty() {
            return Err(self.errorf("internal error: no fields in evalChainNode"));
        }
        if matches!(inner.kind, ArgKind::Nil) {
            return Err(self.errorf(format!("indirection through explicit nil in {node}")));
        }
        let recv = self.eval_arg(dot, P::Any, inner)?;
        self.eval_field_chain(dot, recv, NodeRef::Arg(node), fields, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Val,
        node: &'t Arg,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        self.at(NodeRef::Arg(node));
        let Some((name, fields)) = ident.split_first() else {
            return Err(self.errorf("empty variable"));
        };
        let value = self.var_value(name)?;
        if fields.is_empty() {
            self.not_a_function(node, args.len(), fin.is_some())?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, NodeRef::Arg(node), fields, args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Val,
        receiver: Val,
        node: NodeRef<'t>,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let Some((last, init)) = ident.split_last() else {
            return Ok(receiver);
        };
        let mut recv = receiver;
        for name in init {
            recv = self.eval_field(dot, name, node, &[], None, recv)?;
        }
        self.eval_field(dot, last, node, args, fin, recv)
    }

    fn eval_field(
        &mut self,
        dot: &Val,
        name: &'t str,
        node: NodeRef<'t>,
        args: &'t [Arg],
        fin: Option<Val>,
        receiver: Val,
    ) -> R<Val> {
        if let Val::Invalid = receiver {
            return Ok(Val::Invalid);
        }
        if let Some(sig) = method_sig(&receiver, name) {
            return self.eval_call(dot, Callee::Method(receiver, name), sig, node, args, fin);
        }
        let has_args = !args.is_empty() || fin.is_some();
        match &receiver {
            Val::Data(d) => {
                if let Some(v) = d.field(name) {
                    if has_args {
                        return Err(self.errorf(format!(
                            "{name} has arguments but cannot be invoked as function"
                        )));
                    }
                    return Ok(v);
                }
            }
            Val::StrMap(m) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                return Ok(Val::Str(m.get(name).cloned().unwrap_or_default()));
            }
            Val::IfaceMap(m) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                return Ok(m.get(name).cloned().unwrap_or(Val::Invalid));
            }
            Val::Sample(smp) if matches!(name, "Labels" | "Value") => {
                if has_args {
                    return Err(self.errorf(format!(
                        "{name} has arguments but cannot be invoked as function"
                    )));
                }
                return Ok(match name {
                    "Labels" => Val::StrMap(Rc::new(smp.labels.clone())),
                    _ => Val::Float(smp.value),
                });
            }
            Val::Time(_) if matches!(name, "wall" | "ext" | "loc") => {
                return Err(self.errorf(format!(
                    "{name} is an unexported field of struct type *time.Time"
                )));
            }
            _ => {}
        }
        let typ = type_name(&receiver);
        Err(self.errorf(format!("can't evaluate field {name} in type {typ}")))
    }

    fn eval_function(
        &mut self,
        dot: &Val,
        ident: &'t Arg,
        name: &'t str,
        call_node: NodeRef<'t>,
        args: &'t [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        self.at(NodeRef::Arg(ident));
        let Some(sig) = func_sig(name) else {
            return Err(self.errorf(format!("{} is not a defined function", go_quote(name))));
        };
        self.eval_call(dot, Callee::Func(name), sig, call_node, args, fin)
    }

    fn eval_call(
        &mut self,
        dot: &Val,
        callee: Callee<'t>,
        sig: Sig,
        node: NodeRef<'t>,
        args: &'t [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let name = callee.name().to_string();
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = if sig.variadic.is_some() {
            sig.fixed.len()
        } else {
            args.len()
        };
        if sig.variadic.is_some() {
            if num_in < num_fixed {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    sig.fixed.len(),
                    args.len()
                )));
            }
        } else if num_in != sig.fixed.len() {
            return Err(self.errorf(format!(
                "wrong number of args for {name}: want {} got {num_in}",
                sig.fixed.len()
            )));
        }
        if sig.builtin && (name == "and" || name == "or") {
            let want = name == "or";
            let mut v = Val::Invalid;
            for a in args {
                v = self.eval_arg(dot, P::Any, a)?;
                if is_true(&v) == want {
                    return Ok(v);
                }
            }
            if let Some(f) = fin {
                v = f;
            }
            return Ok(v);
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            let typ = if i < num_fixed {
                sig.fixed.get(i).copied().unwrap_or(P::Any)
            } else {
                sig.variadic.unwrap_or(P::Any)
            };
            argv.push(self.eval_arg(dot, typ, a)?);
        }
        if let Some(f) = fin {
            let typ = match sig.variadic {
                Some(v) if num_in > num_fixed => v,
                Some(_) => sig.fixed.get(num_in - 1).copied().unwrap_or(P::Any),
                None => sig.fixed.last().copied().unwrap_or(P::Any),
            };
            argv.push(self.validate_type(f, typ)?);
        }
        let result = match &callee {
            Callee::Func(n) => {
                let callee_name = args.first().map(|a| a.to_string()).unwrap_or_default();
                call_func(&self.ctx, n, &argv, &callee_name)
            }
            Callee::Method(recv, n) => call_method(recv, n, &argv),
        };
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at(node);
                Err(self.errorf(format!("error calling {name}: {e}")))
            }
        }
    }

    fn validate_type(&self, v: Val, typ: P) -> R<Val> {
        if typ == P::Any {
            return Ok(v);
        }
        if let Val::Invalid = v {
            if typ.can_be_nil() {
                return Ok(v);
            }
            return Err(self.errorf(format!("invalid value; expected {}", typ.name())));
        }
        let fits = match typ {
            P::Any => true,
            P::Str => matches!(v, Val::Str(_)),
            P::Query => matches!(v, Val::QueryResult(_)),
            P::Sample => matches!(v, Val::Sample(_)),
        };
        if fits {
            Ok(v)
        } else {
            Err(self.errorf(format!(
                "wrong type for value; expected {}; got {}",
                typ.name(),
                type_name(&v)
            )))
        }
    }

    fn eval_arg(&mut self, dot: &Val, typ: P, n: &'t Arg) -> R<Val> {
        self.at(NodeRef::Arg(n));
        let v = match &n.kind {
            ArgKind::Dot => dot.clone(),
            ArgKind::Nil => {
                if typ.can_be_nil() {
                    return Ok(Val::Invalid);
                }
                return Err(self.errorf(format!("cannot assign nil to {}", typ.name())));
            }
            ArgKind::Field(ident) => self.eval_field_node(dot, n, ident, &[], None)?,
            ArgKind::Variable(ident) => self.eval_variable_node(dot, n, ident, &[], None)?,
            ArgKind::Pipe(p) => self.eval_pipeline(dot, p)?,
            ArgKind::Identifier(name) => {
                self.eval_function(dot, n, name, NodeRef::Arg(n), &[], None)?
            }
            ArgKind::Chain(inner, fields) => {
                self.eval_chain_node(dot, n, inner, fields, &[], None)?
            }
            // Literals: an interface{} parameter takes them as ideal constants,
            // a string parameter only accepts a string literal.
            ArgKind::Bool(b) if typ == P::Any => return Ok(Val::Bool(*b)),
            ArgKind::Number(num) if typ == P::Any => return self.ideal_constant(n, num),
            ArgKind::Bool(_) | ArgKind::Number(_) | ArgKind::Str { .. }
                if matches!(typ, P::Query | P::Sample) =>
            {
                return Err(self.errorf(format!("can't handle {n} for arg of type {}", typ.name())));
            }
            ArgKind::Str { text, .. } => return Ok(Val::Str(text.clone())),
            ArgKind::Bool(_) | ArgKind::Number(_) => {
                return Err(self.errorf(format!("expected string; found {n}")));
            }
        };
        self.validate_type(v, typ)
    }
}

// ---------------------------------------------------------------------------
// Functions: Go builtins (text/template/funcs.go) and Prometheus' function map
// ---------------------------------------------------------------------------

const ANY: &[P] = &[P::Any];
const ANY2: &[P] = &[P::Any, P::Any];
const STR: &[P] = &[P::Str];
const NONE: &[P] = &[];

fn func_sig(name: &str) -> Option<Sig> {
    let (fixed, variadic, builtin): (&'static [P], Option<P>, bool) = match name {
        "and" | "or" | "call" | "index" | "slice" | "eq" => (ANY, Some(P::Any), true),
        "html" | "js" | "urlquery" | "print" | "println" => (NONE, Some(P::Any), true),
        "printf" => (STR, Some(P::Any), true),
        "len" | "not" => (ANY, None, true),
        "ne" | "lt" | "le" | "gt" | "ge" => (ANY2, None, true),
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" | "toDuration" => (ANY, None, false),
        "title" | "toUpper" | "toLower" | "stripPort" | "stripDomain" | "urlQueryEscape"
        | "parseDuration" | "graphLink" | "tableLink" | "safeHtml" => (STR, None, false),
        "match" => (&[P::Str, P::Str], None, false),
        "reReplaceAll" => (&[P::Str, P::Str, P::Str], None, false),
        "now" | "externalURL" | "pathPrefix" => (NONE, None, false),
        "args" => (NONE, Some(P::Any), false),
        "query" => (STR, None, false),
        "first" => (&[P::Query], None, false),
        "label" => (&[P::Str, P::Sample], None, false),
        "value" | "strvalue" => (&[P::Sample], None, false),
        "sortByLabel" => (&[P::Str, P::Query], None, false),
        // Console templates only (Prometheus's ExpandHTML): parses, fails when run.
        "tmpl" => (NONE, Some(P::Any), false),
        _ => return None,
    };
    Some(Sig {
        fixed,
        variadic,
        builtin,
    })
}

fn method_sig(recv: &Val, name: &str) -> Option<Sig> {
    let fixed: &'static [P] = match (recv, name) {
        (Val::Time(_), "Format") => STR,
        (
            Val::Time(_),
            "Unix" | "UnixMilli" | "UnixMicro" | "UnixNano" | "Year" | "YearDay" | "Day" | "Hour"
            | "Minute" | "Second" | "Nanosecond" | "UTC" | "Local" | "String" | "IsZero",
        ) => NONE,
        (
            Val::Duration(_),
            "Seconds" | "Minutes" | "Hours" | "Milliseconds" | "Microseconds" | "Nanoseconds"
            | "String" | "Abs",
        ) => NONE,
        _ => return None,
    };
    Some(Sig {
        fixed,
        variadic: None,
        builtin: false,
    })
}

fn str_arg(v: Option<&Val>) -> &str {
    match v {
        Some(Val::Str(s)) => s,
        _ => "",
    }
}

fn call_func(ctx: &FuncCtx, name: &str, a: &[Val], callee_name: &str) -> Result<Val, String> {
    let arg = |i: usize| a.get(i).cloned().unwrap_or(Val::Invalid);
    let s = |i: usize| str_arg(a.get(i));
    let rest = |i: usize| a.get(i..).unwrap_or(&[]);
    let string = |v: String| Ok(Val::Str(v));
    match name {
        "call" => Err(match arg(0) {
            Val::Invalid => "call of nil".to_string(),
            v => format!("non-function {callee_name} of type {}", type_name(&v)),
        }),
        "html" => string(html_escape(&eval_args(a))),
        "js" => string(js_escape(&eval_args(a))),
        "urlquery" => string(query_escape(&eval_args(a))),
        "print" => string(sprint(a)),
        "println" => string(sprintln(a)),
        "printf" => string(sprintf(s(0), rest(1))),
        "index" => builtin_index(a),
        "slice" => builtin_slice(a),
        "len" => builtin_len(&arg(0)).map(Val::Int),
        "not" => Ok(Val::Bool(!is_true(&arg(0)))),
        "eq" => builtin_eq(&arg(0), rest(1)).map(Val::Bool),
        "ne" => builtin_eq(&arg(0), rest(1)).map(|b| Val::Bool(!b)),
        "lt" => builtin_lt(&arg(0), &arg(1)).map(Val::Bool),
        "le" => builtin_le(&arg(0), &arg(1)).map(Val::Bool),
        "gt" => builtin_le(&arg(0), &arg(1)).map(|b| Val::Bool(!b)),
        "ge" => builtin_lt(&arg(0), &arg(1)).map(|b| Val::Bool(!b)),
        "humanize" => humanize(convert_to_float(&arg(0))?).map(Val::Str),
        "humanize1024" => humanize1024(convert_to_float(&arg(0))?).map(Val::Str),
        "humanizeDuration" => humanize_duration(convert_to_float(&arg(0))?).map(Val::Str),
        "humanizePercentage" => string(format!("{}%", fmt_g4(convert_to_float(&arg(0))? * 100.0))),
        "humanizeTimestamp" => {
            let v = convert_to_float(&arg(0))?;
            if v.is_nan() || v.is_infinite() {
                return string(fmt_g4(v));
            }
            float_to_time(v).map(|ns| Val::Str(time_string(ns)))
        }
        "toTime" => float_to_time(convert_to_float(&arg(0))?).map(Val::Time),
        "toDuration" => {
            let v = convert_to_float(&arg(0))?;
            Ok(Val::Duration(go_f64_to_i64(v * 1e9)))
        }
        "now" => Ok(Val::Float(ctx.now)),
        "externalURL" => string(ctx.external_url.clone()),
        "pathPrefix" => string(url_path(&ctx.external_url)),
        "parseDuration" => parse_prom_duration(s(0)).map(|ns| Val::Float(ns as f64 / 1e9)),
        "title" => string(title(s(0))),
        "toUpper" => string(go_to_upper(s(0))),
        "toLower" => string(go_to_lower(s(0))),
        "stripPort" => string(match split_host_port(s(0)) {
            Some((host, _)) => host,
            None => s(0).to_string(),
        }),
        "stripDomain" => string(strip_domain(s(0))),
        "urlQueryEscape" => string(query_escape(s(0))),
        "graphLink" => string(format!("/graph?g0.expr={}&g0.tab=0", query_escape(s(0)))),
        "tableLink" => string(format!("/graph?g0.expr={}&g0.tab=1", query_escape(s(0)))),
        "safeHtml" => string(s(0).to_string()),
        "match" => {
            let re = compile_go_regex(s(0)).map_err(|e| format!("error parsing regexp: {e}"))?;
            Ok(Val::Bool(re.is_match(s(1))))
        }
        "reReplaceAll" => {
            let re = compile_go_regex(s(0)).map_err(|e| {
                format!(
                    "regexp: Compile({}): error parsing regexp: {e}",
                    regexp_quote(s(0))
                )
            })?;
            string(go_replace_all(&re, s(2), s(1)))
        }
        "args" => {
            let m = a
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v.clone()))
                .collect();
            Ok(Val::IfaceMap(Rc::new(m)))
        }
        "query" => match ctx.query {
            Some(runner) => {
                let samples = runner.query(s(0))?;
                Ok(Val::query_result(
                    samples.into_iter().map(Rc::new).collect(),
                ))
            }
            None => Err("no Prometheus datasource to run the query on here".into()),
        },
        "first" => match arg(0) {
            Val::QueryResult(q) => match q.borrow().first() {
                Some(smp) => Ok(Val::Sample(Rc::clone(smp))),
                None => Err("first() called on vector with no elements".into()),
            },
            _ => Err("first() called on vector with no elements".into()),
        },
        "label" => match arg(1) {
            Val::Sample(smp) => string(smp.labels.get(s(0)).cloned().unwrap_or_default()),
            _ => Err(NIL_DEREF.into()),
        },
        "value" => match arg(0) {
            Val::Sample(smp) => Ok(Val::Float(smp.value)),
            _ => Err(NIL_DEREF.into()),
        },
        "strvalue" => match arg(0) {
            Val::Sample(smp) => string(smp.labels.get("__value__").cloned().unwrap_or_default()),
            _ => Err(NIL_DEREF.into()),
        },
        "sortByLabel" => match arg(1) {
            Val::QueryResult(q) => {
                let by = s(0);
                // Stable, like sort.Stable; in place, like Go's v[:].
                q.borrow_mut().sort_by(|x, y| {
                    let (a, b) = (x.labels.get(by), y.labels.get(by));
                    a.map_or("", String::as_str)
                        .cmp(b.map_or("", String::as_str))
                });
                Ok(Val::QueryResult(q))
            }
            // sortByLabel of a nil queryResult is a (typed) empty one.
            _ => Ok(Val::query_result(Vec::new())),
        },
        _ => Err(format!("function {name} is not supported by tocsin")),
    }
}

fn call_method(recv: &Val, name: &str, a: &[Val]) -> Result<Val, String> {
    match recv {
        Val::Time(ns) => {
            let ns = *ns;
            Ok(match name {
                "Format" => Val::Str(go_time_format(ns, str_arg(a.first()))),
                "Unix" => Val::Int(ns.div_euclid(1_000_000_000)),
                "UnixMilli" => Val::Int(ns.div_euclid(1_000_000)),
                "UnixMicro" => Val::Int(ns.div_euclid(1_000)),
                "UnixNano" => Val::Int(ns),
                "UTC" | "Local" => Val::Time(ns),
                "String" => Val::Str(time_string(ns)),
                "IsZero" => Val::Bool(false),
                _ => {
                    let Some(t) = civil(ns) else {
                        return Err("time out of range".into());
                    };
                    Val::Int(match name {
                        "Year" => t.year() as i64,
                        "YearDay" => t.ordinal() as i64,
                        "Day" => t.day() as i64,
                        "Hour" => t.hour() as i64,
                        "Minute" => t.minute() as i64,
                        "Second" => t.second() as i64,
                        _ => t.nanosecond() as i64,
                    })
                }
            })
        }
        Val::Duration(d) => {
            let d = *d;
            Ok(match name {
                "Seconds" => Val::Float(d as f64 / 1e9),
                "Minutes" => Val::Float(d as f64 / 6e10),
                "Hours" => Val::Float(d as f64 / 3.6e12),
                "Milliseconds" => Val::Int(d / 1_000_000),
                "Microseconds" => Val::Int(d / 1_000),
                "Nanoseconds" => Val::Int(d),
                "Abs" => Val::Duration(if d == i64::MIN { i64::MAX } else { d.abs() }),
                _ => Val::Str(duration_string(d)),
            })
        }
        _ => Err(format!("can't call method {name}")),
    }
}

/// Arguments of html/js/urlquery rendered like text/template's evalArgs.
fn eval_args(a: &[Val]) -> String {
    if let [Val::Str(s)] = a {
        return s.clone();
    }
    let printable: Vec<Val> = a
        .iter()
        .map(|v| match v {
            Val::Invalid => Val::Str("<no value>".into()),
            v => v.clone(),
        })
        .collect();
    sprint(&printable)
}

fn index_arg(idx: &Val, cap: usize) -> Result<usize, String> {
    let x: i64 = match idx {
        Val::Int(i) => *i,
        Val::Byte(b) => *b as i64,
        Val::Invalid => return Err("cannot index slice/array with nil".into()),
        v => {
            return Err(format!(
                "cannot index slice/array with type {}",
                type_name(v)
            ));
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn map_key(idx: &Val) -> Result<String, String> {
    match idx {
        Val::Str(s) => Ok(s.clone()),
        Val::Invalid => Err("value is nil; should be of type string".into()),
        v => Err(format!("value has type {}; should be string", type_name(v))),
    }
}

fn builtin_index(a: &[Val]) -> Result<Val, String> {
    let mut item = a.first().cloned().unwrap_or(Val::Invalid);
    if let Val::Invalid = item {
        return Err("index of untyped nil".into());
    }
    for idx in a.get(1..).unwrap_or(&[]) {
        item = match &item {
            Val::Str(s) => {
                let x = index_arg(idx, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Val::Byte(*b),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            Val::QueryResult(q) => {
                let q = q.borrow();
                let x = index_arg(idx, q.len())?;
                match q.get(x) {
                    Some(smp) => Val::Sample(Rc::clone(smp)),
                    None => return Err("reflect: slice index out of range".into()),
                }
            }
            Val::StrMap(m) => Val::Str(m.get(&map_key(idx)?).cloned().unwrap_or_default()),
            Val::IfaceMap(m) => m.get(&map_key(idx)?).cloned().unwrap_or(Val::Invalid),
            Val::Invalid => return Err("index of nil pointer".into()),
            Val::Time(_) => return Err("can't index item of type time.Time".into()),
            Val::Duration(_) => return Err("can't index item of type time.Duration".into()),
            v => return Err(format!("can't index item of type {}", type_name(v))),
        };
    }
    Ok(item)
}

fn builtin_slice(a: &[Val]) -> Result<Val, String> {
    let item = a.first().cloned().unwrap_or(Val::Invalid);
    let indexes = a.get(1..).unwrap_or(&[]);
    let s = match &item {
        Val::Invalid => return Err("slice of untyped nil".into()),
        Val::QueryResult(q) => return slice_query_result(&q.borrow(), indexes),
        Val::Str(s) => s,
        v => {
            if indexes.len() > 3 {
                return Err(format!("too many slice indexes: {}", indexes.len()));
            }
            return Err(format!("can't slice item of type {}", type_name(v)));
        }
    };
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    if indexes.len() == 3 {
        return Err("cannot 3-index slice a string".into());
    }
    let mut idx = [0, s.len()];
    for (i, v) in indexes.iter().enumerate() {
        idx[i] = index_arg(v, s.len())?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    let bytes = s.as_bytes().get(idx[0]..idx[1]).unwrap_or(&[]);
    Ok(Val::Str(String::from_utf8_lossy(bytes).into_owned()))
}

/// `slice` of a `queryResult` (Go's slice builtin on a slice whose
/// capacity is its length).
fn slice_query_result(q: &[Rc<QuerySample>], indexes: &[Val]) -> Result<Val, String> {
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let cap = q.len();
    let mut idx = [0, cap, cap];
    for (i, v) in indexes.iter().enumerate() {
        idx[i] = index_arg(v, cap)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    let part = q.get(idx[0]..idx[1]).unwrap_or(&[]).to_vec();
    Ok(Val::query_result(part))
}

fn builtin_len(v: &Val) -> Result<i64, String> {
    match v {
        Val::QueryResult(q) => Ok(q.borrow().len() as i64),
        Val::Str(s) => Ok(s.len() as i64),
        Val::StrMap(m) => Ok(m.len() as i64),
        Val::IfaceMap(m) => Ok(m.len() as i64),
        Val::Invalid => Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Val::Time(_) => Err("len of type time.Time".into()),
        Val::Duration(_) => Err("len of type time.Duration".into()),
        v => Err(format!("len of type {}", type_name(v))),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
}

fn basic_kind(v: &Val) -> Kind {
    match v {
        Val::Bool(_) => Kind::Bool,
        Val::Int(_) => Kind::Int,
        Val::Byte(_) => Kind::Uint,
        Val::Float(_) => Kind::Float,
        Val::Str(_) => Kind::Str,
        _ => Kind::Invalid,
    }
}

/// reflect.Kind grouping used by canCompare.
fn reflect_kind(v: &Val) -> u8 {
    match v {
        Val::Invalid => 0,
        Val::StrMap(_) | Val::IfaceMap(_) => 1,
        Val::Data(_) => 2,
        Val::Time(_) | Val::Duration(_) | Val::Sample(_) => 3,
        Val::QueryResult(_) => 5,
        _ => 4,
    }
}

fn as_i64(v: &Val) -> i64 {
    match v {
        Val::Int(i) => *i,
        Val::Byte(b) => *b as i64,
        _ => 0,
    }
}

fn builtin_eq(a1: &Val, rest: &[Val]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a1);
    for arg in rest {
        let k2 = basic_kind(arg);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => as_i64(a1) == as_i64(arg),
                _ => {
                    if !matches!(a1, Val::Invalid) && !matches!(arg, Val::Invalid) {
                        return Err(format!(
                            "incompatible types for comparison: {} and {}",
                            type_name(a1),
                            type_name(arg)
                        ));
                    }
                    false
                }
            }
        } else {
            match (a1, arg) {
                (Val::Bool(x), Val::Bool(y)) => x == y,
                (Val::Float(x), Val::Float(y)) => x == y,
                (Val::Str(x), Val::Str(y)) => x == y,
                (Val::Int(_) | Val::Byte(_), _) => as_i64(a1) == as_i64(arg),
                _ => {
                    if reflect_kind(a1) != reflect_kind(arg)
                        && !matches!(a1, Val::Invalid)
                        && !matches!(arg, Val::Invalid)
                    {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            fmt_v(a1),
                            type_name(a1),
                            type_name(arg),
                            fmt_v(arg)
                        ));
                    }
                    let (n1, n2) = (matches!(a1, Val::Invalid), matches!(arg, Val::Invalid));
                    if n1 || n2 {
                        n1 == n2
                    } else if matches!(
                        arg,
                        Val::StrMap(_) | Val::IfaceMap(_) | Val::Data(_) | Val::QueryResult(_)
                    ) {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            fmt_v(arg),
                            type_name(arg)
                        ));
                    } else if let (Val::Sample(x), Val::Sample(y)) = (a1, arg) {
                        Rc::ptr_eq(x, y)
                    } else {
                        // Distinct pointers (toTime/toDuration results) never compare equal.
                        false
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn builtin_lt(a1: &Val, a2: &Val) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a1), basic_kind(a2));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return match (a1, a2) {
            (Val::Int(x), Val::Byte(y)) => Ok(*x < *y as i64),
            (Val::Byte(x), Val::Int(y)) => Ok((*x as i64) < *y),
            _ => Err(format!(
                "incompatible types for comparison: {} and {}",
                type_name(a1),
                type_name(a2)
            )),
        };
    }
    match (a1, a2) {
        (Val::Float(x), Val::Float(y)) => Ok(x < y),
        (Val::Int(x), Val::Int(y)) => Ok(x < y),
        (Val::Byte(x), Val::Byte(y)) => Ok(x < y),
        (Val::Str(x), Val::Str(y)) => Ok(x < y),
        _ => Err("invalid type for comparison".into()),
    }
}

fn builtin_le(a1: &Val, a2: &Val) -> Result<bool, String> {
    if builtin_lt(a1, a2)? {
        return Ok(true);
    }
    builtin_eq(a1, std::slice::from_ref(a2))
}

/// Prometheus' convertToFloat (prometheus/common helpers/templates).
fn convert_to_float(v: &Val) -> Result<f64, String> {
    match v {
        Val::Float(f) => Ok(*f),
        Val::Str(s) => parse_go_float(s),
        Val::Int(i) => Ok(*i as f64),
        v => Err(format!("can't convert {} to float", type_name(v))),
    }
}

fn fmt_g4(v: f64) -> String {
    let mut out = String::new();
    let f = Flags {
        prec: Some(4),
        ..Flags::default()
    };
    fmt_float(&mut out, &f, v, 'g', -1);
    out
}

fn humanize(mut v: f64) -> Result<String, String> {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return Ok(fmt_g4(v));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    Ok(format!("{}{prefix}", fmt_g4(v)))
}

fn humanize1024(mut v: f64) -> Result<String, String> {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return Ok(fmt_g4(v));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    Ok(format!("{}{prefix}", fmt_g4(v)))
}

fn humanize_duration(mut v: f64) -> Result<String, String> {
    if v.is_nan() || v.is_infinite() {
        return Ok(fmt_g4(v));
    }
    if v == 0.0 {
        return Ok(format!("{}s", fmt_g4(v)));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = go_f64_to_i64(v);
        let seconds = d % 60;
        let minutes = (d / 60) % 60;
        let hours = (d / 60 / 60) % 24;
        let days = d / 60 / 60 / 24;
        if days != 0 {
            return Ok(format!("{sign}{days}d {hours}h {minutes}m {seconds}s"));
        }
        if hours != 0 {
            return Ok(format!("{sign}{hours}h {minutes}m {seconds}s"));
        }
        if minutes != 0 {
            return Ok(format!("{sign}{minutes}m {seconds}s"));
        }
        return Ok(format!("{sign}{}s", fmt_g4(v)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    Ok(format!("{}{prefix}s", fmt_g4(v)))
}

/// Go's float64 -> int64 conversion as performed on amd64 (out of range and
/// NaN give math.MinInt64).
fn go_f64_to_i64(v: f64) -> i64 {
    if v.is_nan() || !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// floatToTime: a Unix timestamp in seconds, truncated to milliseconds like
/// model.TimeFromUnixNano(..).Time(); returns Unix nanoseconds.
fn float_to_time(v: f64) -> Result<i64, String> {
    if v.is_nan() || v.is_infinite() {
        return Err("value is NaN or Inf".into());
    }
    let ts = v * 1e9;
    if !(-9_223_372_036_854_775_808.0..=9_223_372_036_854_775_807.0).contains(&ts) {
        return Err(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            fmt_v(&Val::Float(v))
        ));
    }
    let ms = go_f64_to_i64(ts) / 1_000_000;
    Ok(ms * 1_000_000)
}

/// strconv.ParseFloat(s, 64), including its error messages.
fn parse_go_float(s: &str) -> Result<f64, String> {
    let syntax = || {
        format!(
            "strconv.ParseFloat: parsing {}: invalid syntax",
            go_quote(s)
        )
    };
    let lower = s.to_ascii_lowercase();
    let (sign, unsigned) = match lower.as_bytes().first() {
        Some(b'+') => (1.0, &lower[1..]),
        Some(b'-') => (-1.0, &lower[1..]),
        _ => (1.0, lower.as_str()),
    };
    if unsigned == "inf" || unsigned == "infinity" {
        return Ok(sign * f64::INFINITY);
    }
    if lower == "nan" {
        return Ok(f64::NAN);
    }
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let (mut digits, mut dot, mut underscores) = (false, false, false);
    while let Some(&c) = b.get(i) {
        match c {
            b'_' => underscores = true,
            b'.' if !dot => dot = true,
            b'0'..=b'9' => digits = true,
            _ => break,
        }
        i += 1;
    }
    if !digits {
        return Err(syntax());
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return Err(syntax());
        }
        while let Some(&c) = b.get(i) {
            if c == b'_' {
                underscores = true;
            } else if !c.is_ascii_digit() {
                break;
            }
            i += 1;
        }
    }
    if i != b.len() || (underscores && !underscore_ok(s)) {
        return Err(syntax());
    }
    let cleaned: String = s.chars().filter(|&c| c != '_').collect();
    let v: f64 = cleaned.parse().map_err(|_| syntax())?;
    if v.is_infinite() {
        return Err(format!(
            "strconv.ParseFloat: parsing {}: value out of range",
            go_quote(s)
        ));
    }
    Ok(v)
}

/// model.ParseDuration of prometheus/common v0.39 (Prometheus 2.42; negative
/// durations are accepted since 2.49), returning nanoseconds.
fn parse_prom_duration(s: &str) -> Result<i64, String> {
    static DURATION_RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    match s {
        "0" => return Ok(0),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let re = DURATION_RE.get_or_init(|| {
        regex::Regex::new(
            "^(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?$",
        )
        .ok()
    });
    let Some(caps) = re.as_ref().and_then(|re| re.captures(s)) else {
        return Err(format!("not a valid duration string: {}", go_quote(s)));
    };
    const MS: i64 = 1_000_000;
    let mut dur: i64 = 0;
    let mut overflow = false;
    // (capture group, unit in milliseconds)
    for (pos, mult) in [
        (2, 1000 * 60 * 60 * 24 * 365),
        (4, 1000 * 60 * 60 * 24 * 7),
        (6, 1000 * 60 * 60 * 24),
        (8, 1000 * 60 * 60),
        (10, 1000 * 60),
        (12, 1000),
        (14, 1),
    ] {
        let Some(digits) = caps.get(pos) else {
            continue;
        };
        // strconv.Atoi gives MaxInt64 for what does not fit.
        let n: i64 = digits.as_str().parse().unwrap_or(i64::MAX);
        if n > i64::MAX / mult / MS {
            overflow = true;
        }
        dur = dur.wrapping_add(n.wrapping_mul(MS).wrapping_mul(mult));
        if dur < 0 {
            overflow = true;
        }
    }
    if overflow {
        return Err("duration out of range".into());
    }
    Ok(dur)
}

/// strings.Title (Prometheus 2.42; since 2.49 Prometheus uses
/// cases.Title, which does not start a word after `'` or `.`): maps the
/// first rune after a separator to title case. ASCII letters, digits and
/// `_` are not separators, other ASCII is; beyond ASCII only spaces are.
fn title(s: &str) -> String {
    fn is_separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        c.is_whitespace()
    }
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) { to_title(c) } else { c };
            prev = c;
            out
        })
        .collect()
}

/// unicode.ToTitle: the simple (one rune) title-case mapping.
fn to_title(c: char) -> char {
    match c {
        'ǆ' | 'ǅ' | 'Ǆ' => 'ǅ',
        'ǉ' | 'ǈ' | 'Ǉ' => 'ǈ',
        'ǌ' | 'ǋ' | 'Ǌ' => 'ǋ',
        'ǳ' | 'ǲ' | 'Ǳ' => 'ǲ',
        // Georgian Mkhedruli has upper case letters but no title case.
        '\u{10D0}'..='\u{10FA}' | '\u{10FD}'..='\u{10FF}' => c,
        // Greek with ypogegrammeni: title case is the prosgegrammeni form.
        '\u{1F80}'..='\u{1F87}' | '\u{1F90}'..='\u{1F97}' | '\u{1FA0}'..='\u{1FA7}' => {
            char::from_u32(c as u32 + 8).unwrap_or(c)
        }
        '\u{1FB3}' => '\u{1FBC}',
        '\u{1FC3}' => '\u{1FCC}',
        '\u{1FF3}' => '\u{1FFC}',
        '\u{1F88}'..='\u{1F8F}' | '\u{1F98}'..='\u{1F9F}' | '\u{1FA8}'..='\u{1FAF}' => c,
        '\u{1FBC}' | '\u{1FCC}' | '\u{1FFC}' => c,
        _ => {
            let mut it = c.to_uppercase();
            match (it.next(), it.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
}

/// strings.ToUpper: simple (one rune to one rune) case mapping.
fn go_to_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut it = c.to_uppercase();
            match (it.next(), it.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// strings.ToLower: simple (one rune to one rune) case mapping.
fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut it = c.to_lowercase();
            match (it.next(), it.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// net.SplitHostPort; None on error.
fn split_host_port(hp: &str) -> Option<(String, String)> {
    let i = hp.rfind(':')?;
    let (host, j, k);
    if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 != i {
            return None;
        }
        host = hp.get(1..end)?;
        j = 1;
        k = end + 1;
    } else {
        host = hp.get(..i)?;
        if host.contains(':') {
            return None;
        }
        j = 0;
        k = 0;
    }
    if hp.get(j..)?.contains('[') || hp.get(k..)?.contains(']') {
        return None;
    }
    Some((host.to_string(), hp.get(i + 1..)?.to_string()))
}

fn strip_domain(hp: &str) -> String {
    let (host, port) = split_host_port(hp).unwrap_or_else(|| (hp.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return hp.to_string();
    }
    let host = host.split('.').next().unwrap_or("");
    if port.is_empty() {
        return host.to_string();
    }
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// url.QueryEscape.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The (unescaped) path component of a URL, like url.URL.Path.
fn url_path(u: &str) -> String {
    let rest = match u.find("://") {
        Some(i) => {
            let after = &u[i + 3..];
            match after.find(['/', '?', '#']) {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => u,
    };
    let path = match rest.find(['?', '#']) {
        Some(j) => &rest[..j],
        None => rest,
    };
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(path.get(i + 1..i + 3).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// template.HTMLEscapeString.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// template.JSEscapeString.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() || is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Compiles a Go (RE2) regular expression with the `regex` crate, rewriting
/// Perl classes to Go's ASCII-only meaning.
fn compile_go_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let rep = match (n, in_class) {
                    ('d', false) => Some("[0-9]"),
                    ('D', false) => Some("[^0-9]"),
                    ('w', false) => Some("[0-9A-Za-z_]"),
                    ('W', false) => Some("[^0-9A-Za-z_]"),
                    ('s', false) => Some("[\\t\\n\\f\\r ]"),
                    ('S', false) => Some("[^\\t\\n\\f\\r ]"),
                    ('b', false) => Some("(?-u:\\b)"),
                    ('B', false) => Some("(?-u:\\B)"),
                    ('d', true) => Some("0-9"),
                    ('D', true) => Some("[^0-9]"),
                    ('w', true) => Some("0-9A-Za-z_"),
                    ('W', true) => Some("[^0-9A-Za-z_]"),
                    ('s', true) => Some("\\t\\n\\f\\r "),
                    ('S', true) => Some("[^\\t\\n\\f\\r ]"),
                    _ => None,
                };
                match rep {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    regex::Regex::new(&out).map_err(|e| {
        let msg = e.to_string();
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let short = last.trim().trim_start_matches("error: ");
        // Go's regexp/syntax wording for the common mistakes.
        let go = match short {
            "unclosed group" => "missing closing )",
            "unopened group" => "unexpected )",
            "unclosed character class" => "missing closing ]",
            "repetition operator missing expression" => "missing argument to repetition operator",
            "invalid escape sequence found in character class" | "unrecognized escape sequence" => {
                "invalid escape sequence"
            }
            "invalid character class range, the start must be <= the end" => {
                "invalid character class range"
            }
            "incomplete escape sequence, reached end of pattern prematurely" => {
                "trailing backslash at end of expression"
            }
            other => other,
        };
        format!("{go}: `{pattern}`")
    })
}

/// regexp's quote(): backquoted when possible.
fn regexp_quote(s: &str) -> String {
    if can_backquote(s) {
        format!("`{s}`")
    } else {
        go_quote(s)
    }
}

/// regexp.(*Regexp).ReplaceAllString, including Go's handling of empty
/// matches right after a previous match.
fn go_replace_all(re: &regex::Regex, src: &str, repl: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut last_match_end = 0;
    let mut search = 0;
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        out.push_str(src.get(last_match_end..m.start()).unwrap_or(""));
        if m.end() > last_match_end || m.start() == 0 {
            caps.expand(repl, &mut out);
        }
        last_match_end = m.end();
        let width = src
            .get(search..)
            .and_then(|s| s.chars().next())
            .map_or(1, char::len_utf8);
        if search + width > m.end() {
            search += width;
        } else {
            search = m.end();
        }
    }
    out.push_str(src.get(last_match_end..).unwrap_or(""));
    out
}

// ---------------------------------------------------------------------------
// Go fmt / strconv
// ---------------------------------------------------------------------------

#[derive(Clone, Default, Debug)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

/// `%v` with default flags.
fn fmt_v(v: &Val) -> String {
    let mut out = String::new();
    print_arg(&mut out, &Flags::default(), v, 'v');
    out
}

fn sprint(a: &[Val]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, v) in a.iter().enumerate() {
        let is_string = matches!(v, Val::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, &Flags::default(), v, 'v');
        prev_string = is_string;
    }
    out
}

fn sprintln(a: &[Val]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, &Flags::default(), v, 'v');
    }
    out.push('\n');
    out
}

/// Parses a decimal number for a width/precision; Go's parsenum.
fn parsenum(b: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let mut num = 0usize;
    let mut isnum = false;
    let mut i = start;
    while i < end && b[i].is_ascii_digit() {
        if num > FMT_MAX_NUM {
            return (0, false, end);
        }
        num = num * 10 + (b[i] - b'0') as usize;
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

fn int_from_arg(a: &[Val], arg_num: usize) -> (i64, bool, usize) {
    match a.get(arg_num) {
        None => (0, false, arg_num),
        Some(v) => {
            let (n, ok) = match v {
                Val::Int(i) => (*i, true),
                Val::Byte(b) => (*b as i64, true),
                _ => (0, false),
            };
            if n.unsigned_abs() > FMT_MAX_NUM as u64 {
                (0, false, arg_num + 1)
            } else {
                (n, ok, arg_num + 1)
            }
        }
    }
}

/// fmt.Sprintf.
fn sprintf(format: &str, a: &[Val]) -> String {
    let b = format.as_bytes();
    let end = b.len();
    let mut out = String::new();
    let mut arg_num = 0usize;
    let mut reordered = false;
    let mut i = 0;
    'outer: while i < end {
        let mut good_arg_num = true;
        let lasti = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        if i > lasti {
            out.push_str(format.get(lasti..i).unwrap_or(""));
        }
        if i >= end {
            break;
        }
        i += 1;
        let mut f = Flags::default();
        while i < end {
            match b[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false;
                }
                b' ' => f.space = true,
                c => {
                    if c.is_ascii_lowercase() && arg_num < a.len() {
                        if c == b'v' {
                            f.sharp_v = f.sharp;
                            f.sharp = false;
                            f.plus_v = f.plus;
                            f.plus = false;
                        }
                        print_arg(&mut out, &f, &a[arg_num], c as char);
                        arg_num += 1;
                        i += 1;
                        continue 'outer;
                    }
                    break;
                }
            }
            i += 1;
        }
        let mut after_index;
        (arg_num, i, after_index) =
            arg_number(arg_num, b, i, a.len(), &mut good_arg_num, &mut reordered);
        if i < end && b[i] == b'*' {
            i += 1;
            let (w, ok, na) = int_from_arg(a, arg_num);
            arg_num = na;
            if !ok {
                out.push_str("%!(BADWIDTH)");
            } else if w < 0 {
                f.wid = Some(w.unsigned_abs() as usize);
                f.minus = true;
                f.zero = false;
            } else {
                f.wid = Some(w as usize);
            }
            after_index = false;
        } else {
            let (w, ok, ni) = parsenum(b, i, end);
            i = ni;
            if ok {
                f.wid = Some(w);
                if after_index {
                    good_arg_num = false;
                }
            }
        }
        if i + 1 < end && b[i] == b'.' {
            i += 1;
            if after_index {
                good_arg_num = false;
            }
            (arg_num, i, after_index) =
                arg_number(arg_num, b, i, a.len(), &mut good_arg_num, &mut reordered);
            if i < end && b[i] == b'*' {
                i += 1;
                let (p, ok, na) = int_from_arg(a, arg_num);
                arg_num = na;
                if ok && p >= 0 {
                    f.prec = Some(p as usize);
                } else {
                    out.push_str("%!(BADPREC)");
                }
                after_index = false;
            } else {
                let (p, ok, ni) = parsenum(b, i, end);
                i = ni;
                f.prec = Some(if ok { p } else { 0 });
            }
        }
        if !after_index {
            (arg_num, i, _) = arg_number(arg_num, b, i, a.len(), &mut good_arg_num, &mut reordered);
        }
        if i >= end {
            out.push_str("%!(NOVERB)");
            break;
        }
        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
        } else if !good_arg_num {
            out.push_str(&format!("%!{verb}(BADINDEX)"));
        } else if arg_num >= a.len() {
            out.push_str(&format!("%!{verb}(MISSING)"));
        } else {
            if verb == 'v' {
                f.sharp_v = f.sharp;
                f.sharp = false;
                f.plus_v = f.plus;
                f.plus = false;
            }
            print_arg(&mut out, &f, &a[arg_num], verb);
            arg_num += 1;
        }
    }
    if !reordered && arg_num < a.len() {
        out.push_str("%!(EXTRA ");
        for (k, v) in a[arg_num..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            if let Val::Invalid = v {
                out.push_str("<nil>");
            } else {
                out.push_str(type_name(v));
                out.push('=');
                print_arg(&mut out, &Flags::default(), v, 'v');
            }
        }
        out.push(')');
    }
    out
}

fn arg_number(
    arg_num: usize,
    b: &[u8],
    i: usize,
    num_args: usize,
    good: &mut bool,
    reordered: &mut bool,
) -> (usize, usize, bool) {
    if b.get(i) != Some(&b'[') {
        return (arg_num, i, false);
    }
    *reordered = true;
    let rest = &b[i..];
    let (index, wid, ok) = 'parse: {
        if rest.len() < 3 {
            break 'parse (0, 1, false);
        }
        for j in 1..rest.len() {
            if rest[j] == b']' {
                let (width, ok, newi) = parsenum(rest, 1, j);
                if !ok || newi != j {
                    break 'parse (0, j + 1, false);
                }
                break 'parse (width as i64 - 1, j + 1, true);
            }
        }
        (0, 1, false)
    };
    if ok && index >= 0 && (index as usize) < num_args {
        return (index as usize, i + wid, true);
    }
    *good = false;
    (arg_num, i + wid, ok)
}

fn write_padding(out: &mut String, f: &Flags, n: usize) {
    let c = if f.zero { '0' } else { ' ' };
    out.extend(std::iter::repeat_n(c, n));
}

/// fmt's pad: honours width and the minus flag.
fn pad(out: &mut String, f: &Flags, s: &str) {
    let Some(w) = f.wid else {
        out.push_str(s);
        return;
    };
    let n = s.chars().count();
    if n >= w {
        out.push_str(s);
    } else if f.minus {
        out.push_str(s);
        write_padding(out, f, w - n);
    } else {
        write_padding(out, f, w - n);
        out.push_str(s);
    }
}

fn bad_verb(out: &mut String, f: &Flags, v: &Val, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if let Val::Invalid = v {
        out.push_str("<nil>");
    } else {
        out.push_str(type_name(v));
        out.push('=');
        print_arg(out, f, v, 'v');
    }
    out.push(')');
}

/// fmt's printArg: one operand formatted with `verb`.
fn print_arg(out: &mut String, f: &Flags, v: &Val, verb: char) {
    if verb == 'T' && !matches!(v, Val::Invalid) {
        fmt_s(out, f, type_name(v));
        return;
    }
    match v {
        Val::Invalid => match verb {
            'T' | 'v' => pad(out, f, "<nil>"),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Bool(b) => match verb {
            't' | 'v' => pad(out, f, if *b { "true" } else { "false" }),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Int(i) => fmt_integer(out, f, v, *i as u64, true, verb),
        Val::Byte(b) => fmt_integer(out, f, v, *b as u64, false, verb),
        Val::Float(x) => match verb {
            'v' => fmt_float(out, f, *x, 'g', -1),
            'g' | 'G' => fmt_float(out, f, *x, verb, -1),
            'f' | 'e' | 'E' => fmt_float(out, f, *x, verb, 6),
            'F' => fmt_float(out, f, *x, 'f', 6),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Str(s) => fmt_string(out, f, v, s, verb),
        Val::Time(ns) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, f, v, &time_string(*ns), verb),
            _ => bad_verb(out, f, v, verb),
        },
        Val::Duration(d) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, f, v, &duration_string(*d), verb),
            _ => bad_verb(out, f, v, verb),
        },
        Val::StrMap(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, f, &Val::Str(k.clone()), verb);
                out.push(':');
                print_arg(out, f, &Val::Str(val.clone()), verb);
            }
            out.push(']');
        }
        Val::IfaceMap(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, f, &Val::Str(k.clone()), verb);
                out.push(':');
                print_arg(out, f, val, verb);
            }
            out.push(']');
        }
        Val::Sample(smp) => {
            // A pointer to a struct at top level prints as &{...}.
            out.push_str("&{");
            print_arg(out, f, &Val::StrMap(Rc::new(smp.labels.clone())), verb);
            out.push(' ');
            print_arg(out, f, &Val::Float(smp.value), verb);
            out.push('}');
        }
        Val::QueryResult(q) => {
            // Go prints the elements' addresses here (`[0xc000123456]`),
            // which no port can reproduce; the samples are more useful.
            out.push('[');
            for (i, smp) in q.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, f, &Val::Sample(Rc::clone(smp)), verb);
            }
            out.push(']');
        }
        Val::Data(d) => {
            let fields = [
                ("Labels", Val::StrMap(d.labels.clone())),
                ("ExternalLabels", Val::StrMap(d.external_labels.clone())),
                ("ExternalURL", Val::Str(d.external_url.clone())),
                ("Value", Val::Float(d.value)),
            ];
            out.push('{');
            for (i, (name, val)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if f.plus_v {
                    out.push_str(name);
                    out.push(':');
                }
                print_arg(out, f, val, verb);
            }
            out.push('}');
        }
    }
}

fn fmt_string(out: &mut String, f: &Flags, v: &Val, s: &str, verb: char) {
    match verb {
        'v' if f.sharp_v => fmt_q(out, f, s),
        'v' | 's' => fmt_s(out, f, s),
        'x' => fmt_sx(out, f, s, false),
        'X' => fmt_sx(out, f, s, true),
        'q' => fmt_q(out, f, s),
        _ => bad_verb(out, f, v, verb),
    }
}

fn truncate<'s>(f: &Flags, s: &'s str) -> &'s str {
    match f.prec {
        Some(p) => match s.char_indices().nth(p) {
            Some((i, _)) => &s[..i],
            None => s,
        },
        None => s,
    }
}

fn fmt_s(out: &mut String, f: &Flags, s: &str) {
    pad(out, f, truncate(f, s));
}

fn fmt_sx(out: &mut String, f: &Flags, s: &str, upper: bool) {
    let digits: &[u8] = if upper {
        b"0123456789ABCDEFX"
    } else {
        b"0123456789abcdefx"
    };
    let b = s.as_bytes();
    let length = f.prec.map_or(b.len(), |p| p.min(b.len()));
    let mut width = 2 * length;
    if width > 0 {
        if f.space {
            if f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if f.sharp {
            width += 2;
        }
    } else {
        if let Some(w) = f.wid {
            write_padding(out, f, w);
        }
        return;
    }
    let wid = f.wid.unwrap_or(0);
    if wid > width && !f.minus {
        write_padding(out, f, wid - width);
    }
    if f.sharp {
        out.push('0');
        out.push(digits[16] as char);
    }
    for (i, &c) in b[..length].iter().enumerate() {
        if f.space && i > 0 {
            out.push(' ');
            if f.sharp {
                out.push('0');
                out.push(digits[16] as char);
            }
        }
        out.push(digits[(c >> 4) as usize] as char);
        out.push(digits[(c & 0xF) as usize] as char);
    }
    if wid > width && f.minus {
        write_padding(out, f, wid - width);
    }
}

fn fmt_q(out: &mut String, f: &Flags, s: &str) {
    let s = truncate(f, s);
    if f.sharp && can_backquote(s) {
        pad(out, f, &format!("`{s}`"));
    } else if f.plus {
        pad(out, f, &quote_with(s, '"', true));
    } else {
        pad(out, f, &go_quote(s));
    }
}

fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !(c < ' ' || c == '\u{7F}')))
}

fn fmt_integer(out: &mut String, f: &Flags, v: &Val, u: u64, signed: bool, verb: char) {
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(u)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, f, c.encode_utf8(&mut [0; 4]));
            return;
        }
        'q' => {
            let c = u32::try_from(u)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            let mut buf = [0u8; 4];
            pad(out, f, &quote_with(c.encode_utf8(&mut buf), '\'', f.plus));
            return;
        }
        'U' => {
            let mut s = format!("U+{:0width$X}", u, width = f.prec.unwrap_or(4));
            if f.sharp
                && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
                && is_print(c)
            {
                s.push_str(&format!(" '{c}'"));
            }
            let mut f2 = f.clone();
            f2.zero = false;
            pad(out, &f2, &s);
            return;
        }
        _ => {
            bad_verb(out, f, v, verb);
            return;
        }
    };
    let negative = signed && (u as i64) < 0;
    let u = if negative { u.wrapping_neg() } else { u };
    let mut prec = 0usize;
    if let Some(p) = f.prec {
        prec = p;
        if prec == 0 && u == 0 {
            let mut f2 = f.clone();
            f2.zero = false;
            write_padding(out, &f2, f.wid.unwrap_or(0));
            return;
        }
    } else if f.zero && f.wid.is_some() {
        prec = f.wid.unwrap_or(0);
        if negative || f.plus || f.space {
            prec = prec.saturating_sub(1);
        }
    }
    let digits = match (base, upper) {
        (2, _) => format!("{u:b}"),
        (8, _) => format!("{u:o}"),
        (16, false) => format!("{u:x}"),
        (16, true) => format!("{u:X}"),
        _ => u.to_string(),
    };
    let mut body = String::new();
    if prec > digits.len() {
        body.extend(std::iter::repeat_n('0', prec - digits.len()));
    }
    body.push_str(&digits);
    let mut prefix = String::new();
    if negative {
        prefix.push('-');
    } else if f.plus {
        prefix.push('+');
    } else if f.space {
        prefix.push(' ');
    }
    if verb == 'O' {
        prefix.push_str("0o");
    }
    if f.sharp {
        match base {
            2 => prefix.push_str("0b"),
            8 if !body.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if upper { "0X" } else { "0x" }),
            _ => {}
        }
    }
    let mut f2 = f.clone();
    f2.zero = false;
    pad(out, &f2, &format!("{prefix}{body}"));
}

/// fmt's fmtFloat.
fn fmt_float(out: &mut String, f: &Flags, v: f64, verb: char, default_prec: i32) {
    let prec = f.prec.map_or(default_prec, |p| p as i32);
    let fmt_char = match verb {
        'v' => 'g',
        c => c,
    };
    let s = format_float(v, fmt_char as u8, prec);
    let mut num = if s.starts_with('-') || s.starts_with('+') {
        s
    } else {
        format!("+{s}")
    };
    if f.space && num.starts_with('+') && !f.plus {
        num.replace_range(..1, " ");
    }
    if num[1..].starts_with('I') || num[1..].starts_with('N') {
        let mut f2 = f.clone();
        f2.zero = false;
        if num[1..].starts_with('N') && !f.space && !f.plus {
            num.remove(0);
        }
        pad(out, &f2, &num);
        return;
    }
    if f.sharp && verb != 'b' {
        let mut digits: i64 = match verb {
            'v' | 'g' | 'G' | 'x' => {
                if prec < 0 {
                    6
                } else {
                    prec as i64
                }
            }
            _ => 0,
        };
        let mut tail = String::new();
        let mut has_dot = false;
        let mut saw_nonzero = false;
        let bytes: Vec<u8> = num.bytes().collect();
        let mut cut = bytes.len();
        for (i, &c) in bytes.iter().enumerate().skip(1) {
            match c {
                b'.' => has_dot = true,
                b'p' | b'P' | b'e' | b'E' => {
                    tail = num[i..].to_string();
                    cut = i;
                    break;
                }
                _ => {
                    if c != b'0' {
                        saw_nonzero = true;
                    }
                    if saw_nonzero {
                        digits -= 1;
                    }
                }
            }
        }
        num.truncate(cut);
        if !has_dot {
            if num.len() == 2 && num.ends_with('0') {
                digits -= 1;
            }
            num.push('.');
        }
        while digits > 0 {
            num.push('0');
            digits -= 1;
        }
        num.push_str(&tail);
    }
    if f.plus || !num.starts_with('+') {
        if let Some(w) = f.wid
            && f.zero
            && !f.minus
            && w > num.len()
        {
            out.push_str(&num[..1]);
            write_padding(out, f, w - num.len());
            out.push_str(&num[1..]);
            return;
        }
        pad(out, f, &num);
        return;
    }
    pad(out, f, &num[1..]);
}

/// Decimal digits (without trailing zeros) and decimal point position of |v|.
fn decimal_digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (vec![], 0);
    }
    let s = match sig {
        None => format!("{v:e}"),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), v),
    };
    let (mut digits, mut dp) = split_sci(&s);
    if sig.is_none() {
        // Two shortest candidates can be equally close to the exact value;
        // Go then picks the even one, Rust the upper one.
        let n = digits.len();
        let (quick, _) = split_sci(&format!("{:.*e}", n + 1, v));
        if quick.get(n) == Some(&b'5') {
            let (exact, edp) = split_sci(&format!("{:.*e}", n + 800, v));
            if exact.len() == n + 1 {
                let mut lower = exact[..n].to_vec();
                if lower.last().is_some_and(|d| (d - b'0') % 2 == 1) {
                    // Round the odd candidate up; the carry cannot reach the
                    // front, or a shorter representation would exist.
                    for d in lower.iter_mut().rev() {
                        if *d == b'9' {
                            *d = b'0';
                        } else {
                            *d += 1;
                            break;
                        }
                    }
                }
                digits = lower;
                dp = edp;
            }
        }
    }
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        return (vec![], 0);
    }
    (digits, dp)
}

/// Digits (trailing zeros trimmed) and decimal point position of Rust's
/// `{:e}` output.
fn split_sci(s: &str) -> (Vec<u8>, i32) {
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

/// strconv.FormatFloat(v, fmt, prec, 64) for fmt in e, E, f, g, G.
fn format_float(v: f64, fmt: u8, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    let shortest = prec < 0;
    if fmt == b'f' && !shortest {
        out.push_str(&format!("{:.*}", prec as usize, a));
        return out;
    }
    let (d, dp) = if shortest {
        decimal_digits(a, None)
    } else {
        let sig = match fmt {
            b'g' | b'G' => prec.max(1) as usize,
            _ => prec as usize + 1,
        };
        decimal_digits(a, Some(sig))
    };
    let nd = d.len() as i32;
    let mut prec = prec;
    if !shortest && prec == 0 && (fmt == b'g' || fmt == b'G') {
        prec = 1;
    }
    if shortest {
        prec = match fmt {
            b'e' | b'E' => (nd - 1).max(0),
            b'f' => (nd - dp).max(0),
            _ => nd,
        };
    }
    match fmt {
        b'e' | b'E' => fmt_e(&mut out, &d, dp, prec, fmt as char),
        b'f' => fmt_f(&mut out, &d, dp, prec),
        b'g' | b'G' => {
            let mut eprec = prec;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                let p = if prec > nd { nd } else { prec };
                let e = if fmt == b'g' { 'e' } else { 'E' };
                fmt_e(&mut out, &d, dp, p - 1, e);
            } else {
                let p = if prec > dp { nd } else { prec };
                fmt_f(&mut out, &d, dp, (p - dp).max(0));
            }
        }
        _ => {
            out.push('%');
            out.push(fmt as char);
        }
    }
    out
}

fn fmt_e(out: &mut String, d: &[u8], dp: i32, prec: i32, e: char) {
    out.push(d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        let mut i = 1usize;
        let m = d.len().min(prec as usize + 1);
        if i < m {
            out.extend(d[i..m].iter().map(|&c| c as char));
            i = m;
        }
        while i <= prec as usize {
            out.push('0');
            i += 1;
        }
    }
    out.push(e);
    let mut exp = if d.is_empty() { 0 } else { dp - 1 };
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

fn fmt_f(out: &mut String, d: &[u8], dp: i32, prec: i32) {
    if dp > 0 {
        let m = d.len().min(dp as usize);
        out.extend(d[..m].iter().map(|&c| c as char));
        for _ in m..dp as usize {
            out.push('0');
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let j = dp + i - 1;
            let c = if j >= 0 && (j as usize) < d.len() {
                d[j as usize] as char
            } else {
                '0'
            };
            out.push(c);
        }
    }
}

/// unicode.IsPrint, approximated with the standard library's tables.
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xD800..=0xDFFF | 0xE000..=0xF8FF
        | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF | 0xF0000..=0x10FFFF)
}

/// strconv.Quote.
fn go_quote(s: &str) -> String {
    quote_with(s, '"', false)
}

fn quote_with(s: &str, q: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        if c == q || c == '\\' {
            out.push('\\');
            out.push(c);
            continue;
        }
        if if ascii_only {
            c.is_ascii() && is_print(c)
        } else {
            is_print(c)
        } {
            out.push(c);
            continue;
        }
        match c {
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{B}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7F}' => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push(q);
    out
}

enum Unquoted {
    Char(char),
    Byte(u8),
}

/// strconv.UnquoteChar.
fn unquote_char(s: &str, quote: u8) -> Result<(Unquoted, &str), ()> {
    let b = s.as_bytes();
    let &c = b.first().ok_or(())?;
    if c == quote && (quote == b'\'' || quote == b'"') {
        return Err(());
    }
    if c >= 0x80 {
        let ch = s.chars().next().ok_or(())?;
        return Ok((Unquoted::Char(ch), &s[ch.len_utf8()..]));
    }
    if c != b'\\' {
        return Ok((Unquoted::Char(c as char), &s[1..]));
    }
    let &e = b.get(1).ok_or(())?;
    if !e.is_ascii() {
        return Err(());
    }
    let rest = &s[2..];
    let simple = |ch: char| Ok((Unquoted::Char(ch), rest));
    match e {
        b'a' => simple('\u{7}'),
        b'b' => simple('\u{8}'),
        b'f' => simple('\u{C}'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\u{B}'),
        b'\\' => simple('\\'),
        b'\'' | b'"' => {
            if e != quote {
                return Err(());
            }
            simple(e as char)
        }
        b'x' | b'u' | b'U' => {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let hex = rest.get(..n).ok_or(())?;
            if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                return Err(());
            }
            let v = u32::from_str_radix(hex, 16).map_err(|_| ())?;
            let tail = &rest[n..];
            if e == b'x' {
                return Ok((Unquoted::Byte(v as u8), tail));
            }
            let ch = char::from_u32(v).ok_or(())?;
            Ok((Unquoted::Char(ch), tail))
        }
        b'0'..=b'7' => {
            let oct = rest.get(..2).ok_or(())?;
            let mut v = (e - b'0') as u32;
            for d in oct.bytes() {
                if !(b'0'..=b'7').contains(&d) {
                    return Err(());
                }
                v = (v << 3) | (d - b'0') as u32;
            }
            if v > 255 {
                return Err(());
            }
            Ok((Unquoted::Byte(v as u8), &rest[2..]))
        }
        _ => Err(()),
    }
}

/// strconv.Unquote; error text is Go's ("invalid syntax").
fn go_unquote(s: &str) -> Result<String, String> {
    let err = || "invalid syntax".to_string();
    let b = s.as_bytes();
    if b.len() < 2 {
        return Err(err());
    }
    let q = b[0];
    if !matches!(q, b'`' | b'"' | b'\'') || q != b[b.len() - 1] {
        return Err(err());
    }
    let inner = s.get(1..s.len() - 1).ok_or_else(err)?;
    match q {
        b'`' => {
            if inner.contains('`') {
                return Err(err());
            }
            Ok(inner.replace('\r', ""))
        }
        b'"' | b'\'' => {
            if inner.contains('\n') {
                return Err(err());
            }
            let mut bytes = Vec::with_capacity(inner.len());
            let mut rest = inner;
            let mut count = 0;
            while !rest.is_empty() {
                let (v, tail) = unquote_char(rest, q).map_err(|_| err())?;
                match v {
                    Unquoted::Char(c) => {
                        bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                    }
                    Unquoted::Byte(x) => bytes.push(x),
                }
                rest = tail;
                count += 1;
                if q == b'\'' && count > 1 {
                    return Err(err());
                }
            }
            if q == b'\'' && count != 1 {
                return Err(err());
            }
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
        _ => Err(err()),
    }
}

// ---------------------------------------------------------------------------
// time.Time / time.Duration
// ---------------------------------------------------------------------------

fn civil(ns: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// time.Time.String() for a UTC time.
fn time_string(ns: i64) -> String {
    go_time_format(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// time.Duration.String().
fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let mut s;
    if u < 1_000_000_000 {
        let (unit, prec) = match u {
            0 => return "0s".into(),
            1..=999 => ("ns", 0),
            1_000..=999_999 => ("µs", 3),
            _ => ("ms", 6),
        };
        let (int, frac) = frac_part(u, prec);
        s = format!("{int}{frac}{unit}");
    } else {
        let (secs, frac) = frac_part(u, 9);
        u = secs;
        s = format!("{}{frac}s", u % 60);
        u /= 60;
        if u > 0 {
            s = format!("{}m{s}", u % 60);
            u /= 60;
            if u > 0 {
                s = format!("{u}h{s}");
            }
        }
    }
    if neg {
        s.insert(0, '-');
    }
    s
}

/// Splits v into v / 10^prec and ".fraction" (trailing zeros trimmed).
fn frac_part(v: u64, prec: u32) -> (u64, String) {
    let p = 10u64.pow(prec);
    let (int, frac) = (v / p, v % p);
    if frac == 0 {
        return (int, String::new());
    }
    let digits = format!("{:0width$}", frac, width = prec as usize);
    (int, format!(".{}", digits.trim_end_matches('0')))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    Iso(&'static str),
    Num(&'static str),
    Frac { n: usize, trim: bool, sep: char },
}

/// time's nextStdChunk.
fn next_std_chunk(layout: &str) -> Option<(&str, Std, &str)> {
    let b = layout.as_bytes();
    let at = |i: usize, p: &str| b.get(i..).is_some_and(|s| s.starts_with(p.as_bytes()));
    let lower_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_lowercase);
    for i in 0..b.len() {
        let r = |std: Std, len: usize| Some((&layout[..i], std, &layout[i + len..]));
        match b[i] {
            b'J' if at(i, "Jan") => {
                if at(i, "January") {
                    return r(Std::LongMonth, 7);
                }
                if !lower_at(i + 3) {
                    return r(Std::Month, 3);
                }
            }
            b'M' => {
                if at(i, "Mon") {
                    if at(i, "Monday") {
                        return r(Std::LongWeekDay, 6);
                    }
                    if !lower_at(i + 3) {
                        return r(Std::WeekDay, 3);
                    }
                }
                if at(i, "MST") {
                    return r(Std::TZ, 3);
                }
            }
            b'0' => {
                if let Some(&c) = b.get(i + 1)
                    && (b'1'..=b'6').contains(&c)
                {
                    let std = [
                        Std::ZeroMonth,
                        Std::ZeroDay,
                        Std::ZeroHour12,
                        Std::ZeroMinute,
                        Std::ZeroSecond,
                        Std::Year,
                    ][(c - b'1') as usize];
                    return r(std, 2);
                }
                if at(i + 1, "02") {
                    return r(Std::ZeroYearDay, 3);
                }
            }
            b'1' => {
                if at(i + 1, "5") {
                    return r(Std::Hour, 2);
                }
                return r(Std::NumMonth, 1);
            }
            b'2' => {
                if at(i, "2006") {
                    return r(Std::LongYear, 4);
                }
                return r(Std::Day, 1);
            }
            b'_' => {
                if at(i + 1, "2") {
                    if at(i + 1, "2006") {
                        return Some((&layout[..i + 1], Std::LongYear, &layout[i + 5..]));
                    }
                    return r(Std::UnderDay, 2);
                }
                if at(i + 1, "_2") {
                    return r(Std::UnderYearDay, 3);
                }
            }
            b'3' => return r(Std::Hour12, 1),
            b'4' => return r(Std::Minute, 1),
            b'5' => return r(Std::Second, 1),
            b'P' if at(i + 1, "M") => return r(Std::PM, 2),
            b'p' if at(i + 1, "m") => return r(Std::Pm, 2),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                for p in ["070000", "07:00:00", "0700", "07:00", "07"] {
                    if at(i + 1, p) {
                        let std = if iso { Std::Iso(p) } else { Std::Num(p) };
                        return r(std, p.len() + 1);
                    }
                }
            }
            b'.' | b',' => {
                if let Some(&ch) = b.get(i + 1)
                    && (ch == b'0' || ch == b'9')
                {
                    let mut j = i + 1;
                    while b.get(j) == Some(&ch) {
                        j += 1;
                    }
                    if !b.get(j).is_some_and(u8::is_ascii_digit) {
                        let std = Std::Frac {
                            n: j - (i + 1),
                            trim: ch == b'9',
                            sep: b[i] as char,
                        };
                        return Some((&layout[..i], std, &layout[j..]));
                    }
                }
            }
            _ => {}
        }
    }
    None
}

/// time.Time.Format for a UTC time given as Unix nanoseconds.
fn go_time_format(ns: i64, layout: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let Some(t) = civil(ns) else {
        return String::new();
    };
    let mut out = String::new();
    let mut layout = layout;
    while let Some((prefix, std, suffix)) = next_std_chunk(layout) {
        out.push_str(prefix);
        layout = suffix;
        let month = t.month0() as usize;
        let wday = t.weekday().num_days_from_sunday() as usize;
        let hour = t.hour();
        let s = match std {
            Std::LongMonth => MONTHS[month].to_string(),
            Std::Month => MONTHS[month][..3].to_string(),
            Std::NumMonth => (month + 1).to_string(),
            Std::ZeroMonth => format!("{:02}", month + 1),
            Std::LongWeekDay => DAYS[wday].to_string(),
            Std::WeekDay => DAYS[wday][..3].to_string(),
            Std::Day => t.day().to_string(),
            Std::UnderDay => format!("{:>2}", t.day()),
            Std::ZeroDay => format!("{:02}", t.day()),
            Std::UnderYearDay => format!("{:>3}", t.ordinal()),
            Std::ZeroYearDay => format!("{:03}", t.ordinal()),
            Std::Hour => format!("{hour:02}"),
            Std::Hour12 => (if hour % 12 == 0 { 12 } else { hour % 12 }).to_string(),
            Std::ZeroHour12 => format!("{:02}", if hour % 12 == 0 { 12 } else { hour % 12 }),
            Std::Minute => t.minute().to_string(),
            Std::ZeroMinute => format!("{:02}", t.minute()),
            Std::Second => t.second().to_string(),
            Std::ZeroSecond => format!("{:02}", t.second()),
            Std::LongYear => {
                let y = t.year();
                if y < 0 {
                    format!("-{:04}", -y)
                } else {
                    format!("{y:04}")
                }
            }
            Std::Year => format!("{:02}", t.year().rem_euclid(100)),
            Std::PM => (if hour >= 12 { "PM" } else { "AM" }).to_string(),
            Std::Pm => (if hour >= 12 { "pm" } else { "am" }).to_string(),
            Std::TZ => "UTC".to_string(),
            Std::Iso(_) => "Z".to_string(),
            Std::Num(p) => match p {
                "070000" => "+000000",
                "07:00:00" => "+00:00:00",
                "0700" => "+0000",
                "07:00" => "+00:00",
                _ => "+00",
            }
            .to_string(),
            Std::Frac { n, trim, sep } => {
                let nanos = format!("{:09}", t.nanosecond().min(999_999_999));
                let mut digits = &nanos[..n.min(9)];
                if trim {
                    digits = digits.trim_end_matches('0');
                    if digits.is_empty() {
                        String::new()
                    } else {
                        format!("{sep}{digits}")
                    }
                } else {
                    format!("{sep}{digits}")
                }
            }
        };
        out.push_str(&s);
    }
    out.push_str(layout);
    out
}

#[cfg(test)]
mod tests;
