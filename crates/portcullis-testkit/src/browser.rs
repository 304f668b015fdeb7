//! A minimal browser for sign-in flows: a cookie jar, no automatic redirects, and form fields read
//! from the real HTML the server renders. Used by the end-to-end tests and the load generator.

use portcullis_core::pkce;

/// A browser with its own cookie jar.
pub struct Browser {
    http: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    /// A fresh browser: no cookies.
    pub fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    /// The browser's HTTP client (its cookie jar), for requests the helpers do not cover.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET url`.
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.expect("GET")
    }

    /// `GET url`: the status and the page's text.
    pub async fn page(&self, url: &str) -> (u16, String) {
        let response = self.get(url).await;
        let status = response.status().as_u16();
        (status, response.text().await.expect("page text"))
    }

    /// `POST url` with a form.
    pub async fn post(&self, url: &str, fields: &[(String, String)]) -> reqwest::Response {
        self.http.post(url).form(fields).send().await.expect("POST")
    }

    /// Follows an authorization request through sign-in (if asked, as `username` with
    /// `password`) and consent (if asked, allowing) and returns the final redirect, the first
    /// one that starts with `callback_prefix`.
    pub async fn authorize(
        &self,
        base_url: &str,
        url: &str,
        credentials: (&str, &str),
        callback_prefix: &str,
    ) -> String {
        self.try_authorize(base_url, url, credentials, callback_prefix)
            .await
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Browser::authorize`], telling what went wrong instead of panicking (a request that
    /// failed, an unexpected page or status).
    ///
    /// # Errors
    /// What stopped the flow.
    pub async fn try_authorize(
        &self,
        base_url: &str,
        url: &str,
        (username, password): (&str, &str),
        callback_prefix: &str,
    ) -> Result<String, String> {
        let failed = |error: reqwest::Error| error.to_string();
        let mut response = self.http.get(url).send().await.map_err(failed)?;
        for _ in 0..10 {
            if response.status() == 303 {
                let next =
                    redirect_target(&response, base_url).ok_or("a redirect without a Location")?;
                if next.starts_with(callback_prefix) {
                    return Ok(next);
                }
                response = self.http.get(&next).send().await.map_err(failed)?;
                continue;
            }
            if response.status() != 200 {
                return Err(format!("unexpected page: {}", response.status()));
            }
            let html = response.text().await.map_err(failed)?;
            let mut fields = hidden_fields(&html);
            let action = if html.contains("action=\"/signin\"") {
                fields.push(("username".into(), username.into()));
                fields.push(("password".into(), password.into()));
                "signin"
            } else if html.contains("name=\"decision\"") {
                fields.push(("decision".into(), "allow".into()));
                "authorize"
            } else {
                return Err(format!("unexpected page: {html}"));
            };
            response = self
                .http
                .post(format!("{base_url}/{action}"))
                .form(&fields)
                .send()
                .await
                .map_err(failed)?;
        }
        Err("authorization did not finish".to_owned())
    }
}

impl Browser {
    /// Opens `url`, signing in on the way when sent to the sign-in page (as `username` with
    /// `password`) and following redirects: the status and text of the first other page.
    pub async fn open_signed_in(
        &self,
        base_url: &str,
        url: &str,
        (username, password): (&str, &str),
    ) -> (u16, String) {
        let mut response = self.get(url).await;
        for _ in 0..10 {
            if response.status() == 303 {
                response = self.get(&location(&response, base_url)).await;
                continue;
            }
            let status = response.status().as_u16();
            let html = response.text().await.expect("html");
            if !html.contains("action=\"/signin\"") {
                return (status, html);
            }
            let mut fields = hidden_fields(&html);
            fields.push(("username".into(), username.into()));
            fields.push(("password".into(), password.into()));
            response = self.post(&format!("{base_url}/signin"), &fields).await;
        }
        panic!("too many redirects");
    }
}

/// The `Location` of a redirect, made absolute against `base`.
pub fn location(response: &reqwest::Response, base: &str) -> String {
    assert_eq!(response.status(), 303, "expected a redirect");
    redirect_target(response, base).expect("a Location header in ASCII")
}

/// The `Location` of a response made absolute against `base`; `None` without one.
fn redirect_target(response: &reqwest::Response, base: &str) -> Option<String> {
    let location = response.headers().get("location")?.to_str().ok()?;
    Some(if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_owned()
    })
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of the page's form, as the browser would submit them.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<input type=\"hidden\" name=\"") {
        rest = &rest[start + 27..];
        let name_end = rest.find('"').expect("name end");
        let name = unescape(&rest[..name_end]);
        rest = &rest[name_end..];
        let value_start = rest.find("value=\"").expect("value") + 7;
        rest = &rest[value_start..];
        let value_end = rest.find('"').expect("value end");
        fields.push((name, unescape(&rest[..value_end])));
        rest = &rest[value_end..];
    }
    fields
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = portcullis_core::generate_secret(32).expect("verifier");
    let challenge = pkce::s256_challenge(&verifier);
    (verifier, challenge)
}
