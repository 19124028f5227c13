//! Go's fmt and strconv: how values print (`%v`, `printf`), `FormatFloat`.

use super::super::strconv::format_float;
use super::*;

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
