//! The built-in load loop: `DEMO_RPS` requests per second to the app's own `DEMO_ROUTES`, in
//! turn, over loopback HTTP, so that real server spans, metrics and log lines appear without
//! any outside traffic. At most [`MAX_IN_FLIGHT`] requests are open at once (a tick with none
//! free is skipped), and the loop stops when shutdown starts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::time::MissedTickBehavior;

/// Requests the loop keeps open at most.
pub const MAX_IN_FLIGHT: usize = 64;

/// `http://<loopback>:<port>` for a listener bound to `addr` (an unspecified address is
/// reached over the loopback address of its family).
pub fn base_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Runs until `shutdown` turns true. `rps` must be above 0.
pub async fn run(
    client: reqwest::Client,
    base: String,
    routes: Vec<String>,
    rps: f64,
    mut shutdown: watch::Receiver<bool>,
) {
    if routes.is_empty() || rps <= 0.0 {
        return;
    }
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rps));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    for next in 0usize.. {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!("load loop: too many requests in flight, tick skipped");
            continue;
        };
        let url = format!("{base}{}", routes[next % routes.len()]);
        let client = client.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match client.get(&url).send().await {
                Ok(resp) => {
                    let _ = resp.bytes().await;
                }
                Err(e) => tracing::debug!(url, error = %e, "load request failed"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_uses_loopback_for_unspecified() {
        assert_eq!(
            base_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080"
        );
        assert_eq!(base_url("[::]:81".parse().unwrap()), "http://[::1]:81");
        assert_eq!(
            base_url("10.1.2.3:9000".parse().unwrap()),
            "http://10.1.2.3:9000"
        );
    }
}
