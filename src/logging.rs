//! Log setup: `log` + `env_logger`, one JSON object per line (or readable text), with the
//! structured key-values of a record (`request_id`, `status`, ...) as top-level fields.
//!
//! Targets are stable so they can be filtered with `RUST_LOG`: `llmgate::access` (one
//! line per request), `llmgate::config`, `llmgate::backend`, `llmgate::server`.

use std::io::Write;

use log::kv::{Error as KvError, Key, Value as KvValue, VisitSource};
use serde_json::{Map, Value};

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

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl<'kvs> VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: KvValue<'kvs>) -> Result<(), KvError> {
        let v = if let Some(n) = value.to_u64() {
            Value::from(n)
        } else if let Some(n) = value.to_i64() {
            Value::from(n)
        } else if let Some(f) = value.to_f64() {
            Value::from(f)
        } else if let Some(b) = value.to_bool() {
            Value::from(b)
        } else {
            Value::from(value.to_string())
        };
        self.0.insert(key.as_str().to_owned(), v);
        Ok(())
    }
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
/// answer; only our own access-log lines, built from known-safe fields, skip the scan.
fn message(record: &log::Record<'_>) -> String {
    let text = record.args().to_string();
    if record.target() == "llmgate::access" {
        return text;
    }
    match crate::redact::scrub(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(clean) => clean,
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
    }));
}

/// Installs the process logger. `RUST_LOG`, when set, overrides `level`.
/// Returns an error if a logger is already installed (e.g. a second gateway in one process).
pub fn init(level: log::LevelFilter, json: bool) -> Result<(), log::SetLoggerError> {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(level).parse_env("RUST_LOG");
    if json {
        builder.format(|buf, record| {
            let mut obj = Map::new();
            obj.insert("ts".into(), Value::from(buf.timestamp_millis().to_string()));
            obj.insert("level".into(), Value::from(record.level().as_str()));
            obj.insert("target".into(), Value::from(record.target()));
            obj.insert("msg".into(), Value::from(message(record)));
            let _ = record.key_values().visit(&mut JsonFields(&mut obj));
            writeln!(buf, "{}", Value::Object(obj))
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
    builder.try_init()
}
