//! A sign-in at an upstream provider in progress: what the callback needs (`state`, `nonce`, the
//! PKCE verifier, where to return, why it started) lives in a ten-minute cookie named after its
//! `state` and tagged with a key derived from the key-encryption key, so every server of a
//! cluster reads it, nobody can forge or alter one, and several tabs each keep their own.
//! `SameSite=Lax`: the provider's redirect back is a cross-site top-level navigation.

use crate::cookies::read_cookie;
use axum::http::{HeaderMap, HeaderValue, header};
use portcullis_core::UnixSeconds;
use portcullis_core::cookies::{SameSite, cookie_name, set_cookie};
use portcullis_jose::{MacKey, base64url};
use portcullis_sdk::client::PendingAuthorization;
use portcullis_service::federation::Intent;

/// How long the round trip through the provider may take.
pub const FLOW_LIFETIME_SECS: i64 = 10 * 60;

/// Flows one browser keeps at once; starting another ends the others.
const MAX_FLOWS: usize = 4;

const PREFIX: &str = "portcullis_fed_";

/// One round trip through a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The provider's id.
    pub provider: String,
    /// `state`, `nonce` and the PKCE verifier.
    pub pending: PendingAuthorization,
    /// Why it started.
    pub intent: Intent,
    /// When it started.
    pub started_at: UnixSeconds,
    /// Where the browser goes once signed in (checked when the flow started).
    pub return_to: String,
}

fn base_name(state: &str) -> Option<String> {
    // The state is base64url: fine in a cookie name.
    let short = state.get(..16)?;
    short
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        .then(|| format!("{PREFIX}{short}"))
}

fn tagged(payload: &str) -> Vec<u8> {
    format!("portcullis federation flow v1\n{payload}").into_bytes()
}

fn payload(flow: &Flow) -> String {
    let intent = match &flow.intent {
        Intent::SignIn => "sign-in".to_owned(),
        Intent::Link { user_id } => format!("link:{user_id}"),
    };
    // The return address last: it is the one field that may hold anything.
    [
        flow.provider.as_str(),
        &flow.pending.state,
        &flow.pending.nonce,
        &flow.pending.code_verifier,
        &intent,
        &flow.started_at.to_string(),
        &flow.return_to,
    ]
    .join("\n")
}

/// `Set-Cookie` values starting `flow`: its cookie, and the deletion of the browser's other
/// flows beyond the newest few (`headers` is the request).
pub fn start(key: &MacKey, headers: &HeaderMap, flow: &Flow, secure: bool) -> Vec<HeaderValue> {
    let Some(name) = base_name(&flow.pending.state) else {
        return Vec::new();
    };
    let payload = payload(flow);
    let value = format!(
        "{}.{}",
        base64url::encode(&payload),
        base64url::encode(key.tag(&tagged(&payload)))
    );
    let mut cookies: Vec<HeaderValue> = others(headers, secure)
        .into_iter()
        .skip(MAX_FLOWS - 1)
        .filter_map(|other| end_named(&other, secure))
        .collect();
    cookies.extend(build(&name, value, FLOW_LIFETIME_SECS, secure));
    cookies
}

/// The base names of the flow cookies the request carries.
fn others(headers: &HeaderMap, secure: bool) -> Vec<String> {
    let prefix = cookie_name(PREFIX, secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(';')
                .filter_map(|pair| pair.trim().split_once('=').map(|(name, _)| name.to_owned()))
                .collect::<Vec<_>>()
        })
        .filter(|name| name.starts_with(&prefix))
        .map(|name| name.trim_start_matches("__Host-").to_owned())
        .collect()
}

fn build(base: &str, value: String, max_age_secs: i64, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&set_cookie(
        base,
        value,
        SameSite::Lax,
        max_age_secs,
        secure,
    ))
    .ok()
}

fn end_named(base: &str, secure: bool) -> Option<HeaderValue> {
    build(base, String::new(), 0, secure)
}

/// `Set-Cookie` ending the flow of `state`.
pub fn end(state: &str, secure: bool) -> Option<HeaderValue> {
    end_named(&base_name(state)?, secure)
}

