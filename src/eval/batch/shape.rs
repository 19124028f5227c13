//! Expressions that can share one query although they are not plain
//! selectors: aggregations, functions and arithmetic over selectors that all
//! pin one label to the same value, such as the per-deployment rules
//! `sum by (deployment) (rate(x{deployment="d1"}[5m]))`,
//! `sum by (deployment) (rate(x{deployment="d2"}[5m]))`, ...
//!
//! When every step of the expression keeps that label on its result and
//! never lets series with different values of it meet (an aggregation `by`
//! it, a vector match `on` it or on all labels, a function that keeps
//! labels, arithmetic with a number), the same expression with
//! `deployment=~"d1|d2|..."` in every selector returns, for each value, exactly the
//! series that value's own query returns. This is proved on the parsed query
//! (`promql-parser`); whatever it cannot prove keeps its own query.
//!
//! The batched text is the parsed query printed back, so a query is only
//! taken when its printed form parses back to the same tree.

use promql_parser::label::{MatchOp, Matchers};
use promql_parser::parser::{
    self, AggregateExpr, BinModifier, Call, Expr, LabelModifier, VectorMatchCardinality,
};

/// The value written into the pinned matchers of a template.
const MARK: &str = "__tocsin_batch_value__";

/// One way a query can join a batch: on `label`, with its own `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The query printed with each `label="value"` written `label="MARK"`:
    /// queries with the same template and label differ only in the value.
    pub template: String,
    pub label: String,
    pub value: String,
}

impl Shape {
    /// The template with `label=~"regex"` in place of each pinned matcher.
    pub fn query(&self, regex_literal: &str) -> String {
        self.template
            .replace(&self.marked(), &format!("{}=~{regex_literal}", self.label))
    }

    /// How many selectors pin the label (each gets the whole regex).
    pub fn pins(&self) -> usize {
        self.template.matches(&self.marked()).count()
    }

    fn marked(&self) -> String {
        format!("{}=\"{MARK}\"", self.label)
    }
}

/// Every way `q` can join a batch: one shape for each label that all its
/// selectors pin to the same non-empty value and that the expression keeps.
/// Plain selectors are left to [`super::selector`]; a query this cannot
/// prove anything about has none.
pub fn shapes(q: &str) -> Vec<Shape> {
    let Ok(expr) = parser::parse(q) else {
        return Vec::new();
    };
    if matches!(expr, Expr::VectorSelector(_)) {
        return Vec::new();
    }
    // The printed form (matchers sorted) must read back as the same query.
    let printed = expr.to_string();
    let Ok(mut again) = parser::parse(&printed) else {
        return Vec::new();
    };
    let mut sorted = expr.clone();
    each_selector(&mut sorted, &mut sort_matchers);
    each_selector(&mut again, &mut sort_matchers);
    if printed.contains(MARK) || again != sorted {
        return Vec::new();
    }
    let mut selectors = Vec::new();
    collect_selectors(&expr, &mut selectors);
    let Some((first, others)) = selectors.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (label, value) in pinned(first) {
        let everywhere = others
            .iter()
            .all(|m| pinned(m).iter().any(|(l, v)| l == &label && v == &value));
        if !everywhere || !is_plain_label(&label) || kind(&expr, &label) != Kind::Vector {
            continue;
        }
        let mut marked = expr.clone();
        mark(&mut marked, &label);
        out.push(Shape {
            template: marked.to_string(),
            label,
            value,
        });
    }
    out
}

/// The labels a selector pins with `label="value"` (non-empty, and no other
/// equality matcher on the same label), not counting the metric name.
fn pinned(m: &Matchers) -> Vec<(String, String)> {
    if !m.or_matchers.is_empty() {
        return Vec::new();
    }
    let equal = m.matchers.iter().filter(|x| x.op == MatchOp::Equal);
    m.matchers
        .iter()
        .filter(|x| x.op == MatchOp::Equal && x.name != "__name__" && !x.value.is_empty())
        .filter(|x| {
            equal
                .clone()
                .filter(|y| y.name == x.name)
                .all(|y| y.value == x.value)
        })
        .map(|x| (x.name.clone(), x.value.clone()))
        .collect()
}

