//! `tocsin test FILE...`: rule unit tests. Each test mocks what rules' queries
//! return over time (Prometheus's expanding notation), runs the real
//! evaluation ([`crate::eval::evaluate_rule`]) on a simulated clock, and
//! compares the firing alerts at given times with the expected ones.

mod file;
pub mod series;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::alert::text::pick;
use crate::alert::{AlertInstance, AlertState, Language, Sample};
use crate::eval::{QueryOutcome, RuleEnv, evaluate_rule};
use crate::rules::{LoadOptions, RuleSet, load_rules};
use crate::yaml::{self, SourceError, SourceErrors};
use file::{ExpectedAlert, TestFile};

/// The outcome of one test file.
#[derive(Debug, Default)]
pub struct FileReport {
    pub passed: Vec<String>,
    /// Test name and a readable diff.
    pub failed: Vec<(String, String)>,
}

/// Runs every test of `path`. Errors are problems with the file itself.
pub fn run_file(path: &Path) -> Result<FileReport, SourceErrors> {
    let text = yaml::read_text(path, "test file").map_err(|e| SourceErrors(vec![e]))?;
    let doc: TestFile = yaml::parse(path, &text).map_err(|e| SourceErrors(vec![e]))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rule_paths: Vec<PathBuf> = doc.rule_files.iter().map(|r| base.join(&r.value)).collect();
    let eval_every = doc
        .evaluation_interval
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(60));
    if eval_every.is_zero() {
        return Err(SourceErrors(vec![SourceError::file(
            path,
            "evaluation_interval must be more than 0",
        )]));
    }
    let rules = load_rules(
        &rule_paths,
        &LoadOptions {
            default_interval: eval_every,
        },
    )?;

    let mut report = FileReport::default();
    for (i, case) in doc.tests.iter().enumerate() {
        let name = if case.name.is_empty() {
            format!("test #{}", i + 1)
        } else {
            case.name.clone()
        };
        let inputs = mocked_inputs(path, &rules, case)?;
        let step = case.interval.map(|d| d.0).unwrap_or(eval_every);
        if step.is_zero() {
            return Err(SourceErrors(vec![SourceError::file(
                path,
                format!("{name}: interval must be more than 0"),
            )]));
        }
        for e in &case.expect {
            if !rules
                .groups
                .iter()
                .any(|g| g.rules.iter().any(|r| r.name == e.alert.value))
            {
                return Err(SourceErrors(vec![SourceError::at(
                    path,
                    &e.alert,
                    format!("no rule named {:?} in the rule files", e.alert.value),
                )]));
            }
        }
        let diff = simulate(&rules, &inputs, case, eval_every, step);
        if diff.is_empty() {
            report.passed.push(name);
        } else {
            report.failed.push((name, diff));
        }
    }
    Ok(report)
}

/// Mocked series per rule name: (labels, values per input step).
type Inputs = HashMap<String, Vec<(BTreeMap<String, String>, Vec<Option<f64>>)>>;

fn mocked_inputs(
    path: &Path,
    rules: &RuleSet,
    case: &file::TestCase,
) -> Result<Inputs, SourceErrors> {
    let mut inputs: Inputs = HashMap::new();
    let mut errors = Vec::new();
    for input in &case.input {
        if !rules
            .groups
            .iter()
            .any(|g| g.rules.iter().any(|r| r.name == input.rule.value))
        {
            errors.push(SourceError::at(
                path,
                &input.rule,
                format!("no rule named {:?} in the rule files", input.rule.value),
            ));
            continue;
        }
        for s in &input.series {
            match series::expand(&s.values.value) {
                Ok(v) => inputs
                    .entry(input.rule.value.clone())
                    .or_default()
                    .push((s.labels.clone(), v)),
                Err(e) => errors.push(SourceError::at(path, &s.values, e)),
            }
        }
    }
    if errors.is_empty() {
        Ok(inputs)
    } else {
        Err(SourceErrors(errors))
    }
}

fn epoch(offset: Duration) -> DateTime<Utc> {
    Utc.timestamp_opt(0, 0).single().unwrap_or_default()
        + chrono::Duration::from_std(offset).unwrap_or_default()
}

