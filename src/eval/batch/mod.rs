//! Selector batching: fewer, larger Prometheus queries per group tick.
//!
//! Ten thousand separate instant queries cost Prometheus about as much as
//! evaluating ten thousand rules itself. Within one group's tick, rules whose
//! query is a plain vector selector with only equality matchers
//! (`bench_value{instance="i42", job="x"}`) and that differ only in the value
//! of one label matcher are served by one query
//! `bench_value{job="x", instance=~"i1|i2|..."}`; each rule gets exactly the
//! series whose label equals its own value, which is what its own query
//! returns. Identical queries are run once. Anything else keeps its own query.
//! A batched query that fails fails each of its rules with the same error.
//!
//! Other queries batch the same way when they are aggregations, functions or
//! arithmetic over selectors that all pin one label to the value that
//! differs (`sum by (deployment) (rate(x{deployment="d1"}[5m]))`) and the
//! expression provably keeps series of different values apart
//! ([`shape`]).
//!
//! [`plan`] decides which queries to run; [`distribute`] hands their answers
//! back to the original queries. Both are pure (the [`ShapeCache`] only
//! remembers what parsing found).

mod selector;
mod shape;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::alert::Sample;
use crate::source::SourceError;
pub use selector::{Selector, parse_selector};
use shape::Shape;

/// At most this many values in one batched regex matcher.
pub const MAX_VALUES: usize = 500;
/// At most this many bytes in one batched query (longer ones are chunked).
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// How one original query is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serve {
    /// By query `n` of the plan, whole.
    Whole(usize),
    /// By the series of query `n` whose `label` equals `value`.
    Split {
        query: usize,
        label: String,
        value: String,
    },
}

/// The queries to run for a set of distinct original queries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The PromQL to send, each once.
    pub queries: Vec<String>,
    /// For each original query (as written): where its answer comes from.
    pub serve: Vec<(String, Serve)>,
}

impl Plan {
    /// The original queries of batched queries that Prometheus refused
    /// (`answers[n]` answers `queries[n]`). A batch can be refused where its
    /// rules' own queries are not: more samples than `query.max-samples`, or
    /// one value's series breaking a vector match for all: each is then
    /// asked on its own.
    pub fn refused_batches(&self, answers: &[Result<Vec<Sample>, SourceError>]) -> Vec<String> {
        let refused = |n: &usize| matches!(answers.get(*n), Some(Err(SourceError::Rejected(_))));
        self.serve
            .iter()
            .filter(|(_, s)| matches!(s, Serve::Split { query, .. } if refused(query)))
            .map(|(q, _)| q.clone())
            .collect()
    }
}

/// What [`shape::shapes`] found for each query seen, kept across ticks: rule
/// queries are fixed strings, so each is parsed once.
#[derive(Default)]
pub struct ShapeCache {
    known: Mutex<HashMap<String, Arc<[Shape]>>>,
}

impl ShapeCache {
    /// Queries remembered at most (templated queries could vary forever).
    const MAX: usize = 200_000;

