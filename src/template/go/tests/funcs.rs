//! Go's built-in functions: comparisons, `print`/`println`, `len`, `index`,
//! `slice`.

use super::*;

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
