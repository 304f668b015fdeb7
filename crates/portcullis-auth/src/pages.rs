//! Server-rendered HTML pages: sign-in, consent, logout confirmation, messages and errors.
//!
//! No external assets (they work offline and leak nothing to third parties); one inline stylesheet
//! allowed by its hash in a strict CSP; no scripts at all. Every page forbids framing
//! (clickjacking), sends no referrer, and is not cached. Every interpolated value is escaped.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const STYLESHEET: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f4f5f7;--card:#fff;--accent:#1d4ed8;--muted:#4b5563;--error:#b91c1c}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#111418;--card:#1b2027;--accent:#93b4ff;--muted:#aab2bd;--error:#fca5a5}}\
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--fg)}\
main{max-width:26rem;margin:8vh auto;padding:0 1rem}.card{background:var(--card);border-radius:12px;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}\
h1{font-size:1.4rem;margin:0 0 1rem}p{margin:.5rem 0}.product{font-weight:600;color:var(--muted);margin-bottom:1.5rem}\
label{display:block;font-weight:600;margin:1rem 0 .25rem}input[type=text],input[type=email],input[type=password]{width:100%;padding:.6rem;border:1px solid var(--muted);border-radius:6px;font:inherit;background:transparent;color:inherit}\
button{margin-top:1.5rem;padding:.65rem 1.2rem;border:0;border-radius:6px;font:inherit;font-weight:600;cursor:pointer;background:var(--accent);color:var(--card)}\
button.secondary{background:transparent;color:var(--accent);border:1px solid var(--accent);margin-left:.5rem}\
a.provider{display:block;text-align:center;padding:.65rem 1.2rem;border:1px solid var(--accent);border-radius:6px;font-weight:600;color:var(--accent);text-decoration:none}\
p.or{text-align:center;color:var(--muted);margin:1rem 0 0}\
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}.error{color:var(--error);font-weight:600}.notice{border-left:3px solid var(--accent);padding-left:.6rem}ul{padding-left:1.2rem}code{font-size:.9em}";

