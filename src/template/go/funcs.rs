//! Template functions: the signature of a name, the dispatch of a call, and Go's
//! built-ins (`text/template/funcs.go`: `and`, `index`, `eq`, `html`...).

use std::rc::Rc;

use super::escape::{html_escape, js_escape, query_escape};
use super::fmt::{fmt_v, sprint, sprintf, sprintln};
use super::prometheus_funcs::{self, FuncCtx};
use super::sig::{ANY, ANY2, NONE, ParamType, STR, Sig, str_arg};
use super::value::{Val, is_true, type_name};
use crate::template::query::QuerySample;

/// The signature of the template function `name` (a Go built-in or one of
/// Prometheus's functions); `None` for a name templates cannot call.
pub(super) fn func_sig(name: &str) -> Option<Sig> {
    builtin_sig(name).or_else(|| prometheus_funcs::func_sig(name))
}

fn builtin_sig(name: &str) -> Option<Sig> {
    let (fixed, variadic): (&'static [ParamType], Option<ParamType>) = match name {
        "and" | "or" | "call" | "index" | "slice" | "eq" => (ANY, Some(ParamType::Any)),
        "html" | "js" | "urlquery" | "print" | "println" => (NONE, Some(ParamType::Any)),
        "printf" => (STR, Some(ParamType::Any)),
        "len" | "not" => (ANY, None),
        "ne" | "lt" | "le" | "gt" | "ge" => (ANY2, None),
        _ => return None,
    };
    Some(Sig { fixed, variadic })
}

/// Calls the template function `name` with the evaluated arguments `a`;
/// `callee_name` is how the first argument was written (for `call`).
pub(super) fn call_func(
    ctx: &FuncCtx,
    name: &str,
    a: &[Val],
    callee_name: &str,
) -> Result<Val, String> {
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
        _ => prometheus_funcs::call(ctx, name, a),
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
