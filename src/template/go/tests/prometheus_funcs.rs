//! Prometheus's functions: the `humanize*` family, `query` and its helpers,
//! string, regexp, duration and time functions.

use super::*;

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
