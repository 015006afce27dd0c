//! The model list (`GET /v1/models`) and model lookup (`GET /v1/models/{id}`) in both
//! dialects. The same path serves the OpenAI and the Anthropic SDK; the Anthropic SDKs
//! always send `anthropic-version`, the OpenAI ones never do, so that header picks the shape.

use serde_json::{Map, Value, json};

/// What a backend said of the model behind an alias, in its own list (`None`: nothing).
pub type Reported = Option<Map<String, Value>>;

/// OpenAI's `{"object":"list","data":[{"id","object":"model","created","owned_by",...}]}`.
pub fn openai_list(served: &[(String, Reported)], created_unix: u64) -> Value {
    let data: Vec<Value> = served
        .iter()
        .map(|(id, reported)| openai_model(id, reported.clone(), created_unix))
        .collect();
    json!({"object": "list", "data": data})
}

/// One model under its alias: the fields its backend reported (vLLM's `max_model_len`,
/// `root`, ...) are kept; `id` is the alias, and `created`/`owned_by` are filled in when
/// the backend gave none.
pub fn openai_model(id: &str, reported: Reported, created_unix: u64) -> Value {
    let mut model = reported.unwrap_or_default();
    model.insert("id".into(), Value::from(id));
    model.insert("object".into(), Value::from("model"));
    model
        .entry("created")
        .or_insert_with(|| Value::from(created_unix));
    model
        .entry("owned_by")
        .or_insert_with(|| Value::from("llmgate"));
    Value::Object(model)
}

/// Anthropic's page shape. Every alias fits on one page (a gateway serves a handful), so
/// `has_more` is always false and the pagination parameters have nothing to do.
pub fn anthropic_list(served: &[String], created_unix: u64) -> Value {
    let data: Vec<Value> = served
        .iter()
        .map(|id| anthropic_model(id, created_unix))
        .collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": served.first(),
        "last_id": served.last(),
    })
}

/// Anthropic's `ModelInfo`; the SDKs parse `created_at` as an RFC 3339 datetime.
pub fn anthropic_model(id: &str, created_unix: u64) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": id,
        "created_at": rfc3339_utc(created_unix),
    })
}

/// The model id in a `/v1/models/{id}` path: SDKs percent-encode it (`org%2FModel`).
/// `None` for an id that is empty or not UTF-8 once decoded.
pub fn id_from_path(encoded: &str) -> Option<String> {
    let id = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?;
    (!id.is_empty()).then(|| id.into_owned())
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time, by the days-from-civil inverse
/// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"); one call per listing does
/// not justify a date crate.
pub(crate) fn rfc3339_utc(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_314_467), "2026-11-22T02:27:47Z");
        assert_eq!(rfc3339_utc(4_107_542_399), "2100-02-28T23:59:59Z");
    }

    #[test]
    fn ids_are_percent_decoded() {
        assert_eq!(
            id_from_path("org%2FModel-7B").as_deref(),
            Some("org/Model-7B")
        );
        assert_eq!(id_from_path("smollm2").as_deref(), Some("smollm2"));
        assert_eq!(id_from_path(""), None);
        assert_eq!(id_from_path("%FF"), None);
    }

    #[test]
    fn anthropic_page_names_its_ends() {
        let served = vec!["a".to_owned(), "b".to_owned()];
        let page = anthropic_list(&served, 0);
        assert_eq!(page["first_id"], "a");
        assert_eq!(page["last_id"], "b");
        assert_eq!(page["has_more"], false);
        assert_eq!(page["data"][1]["type"], "model");
        assert_eq!(page["data"][1]["created_at"], "1970-01-01T00:00:00Z");
        let empty = anthropic_list(&[], 0);
        assert_eq!(empty["first_id"], Value::Null);
    }
}
