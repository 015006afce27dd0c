//! `${VAR}`, `${VAR:-default}` and `os.environ/VAR` in string values.
//!
//! Interpolation runs on parsed scalar values (not on the YAML text), so a variable's value
//! can never change the document's structure. The environment is looked up through the
//! [`EnvSource`] installed for the current load, which lets tests supply their own
//! variables without mutating the process environment.

use std::cell::RefCell;
use std::str::FromStr;

use serde::Deserializer;

/// Looks up an environment variable.
pub type EnvSource = dyn Fn(&str) -> Option<String>;

thread_local! {
    static ENV: RefCell<Option<Box<EnvSource>>> = const { RefCell::new(None) };
}

/// Runs `f` with `env` as the variable source for every interpolating deserializer.
pub fn with_env<R>(env: Box<EnvSource>, f: impl FnOnce() -> R) -> R {
    ENV.with(|slot| *slot.borrow_mut() = Some(env));
    let out = f();
    ENV.with(|slot| *slot.borrow_mut() = None);
    out
}

pub(super) fn lookup(name: &str) -> Option<String> {
    ENV.with(|slot| match slot.borrow().as_ref() {
        Some(env) => env(name),
        None => std::env::var(name).ok(),
    })
}

/// Expands the variable references in `value`.
///
/// # Errors
/// Names the first referenced variable that is not set, or a malformed `${`.
pub fn expand(value: &str) -> Result<String, String> {
    if let Some(name) = value.strip_prefix("os.environ/") {
        return lookup(name).ok_or_else(|| missing(name));
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{value}`"))?;
        let reference = &after[..end];
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if name.is_empty() {
            return Err(format!("empty variable name in `{value}`"));
        }
        match (lookup(name), default) {
            (Some(v), _) => out.push_str(&v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(missing(name)),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn missing(name: &str) -> String {
    format!("environment variable `{name}` is not set")
}

// The expansion runs inside serde visitors on purpose: an error raised while serde_yaml is
// visiting a scalar carries that scalar's key path and line; one raised after the value
// was deserialized only gets the enclosing mapping's.

struct StringVisitor;

impl serde::de::Visitor<'_> for StringVisitor {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        expand(v).map_err(E::custom)
    }
}

/// `deserialize_with` for an interpolated `String`.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_str(StringVisitor)
}

struct OptStringVisitor;

impl<'de> serde::de::Visitor<'de> for OptStringVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        string(d).map(Some)
    }
}

/// `deserialize_with` for an interpolated `Option<String>`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptStringVisitor)
}

struct NumberVisitor<T>(std::marker::PhantomData<T>);

impl<T> serde::de::Visitor<'_> for NumberVisitor<T>
where
    T: FromStr + TryFrom<u64>,
    T::Err: std::fmt::Display,
{
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a number, or a string such as \"${{VAR}}\", for a {}",
            std::any::type_name::<T>()
        )
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| {
            E::custom(format!(
                "{v} is out of range for a {}",
                std::any::type_name::<T>()
            ))
        })
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v).map_err(|_| E::custom(format!("{v} must not be negative")))?;
        self.visit_u64(v)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        let text = expand(v).map_err(E::custom)?;
        text.trim()
            .parse()
            .map_err(|e| E::custom(format!("`{text}`: {e}")))
    }
}

/// `deserialize_with` for a number that may come from the environment (`"${PORT}"`).
pub fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + TryFrom<u64>,
    T::Err: std::fmt::Display,
{
    d.deserialize_any(NumberVisitor(std::marker::PhantomData))
}

/// Whether a scalar refers to the environment.
fn references_env(text: &str) -> bool {
    text.contains("${") || text.starts_with("os.environ/")
}

/// `deserialize_with` for any non-string value (an enum such as `logging.level`, a flag,
/// a number): a string that refers to the environment is expanded first, and the result
/// is read as if it had been written in its place, so `level: ${LOG_LEVEL:-info}` and
/// `json: ${LOG_JSON:-true}` are typed like `level: info` and `json: true`.
pub fn typed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    d.deserialize_any(TypedVisitor(std::marker::PhantomData))
}

/// Types each scalar while serde_yaml is visiting it, so errors keep its line and column.
struct TypedVisitor<T>(std::marker::PhantomData<T>);

impl<T: serde::de::DeserializeOwned> TypedVisitor<T> {
    fn from<'de, D, E>(d: D) -> Result<T, E>
    where
        D: Deserializer<'de, Error = serde::de::value::Error>,
        E: serde::de::Error,
    {
        T::deserialize(d).map_err(|e| E::custom(e.to_string()))
    }
}

impl<T: serde::de::DeserializeOwned> serde::de::Visitor<'_> for TypedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} (or \"${{VAR}}\")", std::any::type_name::<T>())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        use serde::de::IntoDeserializer;
        if !references_env(v) {
            return Self::from(v.into_deserializer());
        }
        let expanded = expand(v).map_err(E::custom)?;
        serde_yaml::from_str(&expanded).map_err(|e| E::custom(format!("`{expanded}`: {e}")))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<T, E> {
        use serde::de::IntoDeserializer;
        Self::from(v.into_deserializer())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
        use serde::de::IntoDeserializer;
        Self::from(v.into_deserializer())
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
        use serde::de::IntoDeserializer;
        Self::from(v.into_deserializer())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
        use serde::de::IntoDeserializer;
        Self::from(v.into_deserializer())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        use serde::de::IntoDeserializer;
        Self::from(().into_deserializer())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<T, E> {
        self.visit_unit()
    }
}

/// [`typed`] for an optional value: absent or `null` is `None`.
pub fn opt_typed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    d.deserialize_option(OptTypedVisitor(std::marker::PhantomData))
}

struct OptTypedVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for OptTypedVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a {} or null", std::any::type_name::<T>())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        typed(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Box<EnvSource> {
        Box::new(|name| match name {
            "KEY" => Some("s3cret".into()),
            "PORT" => Some("9000".into()),
            _ => None,
        })
    }

    #[test]
    fn expands_braces_defaults_and_litellm_form() {
        with_env(env(), || {
            assert_eq!(expand("Bearer ${KEY}!").as_deref(), Ok("Bearer s3cret!"));
            assert_eq!(expand("os.environ/KEY").as_deref(), Ok("s3cret"));
            assert_eq!(expand("${NOPE:-fallback}").as_deref(), Ok("fallback"));
            assert_eq!(expand("plain $ text").as_deref(), Ok("plain $ text"));
        });
    }

    #[test]
    fn missing_variable_is_named() {
        with_env(env(), || {
            assert_eq!(
                expand("${MISSING_ONE}"),
                Err("environment variable `MISSING_ONE` is not set".into())
            );
            assert_eq!(
                expand("os.environ/ALSO_MISSING"),
                Err("environment variable `ALSO_MISSING` is not set".into())
            );
            assert!(expand("${UNCLOSED").is_err());
        });
    }
}
