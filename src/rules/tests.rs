//! Validation tests: each bad input names its place and what was expected.

use std::path::PathBuf;

use super::*;
use crate::alert::{Labels, RuleFormat, Severity};
use crate::template::TemplateContext;

fn load(text: &str) -> Result<RuleSet, crate::yaml::SourceErrors> {
    load_sources(
        &[(PathBuf::from("r.yaml"), text.to_string())],
        &LoadOptions::default(),
    )
}

fn first_error(text: &str) -> String {
    load(text).unwrap_err().0[0].to_string()
}

#[test]
fn native_rule_loads_with_levels_and_hysteresis() {
    let set = load(
        r#"
groups:
  - name: emqx
    interval: 30s
    labels: {service: emqx}
    rules:
      - alert: CertificateExpiring
        query: min by (deployment) (days_left)
        severity: {warning: "< 30", error: "< 7"}
        resolve_when: "> 31"
        for: 5m
        keep_firing_for: 10m
        on_no_data: keep
        message: "cert expires in {{ value }} days"
        resolution: "Renew it"
"#,
    )
    .unwrap();
    let g = &set.groups[0];
    assert!(matches!(g.schedule, Schedule::Every(d) if d.as_secs() == 30));
    assert_eq!(g.labels.get("service").map(String::as_str), Some("emqx"));
    let r = &g.rules[0];
    assert_eq!(r.format, RuleFormat::Native);
    assert_eq!(r.breached_level(5.0), Some(Severity::Error));
    assert_eq!(r.breached_level(20.0), Some(Severity::Warning));
    assert_eq!(r.breached_level(30.5), None);
    assert_eq!(r.pending_for.as_secs(), 300);
    assert_eq!(r.keep_firing_for.as_secs(), 600);
    assert_eq!(r.on_no_data, NoDataPolicy::Keep);
    assert!(r.resolve_when.is_some());
}

#[test]
fn prometheus_file_loads_unchanged() {
    let set = load(
        r#"
groups:
  - name: node
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        keep_firing_for: 2m
        labels:
          severity: critical
        annotations:
          summary: "Instance {{ $labels.instance }} down"
          description: "{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes."
"#,
    )
    .unwrap();
    assert_eq!(
        set.groups[0].recording_rules.len(),
        1,
        "recording rule loaded"
    );
    let mut set = set;
    set.skip_recording_rules();
    assert_eq!(set.warnings.len(), 1, "recording rule skipped and noted");
    let r = &set.groups[0].rules[0];
    assert_eq!(r.format, RuleFormat::Prometheus);
    assert_eq!(r.levels[0].severity, Severity::Error);
    assert!(r.levels[0].condition.is_none());
    assert_eq!(r.annotations.len(), 2);
    let mut labels = Labels::new();
    labels.insert("instance".into(), "db-1".into());
    let ctx = TemplateContext::new("InstanceDown", "error", &labels, 0.0, None);
    assert_eq!(r.annotations[1].0, "summary");
    assert_eq!(r.annotations[1].1.render(&ctx), "Instance db-1 down");
}

#[test]
fn cron_group_with_timezone() {
    let set = load(
        "groups:\n  - name: nightly\n    cron: \"0 0 2 * * *\"\n    timezone: Asia/Shanghai\n    rules:\n      - alert: A\n        query: up == 0\n",
    )
    .unwrap();
    assert!(
        matches!(&set.groups[0].schedule, Schedule::Cron { timezone, .. } if *timezone == chrono_tz::Asia::Shanghai)
    );
}

