//! The parser: tokens to parse trees, one per `define`/`block` (port of Go's
//! `text/template/parse/parse.go`, including its error messages).

use std::collections::BTreeMap;

use super::funcs::func_sig;
use super::lex::{Item, Lexer, Tok};
use super::node::{
    Arg, ArgKind, Branch, Command, List, Node, NodeKind, Pipe, is_empty_tree, new_number,
};
use super::strconv::{go_quote, go_unquote};
use super::{MAX_BLOCK_DEPTH, MAX_PAREN_DEPTH, MAX_PIPELINE_CMDS};

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

pub(super) fn parse_tree_set(name: &str, text: &str) -> PResult<BTreeMap<String, List>> {
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