/// Evaluates every group at 0, interval, 2·interval… up to the last
/// expectation, checking expectations after the evaluation at or just before
/// their time. Returns the readable differences (empty: passed).
fn simulate(
    rules: &RuleSet,
    inputs: &Inputs,
    case: &file::TestCase,
    every: Duration,
    step: Duration,
) -> String {
    let last = case
        .expect
        .iter()
        .map(|e| e.at.value.0)
        .max()
        .unwrap_or_default();
    let mut state: HashMap<(String, String), crate::eval::rule::RuleAlerts> = HashMap::new();
    let mut diff = String::new();
    let mut t = Duration::ZERO;
    loop {
        let now = epoch(t);
        for g in &rules.groups {
            for r in &g.rules {
                let samples = inputs
                    .get(&r.name)
                    .map(|series| {
                        let idx = (t.as_millis() / step.as_millis().max(1)) as usize;
                        series
                            .iter()
                            .filter_map(|(labels, values)| {
                                values.get(idx).copied().flatten().map(|value| Sample {
                                    labels: labels.clone().into(),
                                    value,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let key = (g.name.clone(), r.name.clone());
                let current = state.remove(&key).unwrap_or_default();
                let update = evaluate_rule(
                    g,
                    r,
                    &current,
                    QueryOutcome::Samples(samples),
                    RuleEnv::default(),
                    now,
                );
                state.insert(key, update.next_alerts(&current));
            }
        }
        for e in case
            .expect
            .iter()
            .filter(|e| e.at.value.0 >= t && e.at.value.0 < t + every)
        {
            let got: Vec<ExpectedAlert> = {
                let mut v: Vec<ExpectedAlert> = state
                    .values()
                    .flat_map(|m| m.values())
                    .filter(|a| a.alert == e.alert.value && a.state == AlertState::Firing)
                    .map(|a| observed(a, &e.firing))
                    .collect();
                v.sort();
                v
            };
            let mut want = e.firing.clone();
            want.sort();
            if got != want {
                let _ = writeln!(diff, "  at {}, alert {}:", e.at.value, e.alert.value);
                for w in want.iter().filter(|w| !got.contains(w)) {
                    let _ = writeln!(diff, "    - expected: {}", describe(w));
                }
                for g in got.iter().filter(|g| !want.contains(g)) {
                    let _ = writeln!(diff, "    + got:      {}", describe(g));
                }
            }
        }
        if t >= last {
            break;
        }
        t += every;
    }
    diff
}

/// The alert as an expectation, keeping only the fields the expectations use
/// (a field left out of every expectation is not compared).
fn observed(a: &AlertInstance, expected: &[ExpectedAlert]) -> ExpectedAlert {
    let mut labels = a.output_labels();
    labels.remove("alertname");
    labels.remove("severity");
    let uses = |f: fn(&ExpectedAlert) -> bool| expected.iter().any(f);
    ExpectedAlert {
        labels,
        severity: uses(|e| e.severity.is_some()).then(|| a.severity.as_str().to_string()),
        message: uses(|e| e.message.is_some()).then(|| a.message.clone()),
        resolution: uses(|e| e.resolution.is_some()).then(|| a.resolution.clone()),
        message_zh: uses(|e| e.message_zh.is_some())
            .then(|| pick(Language::Zh, &a.message, &a.texts.message_zh).to_string()),
        resolution_zh: uses(|e| e.resolution_zh.is_some())
            .then(|| pick(Language::Zh, &a.resolution, &a.texts.resolution_zh).to_string()),
    }
}

fn describe(e: &ExpectedAlert) -> String {
    let mut s = format!("labels {:?}", e.labels);
    if let Some(v) = &e.severity {
        let _ = write!(s, ", severity {v}");
    }
    if let Some(v) = &e.message {
        let _ = write!(s, ", message {v:?}");
    }
    if let Some(v) = &e.resolution {
        let _ = write!(s, ", resolution {v:?}");
    }
    if let Some(v) = &e.message_zh {
        let _ = write!(s, ", message_zh {v:?}");
    }
    if let Some(v) = &e.resolution_zh {
        let _ = write!(s, ", resolution_zh {v:?}");
    }
    s
}
