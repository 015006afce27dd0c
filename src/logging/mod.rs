//! Log setup: `log` + `env_logger`, one JSON object per line (or readable text), with the
//! structured key-values of a record (`request_id`, `status`, ...) as top-level fields.
//!
//! Targets are stable so they can be filtered with `RUST_LOG`: `llmgate::access` (one
//! line per request), `llmgate::config`, `llmgate::backend`, `llmgate::server`.

pub mod json_line;
mod sink;

use std::io::Write;

use std::borrow::Cow;

use log::kv::{Error as KvError, Key, Value as KvValue, VisitSource};

use crate::config::LogLevel;

pub fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    }
}

/// Writes a record's key-values as `,"key":value` straight into the line: no map, no
/// per-field allocation (this runs once per request for the access log).
struct JsonFields<'a, W: Write>(&'a mut W);

impl<'kvs, W: Write> VisitSource<'kvs> for JsonFields<'_, W> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: KvValue<'kvs>) -> Result<(), KvError> {
        let out = &mut *self.0;
        out.write_all(b",")?;
        serde_json::to_writer(&mut *out, key.as_str()).map_err(io_error)?;
        out.write_all(b":")?;
        let written = if let Some(n) = value.to_u64() {
            serde_json::to_writer(&mut *out, &n)
        } else if let Some(n) = value.to_i64() {
            serde_json::to_writer(&mut *out, &n)
        } else if let Some(f) = value.to_f64() {
            serde_json::to_writer(&mut *out, &f)
        } else if let Some(b) = value.to_bool() {
            serde_json::to_writer(&mut *out, &b)
        } else if let Some(text) = value.to_borrowed_str() {
            serde_json::to_writer(&mut *out, text)
        } else {
            serde_json::to_writer(&mut *out, &value.to_string())
        };
        written.map_err(io_error)?;
        Ok(())
    }
}

fn io_error(e: serde_json::Error) -> KvError {
    KvError::boxed(e)
}

struct TextFields<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for TextFields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: KvValue<'kvs>) -> Result<(), KvError> {
        self.0.push_str(&format!(" {key}={value}"));
        Ok(())
    }
}

/// The message of a record, with secrets masked. Pingora prints whole request headers at
/// debug and trace level (the backend key among them), and errors may quote a backend's
/// answer; only our own access-log lines, built from known-safe fields, skip the scan
/// (and, being a constant, are not even copied).
fn message<'r>(record: &'r log::Record<'_>) -> Cow<'r, str> {
    if record.target() == "llmgate::access"
        && let Some(constant) = record.args().as_str()
    {
        return Cow::Borrowed(constant);
    }
    let text = record.args().to_string();
    match crate::redact::scrub(&text) {
        Cow::Borrowed(_) => Cow::Owned(text),
        Cow::Owned(clean) => Cow::Owned(clean),
    }
}

/// Routes panics through the logger: one JSON error line (with the location and a
/// backtrace) instead of plain text on stderr. The request's access-log line is written
/// when its context drops (see `proxy::access_log::record_abandoned`).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_owned());
        let location = info
            .location()
            .map_or_else(|| "?".to_owned(), |l| format!("{}:{}", l.file(), l.line()));
        let thread = std::thread::current().name().unwrap_or("?").to_owned();
        let backtrace = std::backtrace::Backtrace::force_capture().to_string();
        log::error!(target: "llmgate::panic",
            location = location.as_str(), thread = thread.as_str(),
            backtrace = backtrace.as_str(); "panic: {payload}");
        // The process may be about to end (a panic outside a request task).
        sink::flush();
    }));
}

/// Installs the process logger. `RUST_LOG`, when set, overrides `level`.
/// Returns an error if a logger is already installed (e.g. a second gateway in one process).
pub fn init(level: log::LevelFilter, json: bool) -> Result<(), log::SetLoggerError> {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level).parse_env("RUST_LOG");
    if json {
        builder.format(|buf, record| {
            let ts = buf.timestamp_millis();
            write!(
                buf,
                r#"{{"ts":"{ts}","level":"{}","target":"#,
                record.level()
            )?;
            serde_json::to_writer(&mut *buf, record.target())?;
            buf.write_all(b",\"msg\":")?;
            serde_json::to_writer(&mut *buf, message(record).as_ref())?;
            let _ = record.key_values().visit(&mut JsonFields(&mut *buf));
            buf.write_all(b"}\n")
        });
    } else {
        builder.format(|buf, record| {
            let mut fields = String::new();
            let _ = record.key_values().visit(&mut TextFields(&mut fields));
            writeln!(
                buf,
                "{} {:<5} {} {}{fields}",
                buf.timestamp_millis(),
                record.level(),
                record.target(),
                message(record)
            )
        });
    }
    builder.target(env_logger::Target::Pipe(Box::new(sink::start(Box::new(
        std::io::stderr(),
    )))));
    builder.try_init()?;
    if json {
        json_line::enable();
    }
    Ok(())
}

/// Writes out every log line still waiting in memory. `main` holds one of these for the
/// life of the process, so lines logged just before exit are not lost.
pub struct FlushOnExit;

impl Drop for FlushOnExit {
    fn drop(&mut self) {
        sink::flush();
    }
}
