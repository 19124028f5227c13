//! `tocsin check` against the real `promtool check rules` (Prometheus 2.42):
//! what promtool refuses in a Prometheus rule, tocsin refuses at
//! `file:line:col` (and the same expression under `query:` too); what promtool
//! accepts, tocsin loads, with as many alerting rules.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const PROMTOOL: &str = "/usr/bin/promtool";

/// Expressions promtool refuses (the first line of each is its complaint).
const BROKEN_EXPRESSIONS: &[&str] = &[
    "sum(rate(x[5m])",                             // unclosed left parenthesis
    "sum(rate(x[5m])))",                           // unexpected right parenthesis
    "nosuchfunc(up)",                              // unknown function
    "rate(up)",                                    // instant vector where a range is expected
    "up{job=\"x\"",                                // unclosed matcher
    "a + * b",                                     // doubled operator (`a + + b` is a unary plus)
    "rate(x[5x])",                                 // bad duration unit
    "up by (job)",                                 // `by` on a non-aggregation
    "sum by (job) up",                             // aggregation without parentheses
    "round(up, 1, 2)",                             // too many arguments
    "label_replace(up, \"dst\", \"$1\", \"src\")", // too few arguments
    "clamp_max(up, \"x\")",                        // string where a number is expected
    "histogram_quantile(\"a\", x)",                // string where a number is expected
    "up offset",                                   // offset without a duration
    "up offset 5m offset 5m",                      // offset twice
    "up offset 0",                                 // offset without a unit
    "rate(up[1])",                                 // range without a unit
    "up[5m:1]",                                    // subquery step without a unit
    "up{job=~\"(\"}",                              // bad regular expression
    "up{0job=\"x\"}",                              // bad label name in a matcher
    "up{\"job\"=\"a\"}",                           // quoted label name (newer Prometheus only)
    "sum by (\"job\") (up)",                       // quoted grouping label
    "up[5m] + 1",                                  // range vector in arithmetic
    "1 > bool 2 and 3",                            // set operator between scalars
    "time(1)",                                     // argument to a function that takes none
    "up ==",                                       // operator without right-hand side
    "{}",                                          // selector with no matcher
    "topk(up)",                                    // aggregation parameter missing
    "count_values(1, up)",                         // number where a string is expected
    "foo{a=\"b\" b=\"c\"}",                        // missing comma between matchers
    "up{job=\"x\"}}",                              // stray closing brace
    "sort_by_label(up, \"a\")",                    // function of a later Prometheus
    "limitk(2, up)",                               // aggregation of a later Prometheus
    "up + fill(0) up",                             // modifier of a later Prometheus
];

/// Whole files promtool refuses, with `EXPR_KEY` standing for `expr` (the
/// native form replaces it by `query`).
/// `for` / `keep_firing_for` values promtool 2.42 refuses.
const PROMETHEUS_ONLY_DURATIONS: &[(&str, &str)] = &[
    ("for", "5 minutes"),
    ("for", "1min"),
    ("for", "30m5h"),
    ("for", "1.5h"),
    ("keep_firing_for", "10 m"),
    ("keep_firing_for", "1hour"),
];

const BROKEN_FILES: &[(&str, &str)] = &[
    (
        "duplicate-group",
        "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n",
    ),
    (
        "invalid-label-name",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        EXPR_KEY: up\n        labels: {0bad: x}\n",
    ),
    (
        "name-label",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        EXPR_KEY: up\n        labels: {__name__: x}\n",
    ),
    (
        "invalid-annotation-name",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        EXPR_KEY: up\n        annotations: {a-b: x}\n",
    ),
    (
        "unknown-rule-key",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        EXPR_KEY: up\n        foo: bar\n",
    ),
    (
        "unknown-group-key",
        "groups:\n  - name: g\n    evaluation: 1m\n    rules: []\n",
    ),
    (
        "alert-and-record",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        record: a\n        EXPR_KEY: up\n",
    ),
    (
        "invalid-record-name",
        "groups:\n  - name: g\n    rules:\n      - record: 1up\n        expr: up\n",
    ),
    (
        "record-bad-expr",
        "groups:\n  - name: g\n    rules:\n      - record: job:up\n        expr: sum(up\n",
    ),
    (
        "block-scalar-expr",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        EXPR_KEY: |\n          sum by (job) (\n            rate(x[5m])\n          ))\n",
    ),
    (
        "bad-template",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        EXPR_KEY: up\n        annotations: {summary: \"{{ $labels.x \"}\n",
    ),
    (
        "empty-expr",
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        EXPR_KEY: \"\"\n",
    ),
];

