//! Executor: data access, `range`/`if`/`with`, variables, `define`/`template`,
//! and execution errors as Prometheus's markers.

use super::*;

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