    fn shapes(&self, q: &str) -> Arc<[Shape]> {
        if let Some(found) = self.lock().get(q) {
            return Arc::clone(found);
        }
        let found: Arc<[Shape]> = shape::shapes(q).into();
        let mut known = self.lock();
        if known.len() >= Self::MAX {
            known.clear();
        }
        known.insert(q.to_string(), Arc::clone(&found));
        found
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[Shape]>>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Plans the queries of one tick. `originals` need not be distinct; with
/// `batch` false only identical queries are merged.
pub fn plan<'a>(
    originals: impl IntoIterator<Item = &'a str>,
    batch: bool,
    shapes: &ShapeCache,
) -> Plan {
    let mut distinct: Vec<&str> = originals.into_iter().collect();
    distinct.sort_unstable();
    distinct.dedup();

    let mut out = Plan::default();
    let mut whole_index: HashMap<String, usize> = HashMap::new();
    let mut run_whole = |out: &mut Plan, q: &str| {
        let n = *whole_index.entry(q.to_string()).or_insert_with(|| {
            out.queries.push(q.to_string());
            out.queries.len() - 1
        });
        out.serve.push((q.to_string(), Serve::Whole(n)));
    };
    if !batch {
        for q in distinct {
            run_whole(&mut out, q);
        }
        return out;
    }

    // Canonical selector -> the original spellings of it.
    let mut selectors: BTreeMap<Selector, Vec<&str>> = BTreeMap::new();
    let mut expressions: Vec<(&str, Arc<[Shape]>)> = Vec::new();
    for q in distinct {
        match parse_selector(q) {
            Some(s) => selectors.entry(s).or_default().push(q),
            None => {
                let found = shapes.shapes(q);
                if found.is_empty() {
                    run_whole(&mut out, q);
                } else {
                    expressions.push((q, found));
                }
            }
        }
    }

    // Every way a selector could join a batch: (metric, other matchers, label).
    type Key<'s> = (&'s Option<String>, Vec<(&'s str, &'s str)>, &'s str);
    let mut candidates: BTreeMap<Key<'_>, Vec<&Selector>> = BTreeMap::new();
    for s in selectors.keys() {
        for (label, value) in &s.matchers {
            if value.is_empty() {
                continue; // `l=""` means "no label l": not a value to batch on
            }
            let rest: Vec<(&str, &str)> = s
                .matchers
                .iter()
                .filter(|(l, _)| *l != label)
                .map(|(l, v)| (l.as_str(), v.as_str()))
                .collect();
            candidates
                .entry((&s.metric, rest, label.as_str()))
                .or_default()
                .push(s);
        }
    }
    // Largest batches first; ties in key order, so plans are deterministic.
    let mut keys: Vec<(&Key<'_>, usize)> = candidates.iter().map(|(k, v)| (k, v.len())).collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));

    let mut assigned: HashSet<&Selector> = HashSet::new();
    for (key, _) in keys {
        let members: Vec<&Selector> = candidates[key]
            .iter()
            .copied()
            .filter(|s| !assigned.contains(s))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let (metric, rest, label) = key;
        let escaped = |s: &&Selector| s.matchers[*label].len() * 2 + 1;
        for chunk in chunks(&members, escaped, MAX_QUERY_BYTES) {
            let values: Vec<&str> = chunk.iter().map(|s| s.matchers[*label].as_str()).collect();
            out.queries
                .push(batched_query(metric.as_deref(), rest, label, &values));
            let n = out.queries.len() - 1;
            for s in chunk {
                assigned.insert(s);
                for original in &selectors[s] {
                    out.serve.push((
                        original.to_string(),
                        Serve::Split {
                            query: n,
                            label: label.to_string(),
                            value: s.matchers[*label].clone(),
                        },
                    ));
                }
            }
        }
    }
    for (s, originals) in &selectors {
        if assigned.contains(s) {
            continue;
        }
        // The same selector spelled differently is still one query.
        let first = originals[0];
        for original in originals {
            run_whole(&mut out, first);
            if let Some(last) = out.serve.last_mut() {
                last.0 = original.to_string();
            }
        }
    }
    let alone = batch_expressions(&mut out, &expressions);
    for q in alone {
        run_whole(&mut out, q);
    }
    out
}

/// Batches the queries that have shapes: for each (template, label), largest
/// groups first, queries that differ only in that label's value share one
/// query. Returns the queries left to run alone.
fn batch_expressions<'q>(out: &mut Plan, expressions: &[(&'q str, Arc<[Shape]>)]) -> Vec<&'q str> {
    let mut candidates: BTreeMap<(&str, &str), Vec<(&str, &Shape)>> = BTreeMap::new();
    for (q, found) in expressions {
        for s in found.iter() {
            candidates
                .entry((s.template.as_str(), s.label.as_str()))
                .or_default()
                .push((q, s));
        }
    }
    let mut keys: Vec<(&(&str, &str), usize)> =
        candidates.iter().map(|(k, v)| (k, v.len())).collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut assigned: HashSet<&str> = HashSet::new();
    for (key, _) in keys {
        let members: Vec<(&str, &Shape)> = candidates[key]
            .iter()
            .copied()
            .filter(|(q, _)| !assigned.contains(q))
            .collect();
        if members.len() < 2 {
            continue;
        }
        let first = members[0].1;
        let pins = first.pins().max(1);
        let escaped = |m: &(&str, &Shape)| (m.1.value.len() * 2 + 1) * pins;
        let budget = MAX_QUERY_BYTES.saturating_sub(first.template.len());
        for chunk in chunks(&members, escaped, budget) {
            let mut values: Vec<&str> = chunk.iter().map(|(_, s)| s.value.as_str()).collect();
            values.dedup();
            out.queries.push(first.query(&regex_literal(&values)));
            let n = out.queries.len() - 1;
            for (q, s) in chunk {
                assigned.insert(q);
                out.serve.push((
                    q.to_string(),
                    Serve::Split {
                        query: n,
                        label: s.label.clone(),
                        value: s.value.clone(),
                    },
                ));
            }
        }
    }
    expressions
        .iter()
        .map(|(q, _)| *q)
        .filter(|q| !assigned.contains(q))
        .collect()
}

