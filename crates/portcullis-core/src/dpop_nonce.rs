//! Server-issued DPoP nonces (RFC 9449 §8 and §9): a server can require each proof to carry a
//! nonce it handed out, so a proof made in advance (by malware that can sign with the key for a
//! while) stops working. Nonces here are stateless: the time window they were issued in, tagged
//! with a key every server of the cluster shares, so any server accepts any server's nonce, for
//! the window it was issued in and the next one.

use portcullis_jose::{MacKey, base64url};

/// How long one nonce is handed out; each is accepted for up to twice this.
pub const NONCE_WINDOW_SECS: i64 = 300;
/// Bytes of tag kept in a nonce.
const TAG_BYTES: usize = 16;

/// Issues and checks nonces.
#[derive(Debug)]
pub struct DpopNonces {
    key: MacKey,
}

impl DpopNonces {
    /// Nonces tagged with `key`.
    pub fn new(key: MacKey) -> Self {
        DpopNonces { key }
    }

    fn for_window(&self, window: i64) -> String {
        let window = window.to_be_bytes();
        let tag = self.key.tag(&window);
        let mut nonce = window.to_vec();
        nonce.extend_from_slice(&tag[..TAG_BYTES]);
        base64url::encode(nonce)
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: i64) -> String {
        self.for_window(now.div_euclid(NONCE_WINDOW_SECS))
    }

    /// Whether `nonce` was issued by a server with this key in the current or the previous
    /// window (compared in constant time).
    pub fn is_valid(&self, nonce: &str, now: i64) -> bool {
        let Some(bytes) = base64url::decode(nonce) else {
            return false;
        };
        if bytes.len() != 8 + TAG_BYTES {
            return false;
        }
        let (window, tag) = bytes.split_at(8);
        let Ok(window_bytes) = <[u8; 8]>::try_from(window) else {
            return false;
        };
        let window = i64::from_be_bytes(window_bytes);
        let current = now.div_euclid(NONCE_WINDOW_SECS);
        (window == current || window == current - 1)
            && portcullis_jose::constant_time_eq(&self.key.tag(&window_bytes)[..TAG_BYTES], tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_for_its_window_and_the_next_only_and_only_with_the_key() {
        let nonces = DpopNonces::new(MacKey::from_secret(b"shared"));
        let issued = nonces.current(1_000);
        assert!(nonces.is_valid(&issued, 1_000));
        assert!(nonces.is_valid(&issued, 1_000 + NONCE_WINDOW_SECS));
        assert!(!nonces.is_valid(&issued, 1_000 + 2 * NONCE_WINDOW_SECS));
        let other_server = DpopNonces::new(MacKey::from_secret(b"shared"));
        assert!(
            other_server.is_valid(&issued, 1_000),
            "the cluster shares the key"
        );
        let stranger = DpopNonces::new(MacKey::from_secret(b"other"));
        assert!(!stranger.is_valid(&issued, 1_000));
        for forged in [
            "",
            "abc",
            &issued[..issued.len() - 2],
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(!nonces.is_valid(forged, 1_000), "{forged}");
        }
    }
}
