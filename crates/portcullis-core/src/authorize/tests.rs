use super::*;
use crate::ClientRegistration;

const ISSUER: &str = "https://auth.example";

fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: ISSUER.into(),
        default_audience: crate::token::DEFAULT_AUDIENCE.into(),
        default_access_token_lifetime_secs: 900,
        max_access_token_lifetime_secs: 3600,
    }
}
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client(kind: ClientKind) -> Client {
    ClientRegistration {
        id: "app".into(),
        kind,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/native".into(),
        ],
        scopes: vec!["openid".into(), "profile".into(), "api:read".into()],
        audiences: vec!["https://api.example".into()],
        access_token_lifetime_secs: None,
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_algorithm: None,
        keys: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        require_mfa: false,
        require_pushed_authorization_requests: false,
        client_name: None,
        request_uris: Vec::new(),
        request_object_signing_alg: None,
    }
    .into_client(
        (kind == ClientKind::Confidential).then(|| crate::SecretHash::of("s")),
        3600,
        0,
    )
    .expect("client")
}

fn params() -> AuthorizationParams {
    AuthorizationParams {
        client_id: Some("app".into()),
        redirect_uri: Some("https://app.example/cb".into()),
        response_type: Some("code".into()),
        scope: Some("openid profile".into()),
        state: Some("xyz".into()),
        nonce: Some("n-1".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        ..AuthorizationParams::default()
    }
}

fn code_of(result: Result<AuthorizationRequest, AuthorizeError>) -> &'static str {
    match result {
        Err(AuthorizeError::Redirect { code, state, .. }) => {
            assert_eq!(state.as_deref(), Some("xyz"), "state is echoed on errors");
            code
        }
        other => panic!("expected a redirected error, got {other:?}"),
    }
}

#[test]
fn a_valid_request_carries_everything_forward() {
    let request = validate_authorization(Some(&client(ClientKind::Public)), &params(), &policy())
        .expect("valid");
    assert_eq!(request.scope.to_string(), "openid profile");
    assert_eq!(request.nonce.as_deref(), Some("n-1"));
    assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));
    assert_eq!(request.audiences, ["https://api.example", ISSUER]);
}

#[test]
fn untrusted_client_or_redirect_uri_is_never_redirected() {
    let public = client(ClientKind::Public);
    let untrusted = |params: AuthorizationParams, client: Option<&Client>| {
        matches!(
            validate_authorization(client, &params, &policy()),
            Err(AuthorizeError::Untrusted(_))
        )
    };
    assert!(untrusted(
        AuthorizationParams {
            client_id: None,
            ..params()
        },
        Some(&public)
    ));
    assert!(untrusted(params(), None));
    assert!(untrusted(
        AuthorizationParams {
            redirect_uri: None,
            ..params()
        },
        Some(&public)
    ));
    for uri in [
        "https://app.example/cb/",
        "https://app.example/cb?x=1",
        "https://APP.example/cb",
        "https://app.example/c",
        "https://app.example/cb#frag",
        "https://app.example.evil/cb",
        "https://evil@app.example/cb",
        "https://app.example%2Fcb",
        "http://app.example/cb",
    ] {
        let request = AuthorizationParams {
            redirect_uri: Some(uri.into()),
            ..params()
        };
        assert!(
            untrusted(request, Some(&public)),
            "{uri} must not be accepted"
        );
    }
}

#[test]
fn loopback_redirects_may_vary_the_port_only() {
    assert!(redirect_uri_matches(
        "http://127.0.0.1/native",
        "http://127.0.0.1:53211/native"
    ));
    assert!(redirect_uri_matches(
        "http://[::1]/cb",
        "http://[::1]:8080/cb"
    ));
    assert!(!redirect_uri_matches(
        "http://127.0.0.1/native",
        "http://127.0.0.1:53211/other"
    ));
    assert!(!redirect_uri_matches(
        "http://127.0.0.1/native",
        "http://127.0.0.1.evil/native"
    ));
    assert!(!redirect_uri_matches(
        "http://127.0.0.1/native",
        "http://127.0.0.1:/native"
    ));
    assert!(!redirect_uri_matches(
        "https://app.example/cb",
        "https://app.example:444/cb"
    ));
}

