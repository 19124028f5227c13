//! The lexer: template text to tokens (port of Go's
//! `text/template/parse/lex.go`, including its error messages).

use std::fmt;

use super::strconv::{go_quote, is_print};

/// Token types (Go's `itemType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tok {
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

/// A token: its type, byte position, text and line.
#[derive(Clone, Debug)]
pub(super) struct Item {
    pub(super) typ: Tok,
    pub(super) pos: usize,
    pub(super) val: String,
    pub(super) line: usize,
}

impl Item {
    pub(super) fn eof() -> Item {
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

/// The lexer's state functions (Go's `stateFn`s).
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

/// Hands out one token at a time to the parser (Go's `lexer`).
pub(super) struct Lexer<'a> {
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
    pub(super) fn new(input: &'a str) -> Self {
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

    pub(super) fn next_item(&mut self) -> Item {
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
