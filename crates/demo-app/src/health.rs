//! `demo-app healthcheck`: a probe of `/healthz` without curl or wget in the image, for a
//! compose `healthcheck` (`["CMD", "/usr/local/bin/demo-app", "healthcheck"]`).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;

/// How long the probe waits to connect and for the answer.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// `Ok` when `GET /healthz` on the configured port answers 200.
pub fn probe(config: &Config) -> Result<(), String> {
    let base = crate::load::base_url(SocketAddr::new(config.bind_addr, config.port));
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .map_err(|e| format!("bad address {base}: {e}"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .map_err(|e| format!("send: {e}"))?;
    let mut head = Vec::new();
    stream
        .take(4096)
        .read_to_end(&mut head)
        .map_err(|e| format!("read: {e}"))?;
    let head = String::from_utf8_lossy(&head);
    let status_line = head.lines().next().unwrap_or("");
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("unhealthy: {status_line:?}"))
    }
}