fn is_plain_label(l: &str) -> bool {
    let mut chars = l.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn collect_selectors<'e>(e: &'e Expr, out: &mut Vec<&'e Matchers>) {
    match e {
        Expr::VectorSelector(v) => out.push(&v.matchers),
        Expr::MatrixSelector(m) => out.push(&m.vs.matchers),
        Expr::Aggregate(a) => {
            collect_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Writes MARK as the value of every `label="..."` matcher.
fn mark(e: &mut Expr, label: &str) {
    each_selector(e, &mut |m: &mut Matchers| {
        for x in &mut m.matchers {
            if x.op == MatchOp::Equal && x.name == label {
                x.value = MARK.to_string();
            }
        }
    });
}

fn sort_matchers(m: &mut Matchers) {
    m.matchers.sort_by(|a, b| {
        (&a.name, a.op.to_string(), &a.value).cmp(&(&b.name, b.op.to_string(), &b.value))
    });
}

/// Calls `f` with the matchers of every selector in `e`.
fn each_selector(e: &mut Expr, f: &mut impl FnMut(&mut Matchers)) {
    match e {
        Expr::VectorSelector(v) => f(&mut v.matchers),
        Expr::MatrixSelector(m) => f(&mut m.vs.matchers),
        Expr::Aggregate(a) => {
            each_selector(&mut a.expr, f);
            if let Some(p) = &mut a.param {
                each_selector(p, f);
            }
        }
        Expr::Unary(u) => each_selector(&mut u.expr, f),
        Expr::Binary(b) => {
            each_selector(&mut b.lhs, f);
            each_selector(&mut b.rhs, f);
        }
        Expr::Paren(p) => each_selector(&mut p.expr, f),
        Expr::Subquery(s) => each_selector(&mut s.expr, f),
        Expr::Call(c) => c.args.args.iter_mut().for_each(|a| each_selector(a, f)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// What an expression yields, as far as batching on one label is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A number that depends on no series (`1`, `time()`).
    Scalar,
    Text,
    /// Series that each carry the label, computed only from series with the
    /// same value of it.
    Vector,
    /// Anything else: series without the label, or mixing values.
    Other,
}

fn kind(e: &Expr, label: &str) -> Kind {
    match e {
        Expr::NumberLiteral(_) => Kind::Scalar,
        Expr::StringLiteral(_) => Kind::Text,
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) => Kind::Vector,
        Expr::Paren(p) => kind(&p.expr, label),
        Expr::Unary(u) => kind(&u.expr, label),
        Expr::Subquery(s) => vector_or_other(kind(&s.expr, label) == Kind::Vector),
        Expr::Call(c) => call_kind(c, label),
        Expr::Aggregate(a) => aggregate_kind(a, label),
        Expr::Binary(b) => match (kind(&b.lhs, label), kind(&b.rhs, label)) {
            (Kind::Scalar, Kind::Scalar) => Kind::Scalar,
            (Kind::Vector, Kind::Scalar) | (Kind::Scalar, Kind::Vector) => Kind::Vector,
            (Kind::Vector, Kind::Vector) => vector_or_other(matches_within(&b.modifier, label)),
            _ => Kind::Other,
        },
        Expr::Extension(_) => Kind::Other,
    }
}

fn vector_or_other(ok: bool) -> Kind {
    if ok { Kind::Vector } else { Kind::Other }
}

/// Two vectors only pair series with the same value of `label`: matched on
/// all labels, `on` a list holding it, or `ignoring` a list without it; and
/// `group_left`/`group_right` copy no value of it from the other side.
fn matches_within(modifier: &Option<BinModifier>, label: &str) -> bool {
    let Some(m) = modifier else {
        return true;
    };
    let has = |l: &promql_parser::label::Labels| l.labels.iter().any(|x| x == label);
    let matching = match &m.matching {
        None => true,
        Some(LabelModifier::Include(l)) => has(l),
        Some(LabelModifier::Exclude(l)) => !has(l),
    };
    let copied = match &m.card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => has(l),
        VectorMatchCardinality::OneToOne | VectorMatchCardinality::ManyToMany => false,
    };
    matching && !copied
}

/// An aggregation keeps the label when it groups `by` it (or `without`
/// other labels) and its parameter is a plain value that is not the label.
fn aggregate_kind(a: &AggregateExpr, label: &str) -> Kind {
    if kind(&a.expr, label) != Kind::Vector {
        return Kind::Other;
    }
    let keeps = match &a.modifier {
        Some(LabelModifier::Include(l)) => l.labels.iter().any(|x| x == label),
        Some(LabelModifier::Exclude(l)) => !l.labels.iter().any(|x| x == label),
        None => false,
    };
    let param = match a.param.as_deref() {
        None => true,
        Some(Expr::StringLiteral(s)) => s.val != label, // count_values("label", ...)
        Some(p) => kind(p, label) == Kind::Scalar,
    };
    vector_or_other(keeps && param)
}

/// Functions of Prometheus 2.42 that do not return one series per input
/// series with its labels; every other one does (at most without the metric
/// name).
const CHANGE_LABELS: &[&str] = &[
    "absent",
    "absent_over_time",
    "pi",
    "scalar",
    "time",
    "vector",
];

fn keeps_labels(name: &str) -> bool {
    crate::rules::promql::FUNCTIONS_2_42.contains(&name) && !CHANGE_LABELS.contains(&name)
}

fn call_kind(c: &Call, label: &str) -> Kind {
    let name = c.func.name;
    if c.args.args.is_empty() {
        // `hour()` and the like are a series without labels.
        return if matches!(name, "time" | "pi") {
            Kind::Scalar
        } else {
            Kind::Other
        };
    }
    if !keeps_labels(name) {
        return Kind::Other; // absent, scalar, vector, newer functions, ...
    }
    let kinds: Vec<Kind> = c.args.args.iter().map(|a| kind(a, label)).collect();
    if kinds.contains(&Kind::Other) || !kinds.contains(&Kind::Vector) {
        return Kind::Other;
    }
    let overwrites = match name {
        // label_replace(v, dst, ...) and label_join(v, dst, ...) write `dst`
        "label_replace" | "label_join" => {
            !matches!(c.args.args.get(1).map(|a| a.as_ref()), Some(Expr::StringLiteral(s)) if s.val != label)
        }
        "histogram_quantile" | "histogram_fraction" => label == "le",
        _ => false,
    };
    vector_or_other(!overwrites)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_of(q: &str) -> Vec<String> {
        shapes(q).into_iter().map(|s| s.label).collect()
    }

    #[test]
    fn aggregations_and_functions_keeping_the_label_can_batch() {
        for q in [
            r#"sum by (deployment) (emqx_connections_count{deployment="d1"})"#,
            r#"sum by (deployment) (increase(emqx_bytes_received{deployment="d1"}[24h]) + increase(emqx_bytes_sent{deployment="d1"}[24h]))"#,
            r#"min by (deployment, listener) ((emqx_cert_expiry_at{deployment="d1"} - time()) / 86400 and emqx_cert_expiry_at{deployment="d1"} > 0)"#,
            r#"sum without (instance) (rate(x{deployment="d1"}[5m])) > 3"#,
            r#"histogram_quantile(0.99, sum by (le, deployment) (rate(h_bucket{deployment="d1"}[5m])))"#,
            r#"a{deployment="d1"} / on (deployment, id) group_left b{deployment="d1"}"#,
            r#"max_over_time(rate(x{deployment="d1"}[1m])[10m:1m])"#,
            r#"topk by (deployment) (3, x{deployment="d1"})"#,
            r#"-x{deployment="d1"} offset 5m"#,
            r#"min by (deployment) (probe_success{job="vpc", deployment="d1"}) == 0"#,
        ] {
            assert_eq!(labels_of(q), ["deployment"], "{q}");
        }
    }

    #[test]
    fn anything_mixing_or_dropping_the_label_keeps_its_own_query() {
        for q in [
            r#"x{deployment="d1"}"#, // a plain selector: selector.rs
            r#"sum(x{deployment="d1"})"#,
            r#"sum by (job) (x{deployment="d1"})"#,
            r#"sum without (deployment) (x{deployment="d1"})"#,
            r#"x{deployment="d1"} / on (id) y{deployment="d1"}"#,
            r#"x{deployment="d1"} / ignoring (deployment) y{deployment="d1"}"#,
            r#"x{deployment="d1"} * on (deployment) group_left (deployment) y{deployment="d1"}"#,
            r#"x{deployment="d1"} / y{deployment="d2"}"#,
            r#"x{deployment="d1"} / y"#,
            r#"absent(x{deployment="d1"})"#,
            r#"x{deployment="d1"} > scalar(y{deployment="d1"})"#,
            r#"label_replace(x{deployment="d1"}, "deployment", "z", "", "")"#,
            r#"count_values("deployment", x{deployment="d1"})"#,
            r#"rate(x{deployment=""}[5m])"#,
            r#"rate(x{deployment=~"d1"}[5m])"#,
            r#"x{deployment="d1"} > vector(1)"#,
            "rate(x[5m])",
            "not promql (",
        ] {
            assert_eq!(labels_of(q), Vec::<String>::new(), "{q}");
        }
    }

    #[test]
    fn every_label_pinned_everywhere_is_a_way_to_batch() {
        let q = r#"sum by (deployment, region) (rate(x{deployment="d1", region="eu"}[5m]))"#;
        let mut got = labels_of(q);
        got.sort();
        assert_eq!(got, ["deployment", "region"]);
        let shape = shapes(q).into_iter().find(|s| s.label == "region").unwrap();
        assert_eq!(shape.value, "eu");
        assert_eq!(shape.pins(), 1);
        let batched = shape.query(r#""eu|us""#);
        assert!(batched.contains(r#"region=~"eu|us""#), "{batched}");
        assert!(batched.contains(r#"deployment="d1""#), "{batched}");
        assert!(parser::parse(&batched).is_ok(), "{batched}");
    }

    #[test]
    fn the_same_rule_for_two_values_has_one_template() {
        let a = shapes(
            r#"sum by (deployment) (increase(x{deployment="a"}[5m]) + increase(y{deployment="a"}[5m]))"#,
        );
        let b = shapes(
            r#"sum by (deployment) (increase(x{deployment="b"}[5m]) + increase(y{deployment="b"}[5m]))"#,
        );
        assert_eq!(a[0].template, b[0].template);
        assert_eq!(a[0].pins(), 2);
        assert_eq!((a[0].value.as_str(), b[0].value.as_str()), ("a", "b"));
    }
}