/// Whether promtool is here to compare with; in CI (`CI=true`) its absence
/// is a failure, never a skip.
fn promtool_available() -> bool {
    let here = Path::new(PROMTOOL).exists();
    assert!(
        here || std::env::var("CI").as_deref() != Ok("true"),
        "{PROMTOOL} is missing (scripts/testenv.sh install puts it there)"
    );
    if !here {
        eprintln!("skipped: {PROMTOOL} is not installed");
    }
    here
}

/// `promtool check rules --lint=none FILES`: (ok, rules found per file summed).
fn promtool(files: &[PathBuf]) -> (bool, usize, String) {
    let out = Command::new(PROMTOOL)
        .args(["check", "rules", "--lint=none"])
        .args(files)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let found = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SUCCESS: "))
        .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
        .sum();
    (out.status.success(), found, text)
}

fn config(dir: &Path) -> PathBuf {
    let p = dir.join("tocsin.yaml");
    std::fs::write(&p, "prometheus: {url: \"http://127.0.0.1:9\"}\n").unwrap();
    p
}

/// `tocsin check PATHS`: (ok, stdout, stderr).
fn tocsin_check(dir: &Path, paths: &[PathBuf]) -> (bool, String, String) {
    let mut args = vec!["check".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    common::cli(&config(dir), &args)
}

/// The number of alerting rules in `tocsin check`'s summary line.
fn rules_loaded(stdout: &str) -> usize {
    let at = stdout.find(" rules,").expect(stdout);
    stdout[..at]
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect(stdout)
}

/// `file:line:col: ` with a line and column of at least 1.
fn assert_positioned(stderr: &str, file: &Path) {
    let prefix = format!("{}:", file.display());
    let first = stderr.lines().next().unwrap_or_default();
    let rest = first
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("expected an error starting with {prefix}, got:\n{stderr}"));
    let mut parts = rest.splitn(3, ':');
    let line: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let col: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(line >= 1 && col >= 1, "no line:col in {first}");
}

fn alert_file(expr_key: &str, expr: &str) -> String {
    let quoted = expr.replace('\'', "''");
    format!("groups:\n  - name: g\n    rules:\n      - alert: A\n        {expr_key}: '{quoted}'\n")
}

#[test]
fn what_promtool_refuses_tocsin_refuses_at_file_line_col() {
    if !promtool_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, String, String)> = Vec::new();
    for (i, expr) in BROKEN_EXPRESSIONS.iter().enumerate() {
        cases.push((
            format!("expr-{i:02}"),
            alert_file("expr", expr),
            alert_file("query", expr),
        ));
    }
    for (name, text) in BROKEN_FILES {
        cases.push((
            name.to_string(),
            text.replace("EXPR_KEY", "expr"),
            text.replace("EXPR_KEY", "query"),
        ));
    }
    let mut refused = 0;
    for (name, prometheus, native) in &cases {
        let p = dir.path().join(format!("{name}.prometheus.yaml"));
        std::fs::write(&p, prometheus).unwrap();
        let (ok, _, text) = promtool(std::slice::from_ref(&p));
        assert!(
            !ok,
            "promtool accepts {name}, not a broken case:\n{prometheus}\n{text}"
        );
        let (ok, _, err) = tocsin_check(dir.path(), std::slice::from_ref(&p));
        assert!(
            !ok,
            "tocsin accepts {name}, which promtool refuses:\n{prometheus}\npromtool: {text}"
        );
        assert_positioned(&err, &p);

        let n = dir.path().join(format!("{name}.native.yaml"));
        std::fs::write(&n, native).unwrap();
        let (ok, _, err) = tocsin_check(dir.path(), std::slice::from_ref(&n));
        assert!(!ok, "tocsin accepts the native form of {name}:\n{native}");
        assert_positioned(&err, &n);
        refused += 1;
    }
    // Durations promtool refuses: tocsin's native rules take humantime
    // (`5 minutes`), its Prometheus-format ones only Prometheus's syntax.
    for (i, (key, value)) in PROMETHEUS_ONLY_DURATIONS.iter().enumerate() {
        let text = format!(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        {key}: {value}\n"
        );
        let p = dir.path().join(format!("duration-{i:02}.prometheus.yaml"));
        std::fs::write(&p, &text).unwrap();
        let (ok, _, promtool_says) = promtool(std::slice::from_ref(&p));
        assert!(!ok, "promtool accepts {key}: {value}:\n{promtool_says}");
        let (ok, _, err) = tocsin_check(dir.path(), std::slice::from_ref(&p));
        assert!(!ok, "tocsin accepts {key}: {value}, which promtool refuses");
        assert_positioned(&err, &p);
        assert!(err.contains("expected a Prometheus duration"), "{err}");
        refused += 1;
    }
    assert!(refused >= 45, "{refused} broken cases");
    eprintln!(
        "{refused} broken files refused by promtool and tocsin (and their native forms by tocsin)"
    );
}

