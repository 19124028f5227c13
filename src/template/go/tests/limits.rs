//! Robustness: odd and hostile input never panics, and the safety limits
//! end in errors.

use super::*;

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