/// The flow of `state` the request carries, if its cookie is genuine and live at `now`.
pub fn read(
    key: &MacKey,
    headers: &HeaderMap,
    state: &str,
    now: UnixSeconds,
    secure: bool,
) -> Option<Flow> {
    let value = read_cookie(headers, &base_name(state)?, secure)?;
    let (payload, tag) = value.split_once('.')?;
    let payload = String::from_utf8(base64url::decode(payload)?).ok()?;
    if !key.verify(&tagged(&payload), &base64url::decode(tag)?) {
        return None;
    }
    let mut parts = payload.splitn(7, '\n');
    let provider = parts.next()?.to_owned();
    let pending = PendingAuthorization {
        state: parts.next()?.to_owned(),
        nonce: parts.next()?.to_owned(),
        code_verifier: parts.next()?.to_owned(),
    };
    let intent = match parts.next()? {
        "sign-in" => Intent::SignIn,
        other => Intent::Link {
            user_id: other.strip_prefix("link:")?.to_owned(),
        },
    };
    let started_at: UnixSeconds = parts.next()?.parse().ok()?;
    let return_to = parts.next()?.to_owned();
    let live = now >= started_at && now < started_at + FLOW_LIFETIME_SECS;
    (live && pending.state == state).then_some(Flow {
        provider,
        pending,
        intent,
        started_at,
        return_to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(state: &str, intent: Intent) -> Flow {
        Flow {
            provider: "corp".into(),
            pending: PendingAuthorization {
                state: state.into(),
                nonce: "n".into(),
                code_verifier: "v".into(),
            },
            intent,
            started_at: 1000,
            return_to: "/authorize?client_id=app&x=a\nb".into(),
        }
    }

    /// The request a browser sends back with the cookies `set`.
    fn request_with(set: &[HeaderValue]) -> HeaderMap {
        let pairs: Vec<String> = set
            .iter()
            .filter_map(|value| value.to_str().ok()?.split(';').next().map(str::to_owned))
            .filter(|pair| !pair.ends_with('='))
            .collect();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&pairs.join("; ")).expect("value"),
        );
        headers
    }

    const STATE_A: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const STATE_B: &str = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    #[test]
    fn each_tab_reads_back_its_own_flow_until_it_expires() {
        let key = MacKey::random().expect("key");
        let a = flow(STATE_A, Intent::SignIn);
        let b = flow(
            STATE_B,
            Intent::Link {
                user_id: "u-1".into(),
            },
        );
        let mut set = start(&key, &HeaderMap::new(), &a, true);
        set.extend(start(&key, &HeaderMap::new(), &b, true));
        let headers = request_with(&set);
        assert_eq!(read(&key, &headers, STATE_A, 1000, true), Some(a));
        assert_eq!(read(&key, &headers, STATE_B, 1001, true), Some(b));
        assert_eq!(
            read(&key, &headers, STATE_A, 1000 + FLOW_LIFETIME_SECS, true),
            None
        );
        assert_eq!(
            read(&key, &headers, "CCCCCCCCCCCCCCCCCCCC", 1000, true),
            None
        );
        assert_eq!(
            read(
                &MacKey::random().expect("key"),
                &headers,
                STATE_A,
                1000,
                true
            ),
            None,
            "another key"
        );
    }

    #[test]
    fn a_state_that_shares_the_cookie_name_does_not_read_anothers_flow() {
        let key = MacKey::random().expect("key");
        let headers = request_with(&start(
            &key,
            &HeaderMap::new(),
            &flow(STATE_A, Intent::SignIn),
            false,
        ));
        let lookalike = format!("{}X", &STATE_A[..16]);
        assert_eq!(read(&key, &headers, &lookalike, 1000, false), None);
    }

    #[test]
    fn starting_a_flow_ends_all_but_the_newest_few() {
        let key = MacKey::random().expect("key");
        let mut headers = HeaderMap::new();
        let cookies: Vec<String> = (0..6)
            .map(|n| format!("portcullis_fed_{n:0>16}=x"))
            .collect();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&cookies.join("; ")).expect("value"),
        );
        let set = start(&key, &headers, &flow(STATE_A, Intent::SignIn), false);
        let ended = set
            .iter()
            .filter(|value| value.to_str().is_ok_and(|text| text.contains("Max-Age=0")))
            .count();
        assert_eq!(ended, 6 - (MAX_FLOWS - 1));
        assert_eq!(set.len(), ended + 1);
    }
}