#[test]
fn errors_name_file_line_col_and_expectation() {
    let cases: &[(&str, &str)] = &[
        // unknown key
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        sevrity: warning\n",
            "r.yaml:6:9: unknown field `sevrity`",
        ),
        // bad duration
        (
            "groups:\n  - name: g\n    interval: 30 parsecs\n    rules: []\n",
            "r.yaml:3:15: expected a duration",
        ),
        // bad cron (5 fields)
        (
            "groups:\n  - name: g\n    cron: \"*/5 * * * *\"\n    rules: []\n",
            "r.yaml:3:11: expected a cron expression with 6 fields",
        ),
        // bad operator
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        when: \"=> 5\"\n",
            "r.yaml:6:15: expected a condition like \"> 8000\"",
        ),
        // duplicate group in one file
        (
            "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n",
            "r.yaml:4:11: groupname: \"g\" is repeated in the same file (first at line 2, column 11)",
        ),
        // invalid PromQL, at its place in the expression
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: sum(up))\n",
            "r.yaml:5:23: invalid PromQL: unexpected right parenthesis ')'",
        ),
        // invalid recording rule name
        (
            "groups:\n  - name: g\n    rules:\n      - record: 1up\n        expr: up\n",
            "r.yaml:4:17: invalid recording rule name",
        ),
        // unparseable template
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        message: \"{{ value \"\n",
            "r.yaml:6:18: cannot parse message template",
        ),
        // wrong type
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        labels: [a, b]\n",
            "r.yaml:6:17: ",
        ),
        // bad severity
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        severity: fatal\n",
            "r.yaml:6:19: expected severity warning or error",
        ),
        // bad timezone
        (
            "groups:\n  - name: g\n    cron: \"0 0 2 * * *\"\n    timezone: Mars/Olympus\n    rules: []\n",
            "r.yaml:4:15: expected an IANA time zone",
        ),
        // missing query
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        for: 5m\n",
            "r.yaml:4:16: expected a `query:`",
        ),
        // malformed YAML
        ("groups:\n  - name: g\n    rules: [\n", "r.yaml:"),
        // sub-second interval
        (
            "groups:\n  - name: g\n    interval: 500ms\n    rules: []\n",
            "r.yaml:3:15: expected an interval of whole seconds",
        ),
        // when + levels
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        when: \"> 1\"\n        severity: {warning: \"> 2\"}\n",
            "r.yaml:6:15: expected either `when:` or severity levels",
        ),
        // resolve_when without threshold
        (
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        resolve_when: \"< 1\"\n",
            "r.yaml:6:23: resolve_when needs a threshold",
        ),
    ];
    for (text, want) in cases {
        let got = first_error(text);
        assert!(got.starts_with(want), "\n got: {got}\nwant: {want}...");
    }
}

#[test]
fn a_group_name_of_an_earlier_file_is_renamed_after_its_file() {
    let file = |name: &str| {
        (
            PathBuf::from(name),
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
                .to_string(),
        )
    };
    let set = load_sources(&[file("a.yaml"), file("b.yaml")], &LoadOptions::default()).unwrap();
    let names: Vec<&str> = set.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["g", "g (b.yaml)"]);
    assert_eq!(set.groups[1].rules[0].group, "g (b.yaml)");
}

#[test]
fn two_rules_may_share_an_alert_name() {
    let set = load(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up > 1\n        labels: {severity: warning}\n      - alert: A\n        expr: up > 2\n        labels: {severity: critical}\n",
    )
    .unwrap();
    let rules = &set.groups[0].rules;
    assert_eq!(rules.len(), 2);
    assert_eq!((rules[0].index, rules[0].occurrence), (0, 0));
    assert_eq!((rules[1].index, rules[1].occurrence), (1, 1));
}

#[test]
fn empty_or_null_rules_is_a_group_with_no_rules() {
    for rules in ["rules: []", "rules:", "rules: null", "rules: ~"] {
        let set = load(&format!("groups:\n  - name: g\n    {rules}\n")).unwrap();
        assert_eq!(set.groups.len(), 1, "{rules}");
        assert!(set.groups[0].rules.is_empty(), "{rules}");
    }
}

/// Where the PromQL error of `expr`, written as `value` in the file, is reported.
fn promql_error_at(value: &str) -> String {
    let text =
        format!("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: {value}\n");
    first_error(&text)
}

#[test]
fn promql_errors_point_into_plain_and_quoted_scalars() {
    // `expr: ` ends at column 14; the stray `)` is the 8th character.
    assert!(
        promql_error_at("sum(up))")
            .starts_with("r.yaml:5:22: invalid PromQL: unexpected right parenthesis")
    );
    // A quote before the expression moves it one column right.
    assert!(promql_error_at("\"sum(up))\"").starts_with("r.yaml:5:23: "));
    assert!(promql_error_at("'sum(up))'").starts_with("r.yaml:5:23: "));
    // Escapes take more room in the file than in the value.
    assert!(promql_error_at("\"up{a=\\\"x\\\"}) \"").starts_with("r.yaml:5:27: "));
    assert!(promql_error_at("'up{a=''x''})'").starts_with("r.yaml:5:27: "));
    assert!(
        promql_error_at("nosuchfunc(up)")
            .starts_with("r.yaml:5:15: invalid PromQL: unknown function")
    );
}

