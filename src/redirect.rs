//! `server.redirect_http_port`: a plain-HTTP listener that sends every request to the
//! HTTPS listener with a permanent redirect (308 keeps the method and body), as an
//! Nginx `return 308 https://$host$request_uri` server block does.

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;

pub struct Redirect {
    https_port: u16,
}

/// The location of `target` on the HTTPS listener, for a request to `host`.
fn location(host: &str, target: &str, https_port: u16) -> String {
    // The name the client used, without the plain listener's port.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    format!("https://{name}{port}{target}")
}

#[async_trait]
impl ServeHttp for Redirect {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let req = session.req_header();
        let host = req
            .headers
            .get("host")
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or("localhost")
            .to_owned();
        let target = req
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let body =
            serde_json::json!({"error": {"message": "use HTTPS", "type": "invalid_request_error",
            "param": null, "code": "https_required"}})
            .to_string()
            .into_bytes();
        Response::builder()
            .status(308)
            .header("location", location(&host, &target, self.https_port))
            .header("content-type", "application/json")
            .header("content-length", body.len())
            .body(body)
            .unwrap_or_default()
    }
}

/// The redirect listener on `host:port`.
pub fn service(host: &str, port: u16, https_port: u16) -> Service<Redirect> {
    let mut service = Service::new("https-redirect".into(), Redirect { https_port });
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    service.add_tcp(&addr);
    service
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_location_keeps_the_name_and_target() {
        assert_eq!(
            location("gw.example:80", "/v1/models?x=1", 443),
            "https://gw.example/v1/models?x=1"
        );
        assert_eq!(
            location("10.0.0.5:8080", "/", 8443),
            "https://10.0.0.5:8443/"
        );
        assert_eq!(location("[::1]:80", "/a", 443), "https://[::1]/a");
    }
}
