//! Who the client is, and what the backend is told about it. Forwarding headers a client
//! sends are believed only from `server.trusted_proxies` (a load balancer in front);
//! anyone else could claim any address, so theirs are replaced: `X-Forwarded-For` becomes
//! the peer's address, `X-Forwarded-Proto` the listener's scheme, and `Forwarded`,
//! `X-Forwarded-Host` and `X-Real-IP` are dropped.

use std::net::IpAddr;

use pingora::http::RequestHeader;
use pingora::prelude::{Result, Session};

/// Headers describing the client that only a trusted proxy may set.
const CLAIMED: &[&str] = &["forwarded", "x-forwarded-host", "x-real-ip"];

fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

fn is_trusted(ip: IpAddr, trusted: &[ipnet::IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client's address: the peer's, or, behind trusted proxies, the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(session: &Session, trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    let peer = peer_ip(session)?;
    if !is_trusted(peer, trusted) {
        return Some(peer);
    }
    let chain = session
        .req_header()
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        chain
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(*ip, trusted))
            .unwrap_or(peer),
    )
}

/// Sets the forwarding headers of the upstream request `req` (a copy of the client's).
pub fn apply(session: &Session, req: &mut RequestHeader, trusted: &[ipnet::IpNet]) -> Result<()> {
    let peer = peer_ip(session);
    let from_trusted = peer.is_some_and(|ip| is_trusted(ip, trusted));
    if !from_trusted {
        super::upstream::remove_headers(req, &[CLAIMED]);
    }
    if let Some(ip) = peer {
        let prior = req
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .filter(|_| from_trusted);
        let forwarded_for = match prior {
            Some(prior) => format!("{prior}, {ip}"),
            None => ip_text(ip),
        };
        req.insert_header("x-forwarded-for", forwarded_for)?;
    } else {
        req.remove_header("x-forwarded-for");
    }
    let client_proto = req
        .headers
        .get("x-forwarded-proto")
        .filter(|_| from_trusted)
        .cloned();
    match client_proto {
        Some(proto) => req.insert_header("x-forwarded-proto", proto)?,
        None => {
            let over_tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
            req.insert_header("x-forwarded-proto", if over_tls { "https" } else { "http" })?;
        }
    }
    Ok(())
}

/// `ip` as text; IPv4 without `fmt` machinery, as this runs on every request.
fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut text = String::with_capacity(15);
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    text.push('.');
                }
                text.push_str(digits.format(octet));
            }
            text
        }
        IpAddr::V6(v6) => v6.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for text in [
            "127.0.0.1",
            "10.200.3.255",
            "0.0.0.0",
            "::1",
            "2001:db8::7",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = text.parse().expect("ip");
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }
}
