//! From a place inside a YAML scalar's value to its line and column in the file.
//!
//! The value a parser hands over is not the text in the file: quotes,
//! escapes, folded line breaks and a block scalar's indentation are gone.
//! [`locate`] walks the file's text and the value side by side to undo that.

/// Line and column (1-based, in characters like the YAML parser's) in `text`
/// of byte `offset` of `value`, the scalar whose text starts at byte `start`
/// of `text` (at its opening quote if quoted; at its first line of content
/// if a `|` or `>` block). `None` when the two cannot be matched up.
pub fn locate(text: &str, start: usize, value: &str, offset: usize) -> Option<(u32, u32)> {
    let raw = text.get(start..)?;
    let style = style(text, start)?;
    let mut r = raw.char_indices().peekable();
    if matches!(style, Style::Double | Style::Single) {
        r.next();
    }
    let indent = match style {
        Style::Block => column_of(text, start) - 1,
        _ => 0,
    };
    let mut v = value.char_indices().peekable();
    loop {
        let vc = match v.peek() {
            Some(&(vi, vc)) if vi < offset => vc,
            Some(&(vi, _)) if vi == offset => break,
            None if value.len() == offset => break,
            _ => return None,
        };
        let &(_, rc) = r.peek()?;
        match (style, rc) {
            (Style::Double, '\\') => {
                r.next();
                let (_, escaped) = r.next()?;
                match escaped {
                    // An escaped line break: nothing in the value.
                    '\n' => {
                        while r.peek().is_some_and(|&(_, c)| c == ' ' || c == '\t') {
                            r.next();
                        }
                        continue;
                    }
                    'x' | 'u' | 'U' => {
                        let digits = match escaped {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        for _ in 0..digits {
                            r.next()?;
                        }
                    }
                    _ => {}
                }
                v.next();
            }
            (Style::Single, '\'') => {
                r.next();
                r.next()?; // the second quote of ''
                v.next();
            }
            _ if rc == vc => {
                r.next();
                v.next();
                if rc == '\n' && style == Style::Block {
                    for _ in 0..indent {
                        if r.peek().is_some_and(|&(_, c)| c == ' ') {
                            r.next();
                        }
                    }
                }
            }
            // A folded line break (and the next line's indentation).
            _ if rc.is_whitespace() && (vc == ' ' || vc == '\n') => {
                while r.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
                    r.next();
                }
                while v
                    .peek()
                    .is_some_and(|&(i, c)| i < offset && (c == ' ' || c == '\n'))
                {
                    v.next();
                }
            }
            // Block indentation after a blank line, or a mismatch.
            _ if rc == ' ' && style == Style::Block => {
                r.next();
            }
            _ => return None,
        }
    }
    let at = start + r.peek().map_or(raw.len(), |&(i, _)| i);
    let before = text.get(..at)?;
    let line = before.matches('\n').count() + 1;
    Some((
        u32::try_from(line).ok()?,
        u32::try_from(column_of(text, at)).ok()?,
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    /// `|` or `>`, with or without indicators.
    Block,
}

fn style(text: &str, start: usize) -> Option<Style> {
    match text.get(start..)?.chars().next()? {
        '"' => return Some(Style::Double),
        '\'' => return Some(Style::Single),
        _ => {}
    }
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    if !text[line_start..start].trim().is_empty() {
        return Some(Style::Plain);
    }
    // Content at the start of its line: a block if the last non-blank line
    // before it ends with a block header (`key: |`, `- >-`, `|2`).
    let header = text[..line_start]
        .lines()
        .rev()
        .map(|l| match l.find(" #") {
            Some(i) => &l[..i],
            None => l,
        })
        .map(str::trim_end)
        .find(|l| !l.trim().is_empty())?;
    let last_word = header.rsplit([' ', '\t']).next()?;
    let is_block = last_word.starts_with(['|', '>'])
        && last_word[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '+');
    Some(if is_block { Style::Block } else { Style::Plain })
}

/// 1-based column, in characters, of byte `at` in `text`.
fn column_of(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at].chars().count() + 1
}
