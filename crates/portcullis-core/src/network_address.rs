//! Which addresses an outgoing request of the server may reach. A URL registered by a client
//! (`jwks_uri`, `backchannel_logout_uri`) or an upstream provider added through the admin API
//! must not turn the server into a proxy into its own network (server-side request forgery):
//! only public unicast addresses qualify, unless an administrator allows private networks (a
//! development stack on one machine).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `address` is a public unicast address: not loopback, private (RFC 1918, RFC 4193),
/// shared (RFC 6598), link-local (cloud metadata services live there), multicast, broadcast,
/// unspecified, documentation or benchmarking space, or the 6to4 relay anycast prefix;
/// IPv4-mapped, -compatible and -translated IPv6 addresses are judged as the IPv4 address they
/// carry, and the tunnelling prefixes that carry one
/// elsewhere (6to4 `2002::/16`, Teredo `2001::/32`, NAT64 `64:ff9b::/96`) are not public.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6
            .to_ipv4_mapped()
            .or_else(|| compatible_v4(v6))
            .or_else(|| translated_v4(v6))
        {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

/// The IP address a URL's host names literally (`[::1]` read as `::1`), if it is one.
pub fn literal_address(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Whether a URL's host is this machine: `localhost` or a loopback address. Where secrets may
/// travel in clear text, they go only there.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || literal_address(host).is_some_and(|address| address.is_loopback())
}

fn compatible_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = v6.segments();
    (segments[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified()).then(|| {
        let [.., high, low] = segments;
        Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
    })
}

/// RFC 2765's IPv4-translated addresses (`::ffff:0:a.b.c.d`), which a stateless translator
/// (SIIT) delivers to `a.b.c.d`.
fn translated_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let segments = v6.segments();
    (segments[..6] == [0, 0, 0, 0, 0xffff, 0]).then(|| {
        let [.., high, low] = segments;
        Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
    })
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_unspecified()
        || v4.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        // RFC 7526: the deprecated 6to4 relay anycast prefix.
        || (a == 192 && b == 88 && c == 99)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let first = v6.segments()[0];
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || first == 0x2001 && v6.segments()[1] == 0x0db8
        || first == 0x2001 && v6.segments()[1] == 0x0000
        || first == 0x2002
        || first == 0x0064 && v6.segments()[1] == 0xff9b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_this_machine_only() {
        for here in ["localhost", "127.0.0.1", "127.8.9.1", "[::1]", "::1"] {
            assert!(is_loopback_host(here), "{here}");
        }
        for elsewhere in ["localhost.example", "10.0.0.1", "[::2]", "example.com", ""] {
            assert!(!is_loopback_host(elsewhere), "{elsewhere}");
        }
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().expect("ip")), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "::ffff:0:a9fe:a9fe",
            "::ffff:0:7f00:1",
            "192.88.99.1",
        ] {
            assert!(!is_public(private.parse().expect("ip")), "{private}");
        }
    }
}