/// The strict CSP of a page whose only style is `stylesheet`, inline: allowed by its hash. A page
/// that loads the passkey script (`scripts`) may also run this server's own scripts and call it.
fn content_security_policy(stylesheet: &str, scripts: bool) -> String {
    let hash = STANDARD.encode(portcullis_jose::sha256(stylesheet.as_bytes()));
    let scripts = if scripts {
        "script-src 'self'; connect-src 'self'; "
    } else {
        ""
    };
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; {scripts}\
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The headers of every server-rendered page: the strict CSP for `stylesheet` (with `scripts`,
/// this server's scripts allowed), no framing, no referrer, no sniffing, no caching.
pub fn secure_headers(headers: &mut axum::http::HeaderMap, stylesheet: &str, scripts: bool) {
    if let Ok(policy) = HeaderValue::from_str(&content_security_policy(stylesheet, scripts)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Formats a Unix time as RFC 3339 UTC (the number itself if it is out of range).
pub fn format_time(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|moment| {
            moment
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| seconds.to_string())
}

pub use portcullis_core::html::escape;

/// A page to send.
#[derive(Debug)]
pub struct Page {
    /// HTTP status.
    pub status: StatusCode,
    /// `<title>` and heading.
    pub title: String,
    /// Inner HTML of the card, already escaped.
    pub body: String,
    /// `Set-Cookie` headers.
    pub cookies: Vec<HeaderValue>,
}

impl Page {
    /// Renders the page with the product name and the security headers.
    pub fn render(self, product_name: &str) -> Response {
        // Only the page's own markup can hold a script tag: every user-given text is escaped.
        let scripts = self.body.contains(&format!(
            "<script src=\"{}\"",
            crate::routes::PASSKEY_SCRIPT
        ));
        let html = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{title} · {product}</title><style>{STYLESHEET}</style></head>\
             <body><main><div class=\"card\"><p class=\"product\">{product}</p>\
             <h1>{title}</h1>{body}</div></main></body></html>",
            title = escape(&self.title),
            product = escape(product_name),
            body = self.body,
        );
        let mut response = (self.status, Html(html)).into_response();
        let headers = response.headers_mut();
        secure_headers(headers, STYLESHEET, scripts);
        for cookie in self.cookies {
            headers.append(header::SET_COOKIE, cookie);
        }
        response
    }
}

/// Hidden inputs carrying `fields` through a form.
pub fn hidden_fields(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

/// An error message above a form.
fn form_error(error: Option<&str>) -> String {
    error.map_or(String::new(), |message| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
    })
}

/// The sign-in form; with `forgot`, a link to ask for a password reset.
pub fn sign_in_form(
    csrf: &str,
    return_to: &str,
    login_hint: &str,
    error: Option<&str>,
    links: SignInLinks,
    providers: &[ProviderButton],
) -> String {
    let error = form_error(error);
    let buttons: String = providers
        .iter()
        .map(|button| {
            format!(
                "<p><a class=\"button provider\" href=\"{}\">Sign in with {}</a></p>",
                escape(&button.href),
                escape(&button.name)
            )
        })
        .collect();
    let forgot = if links.forgot {
        "<p><a href=\"/forgot\">Forgot your password?</a></p>".to_owned()
    } else {
        String::new()
    };
    let register = if links.register {
        let mut target = "/register".to_owned();
        if !return_to.is_empty() {
            target.push_str("?return_to=");
            target.push_str(
                &percent_encoding::utf8_percent_encode(
                    return_to,
                    percent_encoding::NON_ALPHANUMERIC,
                )
                .to_string(),
            );
        }
        format!(
            "<p>New here? <a href=\"{}\">Create an account</a></p>",
            escape(&target)
        )
    } else {
        String::new()
    };
    if !links.password {
        return format!(
            "{error}{buttons}{}",
            if links.passkeys {
                crate::factor_pages::passkey_block(
                    crate::factor_pages::PasskeyMode::SignIn,
                    return_to,
                )
            } else {
                String::new()
            }
        );
    }
    let buttons = if buttons.is_empty() {
        buttons
    } else {
        format!("{buttons}<p class=\"or\">or with your password</p>")
    };
    format!(
        "{error}{buttons}<form method=\"post\" action=\"/signin\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{hint}\" autocomplete=\"{autocomplete}\" \
         autocapitalize=\"none\" spellcheck=\"false\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
         {hidden}<button type=\"submit\">Sign in</button></form>{passkeys}{forgot}{register}",
        hint = escape(login_hint),
        // WebAuthn §5.1.4.2: `webauthn` in the autocomplete token list lets the browser offer
        // passkeys in the username's autofill.
        autocomplete = if links.passkeys {
            "username webauthn"
        } else {
            "username"
        },
        passkeys = if links.passkeys {
            crate::factor_pages::passkey_block(crate::factor_pages::PasskeyMode::SignIn, return_to)
        } else {
            String::new()
        },
        hidden = hidden_fields(&[
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("return_to".to_owned(), return_to.to_owned()),
        ]),
    )
}

/// A "Sign in with …" button: where it starts, and the provider's name.
#[derive(Debug, Clone)]
pub struct ProviderButton {
    /// The start of the provider's flow.
    pub href: String,
    /// The provider's name.
    pub name: String,
}

/// Which links the sign-in page offers besides the form.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignInLinks {
    /// The username and password form (off when only upstream providers sign in).
    pub password: bool,
    /// To `/forgot` (email is configured).
    pub forgot: bool,
    /// To `/register` (registration is open or by invitation, and email is configured).
    pub register: bool,
    /// Passkeys: a button, and the username's autofill offers them (conditional mediation).
    pub passkeys: bool,
}

/// What the registration form shows again after a refusal.
#[derive(Debug, Clone, Default)]
pub struct RegistrationFields<'a> {
    /// Where to return after verifying.
    pub return_to: &'a str,
    /// The invitation's token, if any.
    pub invitation: &'a str,
    /// The username entered.
    pub username: &'a str,
    /// The address entered (or the invitation's).
    pub email: &'a str,
}

/// The registration form.
pub fn registration_form(
    csrf: &str,
    fields: &RegistrationFields<'_>,
    min_length: usize,
    error: Option<&str>,
) -> String {
    format!(
        "{error}<form method=\"post\" action=\"/register\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" \
         autocapitalize=\"none\" spellcheck=\"false\" maxlength=\"64\" required autofocus \
         aria-describedby=\"username-help\">\
         <p id=\"username-help\" class=\"muted\">Letters, digits and . _ - @</p>\
         <label for=\"email\">Email address</label>\
         <input type=\"email\" id=\"email\" name=\"email\" value=\"{email}\" autocomplete=\"email\" required>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" \
         minlength=\"{min_length}\" required aria-describedby=\"password-help\">\
         <p id=\"password-help\" class=\"muted\">At least {min_length} characters; a few \
         uncommon words make a strong one.</p>\
         {hidden}<button type=\"submit\">Create the account</button></form>\
         <p>Have an account? <a href=\"/signin\">Sign in</a></p>",
        error = form_error(error),
        username = escape(fields.username),
        email = escape(fields.email),
        hidden = hidden_fields(&[
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("return_to".to_owned(), fields.return_to.to_owned()),
            ("invitation".to_owned(), fields.invitation.to_owned()),
        ]),
    )
}

/// The form asking for a reset link.
pub fn forgot_form(csrf: &str, error: Option<&str>) -> String {
    format!(
        "{error}<p>Enter the email address of your account; we send it a link to choose a new \
         password.</p><form method=\"post\" action=\"/forgot\">\
         <label for=\"email\">Email address</label>\
         <input type=\"email\" id=\"email\" name=\"email\" autocomplete=\"email\" required autofocus>\
         {hidden}<button type=\"submit\">Send the link</button></form>",
        error = form_error(error),
        hidden = hidden_fields(&[("csrf_token".to_owned(), csrf.to_owned())]),
    )
}

/// The form confirming `email` for the account (or registration) `username` with its password.
pub fn confirm_address_form(
    csrf: &str,
    token: &str,
    username: &str,
    email: &str,
    error: Option<&str>,
) -> String {
    format!(
        "{error}<p>Enter the password of <strong>{username}</strong> to confirm that \
         <strong>{email}</strong> is your address.</p>\
         <form method=\"post\" action=\"/verify-email\">\
         <input type=\"hidden\" name=\"username\" value=\"{username}\" autocomplete=\"username\">\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" \
         required autofocus>\
         {hidden}<button type=\"submit\">Confirm</button></form>",
        error = form_error(error),
        username = escape(username),
        email = escape(email),
        hidden = hidden_fields(&[
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("token".to_owned(), token.to_owned()),
        ]),
    )
}

/// The form choosing a new password through the link `token`.
pub fn reset_form(csrf: &str, token: &str, min_length: usize, error: Option<&str>) -> String {
    format!(
        "{error}<form method=\"post\" action=\"/reset\">\
         <label for=\"password\">New password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"new-password\" \
         minlength=\"{min_length}\" required autofocus aria-describedby=\"password-help\">\
         <p id=\"password-help\" class=\"muted\">At least {min_length} characters; a few \
         uncommon words make a strong one.</p>\
         {hidden}<button type=\"submit\">Set the new password</button></form>",
        error = form_error(error),
        hidden = hidden_fields(&[
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("token".to_owned(), token.to_owned()),
        ]),
    )
}

/// The consent form: the user allows or denies `client` (as `Client::label` names it) the
/// listed scopes, with a `warning` about the client if there is one.
pub fn consent_form(
    client: &str,
    warning: Option<&str>,
    scopes: &[&str],
    csrf: &str,
    request: &[(String, String)],
) -> String {
    let scopes = scope_items(scopes);
    let mut fields = request.to_vec();
    fields.push(("csrf_token".to_owned(), csrf.to_owned()));
    let warning = warning
        .map(|warning| format!("<p class=\"notice\">{}</p>", escape(warning)))
        .unwrap_or_default();
    format!(
        "<p><strong>{client}</strong> asks to:</p><ul>{scopes}</ul>{warning}\
         <form method=\"post\" action=\"/authorize\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
        client = escape(client),
        hidden = hidden_fields(&fields),
    )
}

/// The form where a user types the code their device shows (RFC 8628 §3.3).
pub fn device_code_form(csrf: &str, typed: &str, error: Option<&str>) -> String {
    format!(
        "{error}<p>Type the code your device shows.</p>\
         <form method=\"post\" action=\"/device\">{hidden}\
         <label for=\"user_code\">Code</label>\
         <input type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{typed}\" \
         autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" autofocus>\
         <button type=\"submit\">Continue</button></form>",
        error = form_error(error),
        hidden = hidden_fields(&[("csrf_token".to_owned(), csrf.to_owned())]),
        typed = escape(typed),
    )
}

/// The confirmation of a device: which application, what it asks for, and the code to compare
/// with the device's (RFC 8628 §5.4: a user sent a link by someone else must see what they
/// approve).
pub fn device_confirm_form(client: &str, scopes: &[&str], user_code: &str, csrf: &str) -> String {
    let scopes = scope_items(scopes);
    let fields = [
        ("user_code".to_owned(), user_code.to_owned()),
        ("csrf_token".to_owned(), csrf.to_owned()),
    ];
    format!(
        "<p>A device signing in to <strong>{client}</strong> asks to:</p><ul>{scopes}</ul>\
         <p>Your device must show the code <strong><code>{code}</code></strong>. \
         Allow it only if you started this sign-in yourself on a device in front of you.</p>\
         <form method=\"post\" action=\"/device\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>",
        client = escape(client),
        code = escape(user_code),
        hidden = hidden_fields(&fields),
    )
}

/// The list items naming `scopes` and what each allows.
fn scope_items(scopes: &[&str]) -> String {
    scopes
        .iter()
        .map(|scope| {
            format!(
                "<li><code>{}</code> — {}</li>",
                escape(scope),
                escape(describe_scope(scope))
            )
        })
        .collect()
}

fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "openid" => "know who you are",
        "profile" => "see your username",
        "email" => "see your email address",
        "offline_access" => "stay signed in when you are away",
        _ => "use this permission",
    }
}

