//! Token exchange (RFC 8693): the `orders` service, holding alice's token, gets a narrower token
//! for `billing` that says it acts for her (`act`), and `billing` chains on to `ledger`; scopes
//! only narrow; every policy refusal has its RFC 8693 §2.2.2 error; an impersonating client's
//! token has no `act`; and the exchanged tokens end with alice's session.

use super::browser::{APP, PASSWORD, app_client, sign_in_for_tokens};
use super::support::{claims_of, http, jwks, service_client, verify_independently};
use portcullis_core::ClientRegistration;
use portcullis_testkit::TestAuthServer;
use portcullis_testkit::browser::Browser;
use portcullis_types::GrantType;
use serde_json::Value;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// A service that may exchange tokens sent to it for tokens to `targets`, within `scopes`.
fn exchanging_service(id: &str, scopes: &[&str], targets: &[&str]) -> ClientRegistration {
    ClientRegistration {
        grant_types: vec![GrantType::TokenExchange, GrantType::ClientCredentials],
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
        audiences: targets.iter().map(|target| (*target).to_owned()).collect(),
        ..service_client(id)
    }
}

/// A token exchange by `client` (Basic `secret`) with these extra parameters; status and body.
async fn exchange(
    server: &TestAuthServer,
    client: (&str, &str),
    subject_token: &str,
    extra: &[(&str, &str)],
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", subject_token),
        ("subject_token_type", ACCESS_TOKEN),
    ];
    form.extend_from_slice(extra);
    let response = http()
        .post(server.url("/token"))
        .basic_auth(client.0, Some(client.1))
        .form(&form)
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn a_service_exchanges_a_users_token_for_a_narrower_delegated_one() {
    let server = TestAuthServer::start().await;
    server
        .add_client(ClientRegistration {
            scopes: ["openid", "api:read", "api:write"]
                .map(String::from)
                .to_vec(),
            audiences: vec!["orders".into(), "support".into()],
            ..app_client()
        })
        .await;
    let (_, orders) = server
        .add_client(exchanging_service("orders", &["api:read"], &["billing"]))
        .await;
    let orders = orders.expect("secret");
    let (_, billing) = server
        .add_client(exchanging_service(
            "billing",
            &["api:read", "portcullis:introspect"],
            &["ledger"],
        ))
        .await;
    let billing = billing.expect("secret");
    let (_, support) = server
        .add_client(exchanging_service(
            "support",
            &["api:read", "portcullis:impersonate"],
            &["billing"],
        ))
        .await;
    let support = support.expect("secret");
    let (_, stranger) = server
        .add_client(exchanging_service("stranger", &["api:read"], &["billing"]))
        .await;
    let stranger = stranger.expect("secret");
    let (_, plain) = server.add_client(service_client("plain")).await;
    let plain = plain.expect("secret");
    let (_, vault) = server
        .add_client(ClientRegistration {
            require_mfa: true,
            require_pushed_authorization_requests: false,
            client_name: None,
            request_uris: Vec::new(),
            request_object_signing_alg: None,
            ..exchanging_service("vault", &["api:read"], &["billing"])
        })
        .await;
    let vault = vault.expect("secret");
    let alice = server.add_user("alice", &["user"], PASSWORD).await;
    let tokens = sign_in_for_tokens(
        &Browser::new(),
        &server,
        "openid api:read api:write",
        "alice",
    )
    .await;
    let user_token = tokens["access_token"].as_str().expect("access token");
    let user_claims = claims_of(user_token);
    assert_eq!(user_claims["client_id"], APP);

    let to_billing = [("audience", "billing")];
    let (status, exchanged) = exchange(&server, ("orders", &orders), user_token, &to_billing).await;
    assert_eq!(status, 200, "{exchanged}");
    assert_eq!(exchanged["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(exchanged["token_type"], "Bearer");
    assert!(exchanged.get("refresh_token").is_none());
    let billing_token = exchanged["access_token"].as_str().expect("token");
    let jwks = jwks(&server.base_url).await;
    let claims = verify_independently(billing_token, &jwks, &server.base_url, "billing")
        .expect("verified independently");
    assert_eq!(claims["sub"], alice.id.as_str(), "still alice");
    assert_eq!(claims["client_id"], "orders");
    assert_eq!(
        claims["scope"], "api:read",
        "narrowed to what orders may have"
    );
    assert_eq!(claims["act"], serde_json::json!({"sub": "orders"}));
    assert_eq!(claims["sid"], user_claims["sid"]);
    assert!(claims["exp"].as_i64() <= user_claims["exp"].as_i64());
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd"]),
        "how alice signed in carries over"
    );
    // A client that requires a second factor gets nothing from a password-only sign-in.
    let (status, refused) = exchange(&server, ("vault", &vault), user_token, &to_billing).await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &serde_json::json!("invalid_grant"))
    );

    let (status, chained) = exchange(
        &server,
        ("billing", &billing),
        billing_token,
        &[("audience", "ledger")],
    )
    .await;
    assert_eq!(status, 200, "{chained}");
    assert_eq!(
        claims_of(chained["access_token"].as_str().expect("token"))["act"],
        serde_json::json!({"sub": "billing", "act": {"sub": "orders"}}),
        "the chain of actors, newest outside"
    );

    let (status, impersonated) =
        exchange(&server, ("support", &support), user_token, &to_billing).await;
    assert_eq!(status, 200, "{impersonated}");
    let impersonated_claims = claims_of(impersonated["access_token"].as_str().expect("token"));
    assert!(impersonated_claims.get("act").is_none(), "impersonation");
    assert_eq!(impersonated_claims["scope"], "api:read");

    type Form<'a> = Vec<(&'a str, &'a str)>;
    type Refusal<'a> = (&'a str, (&'a str, &'a str), &'a str, Form<'a>, &'a str);
    let refusals: Vec<Refusal> = vec![
        (
            "wider scope",
            ("orders", &orders),
            user_token,
            vec![("audience", "billing"), ("scope", "api:read api:write")],
            "invalid_scope",
        ),
        (
            "a target orders may not ask for",
            ("orders", &orders),
            user_token,
            vec![("audience", "payroll")],
            "invalid_target",
        ),
        (
            "no target",
            ("orders", &orders),
            user_token,
            vec![],
            "invalid_request",
        ),
        (
            "a token not sent to the client",
            ("stranger", &stranger),
            user_token,
            to_billing.to_vec(),
            "invalid_grant",
        ),
        (
            "a client without the grant",
            ("plain", &plain),
            user_token,
            to_billing.to_vec(),
            "unauthorized_client",
        ),
        (
            "garbage",
            ("orders", &orders),
            "not.a.token",
            to_billing.to_vec(),
            "invalid_grant",
        ),
        (
            "an id token",
            ("orders", &orders),
            tokens["id_token"].as_str().expect("id token"),
            to_billing.to_vec(),
            "invalid_grant",
        ),
        (
            "another token type",
            ("orders", &orders),
            user_token,
            vec![
                ("audience", "billing"),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
            ],
            "invalid_request",
        ),
        (
            "a refresh token requested",
            ("orders", &orders),
            user_token,
            vec![
                ("audience", "billing"),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:refresh_token",
                ),
            ],
            "invalid_request",
        ),
    ];
    for (what, client, subject, extra, error) in refusals {
        let (status, body) = exchange(&server, client, subject, &extra).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{what}: {body}"
        );
    }

    let (_, stranger_own) = {
        let response = http()
            .post(server.url("/token"))
            .basic_auth("stranger", Some(stranger.as_str()))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .expect("token");
        (
            response.status(),
            response.json::<Value>().await.expect("json"),
        )
    };
    let foreign_actor = stranger_own["access_token"].as_str().expect("token");
    let (status, body) = exchange(
        &server,
        ("orders", &orders),
        user_token,
        &[
            ("audience", "billing"),
            ("actor_token", foreign_actor),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "another client's actor token: {body}"
    );
    // A user's token issued to orders (here, the exchanged one) must not name that user as
    // the actor on someone else's token: only orders' own client-credentials token may act.
    let (status, body) = exchange(
        &server,
        ("orders", &orders),
        user_token,
        &[
            ("audience", "billing"),
            ("actor_token", billing_token),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a user's token as the actor: {body}"
    );
    let own: Value = http()
        .post(server.url("/token"))
        .basic_auth("orders", Some(orders.as_str()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "billing"),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let (status, body) = exchange(
        &server,
        ("orders", &orders),
        user_token,
        &[
            ("audience", "billing"),
            ("actor_token", own["access_token"].as_str().expect("token")),
            ("actor_token_type", ACCESS_TOKEN),
        ],
    )
    .await;
    assert_eq!(status, 200, "its own token as the actor: {body}");
    assert_eq!(
        claims_of(body["access_token"].as_str().expect("token"))["act"],
        serde_json::json!({"sub": "orders"})
    );

    let introspect = |token: String| {
        let billing = billing.clone();
        let server_url = server.url("/introspect");
        async move {
            http()
                .post(server_url)
                .basic_auth("billing", Some(billing))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .expect("introspect")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    assert_eq!(introspect(billing_token.to_owned()).await["active"], true);
    let sid = user_claims["sid"].as_str().expect("sid");
    server
        .state
        .revoker()
        .revoke_session(sid, server.now())
        .await
        .expect("end the session");
    assert_eq!(
        introspect(billing_token.to_owned()).await["active"],
        false,
        "the exchanged token ended with alice's session"
    );
    let (status, body) = exchange(&server, ("orders", &orders), user_token, &to_billing).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a revoked subject token"
    );
}
