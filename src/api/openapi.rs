//! `GET /openapi.json`: an OpenAPI 3.1 description of the API this gateway serves, with
//! the served model aliases as the `model` enum, so client generators and the `/docs`
//! page see exactly what this configuration offers.

use serde_json::{Value, json};

/// A POST operation whose body is JSON with a `model` among `models`.
fn inference(summary: &str, description: &str, tag: &str, models: &Value, extra: Value) -> Value {
    let mut properties = json!({
        "model": {"type": "string", "enum": models, "description": "A served model alias"},
        "stream": {"type": "boolean", "description": "Server-sent events, flushed event by event"},
    });
    if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"post": {
        "summary": summary,
        "description": description,
        "tags": [tag],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": ["model"], "properties": properties,
            "additionalProperties": true}}}},
        "responses": {
            "200": {"description": "The answer (JSON, or `text/event-stream` when streaming)"},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
            "429": {"$ref": "#/components/responses/Error"},
            "502": {"$ref": "#/components/responses/Error"},
            "503": {"$ref": "#/components/responses/Error"},
            "504": {"$ref": "#/components/responses/Error"},
        },
    }})
}

fn local(summary: &str, content_type: &str) -> Value {
    json!({"get": {
        "summary": summary, "tags": ["operations"], "security": [],
        "responses": {"200": {"description": "OK", "content": {content_type: {}}},
                      "503": {"description": "Not ready or not serving"}},
    }})
}

/// The document for `models` (the served aliases) and whether a key is required.
pub fn document(models: &[String], auth_required: bool) -> Value {
    let models = json!(models);
    let messages = json!({
        "max_tokens": {"type": "integer"},
        "messages": {"type": "array", "items": {"type": "object"}},
        "system": {"description": "A string or text blocks"},
        "tools": {"type": "array", "items": {"type": "object"}},
    });
    let chat = json!({
        "messages": {"type": "array", "items": {"type": "object"}},
        "tools": {"type": "array", "items": {"type": "object"}},
        "stream_options": {"type": "object"},
    });
    let security = if auth_required {
        json!([{"bearer": []}, {"apiKey": []}])
    } else {
        json!([])
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "llmgate",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "OpenAI- and Anthropic-compatible LLM gateway. OpenAI routes pass through to the configured inference runtimes; /v1/messages speaks Anthropic's Messages API.",
        },
        "servers": [{"url": "/"}],
        "security": security,
        "tags": [
            {"name": "openai", "description": "OpenAI-compatible routes"},
            {"name": "anthropic", "description": "Anthropic Messages API"},
            {"name": "operations", "description": "Probes and metrics (no key)"},
        ],
        "paths": {
            "/v1/chat/completions": inference("Chat completion", "OpenAI chat completions, passed through (translated for Anthropic deployments).", "openai", &models, chat),
            "/v1/completions": inference("Text completion", "OpenAI legacy completions.", "openai", &models, json!({"prompt": {}})),
            "/v1/embeddings": inference("Embeddings", "OpenAI embeddings.", "openai", &models, json!({"input": {}})),
            "/v1/responses": inference("Response", "OpenAI Responses API, on backends that serve it.", "openai", &models, json!({"input": {}})),
            "/v1/messages": inference("Message", "Anthropic Messages: translated to the backend's OpenAI chat, or forwarded natively.", "anthropic", &models, messages.clone()),
            "/v1/messages/count_tokens": inference("Count tokens", "Anthropic token counting: the backend's tokenizer when it has one, else an estimate (x-llmgate-token-count says which).", "anthropic", &models, messages),
            "/v1/models": {"get": {
                "summary": "Served models", "tags": ["openai", "anthropic"],
                "description": "OpenAI's list, or Anthropic's page when the request carries anthropic-version.",
                "responses": {"200": {"description": "The served aliases"}},
            }},
            "/v1/models/{model}": {"get": {
                "summary": "One served model", "tags": ["openai", "anthropic"],
                "parameters": [{"name": "model", "in": "path", "required": true,
                    "schema": {"type": "string", "enum": models}}],
                "responses": {"200": {"description": "The model"},
                              "404": {"$ref": "#/components/responses/Error"}},
            }},
            "/livez": local("Liveness", "application/json"),
            "/readyz": local("Readiness: every model has a ready backend", "application/json"),
            "/health": local("Backend detail; 503 when nothing can be served", "application/json"),
            "/metrics": local("Prometheus metrics", "text/plain"),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
            "responses": {"Error": {
                "description": "An error in the route's dialect: OpenAI's {\"error\":{message,type,param,code}} or Anthropic's {\"type\":\"error\",\"error\":{type,message}}",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_every_route_and_the_served_models() {
        let doc = document(&["a".into(), "b".into()], true);
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for route in [
            "/v1/chat/completions",
            "/v1/messages",
            "/v1/responses",
            "/v1/models",
            "/health",
        ] {
            assert!(paths.contains_key(route), "{route}");
        }
        let model = &doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["properties"]["model"];
        assert_eq!(model["enum"], json!(["a", "b"]));
        assert_eq!(doc["security"][0], json!({"bearer": []}));
        assert_eq!(document(&[], false)["security"], json!([]));
    }
}
