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
            obj.insert("msg".into(), Value::from(record.args().to_string()));
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
                record.args()
            )
        });
    }
    builder.try_init()
}
