//! Sessions end: logout here and at the provider, back-channel logout, a revoked token; and a
//! cluster of gateways sharing sessions over Redis.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_here_and_at_the_provider() {
    let stack = session_stack(300, true, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    // The session ends here, the browser goes to the provider's logout with its id token, and
    // from there back to the registered page; a page of another origin cannot sign it out.
    let logout_url = format!("{}/_portcullis/logout", stack.base);
    let from_another_page = browser
        .client()
        .get(&logout_url)
        .header("sec-fetch-site", "same-site")
        .send()
        .await
        .expect("logout");
    assert_eq!(from_another_page.status(), 403, "logout CSRF");
    let logout = browser
        .client()
        .get(&logout_url)
        .header("sec-fetch-site", "none")
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 303);
    let cleared = logout.headers()["set-cookie"].to_str().expect("ascii");
    assert!(cleared.contains("portcullis_gw=") && cleared.contains("Max-Age=0"));
    let end_session = location(&logout, &stack.base);
    assert!(end_session.starts_with(&stack.auth.url("/logout")));
    assert!(query_param(&end_session, "id_token_hint").is_some());
    let confirm = browser.get(&end_session).await;
    assert_eq!(confirm.status(), 200);
    let fields = hidden_fields(&confirm.text().await.expect("confirmation"));
    let done = browser.post(&stack.auth.url("/logout"), &fields).await;
    assert_eq!(
        location(&done, &stack.auth.base_url),
        format!("{}/bye", stack.base)
    );
    assert_eq!(stack.call(&browser, "/app/data").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_channel_logout_ends_the_gateway_session() {
    // No revocation feed: only the logout token can tell the gateway.
    let stack = session_stack(300, false, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    assert_eq!(stack.call(&browser, "/app/data").await.status(), 200);
    // The user signs out at the provider itself (the same browser, its session there).
    let confirm = browser.get(&stack.auth.url("/logout")).await;
    assert_eq!(confirm.status(), 200);
    let fields = hidden_fields(&confirm.text().await.expect("confirmation"));
    browser.post(&stack.auth.url("/logout"), &fields).await;
    stack.wait_until_signed_out(&browser).await;

    // What is not a logout token of the provider is refused as the specification says.
    let endpoint = format!("{}/_portcullis/backchannel-logout", stack.base);
    let http = reqwest::Client::new();
    for form in [vec![], vec![("logout_token", "not-a-jwt")]] {
        let response = http.post(&endpoint).form(&form).send().await.expect("post");
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_ends_the_session() {
    let stack = session_stack(300, true, None).await;
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    let token = stack.token_seen_upstream(&browser).await;
    revoke(&stack.auth, "gw", &stack.secret, &token).await;
    stack.wait_until_signed_out(&browser).await;
    // The session is gone, not just refused once: a page load signs in again.
    let again = stack.page(&browser, "/app/").await;
    assert_eq!(again.status(), 303);
    let set = again
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().expect("ascii").to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(set.contains("portcullis_gw_login="), "{set}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_of_gateways_shares_sessions_over_redis() {
    let Some(redis) = portcullis_testkit::services::TestRedis::create() else {
        return;
    };
    // Tokens live 4 s and are refreshed 2 s before they expire; no feed, so only Redis tells
    // the second gateway of what the first learned.
    let stack = session_stack(4, false, Some(redis.settings())).await;
    let second = stack.second.clone().expect("a second gateway");
    let browser = Browser::new();
    stack.open_signed_in(&browser, "/app/").await;
    // Signed in through the first, served by the second.
    let first = stack.token_seen_upstream(&browser).await;
    assert_eq!(stack.token_seen_through(&second, &browser).await, first);
    let response = stack.call_at(&second, &browser, "/app/whoami").await;
    let echo: Value = response.json().await.expect("echo");
    assert_eq!(
        echo["headers"]["x-portcullis-subject"],
        stack.subject.as_str()
    );

    // Due for a refresh, both gateways at once: one refresh in the cluster, one new token.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let calls: Vec<_> = (0..8)
        .map(|index| {
            let base = if index % 2 == 0 { &stack.base } else { &second };
            stack.token_seen_through(base, &browser)
        })
        .collect();
    let seen = futures_util::future::join_all(calls).await;
    assert!(seen.iter().all(|token| *token == seen[0]), "one new token");
    assert_ne!(seen[0], first);

    // Back-channel logout reaches the first gateway; the second ends the session too.
    let confirm = browser.get(&stack.auth.url("/logout")).await;
    let fields = hidden_fields(&confirm.text().await.expect("confirmation"));
    browser.post(&stack.auth.url("/logout"), &fields).await;
    stack.wait_until_signed_out_at(&second, &browser).await;
    drop(redis);
}
