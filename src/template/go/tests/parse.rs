//! Lexer and parser: the prefix, trimming and comments, syntax errors,
//! literals and the list of function calls.

use super::*;

#[test]
fn prefix_is_what_prometheus_prepends() {
    assert_eq!(DEFS.len(), 112);
    assert!(DEFS.starts_with("{{$labels := .Labels}}"));
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
