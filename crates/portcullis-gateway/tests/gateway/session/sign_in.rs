//! Signing in through the gateway: the browser holds only a cookie, the upstream gets the token;
//! CSRF, login CSRF, several tabs, the sign-in limit, refusals that must not loop, the refresh.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_through_the_gateway_and_only_the_upstream_sees_tokens() {
    let stack = session_stack(300, true, None).await;
    let browser = Browser::new();
    let echo = stack.open_signed_in(&browser, "/app/page?x=1").await;
    assert_eq!(echo["path"], "/app/page", "back where the browser started");
    assert_eq!(echo["query"], "x=1");
    let headers = &echo["headers"];
    assert_eq!(headers["x-portcullis-subject"], stack.subject.as_str());
    assert_eq!(headers["x-portcullis-client"], "gw");
    assert!(
        headers["authorization"]
            .as_str()
            .is_some_and(|value| value.starts_with("Bearer ey")),
        "the upstream gets the access token: {headers}"
    );
    // The auth server's cookies are the browser's for this host too (cookies ignore ports):
    // they reach the upstream as any other cookie would; the gateway's own never do.
    let forwarded = headers["cookie"].as_str().unwrap_or_default();
    assert!(
        forwarded.contains("portcullis_session=") && !forwarded.contains("portcullis_gw"),
        "{forwarded}"
    );
    // A script's call with the session passes too.
    let response = stack.call(&browser, "/app/data").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers().get("set-cookie"), None);

    // Without a session: a page load signs in, a script's call gets 401 with the challenge.
    let stranger = Browser::new();
    let refused = stack.call(&stranger, "/app/data").await;
    assert_eq!(refused.status(), 401);
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    let xhr = stranger
        .client()
        .get(format!("{}/app/data", stack.base))
        .header("accept", HTML)
        .header("x-requested-with", "XMLHttpRequest")
        .send()
        .await
        .expect("xhr");
    assert_eq!(xhr.status(), 401, "XHR is never redirected");
    // A route without session mode ignores the cookie.
    assert_eq!(stack.call(&browser, "/api/data").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_requests_with_the_session_need_this_origin() {
    let stack = session_stack(300, true, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    // CSRF: unsafe requests with the session need this origin's Origin or Sec-Fetch-Site.
    let post = |origin: Option<&str>, site: Option<&'static str>| {
        let mut request = browser
            .client()
            .post(format!("{}/app/orders", stack.base))
            .header("accept", "application/json")
            .body("{}");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    assert_eq!(
        post(Some(&stack.base), None).await.expect("post").status(),
        200
    );
    assert_eq!(
        post(None, Some("same-origin"))
            .await
            .expect("post")
            .status(),
        200
    );
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (None, None),
    ] {
        let response = post(origin, site).await.expect("post");
        assert_eq!(response.status(), 403, "{origin:?} {site:?}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"], "access_denied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_must_belong_to_a_sign_in_this_browser_started() {
    let stack = session_stack(300, true, None).await;
    let forged = Browser::new()
        .get(&format!(
            "{}/_portcullis/callback?code=abc&state=unknown",
            stack.base
        ))
        .await;
    assert_eq!(forged.status(), 400);

    // Login CSRF: an attacker starts a sign-in, signs in as themselves and hands the callback
    // to the victim's browser, which never started it.
    let attacker = Browser::new();
    let start = stack.page(&attacker, "/app/").await;
    let authorize = location(&start, &stack.base);
    let mut response = attacker.get(&authorize).await;
    let mut callback = None;
    for _ in 0..10 {
        if response.status() == 303 {
            let next = location(&response, &stack.auth.base_url);
            if next.starts_with(&format!("{}/_portcullis/callback", stack.base)) {
                callback = Some(next);
                break;
            }
            response = attacker.get(&next).await;
            continue;
        }
        let mut fields = hidden_fields(&response.text().await.expect("page"));
        fields.push(("username".into(), "ada".into()));
        fields.push(("password".into(), PASSWORD.into()));
        response = attacker.post(&stack.auth.url("/signin"), &fields).await;
    }
    let callback = callback.expect("the provider's redirect back");
    let victim = Browser::new();
    let planted = victim.get(&callback).await;
    assert_eq!(planted.status(), 400, "another browser's callback");
    assert!(planted.headers().get("set-cookie").is_none());
    // The state was used up by the refusal: the attacker cannot complete it either.
    assert_eq!(attacker.get(&callback).await.status(), 400);
    assert_eq!(stack.call(&victim, "/app/data").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_tabs_of_one_browser_sign_in_at_once() {
    let stack = session_stack(300, true, None).await;
    // Each tab's callback belongs to the browser.
    let tabs = Browser::new();
    let first = location(&stack.page(&tabs, "/app/one").await, &stack.base);
    let second = location(&stack.page(&tabs, "/app/two").await, &stack.base);
    for (authorize, path) in [(second, "/app/two"), (first, "/app/one")] {
        let (status, page) = tabs
            .open_signed_in(&stack.auth.base_url, &authorize, ("ada", PASSWORD))
            .await;
        assert_eq!(status, 200, "{page}");
        let echo: Value = serde_json::from_str(&page).expect("echo");
        assert_eq!(echo["path"], path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_starts_at_most_thirty_sign_ins_a_minute() {
    let stack = session_stack(300, true, None).await;
    // Each sign-in is kept ten minutes: a flood cannot push other browsers' out.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(stack.page(&Browser::new(), "/app/").await.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let login = Browser::new()
        .get(&format!("{}/_portcullis/login?rd=/app/", stack.base))
        .await;
    assert_eq!(login.status(), 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_the_route_cannot_accept_are_an_error_not_a_sign_in_loop() {
    let auth = TestAuthServer::start_with(TestOptions::default()).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The client's tokens are for another audience than the gateway's issuer requires.
    let client = ClientRegistration {
        audiences: vec!["elsewhere".into()],
        ..gateway_client(&base, 300)
    };
    let (_, secret) = auth.add_client(client).await;
    auth.add_user("ada", &[], PASSWORD).await;
    let upstream = echo_upstream().await;
    let config = session_config(&auth, &base, &secret.expect("secret"), upstream);
    let (_stop, _gateway) = start_gateway(&config, &format!("127.0.0.1:{port}")).await;
    let browser = Browser::new();
    let start = page_load(&browser, &format!("{base}/app/")).await;
    let authorize = location(&start, &base);
    let (status, page) = browser
        .open_signed_in(&auth.base_url, &authorize, ("ada", PASSWORD))
        .await;
    assert_eq!(
        status, 401,
        "refused once, not sent to sign in again: {page}"
    );
    assert!(page.contains("invalid_token"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_token_is_refreshed_once_before_it_expires() {
    // Tokens live 4 s and are refreshed 2 s before they expire.
    let stack = session_stack(4, true, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    let first = stack.token_seen_upstream(&browser).await;
    assert_eq!(
        stack.token_seen_upstream(&browser).await,
        first,
        "not yet due"
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // Many requests at once: one refresh (a second would reuse the rotated refresh token,
    // which the provider takes for theft and answers by ending the grant).
    let calls: Vec<_> = (0..8)
        .map(|_| stack.token_seen_upstream(&browser))
        .collect();
    let seen = futures_util::future::join_all(calls).await;
    assert!(seen.iter().all(|token| *token == seen[0]), "one new token");
    assert_ne!(seen[0], first, "refreshed");
    // And again, with the rotated refresh token.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let third = stack.token_seen_upstream(&browser).await;
    assert_ne!(third, seen[0]);
}
