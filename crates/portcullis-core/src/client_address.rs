//! Who is calling, behind proxies: the peer's address, or, when the peer is a trusted proxy, the
//! nearest address in the `X-Forwarded-For` chain that is not one. The gateway and the auth server
//! read a chain the same way, across every header line (RFC 9110 §5.3: the lines of a list header
//! are one comma-separated list, in order).

use ipnet::IpNet;
use std::net::IpAddr;

/// Proxies whose `X-Forwarded-*` headers are believed: addresses and CIDR ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.7`, `::1`) and ranges (`10.0.0.0/8`, `fd00::/8`).
    ///
    /// # Errors
    /// The first entry that is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not an IP address or CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is a trusted proxy (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The entries of an `X-Forwarded-For` chain, oldest first, across all its header lines.
pub fn forwarded_for_entries<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
) -> impl DoubleEndedIterator<Item = &'a str> {
    lines
        .filter_map(|line| std::str::from_utf8(line).ok())
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// The client's address: `peer`, or behind trusted proxies the rightmost chain entry that is not a
/// trusted proxy (entries left of it were written by the client and prove nothing). An entry that
/// is not an address stops the walk there: nothing left of it is believed.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a [u8]>,
    trusted: &TrustedProxies,
) -> IpAddr {
    if !trusted.contains(peer) {
        return peer.to_canonical();
    }
    let mut nearest = peer;
    for entry in forwarded_for_entries(forwarded_for).rev() {
        let Ok(ip) = entry.parse::<IpAddr>() else {
            return nearest.to_canonical();
        };
        nearest = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    nearest.to_canonical()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn addresses_and_ranges_are_trusted() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "127.0.0.1", "fd00::/8"]).expect("ok");
        assert!(trusted.contains(ip("10.2.3.4")));
        assert!(trusted.contains(ip("::ffff:10.2.3.4")), "IPv4-mapped");
        assert!(trusted.contains(ip("fd12::1")));
        assert!(!trusted.contains(ip("127.0.0.2")));
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example"]).is_err());
    }

    #[test]
    fn the_chain_is_read_across_lines_from_the_right() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).expect("ok");
        let lines: [&[u8]; 2] = [b"6.6.6.6, 1.2.3.4", b"10.0.0.2"];
        assert_eq!(
            client_address(ip("10.0.0.1"), lines.into_iter(), &trusted),
            ip("1.2.3.4"),
            "the spoofed leftmost entry is ignored; the second line counts"
        );
        let untrusted_peer = client_address(ip("8.8.8.8"), lines.into_iter(), &trusted);
        assert_eq!(
            untrusted_peer,
            ip("8.8.8.8"),
            "an untrusted peer's chain is ignored"
        );
        let garbage: [&[u8]; 1] = [b"1.2.3.4, nonsense, 10.0.0.3"];
        assert_eq!(
            client_address(ip("10.0.0.1"), garbage.into_iter(), &trusted),
            ip("10.0.0.3"),
            "nothing left of an unreadable entry is believed"
        );
        let only_proxies: [&[u8]; 1] = [b"10.0.0.9"];
        assert_eq!(
            client_address(ip("10.0.0.1"), only_proxies.into_iter(), &trusted),
            ip("10.0.0.9")
        );
        assert_eq!(
            forwarded_for_entries(lines.into_iter()).collect::<Vec<_>>(),
            ["6.6.6.6", "1.2.3.4", "10.0.0.2"]
        );
    }
}