#[test]
fn pkce_rules() {
    let public = client(ClientKind::Public);
    let confidential = client(ClientKind::Confidential);
    let without_pkce = AuthorizationParams {
        code_challenge: None,
        code_challenge_method: None,
        ..params()
    };
    assert_eq!(
        code_of(validate_authorization(
            Some(&public),
            &without_pkce,
            &policy()
        )),
        "invalid_request"
    );
    assert!(
        validate_authorization(Some(&confidential), &without_pkce, &policy()).is_ok(),
        "optional for confidential clients"
    );
    let plain = AuthorizationParams {
        code_challenge_method: Some("plain".into()),
        ..params()
    };
    assert_eq!(
        code_of(validate_authorization(
            Some(&confidential),
            &plain,
            &policy()
        )),
        "invalid_request"
    );
    let implicit_plain = AuthorizationParams {
        code_challenge_method: None,
        ..params()
    };
    assert_eq!(
        code_of(validate_authorization(
            Some(&confidential),
            &implicit_plain,
            &policy()
        )),
        "invalid_request"
    );
    let short = AuthorizationParams {
        code_challenge: Some("short".into()),
        ..params()
    };
    assert_eq!(
        code_of(validate_authorization(Some(&public), &short, &policy())),
        "invalid_request"
    );
}

#[test]
fn other_parameter_errors_are_redirected_with_their_codes() {
    let public = client(ClientKind::Public);
    let check = |params: AuthorizationParams| {
        code_of(validate_authorization(Some(&public), &params, &policy()))
    };
    assert_eq!(
        check(AuthorizationParams {
            response_type: Some("token".into()),
            ..params()
        }),
        "unsupported_response_type"
    );
    assert_eq!(
        check(AuthorizationParams {
            response_type: None,
            ..params()
        }),
        "invalid_request"
    );
    assert_eq!(
        check(AuthorizationParams {
            scope: Some("openid admin".into()),
            ..params()
        }),
        "invalid_scope"
    );
    assert_eq!(
        check(AuthorizationParams {
            prompt: Some("none login".into()),
            ..params()
        }),
        "invalid_request"
    );
    assert_eq!(
        check(AuthorizationParams {
            prompt: Some("select_account".into()),
            ..params()
        }),
        "invalid_request"
    );
    assert_eq!(
        check(AuthorizationParams {
            max_age: Some("-1".into()),
            ..params()
        }),
        "invalid_request"
    );
    assert_eq!(
        check(AuthorizationParams {
            resources: vec!["https://other.example".into()],
            ..params()
        }),
        "invalid_target"
    );
    let prompt = validate_authorization(
        Some(&public),
        &AuthorizationParams {
            prompt: Some("none".into()),
            ..params()
        },
        &policy(),
    );
    assert_eq!(prompt.map(|request| request.prompt), Ok(Some(Prompt::None)));
}

#[test]
fn request_objects_are_refused_never_ignored() {
    let request = AuthorizationParams {
        request: Some("eyJhbGciOiJub25lIn0.eyJzY29wZSI6ImFkbWluIn0.".into()),
        ..params()
    };
    assert_eq!(
        code_of(validate_authorization(
            Some(&client(ClientKind::Public)),
            &request,
            &policy()
        )),
        "request_not_supported"
    );
    let by_reference = AuthorizationParams {
        request_uri: Some("urn:ietf:params:oauth:request_uri:abc".into()),
        ..params()
    };
    assert_eq!(
        code_of(validate_authorization(
            Some(&client(ClientKind::Public)),
            &by_reference,
            &policy()
        )),
        "request_uri_not_supported"
    );
}
