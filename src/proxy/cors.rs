//! CORS for browser clients: which origin to echo, and the preflight answer.

use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::Result;

use crate::config::file::Cors;

/// The `Access-Control-Allow-Origin` value for this request, if its origin is allowed.
pub fn allowed_origin(cors: &Cors, req: &RequestHeader) -> Option<String> {
    let origin = req.headers.get("origin")?.to_str().ok()?;
    if cors.allow_origins.iter().any(|o| o == origin) {
        Some(origin.to_owned())
    } else if cors.allow_origins.iter().any(|o| o == "*") {
        Some("*".to_owned())
    } else {
        None
    }
}

/// Adds the CORS response headers for an allowed origin.
pub fn decorate(cors: &Cors, req: &RequestHeader, resp: &mut ResponseHeader) -> Result<()> {
    if let Some(origin) = allowed_origin(cors, req) {
        if origin != "*" {
            resp.append_header("vary", "Origin")?;
        }
        resp.insert_header("access-control-allow-origin", origin)?;
        if cors.allow_credentials {
            resp.insert_header("access-control-allow-credentials", "true")?;
        }
        resp.insert_header(
            "access-control-expose-headers",
            "x-request-id, request-id, retry-after",
        )?;
    }
    Ok(())
}

/// Extra headers of a preflight (`OPTIONS` with `Access-Control-Request-Method`) answer.
pub fn preflight_headers(req: &RequestHeader) -> Vec<(&'static str, String)> {
    let requested = req
        .headers
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("authorization, content-type, x-api-key")
        .to_owned();
    vec![
        (
            "access-control-allow-methods",
            "GET, POST, OPTIONS".to_owned(),
        ),
        ("access-control-allow-headers", requested),
        ("access-control-max-age", "600".to_owned()),
    ]
}