/// Splits `members` so that each batched query stays within the bounds:
/// `len` is the worst case a member adds (every byte escaped), `budget` the
/// bytes its values may take.
fn chunks<T: Copy>(members: &[T], len: impl Fn(&T) -> usize, budget: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut current: Vec<T> = Vec::new();
    let mut bytes = 0;
    for s in members {
        let len = len(s);
        if !current.is_empty() && (current.len() >= MAX_VALUES || bytes + len > budget) {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += len;
        current.push(*s);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `metric{rest..., label=~"v1|v2"}` with regex and string escaping.
fn batched_query(
    metric: Option<&str>,
    rest: &[(&str, &str)],
    label: &str,
    values: &[&str],
) -> String {
    let mut q = String::new();
    if let Some(m) = metric {
        q.push_str(m);
    }
    q.push('{');
    for (l, v) in rest {
        q.push_str(l);
        q.push('=');
        push_string(&mut q, v);
        q.push_str(", ");
    }
    q.push_str(label);
    q.push_str("=~");
    q.push_str(&regex_literal(values));
    q.push('}');
    q
}

/// `"v1|v2|..."`: a PromQL string holding a regex that matches exactly the values.
fn regex_literal(values: &[&str]) -> String {
    let mut regex = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            regex.push('|');
        }
        push_regex_escaped(&mut regex, v);
    }
    let mut out = String::new();
    push_string(&mut out, &regex);
    out
}

fn push_regex_escaped(out: &mut String, v: &str) {
    for c in v.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// A PromQL double-quoted string literal.
fn push_string(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Hands each original query its answer: whole, or the series of its value.
/// `answers[n]` is the answer to `plan.queries[n]`.
pub fn distribute(
    plan: &Plan,
    answers: Vec<Result<Vec<Sample>, SourceError>>,
) -> HashMap<String, Result<Vec<Sample>, SourceError>> {
    // Split answers bucketed by (query, value), and how many originals take each bucket.
    let mut labels_of: HashMap<usize, &str> = HashMap::new();
    let mut takers: HashMap<(usize, &str), usize> = HashMap::new();
    let mut whole_takers: HashMap<usize, usize> = HashMap::new();
    for (_, serve) in &plan.serve {
        match serve {
            Serve::Whole(n) => *whole_takers.entry(*n).or_default() += 1,
            Serve::Split {
                query,
                label,
                value,
            } => {
                labels_of.insert(*query, label.as_str());
                *takers.entry((*query, value.as_str())).or_default() += 1;
            }
        }
    }
    let mut answers: Vec<Option<Result<Vec<Sample>, SourceError>>> =
        answers.into_iter().map(Some).collect();
    let mut buckets: HashMap<(usize, String), Vec<Sample>> = HashMap::new();
    let mut failed: HashMap<usize, SourceError> = HashMap::new();
    for (n, label) in &labels_of {
        match answers.get_mut(*n).and_then(Option::take) {
            Some(Ok(samples)) => {
                for s in samples {
                    // A series without the label cannot match `label=~"v..."`; skip it.
                    if let Some(v) = s.labels.get(*label) {
                        buckets.entry((*n, v.clone())).or_default().push(s);
                    }
                }
            }
            Some(Err(e)) => {
                failed.insert(*n, e);
            }
            None => {
                failed.insert(*n, SourceError::Unavailable("no answer".into()));
            }
        }
    }

    let mut out = HashMap::with_capacity(plan.serve.len());
    for (original, serve) in &plan.serve {
        let result = match serve {
            Serve::Whole(n) => {
                let left = whole_takers.entry(*n).or_default();
                *left = left.saturating_sub(1);
                let slot = answers.get_mut(*n);
                match slot {
                    Some(slot) if *left == 0 => slot
                        .take()
                        .unwrap_or_else(|| Err(SourceError::Unavailable("no answer".into()))),
                    Some(Some(r)) => r.clone(),
                    _ => Err(SourceError::Unavailable("no answer".into())),
                }
            }
            Serve::Split { query, value, .. } => match failed.get(query) {
                Some(e) => Err(e.clone()),
                None => {
                    let left = takers.entry((*query, value.as_str())).or_default();
                    *left = left.saturating_sub(1);
                    let key = (*query, value.clone());
                    if *left == 0 {
                        Ok(buckets.remove(&key).unwrap_or_default())
                    } else {
                        Ok(buckets.get(&key).cloned().unwrap_or_default())
                    }
                }
            },
        };
        out.insert(original.clone(), result);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Labels;

    fn sel(q: &str) -> Selector {
        parse_selector(q).unwrap_or_else(|| panic!("{q} should parse"))
    }

    fn sample(pairs: &[(&str, &str)], value: f64) -> Sample {
        Sample {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Labels>()
                .into(),
            value,
        }
    }

    #[test]
    fn parses_plain_selectors_only() {
        let s = sel(r#" up{ job = "x", instance='i1' , } "#);
        assert_eq!(s.metric.as_deref(), Some("up"));
        assert_eq!(s.matchers["job"], "x");
        assert_eq!(s.matchers["instance"], "i1");
        assert_eq!(sel("up").matchers.len(), 0);
        assert_eq!(sel(r#"{job="a"}"#).metric, None);
        assert_eq!(sel(r#"a:b_c{l="q\"uo\\te"}"#).matchers["l"], "q\"uo\\te");
        assert_eq!(sel(r#"m{l=`raw\n`}"#).matchers["l"], "raw\\n");
        for q in [
            r#"up{job!="x"}"#,
            r#"up{job=~"x"}"#,
            r#"up{job=="x"}"#,
            r#"up{job="x"} > 1"#,
            r#"up{job="x"} offset 5m"#,
            r#"rate(up[5m])"#,
            r#"sum{job="x"}"#,
            r#"up{job="x",job="y"}"#,
            r#"up{job="a\nb"}"#,
            r#"{job=""}"#,
            r#"{}"#,
            "",
            "1",
            r#"up{job="x""#,
        ] {
            assert_eq!(parse_selector(q), None, "{q}");
        }
    }

    #[test]
    fn selectors_differing_in_one_label_share_one_query() {
        let qs: Vec<String> = (0..5)
            .map(|i| format!(r#"bench_value{{instance="i{i}", job="x"}}"#))
            .collect();
        let p = plan(qs.iter().map(String::as_str), true, &ShapeCache::default());
        assert_eq!(
            p.queries,
            vec![r#"bench_value{job="x", instance=~"i0|i1|i2|i3|i4"}"#]
        );
        assert_eq!(p.serve.len(), 5);
        // Without batching, one query each.
        assert_eq!(
            plan(qs.iter().map(String::as_str), false, &ShapeCache::default())
                .queries
                .len(),
            5
        );
    }

    #[test]
    fn per_deployment_aggregations_share_one_query() {
        let qs: Vec<String> = ["a", "b.c"]
            .iter()
            .map(|d| format!(r#"sum by (deployment) (increase(x{{deployment="{d}"}}[24h]) + increase(y{{deployment="{d}"}}[24h]))"#))
            .collect();
        let p = plan(qs.iter().map(String::as_str), true, &ShapeCache::default());
        assert_eq!(
            p.queries,
            vec![
                r#"sum by (deployment) (increase(x{deployment=~"a|b\\.c"}[1d]) + increase(y{deployment=~"a|b\\.c"}[1d]))"#
            ]
        );
        assert_eq!(
            p.serve[1].1,
            Serve::Split {
                query: 0,
                label: "deployment".into(),
                value: "b.c".into()
            }
        );
        // A rule of its own kind keeps its query.
        let p = plan([qs[0].as_str(), "sum(x)"], true, &ShapeCache::default());
        assert_eq!(p.queries.len(), 2);
    }

    #[test]
    fn values_are_escaped_and_chunked() {
        let qs = [r#"m{path="/a.b"}"#, r#"m{path="c|d\"e"}"#];
        let p = plan(qs, true, &ShapeCache::default());
        assert_eq!(p.queries, vec![r#"m{path=~"/a\\.b|c\\|d\"e"}"#]);

        let many: Vec<String> = (0..1200).map(|i| format!(r#"m{{i="{i}"}}"#)).collect();
        let p = plan(
            many.iter().map(String::as_str),
            true,
            &ShapeCache::default(),
        );
        assert_eq!(p.queries.len(), 3);
        assert!(p.queries.iter().all(|q| q.len() < MAX_QUERY_BYTES));
        let long: Vec<String> = (0..100)
            .map(|i| format!(r#"m{{i="{i}{}"}}"#, "x".repeat(400)))
            .collect();
        let p = plan(
            long.iter().map(String::as_str),
            true,
            &ShapeCache::default(),
        );
        assert!(p.queries.len() > 1);
        assert!(p.queries.iter().all(|q| q.len() < MAX_QUERY_BYTES + 1000));
    }

    #[test]
    fn empty_values_other_operators_and_singletons_keep_their_query() {
        let qs = [
            r#"m{a="", b="1"}"#,
            r#"m{a="", b="2"}"#, // batched on b; a="" stays common
            r#"m{c=""}"#,
            r#"m{c="",d="1"}"#, // batch on d would be alone
            r#"rate(m[1m])"#,
            r#"rate(m[1m])"#,
        ];
        let p = plan(qs, true, &ShapeCache::default());
        assert!(p.queries.contains(&r#"m{a="", b=~"1|2"}"#.to_string()));
        assert!(p.queries.contains(&"rate(m[1m])".to_string()));
        assert!(p.queries.contains(&r#"m{c=""}"#.to_string()));
        assert_eq!(p.queries.len(), 4);
    }

    #[test]
    fn the_same_selector_spelled_twice_is_one_query_and_both_get_it() {
        let p = plan(
            [r#"m{a="1"}"#, r#"m{ a = '1' }"#],
            true,
            &ShapeCache::default(),
        );
        assert_eq!(p.queries.len(), 1);
        let answers = vec![Ok(vec![sample(&[("a", "1")], 1.0)])];
        let got = distribute(&p, answers);
        assert_eq!(got[r#"m{a="1"}"#].as_ref().unwrap().len(), 1);
        assert_eq!(got[r#"m{ a = '1' }"#].as_ref().unwrap().len(), 1);
    }

    #[test]
    fn a_failed_batch_fails_each_of_its_rules() {
        let qs = [r#"m{i="1"}"#, r#"m{i="2"}"#, "up"];
        let p = plan(qs, true, &ShapeCache::default());
        let answers = p
            .queries
            .iter()
            .map(|q| {
                if q == "up" {
                    Ok(vec![sample(&[("__name__", "up")], 1.0)])
                } else {
                    Err(SourceError::Unavailable("down".into()))
                }
            })
            .collect();
        let got = distribute(&p, answers);
        assert!(matches!(&got[r#"m{i="1"}"#], Err(SourceError::Unavailable(m)) if m == "down"));
        assert!(matches!(
            &got[r#"m{i="2"}"#],
            Err(SourceError::Unavailable(_))
        ));
        assert_eq!(got["up"].as_ref().unwrap().len(), 1);
    }

    /// A tiny Prometheus over an in-memory series set: plain selectors with
    /// `=` and `=~` (a full-anchored alternation of escaped literals).
    fn fake_prometheus(series: &[Sample], q: &str) -> Result<Vec<Sample>, SourceError> {
        if let Some(s) = parse_selector(q) {
            return Ok(series
                .iter()
                .filter(|x| {
                    s.metric
                        .as_ref()
                        .is_none_or(|m| x.labels.get("__name__") == Some(m))
                        && s.matchers
                            .iter()
                            .all(|(l, v)| x.labels.get(l).map(String::as_str).unwrap_or("") == v)
                })
                .cloned()
                .collect());
        }
        // metric{a="x", l=~"v1|v2"}: the form `plan` writes.
        let bad = || SourceError::Rejected(q.to_string());
        let p = q.find("=~\"").ok_or_else(bad)?;
        let before = &q[..p];
        let lstart = before.rfind([' ', '{']).ok_or_else(bad)? + 1;
        let label = &before[lstart..];
        let head = format!("{}}}", before[..lstart].trim_end().trim_end_matches(','));
        let common = if head == "{}" {
            Selector {
                metric: None,
                matchers: BTreeMap::new(),
            }
        } else {
            parse_selector(&head).ok_or_else(bad)?
        };
        let quoted = q[p + 3..].strip_suffix("\"}").ok_or_else(bad)?;
        let mut unquoted = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            unquoted.push(if c == '\\' {
                chars.next().ok_or_else(bad)?
            } else {
                c
            });
        }
        let re = regex::Regex::new(&format!("^(?:{unquoted})$"))
            .map_err(|e| SourceError::Rejected(e.to_string()))?;
        Ok(series
            .iter()
            .filter(|x| {
                common
                    .metric
                    .as_ref()
                    .is_none_or(|m| x.labels.get("__name__") == Some(m))
                    && common
                        .matchers
                        .iter()
                        .all(|(l, v)| x.labels.get(l).map(String::as_str).unwrap_or("") == v)
                    && re.is_match(x.labels.get(label).map(String::as_str).unwrap_or(""))
            })
            .cloned()
            .collect())
    }

    #[test]
    fn batched_answers_equal_per_rule_answers_on_a_mixture() {
        // Series: two metrics over 40 instances and 2 jobs, odd values, some
        // label values with regex metacharacters, one series without `job`.
        let mut series = Vec::new();
        for i in 0..40 {
            for job in ["api", "db"] {
                let inst = if i % 7 == 0 {
                    format!("h.{i}|x")
                } else {
                    format!("i{i}")
                };
                series.push(sample(
                    &[
                        ("__name__", "bench_value"),
                        ("instance", &inst),
                        ("job", job),
                    ],
                    f64::from(i),
                ));
                series.push(sample(
                    &[
                        ("__name__", "other"),
                        ("instance", &inst),
                        ("job", job),
                        ("dc", "eu"),
                    ],
                    f64::from(i) * 2.0,
                ));
            }
        }
        series.push(sample(
            &[("__name__", "bench_value"), ("instance", "lone")],
            5.0,
        ));
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut queries = Vec::new();
        for i in 0..45 {
            let inst = if i % 7 == 0 {
                format!("h.{i}|x")
            } else {
                format!("i{i}")
            };
            queries.push(format!(
                r#"bench_value{{instance="{}", job="api"}}"#,
                esc(&inst)
            ));
            if i % 3 == 0 {
                queries.push(format!(r#"other{{job="db",instance='{}'}}"#, esc(&inst)));
            }
        }
        queries.extend(
            [
                r#"bench_value{instance="lone"}"#,
                r#"bench_value{instance="lone", job=""}"#,
                r#"bench_value{job="db"}"#,
                r#"bench_value{job="api"}"#,
                r#"other{dc="eu", job="api", instance="i3"}"#,
                r#"bench_value"#,
                r#"{instance="i5", job="db"}"#,
                r#"{instance="i6", job="db"}"#,
                r#"bench_value{instance="i1", job="api"} > 3"#,
                r#"bench_value{instance="i1",job="api"}"#,
            ]
            .map(String::from),
        );
        queries.push(queries[0].clone()); // a duplicate

        let per_rule: HashMap<&str, Vec<Sample>> = queries
            .iter()
            .map(|q| {
                let got = if q.ends_with("> 3") {
                    Ok(Vec::new()) // not a selector: passed through whole either way
                } else {
                    fake_prometheus(&series, q)
                };
                (q.as_str(), got.expect("per-rule query"))
            })
            .collect();

        let p = plan(
            queries.iter().map(String::as_str),
            true,
            &ShapeCache::default(),
        );
        assert!(p.queries.len() < queries.len() / 2, "{:#?}", p.queries);
        let answers = p
            .queries
            .iter()
            .map(|q| {
                if q.ends_with("> 3") {
                    Ok(Vec::new())
                } else {
                    fake_prometheus(&series, q)
                }
            })
            .collect();
        let got = distribute(&p, answers);
        assert_eq!(got.len(), per_rule.len());
        for (q, want) in &per_rule {
            let mut have = got[*q].clone().expect("batched answer");
            let mut want = want.clone();
            let key = |s: &Sample| format!("{:?}", s.labels);
            have.sort_by_key(key);
            want.sort_by_key(key);
            assert_eq!(have, want, "{q}");
        }
    }
}
