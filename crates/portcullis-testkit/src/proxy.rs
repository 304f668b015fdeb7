//! A loopback TCP relay that a test can cut and restore, to make PostgreSQL or Redis disappear for
//! one server under test without disturbing the real service other tests share.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A relay from a local port to `target`.
#[derive(Debug)]
pub struct TcpProxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl TcpProxy {
    /// Starts relaying a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let accepting_up = up.clone();
        let accepting_cuts = cuts.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting_up.load(Ordering::SeqCst) {
                    drop(inbound); // refused while cut: the peer sees the connection close
                    continue;
                }
                let mut cut = accepting_cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        TcpProxy { address, up, cuts }
    }

    /// The local address to connect to instead of the target.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Drops every open connection and refuses new ones, as if the service had died.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|generation| *generation += 1);
    }

    /// Accepts connections again, as if the service had come back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `url` (`scheme://[user@]host:port/rest`) with its host and port replaced by `address`.
pub fn url_via(url: &str, address: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL with a scheme");
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let user = authority
        .rsplit_once('@')
        .map_or(String::new(), |(user, _)| format!("{user}@"));
    if path.is_empty() {
        format!("{scheme}://{user}{address}")
    } else {
        format!("{scheme}://{user}{address}/{path}")
    }
}

/// The socket address in `url`'s authority.
pub fn address_of(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    host_port
        .split('?')
        .next()
        .unwrap_or(host_port)
        .parse()
        .expect("URL authority must be ip:port")
}

#[cfg(test)]
mod tests {
    use super::{address_of, url_via};

    #[test]
    fn rewrites_the_authority_only() {
        let address = "127.0.0.1:9999".parse().expect("address");
        assert_eq!(
            url_via("postgres://postgres@127.0.0.1:5432/db_1", address),
            "postgres://postgres@127.0.0.1:9999/db_1"
        );
        assert_eq!(
            url_via("redis://127.0.0.1:6379", address),
            "redis://127.0.0.1:9999"
        );
        assert_eq!(
            address_of("postgres://postgres@127.0.0.1:5432/test"),
            "127.0.0.1:5432".parse().expect("address")
        );
    }
}
