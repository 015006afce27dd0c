//! A small HTTP client for the gateway's own calls to backends (health probes, and later
//! token counting). It rides Pingora's connector, so it gets the same TLS (rustls) and
//! connection pooling as proxied traffic, without a second HTTP stack.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;

/// A backend's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// One outgoing request.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub host: &'a str,
    /// The backend's key and protocol headers ([`crate::backends::Backend::auth_headers`]).
    pub auth: Vec<(&'static str, String)>,
    pub body: Option<Bytes>,
    pub timeout: Duration,
    /// Reading stops (and the connection is dropped) past this many body bytes.
    pub max_body: usize,
}

/// Sends `call` to `peer`; errors are short human-readable reasons for `/health`.
pub async fn send(connector: &Connector, peer: &HttpPeer, call: Call<'_>) -> Result<Reply, String> {
    match tokio::time::timeout(call.timeout, exchange(connector, peer, &call)).await {
        Ok(result) => result,
        Err(_) => Err(format!("timed out after {} ms", call.timeout.as_millis())),
    }
}

async fn exchange(
    connector: &Connector,
    peer: &HttpPeer,
    call: &Call<'_>,
) -> Result<Reply, String> {
    let (mut session, _reused) = connector
        .get_http_session(peer)
        .await
        .map_err(|e| describe(&e))?;
    session.set_read_timeout(Some(call.timeout));
    session.set_write_timeout(Some(call.timeout));

    let mut req =
        RequestHeader::build(call.method, call.path.as_bytes(), None).map_err(|e| describe(&e))?;
    let header = |req: &mut RequestHeader, k: &'static str, v: String| {
        req.insert_header(k, v).map_err(|e| describe(&e))
    };
    header(&mut req, "host", call.host.to_owned())?;
    header(
        &mut req,
        "user-agent",
        format!("llmgate/{}", env!("CARGO_PKG_VERSION")),
    )?;
    header(&mut req, "accept", "application/json".to_owned())?;
    for (name, value) in &call.auth {
        header(&mut req, name, value.clone())?;
    }
    if let Some(body) = &call.body {
        header(&mut req, "content-type", "application/json".to_owned())?;
        header(&mut req, "content-length", body.len().to_string())?;
    }
    session
        .write_request_header(Box::new(req))
        .await
        .map_err(|e| describe(&e))?;
    if let Some(body) = &call.body {
        session
            .write_request_body(body.clone(), true)
            .await
            .map_err(|e| describe(&e))?;
    }
    session
        .finish_request_body()
        .await
        .map_err(|e| describe(&e))?;
    session
        .read_response_header()
        .await
        .map_err(|e| describe(&e))?;
    let status = session
        .response_header()
        .map(|h| h.status.as_u16())
        .ok_or_else(|| "no response header".to_owned())?;

    let mut body = BytesMut::new();
    let mut complete = true;
    while let Some(chunk) = session
        .read_response_body()
        .await
        .map_err(|e| describe(&e))?
    {
        if body.len() + chunk.len() > call.max_body {
            complete = false;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    if complete {
        connector
            .release_http_session(session, peer, peer.options.idle_timeout)
            .await;
    }
    Ok(Reply {
        status,
        body: body.freeze(),
    })
}

/// A short reason without Pingora's context chain noise.
fn describe(e: &pingora::Error) -> String {
    let reason = e.etype().as_str();
    match e.cause.as_ref() {
        Some(cause) => format!("{reason}: {cause}"),
        None => reason.to_owned(),
    }
}
