//! Port of Prometheus v2.42.0 template/template_test.go (TestTemplateExpansion
//! and Test_floatToTime): every case that text-mode (alert) expansion can
//! reach, with Prometheus's expected strings. Left out: the 7 `html: true`
//! cases (ExpandHTML is for consoles) and `missingkey=error` (alert rules
//! never set options).

use super::*;

/// Answers every `query` with the same samples, like the Go test's queryFunc.
struct FixedQuery(Vec<QuerySample>);

impl QueryRunner for FixedQuery {
    fn query(&self, _expr: &str) -> Result<Vec<QuerySample>, String> {
        Ok(self.0.clone())
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
