//! A raw-socket HTTP client for what a well-behaved client library will not send:
//! malformed framing, pipelined requests, slow or silent connections.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Reads until the peer closes or `within` passes; returns what arrived and whether the
/// peer closed.
pub async fn read_until_close(stream: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// Sends `request` as one write and reads every response until the server closes the
/// connection (or `within` passes).
pub async fn send(addr: SocketAddr, request: &[u8], within: Duration) -> Vec<RawResponse> {
    let mut s = connect(addr).await;
    s.write_all(request).await.expect("write");
    let (bytes, _) = read_until_close(&mut s, within).await;
    parse_responses(&bytes)
}

/// Splits a byte stream into HTTP/1.1 responses (Content-Length or chunked bodies).
pub fn parse_responses(mut bytes: &[u8]) -> Vec<RawResponse> {
    let mut out = Vec::new();
    while let Some(head_end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let rest = &bytes[head_end + 4..];
        let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let (body, used) = if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            dechunk(rest)
        } else {
            let len = find("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0usize)
                .min(rest.len());
            (rest[..len].to_vec(), len)
        };
        out.push(RawResponse {
            status,
            headers,
            body,
        });
        bytes = &rest[used..];
    }
    out
}

fn dechunk(mut rest: &[u8]) -> (Vec<u8>, usize) {
    let total = rest.len();
    let mut body = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&rest[..line_end])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        rest = &rest[line_end + 2..];
        if size == 0 {
            let trailer_end = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(0, |p| p + 2);
            rest = &rest[trailer_end.min(rest.len())..];
            break;
        }
        let take = size.min(rest.len());
        body.extend_from_slice(&rest[..take]);
        rest = &rest[(take + 2).min(rest.len())..];
    }
    (body, total - rest.len())
}
