//! Go text/template conformance: cases checked against Go's own output.
use super::strconv::format_float;
use super::*;
use crate::template::query::QuerySample;

fn labels() -> BTreeMap<String, String> {
    [
        ("instance", "host1.example.com:9100"),
        ("job", "node"),
        ("severity", "critical"),
        ("empty", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn ext_labels() -> BTreeMap<String, String> {
    [("cluster", "prod-eu"), ("region", "eu-west-1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const URL: &str = "http://prom.example.com:9090/prometheus";

fn render_with(text: &str, value: f64, labels: &BTreeMap<String, String>) -> String {
    let t = match GoTemplate::parse(text) {
        Ok(t) => t,
        Err(e) => panic!("parse of {text:?} failed: {e}"),
    };
    let ext = ext_labels();
    t.render(&GoTemplateData {
        labels,
        value,
        external_labels: &ext,
        external_url: URL,
        query: None,
    })
}

fn render_v(text: &str, value: f64) -> String {
    render_with(text, value, &labels())
}

fn render(text: &str) -> String {
    render_v(text, 8123.0)
}

fn parse_err(text: &str) -> String {
    match GoTemplate::parse(text) {
        Ok(_) => panic!("{text:?} parsed but should not"),
        Err(e) => e,
    }
}

/// The exact marker Prometheus produces for an execution error at `col`
/// (columns count the 112-byte prefix Prometheus prepends).
fn marker(col: usize, context: &str, msg: &str) -> String {
    format!(
        "<error expanding template: error executing template __alert: template: __alert:1:{col}: executing \"__alert\" at <{context}>: {msg}>"
    )
}

#[test]
fn prefix_is_what_prometheus_prepends() {
    assert_eq!(DEFS.len(), 112);
    assert!(DEFS.starts_with("{{$labels := .Labels}}"));
}

#[test]
fn label_and_value_placeholders() {
    assert_eq!(
        render("{{ $labels.instance }} of job {{ .Labels.job }} is {{ $value }}/{{ .Value }}"),
        "host1.example.com:9100 of job node is 8123/8123"
    );
    assert_eq!(
        render(
            "{{ $externalLabels.cluster }} {{ .ExternalLabels.region }} {{ $externalURL }} {{ .ExternalURL }}"
        ),
        format!("prod-eu eu-west-1 {URL} {URL}")
    );
    assert_eq!(
        render("[{{ $labels.missing }}][{{ .Labels.nope }}]"),
        "[][]"
    );
    assert_eq!(render("{{ $.Labels.job }}"), "node");
    assert_eq!(render("no actions at all"), "no actions at all");
    assert_eq!(render(""), "");
}

#[test]
fn value_prints_like_go_percent_v() {
    let cases: &[(f64, &str)] = &[
        (8123.0, "8123"),
        (0.5, "0.5"),
        (1e6, "1e+06"),
        (1.5e-7, "1.5e-07"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (-0.5, "-0.5"),
        (123456.0, "123456"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1e21, "1e+21"),
        (123456789.125, "1.23456789125e+08"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (-0.0, "-0"),
        (0.0, "0"),
        (100.0, "100"),
        (0.1, "0.1"),
        // Shortest-representation ties: Go picks the even digit.
        (-980_788_365_087_941.3, "-9.807883650879412e+14"),
        (12_618_626_328_942.063, "1.2618626328942062e+13"),
    ];
    for (v, want) in cases {
        assert_eq!(render_v("{{ $value }}", *v), *want, "value {v:?}");
        assert_eq!(render_v("{{ print .Value }}", *v), *want, "value {v:?}");
    }
}

#[test]
fn strconv_format_float() {
    assert_eq!(format_float(1234.5678, b'e', 3), "1.235e+03");
    assert_eq!(format_float(0.0, b'e', 2), "0.00e+00");
    assert_eq!(format_float(1.0, b'f', 0), "1");
    assert_eq!(format_float(-2.5, b'f', 0), "-2");
    assert_eq!(format_float(100.0, b'g', 4), "100");
    assert_eq!(format_float(1.5, b'g', 4), "1.5");
    assert_eq!(format_float(1234567.0, b'g', 4), "1.235e+06");
    assert_eq!(format_float(0.00001234, b'g', 3), "1.23e-05");
    assert_eq!(format_float(123.0, b'g', 0), "1e+02");
    assert_eq!(format_float(1e21, b'f', -1), "1000000000000000000000");
    assert_eq!(format_float(f64::INFINITY, b'g', 4), "+Inf");
}

#[test]
fn humanize_examples() {
    let cases: &[(&str, f64, &str)] = &[
        ("humanize", 1234567.0, "1.235M"),
        ("humanize", 0.000012, "12u"),
        ("humanize", 0.0, "0"),
        ("humanize", -1234.0, "-1.234k"),
        ("humanize", f64::NAN, "NaN"),
        ("humanize", f64::INFINITY, "+Inf"),
        ("humanize", 1e30, "1e+06Y"),
        ("humanize", 1e-30, "1e-06y"),
        ("humanize", 999.95, "1000"),
        ("humanize1024", 1048576.0, "1Mi"),
        ("humanize1024", 1.0, "1"),
        ("humanize1024", 1536.0, "1.5ki"),
        ("humanize1024", 0.5, "0.5"),
        ("humanize1024", 1e30, "8.272e+05Yi"),
        ("humanizeDuration", 90061.0, "1d 1h 1m 1s"),
        ("humanizeDuration", 899.99, "14m 59s"),
        ("humanizeDuration", 0.1, "100ms"),
        ("humanizeDuration", 0.0001, "100us"),
        ("humanizeDuration", 0.12345, "123.5ms"),
        ("humanizeDuration", 60.5, "1m 0s"),
        ("humanizeDuration", 1.2345, "1.234s"),
        ("humanizeDuration", 12.345, "12.35s"),
        ("humanizeDuration", 0.0, "0s"),
        ("humanizeDuration", -1.0, "-1s"),
        ("humanizeDuration", 1234567.0, "14d 6h 56m 7s"),
        ("humanizeDuration", -183845.0, "-2d 3h 4m 5s"),
        ("humanizeDuration", f64::NAN, "NaN"),
        ("humanizeDuration", 1e300, "-106751991167300d -15h -30m -8s"),
        ("humanizePercentage", 0.1234, "12.34%"),
        ("humanizePercentage", 0.1234567, "12.35%"),
        ("humanizePercentage", 1.0, "100%"),
        ("humanizePercentage", 0.0, "0%"),
        (
            "humanizeTimestamp",
            1435065584.128,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        ("humanizeTimestamp", 0.0, "1970-01-01 00:00:00 +0000 UTC"),
        ("humanizeTimestamp", -1.0, "1969-12-31 23:59:59 +0000 UTC"),
        ("humanizeTimestamp", -1.5, "1969-12-31 23:59:58.5 +0000 UTC"),
        ("humanizeTimestamp", 1.0005, "1970-01-01 00:00:01 +0000 UTC"),
        (
            "humanizeTimestamp",
            1234567.0,
            "1970-01-15 06:56:07 +0000 UTC",
        ),
        (
            "humanizeTimestamp",
            9223372036.0,
            "2262-04-11 23:47:16 +0000 UTC",
        ),
        ("humanizeTimestamp", f64::INFINITY, "+Inf"),
        ("humanizeTimestamp", f64::NAN, "NaN"),
    ];
    for (f, v, want) in cases {
        assert_eq!(
            render_v(&format!("{{{{ {f} $value }}}}"), *v),
            *want,
            "{f} {v}"
        );
        assert_eq!(
            render_v(&format!("{{{{ $value | {f} }}}}"), *v),
            *want,
            "{f} {v}"
        );
    }
}

#[test]
fn humanize_accepts_strings_and_ints() {
    assert_eq!(render(r#"{{ humanize "1234567" }}"#), "1.235M");
    assert_eq!(render("{{ humanize 1234 }}"), "1.234k");
    assert_eq!(
        render(r#"{{ humanizeTimestamp "1435065584.128" }}"#),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(render(r#"{{ humanize "-Infinity" }}"#), "-Inf");
    assert_eq!(render(r#"{{ humanizeDuration "1e3" }}"#), "16m 40s");
    let mut l = labels();
    l.insert("bytes".into(), "1048576".into());
    assert_eq!(
        render_with("{{ humanize1024 $labels.bytes }}B", 0.0, &l),
        "1MiB"
    );
    assert_eq!(
        render(r#"{{ humanize "abc" }}"#),
        marker(
            115,
            "humanize \"abc\"",
            "error calling humanize: strconv.ParseFloat: parsing \"abc\": invalid syntax"
        )
    );
    assert_eq!(
        render(r#"{{ humanize "1e400" }}"#),
        marker(
            115,
            "humanize \"1e400\"",
            "error calling humanize: strconv.ParseFloat: parsing \"1e400\": value out of range"
        )
    );
    assert_eq!(
        render("{{ humanize true }}"),
        marker(
            115,
            "humanize true",
            "error calling humanize: can't convert bool to float"
        )
    );
    assert_eq!(
        render_v("{{ humanizeTimestamp $value }}", 1e20),
        marker(
            115,
            "humanizeTimestamp $value",
            "error calling humanizeTimestamp: 1e+20 cannot be represented as a nanoseconds timestamp since it overflows int64"
        )
    );
}

#[test]
fn range_over_labels_is_sorted() {
    let l: BTreeMap<String, String> = [("zeta", "1"), ("alpha", "2"), ("Beta", "3"), ("_x", "4")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(
        render_with(
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0,
            &l
        ),
        "Beta=3;_x=4;alpha=2;zeta=1;"
    );
    assert_eq!(
        render_with("{{ range $labels }}{{ . }},{{ end }}", 0.0, &l),
        "3,4,2,1,"
    );
    assert_eq!(
        render_with("{{ range $v := .Labels }}{{ $v }}{{ end }}", 0.0, &l),
        "3421"
    );
    assert_eq!(
        render("{{ range $k, $v := .ExternalLabels }}{{ $k }}:{{ $v }} {{ end }}"),
        "cluster:prod-eu region:eu-west-1 "
    );
    // {{ $ }} stays the root inside range.
    assert_eq!(
        render_with("{{ range $labels }}{{ $.Value }}{{ end }}", 7.0, &l),
        "7777"
    );
}

#[test]
fn range_else_break_continue_and_int() {
    let empty = BTreeMap::new();
    assert_eq!(
        render_with("{{ range $labels }}x{{ else }}empty{{ end }}", 0.0, &empty),
        "empty"
    );
    assert_eq!(
        render("{{ range $labels }}x{{ else }}empty{{ end }}"),
        "xxxx"
    );
    let tpl = r#"{{ range $k, $v := $labels }}{{ if eq $k "job" }}{{ break }}{{ end }}{{ $k }} {{ end }}"#;
    assert_eq!(render(tpl), "empty instance ");
    let tpl = r#"{{ range $k, $v := $labels }}{{ if eq $k "job" }}{{ continue }}{{ end }}{{ $k }} {{ end }}"#;
    assert_eq!(render(tpl), "empty instance severity ");
    assert_eq!(render("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(render("{{ range $i := 2 }}[{{ $i }}]{{ end }}"), "[0][1]");
    assert_eq!(render("{{ range 0 }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        render("{{ range $value }}{{ end }}"),
        marker(121, "$value", "range can't iterate over 8123")
    );
}

#[test]
fn if_else_with() {
    assert_eq!(
        render(r#"{{ if eq $labels.severity "critical" }}PAGE{{ else }}ticket{{ end }}"#),
        "PAGE"
    );
    assert_eq!(
        render(
            r#"{{ if ne .Labels.job "node" }}a{{ else if eq .Labels.job "node" }}b{{ else }}c{{ end }}"#
        ),
        "b"
    );
    assert_eq!(
        render("{{ if gt $value 100.0 }}big{{ else }}small{{ end }}"),
        "big"
    );
    assert_eq!(render_v("{{ if $value }}T{{ else }}F{{ end }}", 0.0), "F");
    assert_eq!(render_v("{{ if $value }}T{{ else }}F{{ end }}", -0.5), "T");
    assert_eq!(
        render("{{ with $labels.instance }}[{{ . }}]{{ end }}"),
        "[host1.example.com:9100]"
    );
    assert_eq!(
        render("{{ with $labels.empty }}[{{ . }}]{{ else }}none{{ end }}"),
        "none"
    );
    assert_eq!(
        render("{{ with $labels.nope }}a{{ else with $labels.job }}{{ . }}{{ end }}"),
        "node"
    );
    assert_eq!(
        render(r#"{{ if and (eq $labels.job "node") (gt $value 1000.0) }}both{{ end }}"#),
        "both"
    );
    assert_eq!(
        render(r#"{{ if or (eq $labels.job "x") (lt $value 1.0) }}y{{ else }}n{{ end }}"#),
        "n"
    );
    assert_eq!(
        render("{{ and 1 0 2 }} {{ or 0 \"\" \"x\" }} {{ not 0 }} {{ not $labels }}"),
        "0 x true false"
    );
    // and/or short-circuit like Go >= 1.18.
    assert_eq!(
        render(r#"{{ and 0 (query "x") }}{{ or 1 (query "x") }}"#),
        "01"
    );
}

#[test]
fn comparisons() {
    assert_eq!(
        render(
            r#"{{ eq 1 1 2 }} {{ eq "a" "b" "a" }} {{ eq $value 8123.0 }} {{ lt 1 2 }} {{ le 2 2 }} {{ ge "b" "a" }} {{ eq nil nil }}"#
        ),
        "true true true true true true true"
    );
    assert_eq!(
        render("{{ if gt $value 100 }}big{{ end }}"),
        marker(
            118,
            "gt $value 100",
            "error calling gt: incompatible types for comparison: float64 and int"
        )
    );
    assert_eq!(
        render("{{ lt true false }}"),
        marker(
            115,
            "lt true false",
            "error calling lt: invalid type for comparison"
        )
    );
    assert_eq!(
        render("{{ eq .Labels .Labels }}"),
        marker(
            115,
            "eq .Labels .Labels",
            "error calling eq: non-comparable type map[empty: instance:host1.example.com:9100 job:node severity:critical]: map[string]string"
        )
    );
}

#[test]
fn variables_follow_go_scoping() {
    assert_eq!(
        render("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}"),
        "21"
    );
    assert_eq!(
        render("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"),
        "2"
    );
    assert_eq!(
        render("{{ $n := len $labels }}{{ if gt $n 3 }}many{{ end }}"),
        "many"
    );
    assert_eq!(
        render("{{ if $x := $labels.job }}{{ $x }}{{ else }}{{ $x }}{{ end }}"),
        "node"
    );
    assert_eq!(
        render("{{ $y = 1 }}"),
        marker(120, "1", "undefined variable: $y")
    );
    assert_eq!(
        parse_err("{{ with $x := 1 }}{{ end }}{{ $x }}"),
        "template: __alert:1: undefined variable \"$x\""
    );
}

#[test]
fn define_template_block() {
    assert_eq!(
        render(r#"{{ define "x" }}X{{ . }}{{ end }}{{ template "x" "arg" }}"#),
        "Xarg"
    );
    assert_eq!(
        render(r#"{{ block "b" . }}B{{ .Labels.job }}{{ end }}"#),
        "Bnode"
    );
    assert_eq!(
        render(
            r#"{{ template "x" (args 1 2) }}{{ define "x" }}{{ .arg0 }}-{{ .arg1 }}-{{ .arg2 }}{{ end }}"#
        ),
        "1-2-<no value>"
    );
    assert_eq!(
        render(r#"{{ template "nope" }}"#),
        marker(
            124,
            "{{template \"nope\"}}",
            "template \"nope\" not defined"
        )
    );
    assert_eq!(
        render(r#"{{ define "a" }}{{ .Nope }}{{ end }}{{ template "a" . }}"#),
        "<error expanding template: error executing template __alert: template: __alert:1:131: executing \"a\" at <.Nope>: can't evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }>"
    );
    assert_eq!(
        parse_err(r#"{{ define "x" }}a{{ end }}{{ define "x" }}b{{ end }}"#),
        "template: __alert:1: template: multiple definition of template \"x\""
    );
    // Unbounded recursion ends in an error marker, not a stack overflow.
    let out = render(r#"{{ define "r" }}{{ template "r" }}{{ end }}{{ template "r" }}"#);
    assert!(out.starts_with("<error expanding template: "), "{out}");
    assert!(out.contains("exceeded maximum template depth"), "{out}");
}

#[test]
fn whitespace_trimming_and_comments() {
    assert_eq!(render(r#"a {{- " b " -}} c"#), "a b c");
    assert_eq!(render("a\n  {{- 1 }}\n  {{- 2 -}}\n  z"), "a12z");
    assert_eq!(render("{{/* comment */}}x"), "x");
    assert_eq!(render("a  {{- /* c */ -}}  b"), "ab");
    assert_eq!(render("{{ -1 }} {{- -1 -}} x"), "-1-1x");
    assert_eq!(render("line1\n{{\n  $value\n}}"), "line1\n8123");
    assert_eq!(render("{{ $value |\n humanize }}"), "8.123k");
}

#[test]
fn unknown_function_is_a_parse_error() {
    assert_eq!(
        parse_err("{{ foo }}"),
        "template: __alert:1: function \"foo\" not defined"
    );
    assert_eq!(
        parse_err("{{ $labels.job | mul 2 }}"),
        "template: __alert:1: function \"mul\" not defined"
    );
    assert_eq!(
        parse_err("ok\n\n{{ nope 1 }}"),
        "template: __alert:3: function \"nope\" not defined"
    );
    let err = GoTemplate::parse_named("__alert_HighLoad", "{{ foo }}")
        .map(|_| ())
        .unwrap_err();
    assert_eq!(
        err,
        "template: __alert_HighLoad:1: function \"foo\" not defined"
    );
}

#[test]
fn syntax_errors_match_go() {
    let cases: &[(&str, &str)] = &[
        ("{{ .Labels.instance", "unclosed action"),
        ("{{ if 1 }}", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ $undefined }}", "undefined variable \"$undefined\""),
        ("{{ 1 | 2 }}", "non executable command in pipeline stage 2"),
        ("{{ \"unterminated }}", "unterminated quoted string"),
        ("{{ ( 1 }}", "unclosed left paren"),
        ("{{ # }}", "unexpected \"#\" in command"),
        (
            "{{ range $a, $b, $c := . }}{{ end }}",
            "too many declarations in range",
        ),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ $labels.@ }}", "bad character U+0040 '@'"),
        ("{{ .Labels.some-label }}", "bad character U+002D '-'"),
        ("{{/* open", "unclosed comment"),
        ("{{ 08 }}", "integer overflow: \"08\""),
        ("{{ \"\\q\" }}", "invalid syntax"),
        ("{{ \"\\é\" }}", "invalid syntax"),
        ("{{ 'ab' }}", "malformed character constant: 'ab'"),
        ("{{ 1 ) }}", "unexpected right paren"),
        ("{{ ☃ }}", "unrecognized character in action: U+2603 '☃'"),
    ];
    for (text, msg) in cases {
        assert_eq!(
            parse_err(text),
            format!("template: __alert:1: {msg}"),
            "{text:?}"
        );
    }
    assert_eq!(
        parse_err("x\n{{ 1\n| printf \"%d\" }}\n{{ \"a\n\" }}"),
        "template: __alert:4: unterminated quoted string"
    );
    assert_eq!(
        parse_err("{{ if 1 }}\n\n{{ \"open"),
        "template: __alert:3: unterminated quoted string"
    );
    // `some-label` is only reachable through index, exactly like Prometheus.
    let mut l = labels();
    l.insert("some-label".into(), "v".into());
    assert_eq!(
        render_with(r#"{{ index $labels "some-label" }}"#, 0.0, &l),
        "v"
    );
}

fn render_query(text: &str, runner: &dyn QueryRunner) -> String {
    let t = GoTemplate::parse(text).unwrap_or_else(|e| panic!("parse of {text:?} failed: {e}"));
    let (l, e) = (labels(), ext_labels());
    t.render(&GoTemplateData {
        labels: &l,
        value: 8123.0,
        external_labels: &e,
        external_url: URL,
        query: Some(runner),
    })
}

/// Answers by expression; unknown expressions fail like a PromQL error.
struct ByExpr(Vec<(&'static str, Vec<QuerySample>)>);

impl QueryRunner for ByExpr {
    fn query(&self, expr: &str) -> Result<Vec<QuerySample>, String> {
        self.0
            .iter()
            .find(|(e, _)| *e == expr)
            .map(|(_, r)| r.clone())
            .ok_or_else(|| format!("1:1: parse error: unknown {expr}"))
    }
}

fn up_samples() -> ByExpr {
    ByExpr(vec![
        (
            "up",
            vec![
                sample(
                    1.0,
                    &[("__name__", "up"), ("instance", "b:9100"), ("job", "node")],
                ),
                sample(
                    0.0,
                    &[("__name__", "up"), ("instance", "a:9100"), ("job", "node")],
                ),
                sample(
                    1.0,
                    &[("__name__", "up"), ("instance", "c:9100"), ("job", "api")],
                ),
            ],
        ),
        ("nothing", vec![]),
        ("scalar(1)", vec![sample(1.0, &[])]),
    ])
}

#[test]
fn query_functions_render_with_a_runner() {
    let r = up_samples();
    let cases: &[(&str, &str)] = &[
        ("{{ len (query \"up\") }}", "3"),
        ("{{ query \"up\" | first | value }}", "1"),
        ("{{ query \"up\" | first | label \"instance\" }}", "b:9100"),
        (
            "{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}",
            "a:9100=0 b:9100=1 c:9100=1 ",
        ),
        // stable: equal jobs keep their order
        (
            "{{ range $i, $s := query \"up\" | sortByLabel \"job\" }}{{ $i }}:{{ label \"instance\" $s }} {{ end }}",
            "0:c:9100 1:b:9100 2:a:9100 ",
        ),
        // sortByLabel sorts the shared result in place, as in Go
        (
            "{{ $r := query \"up\" }}{{ $_ := sortByLabel \"instance\" $r }}{{ (index $r 0).Labels.instance }}",
            "a:9100",
        ),
        (
            "{{ with query \"nothing\" }}some{{ else }}none{{ end }}",
            "none",
        ),
        ("{{ if query \"up\" }}some{{ end }}", "some"),
        ("{{ query \"scalar(1)\" | first | value | humanize }}", "1"),
        ("{{ (query \"up\" | first).Labels.job }}", "node"),
        ("{{ index (query \"up\" | first).Labels \"job\" }}", "node"),
        (
            "{{ query \"up\" | first }}",
            "&{map[__name__:up instance:b:9100 job:node] 1}",
        ),
        ("{{ len (slice (query \"up\") 1) }}", "2"),
        ("{{ query (printf \"%s\" \"up\") | first | strvalue }}", ""),
    ];
    for (text, want) in cases {
        assert_eq!(render_query(text, &r), *want, "{text}");
    }
    // Errors are Prometheus's markers (columns count the 112-byte prefix).
    assert_eq!(
        render_query("{{ query \"nothing\" | first }}", &r),
        marker(
            133,
            "first",
            "error calling first: first() called on vector with no elements"
        )
    );
    assert_eq!(
        render_query("{{ query \"bad(\" }}", &r),
        marker(
            115,
            "query \"bad(\"",
            "error calling query: 1:1: parse error: unknown bad("
        )
    );
    assert_eq!(
        render_query("{{ first \"up\" }}", &r),
        marker(
            121,
            "\"up\"",
            "can't handle \"up\" for arg of type template.queryResult"
        )
    );
    assert_eq!(
        render_query("{{ value (query \"up\") }}", &r),
        // Go reports the last node it visited: the inner "up" (as in
        // template_test.go's `(query "missing").banana` case).
        marker(
            128,
            "\"up\"",
            "wrong type for value; expected *template.sample; got template.queryResult"
        )
    );
    assert_eq!(
        render_query("{{ value nil }}", &r),
        marker(
            115,
            "value nil",
            "error calling value: runtime error: invalid memory address or nil pointer dereference"
        )
    );
    assert_eq!(
        render_query("{{ (query \"up\" | first).Nope }}", &r),
        marker(
            129,
            "first",
            "can't evaluate field Nope in type *template.sample"
        )
    );
    assert_eq!(
        render_query("{{ index (query \"up\") 3 }}", &r),
        marker(
            115,
            "index (query \"up\") 3",
            "error calling index: reflect: slice index out of range"
        )
    );
}

#[test]
fn query_without_a_runner_renders_a_marker() {
    assert_eq!(
        render(r#"{{ query "up" }}"#),
        marker(
            115,
            "query \"up\"",
            "error calling query: no Prometheus datasource to run the query on here"
        )
    );
    // tmpl is for console templates; it parses, but fails when run.
    assert!(GoTemplate::parse("{{ tmpl \"x\" . }}").is_ok());
    assert!(render("{{ tmpl \"x\" . }}").contains("function tmpl is not supported by tocsin"));
    // Pure Prometheus helpers are served.
    assert_eq!(
        render(r#"{{ graphLink "up == 0" }}"#),
        "/graph?g0.expr=up+%3D%3D+0&g0.tab=0"
    );
    assert_eq!(
        render(r#"{{ tableLink "rate(x[5m])" }}"#),
        "/graph?g0.expr=rate%28x%5B5m%5D%29&g0.tab=1"
    );
    assert_eq!(
        render("{{ externalURL }}|{{ pathPrefix }}"),
        format!("{URL}|/prometheus")
    );
    assert_eq!(render(r#"{{ safeHtml "<b>" }}"#), "<b>");
    assert_eq!(render(r#"{{ args 1 "a" }}"#), "map[arg0:1 arg1:a]");
}

#[test]
fn functions_are_listed_with_positions() {
    let t = GoTemplate::parse("a {{ humanize $value }}\n{{ range query \"up\" }}{{ (printf \"%s\" .Labels.x | toUpper) }}{{ end }}")
        .unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(String, usize, usize)> = t
        .functions()
        .iter()
        .map(|f| (f.name.clone(), f.line, f.col))
        .collect();
    let want = [
        ("humanize", 1, 6),
        ("query", 2, 10),
        ("printf", 2, 27),
        ("toUpper", 2, 51),
    ];
    let want: Vec<(String, usize, usize)> = want
        .iter()
        .map(|(n, l, c)| (n.to_string(), *l, *c))
        .collect();
    assert_eq!(got, want);
    assert!(t.calls("query"));
    assert!(!t.calls("first"));
    let d = GoTemplate::parse("{{ define \"x\" }}{{ query \"up\" }}{{ end }}{{ template \"x\" }}")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(d.calls("query"), "calls in define blocks count");
}

#[test]
fn execution_errors_are_prometheus_markers() {
    assert_eq!(
        render("{{ .Foo }}"),
        marker(
            115,
            ".Foo",
            "can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"
        )
    );
    assert_eq!(
        render("{{ toUpper $value }}"),
        marker(
            123,
            "$value",
            "wrong type for value; expected string; got float64"
        )
    );
    assert_eq!(
        render("{{ .Labels.job 1 }}"),
        marker(122, ".Labels.job", "job is not a method but has arguments")
    );
    assert_eq!(
        render("{{ 1 2 }}"),
        marker(115, "1", "can't give argument to non-function 1")
    );
    assert_eq!(
        render("{{ nil }}"),
        marker(115, "nil", "nil is not a command")
    );
    assert_eq!(
        render("{{ 9223372036854775808 }}"),
        marker(
            115,
            "9223372036854775808",
            "9223372036854775808 overflows int"
        )
    );
    assert_eq!(
        render("{{ .Value.x }}"),
        marker(121, ".Value.x", "can't evaluate field x in type float64")
    );
    assert_eq!(
        render("a\n{{ if 1 }}\n{{ .Nope }}\n{{ end }}"),
        "<error expanding template: error executing template __alert: template: __alert:3:3: executing \"__alert\" at <.Nope>: can't evaluate field Nope in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }>"
    );
    let t = GoTemplate::parse_named("__alert_HighLoad", "{{ .Foo }}");
    let t = t.unwrap_or_else(|e| panic!("{e}"));
    let (l, e) = (labels(), ext_labels());
    let out = t.render(&GoTemplateData {
        labels: &l,
        value: 1.0,
        external_labels: &e,
        external_url: "",
        query: None,
    });
    assert!(out.starts_with("<error expanding template: error executing template __alert_HighLoad: template: __alert_HighLoad:1:115: executing \"__alert_HighLoad\" at <.Foo>"), "{out}");
}

#[test]
fn printf_matches_go_fmt() {
    let cases: &[(&str, &str)] = &[
        (r#"{{ printf "%.2f" $value }}"#, "8123.00"),
        (r#"{{ $value | printf "%.1f%%" }}"#, "8123.0%"),
        (r#"{{ printf "%d" $value }}"#, "%!d(float64=8123)"),
        (r#"{{ printf "%s" $value }}"#, "%!s(float64=8123)"),
        (
            r#"{{ printf "%5.1f|%-8.3e|%+g" 3.14159 1234.5678 2.0 }}"#,
            "  3.1|1.235e+03|+2",
        ),
        (
            r#"{{ printf "%x %X %o %b %c %q %U" 255 255 8 5 65 66 9731 }}"#,
            "ff FF 10 101 A 'B' U+2603",
        ),
        (
            r#"{{ printf "%#x %#o %#b %+d % d %05d %-5d|" 255 8 5 3 3 -42 7 }}"#,
            "0xff 010 0b101 +3  3 -0042 7    |",
        ),
        (
            r#"{{ printf "%s %q %x %10s|%-10s|%.2s" "abc" "a\"b" "hi" "r" "l" "xyz" }}"#,
            "abc \"a\\\"b\" 6869          r|l         |xy",
        ),
        (r#"{{ printf "%d %d" 1 }}"#, "1 %!d(MISSING)"),
        (r#"{{ printf "%d" 1 2 }}"#, "1%!(EXTRA int=2)"),
        (r#"{{ printf "%!" }}"#, "%!!(MISSING)"),
        (r#"{{ printf "%" }}"#, "%!(NOVERB)"),
        (r#"{{ printf "%[2]d %[1]d" 1 2 }}"#, "2 1"),
        (r#"{{ printf "%[3]d" 1 }}"#, "%!d(BADINDEX)"),
        (
            r#"{{ printf "%*d|%-*d|%.*f" 5 1 4 2 2 3.14159 }}"#,
            "    1|2   |3.14",
        ),
        (r#"{{ printf "%s" nil }}"#, "%!s(<nil>)"),
        (r#"{{ printf "%v" nil }}"#, "<nil>"),
        (
            r#"{{ printf "%e %E %f %F %g %G" 1e6 1e-7 1.5 2.5 1e21 1e-5 }}"#,
            "1.000000e+06 1.000000E-07 1.500000 2.500000 1e+21 1E-05",
        ),
        (
            r#"{{ printf "%.0f %.0f %.0f %.1f" 0.5 1.5 2.5 0.25 }}"#,
            "0 2 2 0.2",
        ),
        (
            r#"{{ printf "%010.3f|%-10.3f|%+.2e" -3.14159 3.14159 12345.678 }}"#,
            "-00003.142|3.142     |+1.23e+04",
        ),
        (
            r#"{{ printf "%.3g %.10g %g %.0g %#g %#.3g" 1234.5678 1.0 100000.0 123.0 1.0 2.0 }}"#,
            "1.23e+03 1 100000 1e+02 1.00000 2.00",
        ),
        (
            r#"{{ printf "%08.3f|% .2f|%+.0f" 3.14159 2.0 -0.4 }}"#,
            "0003.142| 2.00|-0",
        ),
        (r#"{{ printf "%.2f" "1.5" }}"#, "%!f(string=1.)"),
        (r#"{{ printf "% x|%# x" "ab" "ab" }}"#, "61 62|0x61 0x62"),
        (r#"{{ printf "%+q" "é\u0001" }}"#, "\"\\u00e9\\x01\""),
        (r#"{{ printf "%#q" "plain" }}"#, "`plain`"),
        (r#"{{ printf "%c|%c" 0x1F600 -1 }}"#, "😀|\u{FFFD}"),
        (r#"{{ printf "%.3d|%8.3d|%.0d|" 7 7 0 }}"#, "007|     007||"),
        (r#"{{ printf "%-5s|%5s|" "é" "☃" }}"#, "é    |    ☃|"),
        (
            r#"{{ printf "%v %v" (toTime 0) (toDuration 1.5) }}"#,
            "1970-01-01 00:00:00 +0000 UTC 1.5s",
        ),
        (
            r#"{{ printf "%v" $labels }}"#,
            "map[empty: instance:host1.example.com:9100 job:node severity:critical]",
        ),
        (
            r#"{{ printf "%T %T %T %T" 1 "a" 1.5 $labels }}"#,
            "int string float64 map[string]string",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(render(text), *want, "{text}");
    }
    assert_eq!(
        render(r#"{{ printf "%+v" . }}"#),
        format!(
            "{{Labels:map[empty: instance:host1.example.com:9100 job:node severity:critical] ExternalLabels:map[cluster:prod-eu region:eu-west-1] ExternalURL:{URL} Value:8123}}"
        )
    );
}

#[test]
fn print_builtins_and_collections() {
    assert_eq!(render(r#"{{ print 1 2 "a" "b" 3 }}"#), "1 2ab3");
    assert_eq!(render(r#"{{ println 1 "a" }}"#), "1 a\n");
    assert_eq!(render("{{ print nil }}|{{ .Labels.x | len }}"), "<nil>|0");
    assert_eq!(
        render("{{ $labels }}"),
        "map[empty: instance:host1.example.com:9100 job:node severity:critical]"
    );
    assert_eq!(
        render("{{ . }}"),
        format!(
            "{{map[empty: instance:host1.example.com:9100 job:node severity:critical] map[cluster:prod-eu region:eu-west-1] {URL} 8123}}"
        )
    );
    assert_eq!(
        render(
            r#"{{ len $labels }} {{ len "héllo" }} {{ index $labels "job" }} [{{ index $labels "x" }}]"#
        ),
        "4 6 node []"
    );
    assert_eq!(
        render(r#"{{ index "abc" 1 }} {{ slice "hello" 1 3 }} {{ slice "hello" 2 }}"#),
        "98 el llo"
    );
    assert_eq!(
        render(r#"{{ index "abc" 5 }}"#),
        marker(
            115,
            "index \"abc\" 5",
            "error calling index: index out of range: 5"
        )
    );
    assert_eq!(
        render("{{ len $value }}"),
        marker(115, "len $value", "error calling len: len of type float64")
    );
}

#[test]
fn string_functions() {
    assert_eq!(
        render(r#"{{ toUpper "abc" }} {{ toLower "ÀBC" }} {{ $labels.job | toUpper }}"#),
        "ABC àbc NODE"
    );
    assert_eq!(render(r#"{{ title "hello world" }}"#), "Hello World");
    assert_eq!(render(r#"{{ title "aa bb CC" }}"#), "Aa Bb CC");
    assert_eq!(
        render(r#"{{ title "it's a dog's life" }}"#),
        "It'S A Dog'S Life"
    );
    // strings.Title (Prometheus 2.42): ASCII punctuation starts a word,
    // beyond ASCII only spaces do; ß has no single-rune title case.
    assert_eq!(
        render(r#"{{ title "node.example.com ßtraße élan\u00a0vital ǆemal" }}"#),
        "Node.Example.Com ßtraße Élan\u{a0}Vital ǅemal"
    );
    assert_eq!(
        render(r#"{{ title "foo-bar node_exporter" }}"#),
        "Foo-Bar Node_exporter"
    );
    assert_eq!(render(r#"{{ title "élan vital" }}"#), "Élan Vital");
    assert_eq!(
        render("{{ stripPort $labels.instance }}"),
        "host1.example.com"
    );
    assert_eq!(
        render(r#"{{ stripPort "[::1]:80" }} {{ stripPort "nohost" }} {{ stripPort "a:b:c" }}"#),
        "::1 nohost a:b:c"
    );
    assert_eq!(render("{{ stripDomain $labels.instance }}"), "host1:9100");
    assert_eq!(
        render(
            r#"{{ stripDomain "host.example.com" }} {{ stripDomain "10.0.0.1:9100" }} {{ stripDomain "[fe80::1]:9100" }}"#
        ),
        "host 10.0.0.1:9100 [fe80::1]:9100"
    );
    assert_eq!(
        render(r#"{{ urlQueryEscape "a b&c=d/é" }} {{ urlquery "a b" "c" }}"#),
        "a+b%26c%3Dd%2F%C3%A9 a+bc"
    );
    assert_eq!(
        render(r#"{{ html "<a href='x'>&\"" }}"#),
        "&lt;a href=&#39;x&#39;&gt;&amp;&#34;"
    );
    assert_eq!(
        render(r#"{{ js "<a>'\"=\\é\n" }}"#),
        "\\u003Ca\\u003E\\'\\\"\\u003D\\\\é\\u000A"
    );
}

#[test]
fn regex_functions() {
    assert_eq!(
        render(r#"{{ match "^host" $labels.instance }} {{ match "^node$" "nodes" }}"#),
        "true false"
    );
    assert_eq!(
        render(r#"{{ reReplaceAll ":.*" "" $labels.instance }}"#),
        "host1.example.com"
    );
    assert_eq!(
        render(r#"{{ $labels.instance | reReplaceAll "(.*):.*" "$1" }}"#),
        "host1.example.com"
    );
    assert_eq!(
        render(r#"{{ reReplaceAll "localhost:(.*)" "my.domain:$1" "localhost:3000" }}"#),
        "my.domain:3000"
    );
    assert_eq!(
        render(r#"{{ reReplaceAll "(?P<first>\\w+)" "${first}!" "hi there" }}"#),
        "hi! there!"
    );
    // Go's empty-match rules and ASCII-only \d.
    assert_eq!(render(r#"{{ reReplaceAll "a*" "X" "baaac" }}"#), "XbXcX");
    assert_eq!(
        render(r##"{{ reReplaceAll "\\d+" "#" "a1b22c٣" }}"##),
        "a#b#c٣"
    );
    assert_eq!(
        render(r#"{{ match "(" "x" }}"#),
        marker(
            115,
            "match \"(\" \"x\"",
            "error calling match: error parsing regexp: missing closing ): `(`"
        )
    );
    assert_eq!(
        render(r#"{{ reReplaceAll "(" "x" "y" }}"#),
        marker(
            115,
            "reReplaceAll \"(\" \"x\" \"y\"",
            "error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp: missing closing ): `(`"
        )
    );
}

#[test]
fn durations_and_times() {
    assert_eq!(
        render(
            r#"{{ parseDuration "1h30m" }} {{ parseDuration "0" }} {{ parseDuration "1y2w3d4h5m6s7ms" }} {{ parseDuration "10ms" }}"#
        ),
        "5400 0 3.3019506007e+07 0.01"
    );
    // Prometheus 2.42 (prometheus/common v0.39) has no negative durations.
    assert_eq!(
        render(r#"{{ parseDuration "-5m" }}"#),
        marker(
            115,
            "parseDuration \"-5m\"",
            "error calling parseDuration: not a valid duration string: \"-5m\""
        )
    );
    assert_eq!(
        render(r#"{{ parseDuration "293y" }}|{{ parseDuration "292y" }}"#),
        marker(
            115,
            "parseDuration \"293y\"",
            "error calling parseDuration: duration out of range"
        )
    );
    assert_eq!(render(r#"{{ parseDuration "292y" }}"#), "9.208512e+09");
    assert_eq!(
        render(r#"{{ parseDuration "1m1h" }}"#),
        marker(
            115,
            "parseDuration \"1m1h\"",
            "error calling parseDuration: not a valid duration string: \"1m1h\""
        )
    );
    assert_eq!(
        render(r#"{{ parseDuration "5x" }}"#),
        marker(
            115,
            "parseDuration \"5x\"",
            "error calling parseDuration: not a valid duration string: \"5x\""
        )
    );
    assert_eq!(
        render(
            "{{ toDuration 90 }} {{ toDuration 0.0015 }} {{ toDuration 0 }} {{ toDuration 3661.5 }} {{ toDuration -5 }}"
        ),
        "1m30s 1.5ms 0s 1h1m1.5s -5s"
    );
    assert_eq!(
        render(
            "{{ (toDuration 90).Minutes }} {{ (toDuration 90).Seconds }} {{ toDuration 0.0000015 }}"
        ),
        "1.5 90 1.5µs"
    );
    assert_eq!(
        render("{{ toTime 1435065584.128 }}"),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(render("{{ (toTime 1435065584.128).Unix }}"), "1435065584");
    assert_eq!(
        render(r#"{{ (toTime 1435065584.128).Format "2006-01-02T15:04:05Z07:00" }}"#),
        "2015-06-23T13:19:44Z"
    );
    assert_eq!(
        render(
            r#"{{ (toTime 1435065584.128).Format "Mon Jan _2 3:04:05.000 PM MST 2006 -0700 -07:00 .999" }}"#
        ),
        "Tue Jun 23 1:19:44.128 PM UTC 2015 +0000 +00:00 .128"
    );
    assert_eq!(
        render(
            r#"{{ (toTime 1435065584).Format "Monday January 02 06 002 __2 15h .000000 ,999" }}"#
        ),
        "Tuesday June 23 15 174 174 13h .000000 "
    );
    assert_eq!(
        render("{{ (toTime 0).Foo }}"),
        marker(123, "0", "can't evaluate field Foo in type *time.Time")
    );
    assert_eq!(
        render("{{ humanizeDuration (toDuration 5) }}"),
        marker(
            115,
            "humanizeDuration (toDuration 5)",
            "error calling humanizeDuration: can't convert *time.Duration to float"
        )
    );
    let now = render("{{ now }}");
    let secs: f64 = now.parse().unwrap_or(0.0);
    assert!(secs > 1.6e9, "now = {now}");
}

#[test]
fn literals() {
    assert_eq!(
        render(
            "{{ true }}|{{ 'a' }}|{{ 0x1F }}|{{ 1e3 }}|{{ 1.5 }}|{{ -7 }}|{{ 0o17 }}|{{ 0b101 }}|{{ 1_000 }}|{{ `raw\\n` }}"
        ),
        "true|97|31|1000|1.5|-7|15|5|1000|raw\\n"
    );
    assert_eq!(
        render(r#"{{ "\x41\u00e9\101\t" }}"#),
        "Aé A\t".replace(' ', "")
    );
}

#[test]
fn source_and_clone() {
    let t = GoTemplate::parse("{{ $value }} x").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.source(), "{{ $value }} x");
    let t2 = t.clone();
    let (l, e) = (labels(), ext_labels());
    let data = GoTemplateData {
        labels: &l,
        value: 2.5,
        external_labels: &e,
        external_url: "",
        query: None,
    };
    assert_eq!(t2.render(&data), "2.5 x");
    assert_eq!(t.render(&data), t2.render(&data));
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GoTemplate>();
}

/// Calls the internals directly (no catch_unwind), so a panic fails the test.
fn must_not_panic(text: &str) {
    let full = format!("{DEFS}{text}");
    if let Ok(trees) = parse_tree_set(DEFAULT_TEMPLATE_NAME, &full) {
        let parsed = Parsed { text: full, trees };
        let functions = parsed.functions().into();
        let t = GoTemplate {
            source: text.to_string(),
            name: DEFAULT_TEMPLATE_NAME.to_string(),
            parsed: Arc::new(parsed),
            functions,
        };
        let (l, e) = (labels(), ext_labels());
        let data = GoTemplateData {
            labels: &l,
            value: f64::NAN,
            external_labels: &e,
            external_url: "%zz",
            query: None,
        };
        let _ = t.execute(&data);
    }
}

#[test]
fn garbage_and_odd_input_never_panics() {
    let odd = [
        "",
        "{{",
        "}}",
        "{{}}",
        "{{ }}",
        "{{-}}",
        "{{- -}}",
        "{{-",
        "{{ -",
        "{{ - }}",
        "{{ $ }}",
        "{{$}}",
        "{{.}}",
        "{{..}}",
        "{{...}}",
        "{{ . . }}",
        "{{ \"\\",
        "{{ \"\\\n\" }}",
        "{{ '\\",
        "{{ '\\x' }}",
        "{{ '\\u12' }}",
        "{{ \"\\U0011ffff\" }}",
        "{{ \"\\é\" }}",
        "{{ '\\é' }}",
        "{{ `",
        "{{ /* */ }}",
        "{{/**/}}",
        "{{/*",
        "{{/* */",
        "{{ 1e }}",
        "{{ 0x }}",
        "{{ 1..2 }}",
        "{{ .5 }}",
        "{{ . }}",
        "{{ +- }}",
        "{{ 1i }}",
        "{{ 1+ }}",
        "{{ 1+2 }}",
        "{{ (((( }}",
        "{{ )))) }}",
        "{{ ( ) }}",
        "{{ | }}",
        "{{ 1 | }}",
        "{{ $x := }}",
        "{{ $x, }}",
        "{{ range $x, }}",
        "{{ range $x, $y, }}",
        "{{ := }}",
        "{{ = }}",
        "{{ $x = }}",
        "{{ if }}{{ end }}",
        "{{ else if }}",
        "{{ define }}",
        "{{ define \"\" }}{{ end }}",
        "{{ template }}",
        "{{ block }}",
        "{{ block \"x\" }}{{ end }}",
        "{{ with }}",
        "{{ range }}",
        "{{ end",
        "{{ else",
        "\u{0}{{ \u{0} }}",
        "{{ \u{7f} }}",
        "{{ printf \"%",
        "{{ printf \"%[\" 1 }}",
        "{{ printf \"%[0]d\" 1 }}",
        "{{ printf \"%[99999999999999999999]d\" 1 }}",
        "{{ printf \"%99999999d\" 1 }}",
        "{{ printf \"%.99999999f\" 1.0 }}",
        "{{ printf \"%*d\" 99999999 1 }}",
        "{{ printf \"%-*d\" -5 1 }}",
        "{{ printf \"%.*d\" -1 1 }}",
        "{{ printf \"%é\" 1 }}",
        "{{ index }}",
        "{{ index nil }}",
        "{{ slice \"é\" 1 }}",
        "{{ slice \"abc\" 4 }}",
        "{{ slice \"abc\" -1 }}",
        "{{ len }}",
        "{{ eq }}",
        "{{ eq 1 }}",
        "{{ toTime 1e300 }}",
        "{{ toDuration 1e300 }}",
        "{{ (toTime -1e10).Format \"2006\" }}",
        "{{ (toTime 0).Format \"\" }}",
        "{{ humanizeTimestamp -9.3e9 }}",
        "{{ reReplaceAll \"\" \"$\" \"é\" }}",
        "{{ reReplaceAll \"(\" \"\" \"\" }}",
        "{{ match \"[\" \"\" }}",
        "{{ match \"\\\\\" \"\" }}",
        "{{ reReplaceAll \"[[:alpha:]\\\\d]+\" \"${\" \"ab1\" }}",
        "{{ pathPrefix }}",
        "{{ stripDomain \"[\" }}",
        "{{ stripPort \"]:\" }}",
        "{{ stripDomain \":\" }}",
        "{{ parseDuration \"-\" }}",
        "{{ parseDuration \"99999999999999999999999ms\" }}",
        "{{ humanize \"0x1p-2\" }}",
        "{{ humanize \"_1\" }}",
        "{{ humanize \"1__0\" }}",
        "{{ humanize \"+\" }}",
        "{{ humanize \"e5\" }}",
        "{{ humanize \".\" }}",
        "{{ $labels.x.y.z }}",
        "{{ (args).x.y }}",
        "{{ index (args 1) \"arg0\" \"z\" }}",
        "{{ call }}",
        "{{ call nil }}",
        "{{ $.Value.x.y }}",
        "{{ range $labels }}{{ break }}{{ end }}{{ continue }}",
        "{{ range 5 }}{{ range 5 }}{{ continue }}{{ end }}{{ end }}",
        "☃☃☃{{ \"☃\" }}☃",
        "{{ \"\u{10FFFF}\" | printf \"%q\" }}",
        "{{ printf \"%q %U %c\" 1114112 1114112 1114112 }}",
    ];
    for t in odd {
        must_not_panic(t);
        let _ = GoTemplate::parse(t).map(|t| {
            let (l, e) = (labels(), ext_labels());
            t.render(&GoTemplateData {
                labels: &l,
                value: 1.0,
                external_labels: &e,
                external_url: "",
                query: None,
            })
        });
    }
    // Deterministic pseudo-random soup of template fragments.
    let frags = [
        "{{",
        "}}",
        "{{- ",
        " -}}",
        " ",
        "\n",
        "$value",
        "$labels",
        ".Labels",
        ".job",
        "$x",
        " := ",
        " = ",
        "|",
        "(",
        ")",
        "if ",
        "else ",
        "end",
        "range ",
        "with ",
        "printf ",
        "\"%d\"",
        "\"a\"",
        "1",
        "1.5",
        "humanize ",
        "eq ",
        "len ",
        "index ",
        "and ",
        "or ",
        "$",
        ".",
        ",",
        "nil",
        "true",
        "'a'",
        "`r`",
        "/*",
        "*/",
        "define ",
        "template ",
        "block ",
        "break",
        "continue",
        "é",
        "\\",
        "\"",
        "'",
        "-",
        "0x",
        "e9",
        "[",
        "%",
        "toTime ",
        "query ",
        "args ",
        "slice ",
    ];
    let mut seed: u64 = 0x5EED_1234_ABCD_0001;
    for _ in 0..4000 {
        let mut s = String::new();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let n = 1 + (seed >> 60) as usize;
        for _ in 0..n {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push_str(frags[(seed >> 33) as usize % frags.len()]);
        }
        must_not_panic(&s);
    }
}

#[test]
fn resource_limits_produce_errors_not_crashes() {
    let deep_parens = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(parse_err(&deep_parens).contains("max expression depth exceeded"));
    let deep_ifs = format!("{}x{}", "{{ if 1 }}".repeat(5000), "{{ end }}".repeat(5000));
    assert!(parse_err(&deep_ifs).contains("max nesting depth exceeded"));
    let nested_blocks = "{{ block \"b\" . }}".repeat(500);
    assert!(GoTemplate::parse(&nested_blocks).is_err());
    // Within limits, deep nesting and recursion work.
    let ok = format!("{}x{}", "{{ if 1 }}".repeat(45), "{{ end }}".repeat(45));
    assert_eq!(render(&ok), "x");
    let recurse = r#"{{ define "r" }}{{ if . }}{{ if . }}{{ if . }}{{ template "r" . }}{{ end }}{{ end }}{{ end }}{{ end }}{{ template "r" 1 }}"#;
    assert!(render(recurse).contains("exceeded maximum template depth"));
    // Deepest allowed nesting with the deepest allowed expression, recursing
    // until the depth limit: must fit in the 2 MiB test thread stack (it
    // fits in 768 KiB in a debug build).
    let parens = format!("{}1{}", "(".repeat(49), ")".repeat(49));
    let body = format!(
        "{{{{ define \"r\" }}}}{}{{{{ print {parens} }}}}{{{{ template \"r\" . }}}}{}{{{{ end }}}}{{{{ template \"r\" 1 }}}}",
        "{{ if . }}".repeat(48),
        "{{ end }}".repeat(48)
    );
    assert!(render(&body).contains("exceeded maximum template depth (100)"));
    let deep_range = format!(
        "{}{{{{ print {parens} }}}}{}",
        "{{ with $labels }}".repeat(49),
        "{{ end }}".repeat(49)
    );
    assert_eq!(render(&deep_range), "1");
    let out = render("{{ range 100000000 }}{{ end }}");
    assert!(
        out.contains("range iteration limit (1000000) exceeded"),
        "{out}"
    );
    let out = render(
        r#"{{ define "big" }}{{ printf "%999999d" 1 }}{{ end }}{{ range 10 }}{{ template "big" }}{{ end }}"#,
    );
    assert!(
        out.contains("template output exceeds"),
        "{}",
        &out[..200.min(out.len())]
    );
}

// ---------------------------------------------------------------------------
// Port of Prometheus v2.42.0 template/template_test.go (TestTemplateExpansion
// and Test_floatToTime): every case that text-mode (alert) expansion can
// reach, with Prometheus's expected strings. Left out: the 7 `html: true`
// cases (ExpandHTML is for consoles) and `missingkey=error` (alert rules
// never set options).
// ---------------------------------------------------------------------------

/// Answers every `query` with the same samples, like the Go test's queryFunc.
struct FixedQuery(Vec<QuerySample>);

impl QueryRunner for FixedQuery {
    fn query(&self, _expr: &str) -> Result<Vec<QuerySample>, String> {
        Ok(self.0.clone())
    }
}

fn sample(value: f64, labels: &[(&str, &str)]) -> QuerySample {
    QuerySample {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        value,
    }
}

/// Prometheus's `NewTemplateExpander(ctx, text, "test", input, 0, queryFunc,
/// "http://testhost:9090/path/prefix", nil).Expand()`: no alert prefix.
fn expand(text: &str, input: Val, result: Vec<QuerySample>) -> Result<String, String> {
    let trees =
        parse_tree_set("test", text).map_err(|e| format!("error parsing template test: {e}"))?;
    let parsed = Parsed {
        text: text.to_string(),
        trees,
    };
    let runner = FixedQuery(result);
    let ctx = FuncCtx {
        external_url: "http://testhost:9090/path/prefix".into(),
        now: 0.0,
        query: Some(&runner),
    };
    run(&parsed, "test", input, ctx).map_err(|e| format!("error executing template test: {e}"))
}

fn expand_ok(text: &str) -> String {
    expand(text, Val::Invalid, Vec::new()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// `{{ range . }}BODY{{ end }}` over `input`: the Go cases range over a
/// slice given as data. Expanded element by element with the same-length
/// `{{ if true }}` in place of `{{ range . }}`, so dot, output and error
/// columns are what Go's range gives.
fn expand_range(text: &str, input: &[Val]) -> Result<String, String> {
    let per_element = text.replacen("{{ range . }}", "{{ if true }}", 1);
    assert_ne!(per_element, text, "{text} must start with a range");
    let mut out = String::new();
    for v in input {
        out.push_str(&expand(&per_element, v.clone(), Vec::new())?);
    }
    Ok(out)
}

fn floats(v: &[f64]) -> Vec<Val> {
    v.iter().map(|f| Val::Float(*f)).collect()
}

fn strs(v: &[&str]) -> Vec<Val> {
    v.iter().map(|s| Val::Str(s.to_string())).collect()
}

fn ints(v: &[i64]) -> Vec<Val> {
    v.iter().map(|i| Val::Int(*i)).collect()
}

/// Go's `uint`/`uint64` values: every function these cases call converts
/// them to float64 first, so the float carries the same information.
fn uints(v: &[u64]) -> Vec<Val> {
    v.iter().map(|u| Val::Float(*u as f64)).collect()
}

#[test]
fn prometheus_template_test_plain_cases() {
    let cases: &[(&str, &str)] = &[
        ("plain text", "plain text"),
        ("{{ 1 }}", "1"),
        ("{{ \"<b>\" }}", "<b>"),
        (
            "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
            "1 2",
        ),
        ("{{ \"foo.example.com\" | stripPort }}", "foo.example.com"),
        (
            "{{ \"foo.example.com:12345\" | stripPort }}",
            "foo.example.com",
        ),
        ("{{ \"192.0.2.1\" | stripPort }}", "192.0.2.1"),
        ("{{ \"192.0.2.1:12345\" | stripPort }}", "192.0.2.1"),
        ("{{ \"2001:0DB8::1\" | stripPort }}", "2001:0DB8::1"),
        ("{{ \"[2001:0DB8::1]:12345\" | stripPort }}", "2001:0DB8::1"),
        (
            "{{ \"[2001:0DB8::1]::12345\" | stripPort }}",
            "[2001:0DB8::1]::12345",
        ),
        // nil options and empty options: both missingkey=default here
        ("{{ .Foo }}", "<no value>"),
        ("{{ .Foo }}", "<no value>"),
        ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", "xa"),
        (
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            "-22.22%:0%:12.35%:123.5%",
        ),
        (
            r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#,
            "-22.22%:0%:12.35%:123.5%",
        ),
        (
            "{{ 1435065584.128 | humanizeTimestamp }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (
            r#"{{ "1435065584.128" | humanizeTimestamp }}"#,
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
        (r#"{{ (1435065584.128 | toTime).Format "2006" }}"#, "2015"),
        (r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#, "2015"),
        ("{{ \"aa bb CC\" | title }}", "Aa Bb CC"),
        ("{{ \"aa bb CC\" | toUpper }}", "AA BB CC"),
        ("{{ \"aA bB CC\" | toLower }}", "aa bb cc"),
        (
            "{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}",
            "true false",
        ),
        ("{{ graphLink \"up\" }}", "/graph?g0.expr=up&g0.tab=0"),
        ("{{ tableLink \"up\" }}", "/graph?g0.expr=up&g0.tab=1"),
        ("{{ pathPrefix }}", "/path/prefix"),
        ("{{ externalURL }}", "http://testhost:9090/path/prefix"),
        (
            "{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}",
            "3720.01",
        ),
        ("{{ \"foo.example.com\" | stripDomain }}", "foo"),
        ("{{ \"foo.example.com:12345\" | stripDomain }}", "foo:12345"),
        ("{{ \"192.0.2.1\" | stripDomain }}", "192.0.2.1"),
        ("{{ \"192.0.2.1:12345\" | stripDomain }}", "192.0.2.1:12345"),
        ("{{ \"2001:0DB8::1\" | stripDomain }}", "2001:0DB8::1"),
        (
            "{{ \"[2001:0DB8::1]:12345\" | stripDomain }}",
            "[2001:0DB8::1]:12345",
        ),
        (
            "{{ \"[2001:0DB8::1]::12345\" | stripDomain }}",
            "[2001:0DB8::1]::12345",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(expand_ok(text), *want, "{text}");
    }
}

#[test]
fn prometheus_template_test_parse_and_call_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "{{\u{a0}}}",
            "error parsing template test: template: test:1: unrecognized character in action: U+00A0",
        ),
        (
            "{{",
            "error parsing template test: template: test:1: unclosed action",
        ),
        (
            r#"{{ humanize "one" }}"#,
            r#"error executing template test: template: test:1:3: executing "test" at <humanize "one">: error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax"#,
        ),
        (
            r#"{{ humanize1024 "one" }}"#,
            r#"error executing template test: template: test:1:3: executing "test" at <humanize1024 "one">: error calling humanize1024: strconv.ParseFloat: parsing "one": invalid syntax"#,
        ),
        (
            r#"{{ humanizeDuration "one" }}"#,
            r#"error executing template test: template: test:1:3: executing "test" at <humanizeDuration "one">: error calling humanizeDuration: strconv.ParseFloat: parsing "one": invalid syntax"#,
        ),
        (
            r#"{{ "one" | humanizePercentage }}"#,
            r#"error executing template test: template: test:1:11: executing "test" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax"#,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            expand(text, Val::Invalid, Vec::new())
                .as_deref()
                .map_err(String::as_str),
            Err(*want),
            "{text}"
        );
    }
}

#[test]
fn prometheus_template_test_query_cases() {
    let metric_a = || vec![sample(11.0, &[("__name__", "metric"), ("instance", "a")])];
    let cases: Vec<(&str, Vec<QuerySample>, &str)> = vec![
        (
            "{{ query \"1.5\" | first | value }}",
            vec![sample(1.5, &[])],
            "1.5",
        ),
        (
            "{{ query \"metric{instance='a'}\" | first | value }}",
            metric_a(),
            "11",
        ),
        (
            "{{ query \"metric{instance='a'}\" | first | label \"instance\" }}",
            metric_a(),
            "a",
        ),
        (
            "{{ query \"metric{__value__='a'}\" | first | strvalue }}",
            vec![sample(11.0, &[("__name__", "metric"), ("__value__", "a")])],
            "a",
        ),
        (
            "{{ query \"metric{instance='a'}\" | first | label \"foo\" }}",
            metric_a(),
            "",
        ),
        (
            "{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}",
            metric_a(),
            "",
        ),
        (
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            vec![
                sample(21.0, &[("__name__", "metric"), ("instance", "b")]),
                sample(11.0, &[("__name__", "metric"), ("instance", "a")]),
            ],
            "a:11: b:21: ",
        ),
    ];
    for (text, result, want) in cases {
        assert_eq!(
            expand(text, Val::Invalid, result)
                .as_deref()
                .map_err(String::as_str),
            Ok(want),
            "{text}"
        );
    }
    assert_eq!(
        expand("{{ query \"missing\" | first }}", Val::Invalid, Vec::new())
            .as_deref()
            .map_err(String::as_str),
        Err(
            "error executing template test: template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements"
        )
    );
    assert_eq!(
        expand("{{ (query \"missing\").banana }}", Val::Invalid, Vec::new())
            .as_deref()
            .map_err(String::as_str),
        Err(
            "error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult"
        )
    );
}

#[test]
fn prometheus_template_test_range_cases() {
    let h = "{{ range . }}{{ humanize . }}:{{ end }}";
    let h1024 = "{{ range . }}{{ humanize1024 . }}:{{ end }}";
    let hd = "{{ range . }}{{ humanizeDuration . }}:{{ end }}";
    let hp = "{{ range . }}{{ humanizePercentage . }}:{{ end }}";
    let ht = "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}";
    let all = "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
    let (max_i, max_u) = (i64::MAX, u64::MAX);
    let day = 86400.0;
    let cases: Vec<(&str, Vec<Val>, &str)> = vec![
        (h, floats(&[0.0, 1.0, 1234567.0, 0.12]), "0:1:1.235M:120m:"),
        (
            h,
            strs(&["0.0", "1.0", "1234567.0", ".12"]),
            "0:1:1.235M:120m:",
        ),
        (
            h,
            ints(&[0, -1, 1, 1234567, max_i]),
            "0:-1:1:1.235M:9.223E:",
        ),
        (h, uints(&[0, 1, 1234567, max_u]), "0:1:1.235M:18.45E:"),
        (h1024, floats(&[0.0, 1.0, 1048576.0, 0.12]), "0:1:1Mi:0.12:"),
        (
            h1024,
            strs(&["0.0", "1.0", "1048576.0", ".12"]),
            "0:1:1Mi:0.12:",
        ),
        (
            h1024,
            ints(&[0, -1, 1, 1234567, max_i]),
            "0:-1:1:1.177Mi:8Ei:",
        ),
        (h1024, uints(&[0, 1, 1234567, max_u]), "0:1:1.177Mi:16Ei:"),
        (
            hd,
            floats(&[
                0.0,
                1.0,
                60.0,
                3600.0,
                day,
                day + 3600.0,
                -(day * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
                899.99,
            ]),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
        ),
        (
            hd,
            strs(&["0", "1", "60", "3600", "86400"]),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:",
        ),
        (
            hd,
            floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        ),
        (
            hd,
            strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        ),
        (hd, ints(&[0, -1, 1, 1234567]), "0s:-1s:1s:14d 6h 56m 7s:"),
        (hd, uints(&[0, 1, 1234567]), "0s:1s:14d 6h 56m 7s:"),
        (
            all,
            floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        ),
        (
            all,
            strs(&["+Inf", "-Inf", "NaN"]),
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        ),
        (
            hp,
            ints(&[0, -1, 1, 1234567, max_i]),
            "0%:-100%:100%:1.235e+08%:9.223e+20%:",
        ),
        (
            hp,
            uints(&[0, 1, 1234567, max_u]),
            "0%:100%:1.235e+08%:1.845e+21%:",
        ),
        (
            ht,
            ints(&[0, -1, 1, 1234567, 9223372036]),
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
        ),
        (
            ht,
            uints(&[0, 1, 1234567, 9223372036]),
            "1970-01-01 00:00:00 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
        ),
    ];
    for (text, input, want) in cases {
        assert_eq!(
            expand_range(text, &input)
                .as_deref()
                .map_err(String::as_str),
            Ok(want),
            "{text} {input:?}"
        );
    }
    assert_eq!(
        expand_range(ht, &ints(&[i64::MIN, i64::MAX]))
            .as_deref()
            .map_err(String::as_str),
        Err(
            r#"error executing template test: template: test:1:16: executing "test" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"#
        )
    );
    assert_eq!(
        expand_range(ht, &uints(&[u64::MAX]))
            .as_deref()
            .map_err(String::as_str),
        Err(
            r#"error executing template test: template: test:1:16: executing "test" at <humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64"#
        )
    );
}

/// Test_floatToTime, through `toTime`.
#[test]
fn prometheus_float_to_time() {
    assert_eq!(
        expand("{{ toTime . }}", Val::Float(1657155181.0), Vec::new())
            .as_deref()
            .map_err(String::as_str),
        Ok("2022-07-07 00:53:01 +0000 UTC")
    );
    for v in [1.797_693_134_862_315_7e300, -1.797_693_134_862_315_7e300] {
        let out = expand("{{ toTime . }}", Val::Float(v), Vec::new());
        let err = out.expect_err("overflow must fail");
        assert!(
            err.ends_with(
                "cannot be represented as a nanoseconds timestamp since it overflows int64"
            ),
            "{err}"
        );
    }
}
