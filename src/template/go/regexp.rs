//! Go `regexp` behaviour on the `regex` crate, for `match` and
//! `reReplaceAll`: Go's ASCII classes, error wording and empty-match rules.

use super::fmt::can_backquote;
use super::strconv::go_quote;

/// Compiles a Go (RE2) regular expression with the `regex` crate, rewriting
/// Perl classes to Go's ASCII-only meaning.
pub(super) fn compile_go_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let rep = match (n, in_class) {
                    ('d', false) => Some("[0-9]"),
                    ('D', false) => Some("[^0-9]"),
                    ('w', false) => Some("[0-9A-Za-z_]"),
                    ('W', false) => Some("[^0-9A-Za-z_]"),
                    ('s', false) => Some("[\\t\\n\\f\\r ]"),
                    ('S', false) => Some("[^\\t\\n\\f\\r ]"),
                    ('b', false) => Some("(?-u:\\b)"),
                    ('B', false) => Some("(?-u:\\B)"),
                    ('d', true) => Some("0-9"),
                    ('D', true) => Some("[^0-9]"),
                    ('w', true) => Some("0-9A-Za-z_"),
                    ('W', true) => Some("[^0-9A-Za-z_]"),
                    ('s', true) => Some("\\t\\n\\f\\r "),
                    ('S', true) => Some("[^\\t\\n\\f\\r ]"),
                    _ => None,
                };
                match rep {
                    Some(r) => out.push_str(r),
                    None => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.peek() == Some(&':') => {
                out.push('[');
                for d in chars.by_ref() {
                    out.push(d);
                    if d == ']' {
                        break;
                    }
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    regex::Regex::new(&out).map_err(|e| {
        let msg = e.to_string();
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let short = last.trim().trim_start_matches("error: ");
        // Go's regexp/syntax wording for the common mistakes.
        let go = match short {
            "unclosed group" => "missing closing )",
            "unopened group" => "unexpected )",
            "unclosed character class" => "missing closing ]",
            "repetition operator missing expression" => "missing argument to repetition operator",
            "invalid escape sequence found in character class" | "unrecognized escape sequence" => {
                "invalid escape sequence"
            }
            "invalid character class range, the start must be <= the end" => {
                "invalid character class range"
            }
            "incomplete escape sequence, reached end of pattern prematurely" => {
                "trailing backslash at end of expression"
            }
            other => other,
        };
        format!("{go}: `{pattern}`")
    })
}

/// regexp's quote(): backquoted when possible.
pub(super) fn regexp_quote(s: &str) -> String {
    if can_backquote(s) {
        format!("`{s}`")
    } else {
        go_quote(s)
    }
}

/// regexp.(*Regexp).ReplaceAllString, including Go's handling of empty
/// matches right after a previous match.
pub(super) fn go_replace_all(re: &regex::Regex, src: &str, repl: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut last_match_end = 0;
    let mut search = 0;
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let Some(m) = caps.get(0) else {
            break;
        };
        out.push_str(src.get(last_match_end..m.start()).unwrap_or(""));
        if m.end() > last_match_end || m.start() == 0 {
            caps.expand(repl, &mut out);
        }
        last_match_end = m.end();
        let width = src
            .get(search..)
            .and_then(|s| s.chars().next())
            .map_or(1, char::len_utf8);
        if search + width > m.end() {
            search += width;
        } else {
            search = m.end();
        }
    }
    out.push_str(src.get(last_match_end..).unwrap_or(""));
    out
}
