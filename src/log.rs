//! Log lines on standard error: JSON objects, one a line, for a log
//! pipeline; or text, coloured only for a person at a terminal. Either way
//! no input can forge a line: JSON escapes every control character, and
//! text lines go through [`OneLine`], which writes any control character
//! inside a line (a newline in a file name, say) as an escape.

use std::io::{self, IsTerminal, Write};

use tracing_subscriber::fmt::MakeWriter;

use crate::serve::LogFormat;

/// What is logged without `RUST_LOG`: `info`, but only warnings of the
/// object-store client, which logs each of its retries (a store that is
/// down is one line a poll, `crate::remote`'s own).
pub const DEFAULT: &str = "info,object_store=warn";

/// Starts logging in `format`, filtered by `RUST_LOG` (default [`DEFAULT`]).
pub fn init(format: LogFormat) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| DEFAULT.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_writer(io::stderr)
            .init(),
        LogFormat::Text => builder
            .with_ansi(false)
            .with_writer(OneLine { ansi: false })
            .init(),
        LogFormat::Auto => {
            let ansi = io::stderr().is_terminal();
            builder.with_ansi(ansi).with_writer(OneLine { ansi }).init()
        }
    }
}

/// Standard error, one event's line at a time, with control characters
/// inside the line escaped. With `ansi`, the escape character is left to the
/// formatter's colours (it escapes the ones in values itself).
#[derive(Clone, Copy)]
pub struct OneLine {
    pub ansi: bool,
}

impl<'a> MakeWriter<'a> for OneLine {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            line: Vec::with_capacity(256),
            ansi: self.ansi,
        }
    }
}

/// One event's line, written when the event is done.
pub struct LineWriter {
    line: Vec<u8>,
    ansi: bool,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let escaped = escape_line(&self.line, self.ansi);
        let _ = io::stderr().lock().write_all(&escaped);
    }
}

/// `line` with every control character but its final newline (and, with
/// `ansi`, the escape character) written as `\n`, `\r`, `\t` or `\x1f`.
pub fn escape_line(line: &[u8], ansi: bool) -> Vec<u8> {
    let (body, end) = match line.strip_suffix(b"\n") {
        Some(body) => (body, &b"\n"[..]),
        None => (line, &b""[..]),
    };
    let mut out = Vec::with_capacity(line.len() + 8);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x1b if ansi => out.push(b),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.extend_from_slice(end);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_inside_a_line_are_escaped() {
        let forged = b"INFO serving /idx/a\n2026-12-01T00:00:00Z  INFO forged\r\x1b[31m.tsidx\n";
        assert_eq!(
            escape_line(forged, false),
            b"INFO serving /idx/a\\n2026-12-01T00:00:00Z  INFO forged\\r\\x1b[31m.tsidx\n"
        );
        assert_eq!(
            escape_line(b"\x1b[2mtime\x1b[0m ok\n", true),
            b"\x1b[2mtime\x1b[0m ok\n"
        );
        assert_eq!(
            escape_line("Hải Phòng\n".as_bytes(), false),
            "Hải Phòng\n".as_bytes()
        );
    }
}
