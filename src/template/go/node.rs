//! The parse tree (port of Go's `text/template/parse/node.go`): node types,
//! their `String()` forms (used in execution error messages), number
//! literals, and the function calls a tree makes.

use std::fmt;

use super::lex::Tok;
use super::strconv::{
    Unquoted, go_parse_int, go_parse_uint, go_quote, parse_go_float, unquote_char,
};
use super::value::go_f64_to_i64;

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) pos: usize,
    pub(super) kind: NodeKind,
}

#[derive(Debug, Clone)]
pub(super) enum NodeKind {
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
pub(super) struct Branch {
    pub(super) pipe: Pipe,
    pub(super) list: List,
    pub(super) else_list: Option<List>,
}

#[derive(Debug, Clone)]
pub(super) struct List {
    pub(super) pos: usize,
    pub(super) nodes: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub(super) pos: usize,
    pub(super) is_assign: bool,
    /// Declared/assigned variables: (position, name).
    pub(super) decl: Vec<(usize, String)>,
    pub(super) cmds: Vec<Command>,
}

#[derive(Debug, Clone)]
pub(super) struct Command {
    pub(super) pos: usize,
    pub(super) args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(super) struct Arg {
    pub(super) pos: usize,
    pub(super) kind: ArgKind,
}

#[derive(Debug, Clone)]
pub(super) enum ArgKind {
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
pub(super) struct NumberLit {
    pub(super) text: String,
    pub(super) is_int: bool,
    pub(super) is_uint: bool,
    pub(super) is_float: bool,
    pub(super) is_complex: bool,
    pub(super) int: i64,
    pub(super) float: f64,
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

pub(super) fn is_empty_tree(list: &List) -> bool {
    list.nodes.iter().all(|n| match &n.kind {
        NodeKind::Text(t) => t.trim().is_empty(),
        _ => false,
    })
}

/// Port of parse.(*Tree).newNumber.
pub(super) fn new_number(text: &str, typ: Tok) -> Result<NumberLit, String> {
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

pub(super) fn functions_in_list(list: &List, out: &mut Vec<(usize, String)>) {
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