#[test]
fn promql_errors_point_inside_the_expression() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.yaml");
    std::fs::write(&p, alert_file("expr", "sum(up))")).unwrap();
    let (ok, _, err) = tocsin_check(dir.path(), std::slice::from_ref(&p));
    assert!(!ok);
    // `        expr: '` is 15 columns; the stray `)` is the 8th character.
    let want = format!(
        "{}:5:23: invalid PromQL: unexpected right parenthesis ')'",
        p.display()
    );
    assert!(err.starts_with(&want), "want {want}\n got {err}");
}

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = common::repo().join("tests/fixtures").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// Recording rules in `files` (tocsin skips them; promtool counts them).
fn recording_rules(files: &[PathBuf]) -> usize {
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .filter(|l| {
                    l.trim_start()
                        .trim_start_matches("- ")
                        .starts_with("record:")
                })
                .count()
        })
        .sum()
}

#[test]
fn what_promtool_accepts_tocsin_loads_with_as_many_alerting_rules() {
    if !promtool_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for folder in ["third_party", "promtool/valid"] {
        let files = fixtures(folder);
        assert!(files.len() >= 5, "{folder}: {files:?}");
        for f in &files {
            let (ok, found, text) = promtool(std::slice::from_ref(f));
            assert!(ok, "promtool refuses {}:\n{text}", f.display());
            let (ok, out, err) = tocsin_check(dir.path(), std::slice::from_ref(f));
            assert!(
                ok,
                "tocsin refuses {}, which promtool accepts:\n{err}",
                f.display()
            );
            let alerting = found - recording_rules(std::slice::from_ref(f));
            assert_eq!(rules_loaded(&out), alerting, "{}", f.display());
        }
        all.extend(files);
    }
    // All of them as one rule path: same-named groups of two files included.
    let (ok, found, text) = promtool(&all);
    assert!(ok, "{text}");
    let (ok, out, err) = tocsin_check(dir.path(), &all);
    assert!(ok, "{err}");
    assert_eq!(rules_loaded(&out), found - recording_rules(&all), "{out}");
    eprintln!("{} valid files accepted by promtool and tocsin", all.len());
}

#[test]
fn a_folder_with_a_group_name_in_two_files_loads_both() {
    let dir = common::repo().join("tests/fixtures/promtool/valid");
    let set = tocsin::rules::load_rules(std::slice::from_ref(&dir), &Default::default()).unwrap();
    let names: Vec<&str> = set.groups.iter().map(|g| g.name.as_str()).collect();
    let second = format!("shared ({})", dir.join("same-group-b.yaml").display());
    assert!(names.contains(&"shared"), "{names:?}");
    assert!(names.contains(&second.as_str()), "{names:?}");
    let pair = set.groups.iter().find(|g| g.name == "disk").unwrap();
    assert_eq!(pair.rules.len(), 2);
    let empty: Vec<_> = set.groups.iter().filter(|g| g.rules.is_empty()).collect();
    assert_eq!(empty.len(), 3, "rules: [], rules: and rules: null");
}
