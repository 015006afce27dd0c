//! The framework's floor: a bare Pingora reverse proxy with nothing of llmgate in it, so
//! `make bench` can show what the gateway's own work costs on top of Pingora's.
//!
//!     bare_pingora <listen-port> <upstream host:port>      (one worker thread)

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

struct PassThrough {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for PassThrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            &self.upstream,
            false,
            String::new(),
        )))
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_pingora <listen-port> <upstream host:port>");
        std::process::exit(64);
    };
    let conf = ServerConf {
        threads: 1,
        // Exit promptly on SIGTERM, as llmgate's bench config does, so a profiler
        // wrapping it (BENCH_PINGORA_WRAPPER) gets to write its report.
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    let mut proxy = http_proxy_service(&server.configuration, PassThrough { upstream });
    proxy.add_tcp(&format!("127.0.0.1:{port}"));
    server.add_service(proxy);
    server.run_forever();
}