#[test]
fn promql_errors_point_into_block_scalars() {
    let literal =
        promql_error_at("|\n          sum by (job) (\n            rate(x[5m])\n          ))\n");
    assert!(
        literal.starts_with("r.yaml:8:12: invalid PromQL: unexpected right parenthesis"),
        "{literal}"
    );
    let folded = promql_error_at(">-\n          sum(rate(x[5m]))\n          + nosuchfunc(up)\n");
    assert!(
        folded.starts_with("r.yaml:7:13: invalid PromQL: unknown function"),
        "{folded}"
    );
}

#[test]
fn position_mapping_walks_quotes_escapes_and_blocks() {
    use super::position::locate;
    // (text, start of the scalar, value, offset) -> (line, column)
    assert_eq!(locate("k: ab)\n", 3, "ab)", 2), Some((1, 6)));
    assert_eq!(locate("k: \"a\\tb)\"\n", 3, "a\tb)", 3), Some((1, 9)));
    assert_eq!(locate("k: 'it''s)'\n", 3, "it's)", 4), Some((1, 10)));
    assert_eq!(locate("k: |\n  ab\n  c)\n", 7, "ab\nc)\n", 4), Some((3, 4)));
    assert_eq!(locate("k: >\n  ab\n  c)\n", 7, "ab c)\n", 4), Some((3, 4)));
    // Plain scalars fold their line breaks too.
    assert_eq!(locate("k: ab\n  c)\n", 3, "ab c)", 4), Some((2, 4)));
    // A value that is not what the file says cannot be placed.
    assert_eq!(locate("k: ab\n", 3, "xy", 1), None);
}

#[test]
fn all_errors_of_a_file_are_reported_not_just_the_first() {
    let err = load(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        query: up\n        message: \"{{ x \"\n      - alert: B\n        query: up\n        resolution: \"{% if %}\"\n",
    )
    .unwrap_err();
    assert_eq!(err.0.len(), 2, "{err}");
}

#[test]
fn unworkable_template_functions_are_warnings_with_positions() {
    let set = load(
        r#"
groups:
  - name: t
    rules:
      - alert: Console
        expr: up == 0
        labels:
          page: '{{ tmpl "x" . }}'
        annotations:
          value: '{{ query "up" | first | value }}'
          console: "a\n{{ define \"x\" }}x{{ end }}  {{ tmpl \"x\" . }}"
"#,
    )
    .unwrap();
    let w: Vec<String> = set.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        [
            "r.yaml:8:17: label \"page\", template line 1 column 4: `tmpl` only works in Prometheus console templates (Prometheus rejects it in alert rules); it renders an error",
            "r.yaml:11:20: annotation \"console\", template line 2 column 32: `tmpl` only works in Prometheus console templates (Prometheus rejects it in alert rules); it renders an error",
        ]
    );
    let r = &set.groups[0].rules[0];
    assert!(crate::eval::template_query::renders_queries(r));
}

#[test]
fn prometheus_durations_follow_prometheus_and_native_ones_humantime() {
    use super::load::parse_prometheus_duration as p;
    use std::time::Duration;
    assert_eq!(p("0"), Some(Duration::ZERO));
    assert_eq!(p("1h30m"), Some(Duration::from_secs(5400)));
    assert_eq!(p("1y"), Some(Duration::from_secs(365 * 86400)));
    assert_eq!(p("2w3d"), Some(Duration::from_secs(17 * 86400)));
    assert_eq!(p("1s500ms"), Some(Duration::from_millis(1500)));
    for bad in ["", "5 minutes", "1min", "30m5h", "1.5h", "5", "1h 30m"] {
        assert_eq!(p(bad), None, "{bad:?}");
    }
    let rules = |format_key: &str, d: &str| {
        format!(
            "groups:\n  - name: g\n    rules:\n      - alert: A\n        {format_key}: up\n        for: {d}\n"
        )
    };
    let load = |text: String| {
        super::load_sources(
            &[(std::path::PathBuf::from("r.yaml"), text)],
            &super::LoadOptions::default(),
        )
    };
    let err = load(rules("expr", "5 minutes"))
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("r.yaml:6:14: expected a Prometheus duration")),
        "{err:?}"
    );
    let set = load(rules("query", "5 minutes"))
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(set.groups[0].rules[0].pending_for, Duration::from_secs(300));
}