/// The logout confirmation form.
pub fn logout_form(csrf: &str, request: &[(String, String)]) -> String {
    let mut fields = request.to_vec();
    fields.push(("csrf_token".to_owned(), csrf.to_owned()));
    format!(
        "<p>Do you want to sign out?</p><form method=\"post\" action=\"/logout\">{}\
         <button type=\"submit\">Sign out</button></form>",
        hidden_fields(&fields)
    )
}

/// A paragraph of text.
pub fn message(text: &str) -> String {
    format!("<p>{}</p>", escape(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let form = sign_in_form(
            "t",
            "/authorize?a=1&b=\"2\"",
            "<script>",
            Some("<b>"),
            SignInLinks {
                password: true,
                forgot: false,
                register: true,
                passkeys: false,
            },
            &[ProviderButton {
                href: "/federation/corp/start?return_to=%2Fauthorize".into(),
                name: "<i>Corp</i>".into(),
            }],
        );
        assert!(!form.contains("<script>") && !form.contains("<b>") && !form.contains("<i>"));
        assert!(
            form.contains("Sign in with &lt;i&gt;Corp&lt;/i&gt;"),
            "{form}"
        );
        assert!(
            form.contains("href=\"/register?return_to=%2Fauthorize%3Fa%3D1%26b%3D%222%22\""),
            "{form}"
        );
        assert!(form.contains("value=\"/authorize?a=1&amp;b=&quot;2&quot;\""));
    }

    #[test]
    fn pages_carry_security_headers() {
        let page = Page {
            status: StatusCode::OK,
            title: "T".into(),
            body: message("m"),
            cookies: vec![],
        };
        let response = page.render("Acme");
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(header(header::X_FRAME_OPTIONS), "DENY");
        assert!(header(header::CONTENT_SECURITY_POLICY).contains("frame-ancestors 'none'"));
        assert!(header(header::CONTENT_SECURITY_POLICY).contains("default-src 'none'"));
        assert_eq!(header(header::REFERRER_POLICY), "no-referrer");
        assert_eq!(header(header::CACHE_CONTROL), "no-store");
    }
}
