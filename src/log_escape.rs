//! The text log cannot be forged: control characters in logged values (a
//! newline in an alert name posted from outside, an escape sequence) are
//! written escaped (`\n`, `\r`, `\t`, `\u{1b}`), so every event stays one
//! line and a value cannot start a line of its own. The JSON format escapes
//! by itself.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Escapes control characters of each event (one `write` per event, as
/// tracing-subscriber's fmt layer does), keeping the event's final newline.
pub struct Escaping<W>(pub W);

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&escape(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// `buf` with every control character but a trailing newline escaped.
pub fn escape(buf: &[u8]) -> Vec<u8> {
    let (body, end) = match buf.strip_suffix(b"\n") {
        Some(b) => (b, &b"\n"[..]),
        None => (buf, &b""[..]),
    };
    if !body.iter().any(|b| b.is_ascii_control()) && !contains_c1(body) {
        return buf.to_vec();
    }
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    let mut v = out.into_bytes();
    v.extend_from_slice(end);
    v
}

/// Whether UTF-8 text holds a C1 control character (U+0080..U+009F).
fn contains_c1(b: &[u8]) -> bool {
    b.windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]))
}

/// A [`MakeWriter`] wrapping another in [`Escaping`].
pub struct EscapingMakeWriter<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for EscapingMakeWriter<M> {
    type Writer = Escaping<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Escaping(self.0.make_writer())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_cannot_start_a_line() {
        let event = b"2026-12-01T00:00:00Z  INFO alert fired alert=X\n2026-12-01T00:00:01Z ERROR forged\r\x1b[31m\n";
        let out = String::from_utf8(escape(event)).unwrap();
        assert_eq!(
            out,
            "2026-12-01T00:00:00Z  INFO alert fired alert=X\\n2026-12-01T00:00:01Z ERROR forged\\r\\u{1b}[31m\n"
        );
        assert_eq!(out.lines().count(), 1);
        assert_eq!(escape(b"plain\n"), b"plain\n");
        assert_eq!(
            String::from_utf8(escape("a\u{85}b\n".as_bytes())).unwrap(),
            "a\\u{85}b\n"
        );
    }
}
