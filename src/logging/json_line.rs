//! A JSON log line written field by field into a reused per-thread buffer and appended to
//! the sink in one piece: the access log's path, one line per request.
//!
//! Going through `log`'s key-values and env_logger's formatter cost ~14k instructions a
//! line (each value tried as five types, forty small writes, a timestamp formatted from
//! scratch); this writes the same line, byte for byte, in a fraction of that. `RUST_LOG`
//! filters it like any other line, and readable-text logging gets the same fields
//! through the logger.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Set by `logging::init` when lines are JSON and go to the sink.
static JSON_TO_SINK: AtomicBool = AtomicBool::new(false);

pub(super) fn enable() {
    JSON_TO_SINK.store(true, Ordering::Relaxed);
}

/// Logs one line with these fields, unless the level and `RUST_LOG` turn `target` off.
/// JSON lines are written straight to the sink ([`write`]); otherwise the logger formats
/// the same fields (readable text).
pub fn log(level: log::Level, target: &str, msg: &str, fields: &[(&str, Field<'_>)]) {
    if !log::log_enabled!(target: target, level) {
        return;
    }
    if JSON_TO_SINK.load(Ordering::Relaxed) {
        write(level, target, msg, fields);
    } else {
        log::logger().log(
            &log::Record::builder()
                .level(level)
                .target(target)
                .args(format_args!("{msg}"))
                .key_values(&Fields(fields))
                .build(),
        );
    }
}

/// The fields as the logger's key-values.
struct Fields<'a>(&'a [(&'a str, Field<'a>)]);

impl log::kv::Source for Fields<'_> {
    fn visit<'kvs>(
        &'kvs self,
        visitor: &mut dyn log::kv::VisitSource<'kvs>,
    ) -> Result<(), log::kv::Error> {
        for (name, value) in self.0 {
            let value = match *value {
                Field::Str(text) => log::kv::Value::from(text),
                Field::Int(n) => log::kv::Value::from(n),
                Field::Tenths(n) => log::kv::Value::from(n as f64 / 10.0),
            };
            visitor.visit_pair(log::kv::Key::from(*name), value)?;
        }
        Ok(())
    }
}

/// One field's value.
#[derive(Debug, Clone, Copy)]
pub enum Field<'a> {
    Str(&'a str),
    Int(u64),
    /// A count of tenths, written as a decimal with one digit after the point (`12.3`).
    Tenths(u64),
}

thread_local! {
    static LINE: RefCell<Line> = RefCell::new(Line::default());
}

#[derive(Default)]
struct Line {
    buf: Vec<u8>,
    /// The second `second_prefix` was formatted for.
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`: formatted once a second, not once a line.
    second_prefix: String,
}

/// Writes `{"ts":…,"level":…,"target":…,"msg":…,<fields>}` to the sink: the layout of
/// every JSON line (see `logging::init`). Field names are trusted constants.
fn write(level: log::Level, target: &str, msg: &str, fields: &[(&str, Field<'_>)]) {
    LINE.with_borrow_mut(|line| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        line.format(
            now.as_secs(),
            now.subsec_millis(),
            level,
            target,
            msg,
            fields,
        );
        super::sink::append(&line.buf);
    });
}

impl Line {
    fn format(
        &mut self,
        second: u64,
        millis: u32,
        level: log::Level,
        target: &str,
        msg: &str,
        fields: &[(&str, Field<'_>)],
    ) {
        if self.second != second || self.second_prefix.is_empty() {
            self.second = second;
            self.second_prefix = second_prefix(second);
        }
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(b"{\"ts\":\"");
        buf.extend_from_slice(self.second_prefix.as_bytes());
        buf.push(b'.');
        let millis = millis.min(999);
        buf.extend_from_slice(&[
            b'0' + (millis / 100) as u8,
            b'0' + (millis / 10 % 10) as u8,
            b'0' + (millis % 10) as u8,
        ]);
        buf.extend_from_slice(b"Z\",\"level\":\"");
        buf.extend_from_slice(level.as_str().as_bytes());
        buf.extend_from_slice(b"\",\"target\":");
        push_str(buf, target);
        buf.extend_from_slice(b",\"msg\":");
        push_str(buf, msg);
        let mut digits = itoa::Buffer::new();
        for (name, value) in fields {
            buf.extend_from_slice(b",\"");
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(b"\":");
            match *value {
                Field::Str(text) => push_str(buf, text),
                Field::Int(n) => buf.extend_from_slice(digits.format(n).as_bytes()),
                Field::Tenths(n) => {
                    buf.extend_from_slice(digits.format(n / 10).as_bytes());
                    buf.extend_from_slice(&[b'.', b'0' + (n % 10) as u8]);
                }
            }
        }
        buf.extend_from_slice(b"}\n");
    }
}

/// `second` (since the epoch) as `YYYY-MM-DDTHH:MM:SS`, UTC.
fn second_prefix(second: u64) -> String {
    let stamp = i64::try_from(second)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    // `{:.0}` is `2026-12-04T21:03:28Z`, the form env_logger's own lines use.
    let mut text = format!("{stamp:.0}");
    text.truncate(19);
    text
}

/// A JSON string: copied as it is unless it has a character JSON must escape.
fn push_str(buf: &mut Vec<u8>, text: &str) {
    let plain = text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\');
    if plain {
        buf.push(b'"');
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'"');
    } else {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(second: u64, millis: u32, fields: &[(&str, Field<'_>)]) -> String {
        let mut line = Line::default();
        line.format(
            second,
            millis,
            log::Level::Info,
            "llmgate::access",
            "request",
            fields,
        );
        String::from_utf8(line.buf).expect("utf8")
    }

    #[test]
    fn a_line_is_one_json_object_with_the_usual_header_fields() {
        let text = formatted(
            1_796_418_208,
            7,
            &[
                ("request_id", Field::Str("abc")),
                ("status", Field::Int(200)),
                ("duration_ms", Field::Tenths(1234)),
                ("short", Field::Tenths(4)),
            ],
        );
        assert_eq!(
            text,
            "{\"ts\":\"2026-12-04T21:03:28.007Z\",\"level\":\"INFO\",\"target\":\"llmgate::access\",\"msg\":\"request\",\"request_id\":\"abc\",\"status\":200,\"duration_ms\":123.4,\"short\":0.4}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["duration_ms"], 123.4);
    }

    #[test]
    fn strings_that_need_escaping_stay_valid_json() {
        let nasty = "quote\" back\\slash\nnewline\u{1}ctl é";
        let text = formatted(0, 999, &[("model", Field::Str(nasty))]);
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["model"], nasty);
        assert_eq!(v["ts"], "1970-01-01T00:00:00.999Z");
    }

    #[test]
    fn the_second_is_reformatted_when_it_changes() {
        let mut line = Line::default();
        for (second, expected) in [
            (951_782_400, "2000-02-29T00:00:00.000Z"),
            (951_782_401, "2000-02-29T00:00:01.000Z"),
        ] {
            line.format(second, 0, log::Level::Warn, "t", "m", &[]);
            let v: serde_json::Value = serde_json::from_slice(&line.buf).expect("json");
            assert_eq!(v["ts"], expected);
            assert_eq!(v["level"], "WARN");
        }
    }
}
