//! The executor: walks a parse tree with dot and variables, evaluates
//! pipelines and calls functions (port of Go's `text/template/exec.go`,
//! including its error messages and positions).

use std::rc::Rc;

use super::fmt::fmt_v;
use super::funcs::{call_func, func_sig};
use super::node::{Arg, ArgKind, Branch, Command, List, Node, NodeKind, NumberLit, Pipe};
use super::prometheus_funcs::FuncCtx;
use super::sig::{ParamType, Sig};
use super::strconv::go_quote;
use super::time::{call_method, method_sig};
use super::value::{Val, is_true, type_name};
use super::{MAX_EXEC_DEPTH, MAX_ITERATIONS, MAX_OUTPUT, Parsed};

/// Executes the tree `name` of `parsed` with `root` as dot and `$`.
pub(super) fn run(
    parsed: &Parsed,
    name: &str,
    root: Val,
    ctx: FuncCtx<'_>,
) -> Result<String, String> {
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

/// The node being executed, for error positions and `at <...>` texts.
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

/// Why a walk stopped early: an error, or `{{break}}`/`{{continue}}`.
enum Flow {
    Err(String),
    Break,
    Continue,
}

type ExecResult<T> = Result<T, Flow>;

/// What a call calls: a function, or a method of a value.
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

/// The state of one execution: variables, output, depth and limits.
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

    fn write(&mut self, s: &str) -> ExecResult<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(self.errorf(format!("template output exceeds {MAX_OUTPUT} bytes")));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn enter(&mut self) -> ExecResult<()> {
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(self.errorf(format!(
                "exceeded maximum template depth ({MAX_EXEC_DEPTH})"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn walk_list(&mut self, dot: &Val, list: &'t List) -> ExecResult<()> {
        self.at(NodeRef::List(list));
        for n in &list.nodes {
            self.walk(dot, n)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Val, node: &'t Node) -> ExecResult<()> {
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

    fn walk_if_or_with(&mut self, dot: &Val, b: &'t Branch, with: bool) -> ExecResult<()> {
        let mark = self.vars.len();
        self.enter()?;
        let r = self.if_or_with_body(dot, b, with);
        self.vars.truncate(mark);
        self.depth -= 1;
        r
    }

    fn if_or_with_body(&mut self, dot: &Val, b: &'t Branch, with: bool) -> ExecResult<()> {
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

    fn walk_range(&mut self, dot: &Val, node: &'t Node, b: &'t Branch) -> ExecResult<()> {
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

    fn range_body(&mut self, dot: &Val, b: &'t Branch) -> ExecResult<()> {
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

    fn one_iteration(
        &mut self,
        b: &'t Branch,
        mark: usize,
        index: Val,
        elem: Val,
    ) -> ExecResult<()> {
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
    ) -> ExecResult<()> {
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

    fn var_value(&self, name: &str) -> ExecResult<Val> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, value: Val) -> ExecResult<()> {
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

    fn eval_pipeline(&mut self, dot: &Val, pipe: &'t Pipe) -> ExecResult<Val> {
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

    fn not_a_function(&self, first: &Arg, extra_args: usize, has_final: bool) -> ExecResult<()> {
        if extra_args > 0 || has_final {
            return Err(self.errorf(format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Val, cmd: &'t Command, fin: Option<Val>) -> ExecResult<Val> {
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

    fn ideal_constant(&mut self, node: &'t Arg, n: &NumberLit) -> ExecResult<Val> {
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
    ) -> ExecResult<Val> {
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
    ) -> ExecResult<Val> {
        self.at(NodeRef::Arg(node));
        if fields.is_empty() {
            return Err(self.errorf("internal error: no fields in evalChainNode"));
        }
        if matches!(inner.kind, ArgKind::Nil) {
            return Err(self.errorf(format!("indirection through explicit nil in {node}")));
        }
        let recv = self.eval_arg(dot, ParamType::Any, inner)?;
        self.eval_field_chain(dot, recv, NodeRef::Arg(node), fields, args, fin)
    }

    fn eval_variable_node(
        &mut self,
        dot: &Val,
        node: &'t Arg,
        ident: &'t [String],
        args: &'t [Arg],
        fin: Option<Val>,
    ) -> ExecResult<Val> {
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
    ) -> ExecResult<Val> {
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
    ) -> ExecResult<Val> {
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
    ) -> ExecResult<Val> {
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
    ) -> ExecResult<Val> {
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
        // Go's built-in and/or evaluate their arguments only as far as needed.
        if let Callee::Func(and_or @ ("and" | "or")) = callee {
            let want = and_or == "or";
            let mut v = Val::Invalid;
            for a in args {
                v = self.eval_arg(dot, ParamType::Any, a)?;
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
                sig.fixed.get(i).copied().unwrap_or(ParamType::Any)
            } else {
                sig.variadic.unwrap_or(ParamType::Any)
            };
            argv.push(self.eval_arg(dot, typ, a)?);
        }
        if let Some(f) = fin {
            let typ = match sig.variadic {
                Some(v) if num_in > num_fixed => v,
                Some(_) => sig.fixed.get(num_in - 1).copied().unwrap_or(ParamType::Any),
                None => sig.fixed.last().copied().unwrap_or(ParamType::Any),
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

    fn validate_type(&self, v: Val, typ: ParamType) -> ExecResult<Val> {
        if typ == ParamType::Any {
            return Ok(v);
        }
        if let Val::Invalid = v {
            if typ.can_be_nil() {
                return Ok(v);
            }
            return Err(self.errorf(format!("invalid value; expected {}", typ.name())));
        }
        let fits = match typ {
            ParamType::Any => true,
            ParamType::Str => matches!(v, Val::Str(_)),
            ParamType::Query => matches!(v, Val::QueryResult(_)),
            ParamType::Sample => matches!(v, Val::Sample(_)),
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

    fn eval_arg(&mut self, dot: &Val, typ: ParamType, n: &'t Arg) -> ExecResult<Val> {
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
            ArgKind::Bool(b) if typ == ParamType::Any => return Ok(Val::Bool(*b)),
            ArgKind::Number(num) if typ == ParamType::Any => return self.ideal_constant(n, num),
            ArgKind::Bool(_) | ArgKind::Number(_) | ArgKind::Str { .. }
                if matches!(typ, ParamType::Query | ParamType::Sample) =>
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
