//! The console's page frame: a navigation bar, the signed-in user and a sign-out form, wide
//! tables; the same headers as the sign-in pages (strict CSP with the stylesheet's hash, no
//! scripts, no framing, no caching, no referrer).

use super::sessions::ConsoleSession;
use crate::pages::{escape, secure_headers};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

const STYLESHEET: &str = "\
:root{color-scheme:light dark;--fg:#1b1f24;--bg:#f4f5f7;--card:#fff;--accent:#1d4ed8;--muted:#4b5563;--error:#b91c1c;--line:#d1d5db}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e8eb;--bg:#111418;--card:#1b2027;--accent:#93b4ff;--muted:#aab2bd;--error:#fca5a5;--line:#374151}}\
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:var(--bg);color:var(--fg)}\
nav{display:flex;gap:1.2rem;align-items:center;padding:.8rem 1.5rem;background:var(--card);border-bottom:1px solid var(--line)}\
nav a{color:var(--accent);text-decoration:none;font-weight:600}nav .who{margin-left:auto;color:var(--muted)}\
nav form{display:inline}main{max-width:64rem;margin:1.5rem auto;padding:0 1rem}\
.card{background:var(--card);border-radius:10px;padding:1.5rem;margin-bottom:1.2rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}\
h1{font-size:1.35rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:0 0 .8rem}table{width:100%;border-collapse:collapse}\
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-weight:600}\
label{display:block;font-weight:600;margin:.8rem 0 .2rem}input[type=text],input[type=password],input[type=search],select{width:100%;max-width:28rem;padding:.5rem;border:1px solid var(--muted);border-radius:6px;font:inherit;background:transparent;color:inherit}\
button{margin-top:.8rem;padding:.5rem 1rem;border:0;border-radius:6px;font:inherit;font-weight:600;cursor:pointer;background:var(--accent);color:var(--card)}\
button.danger{background:var(--error)}button.link{background:transparent;color:var(--accent);padding:0;margin:0}\
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}.error{color:var(--error);font-weight:600}.muted{color:var(--muted)}\
code{font-size:.9em;word-break:break-all}.secret{font-size:1.05em;padding:.6rem;border:1px dashed var(--accent);display:block}";

/// A console page for `session` (or, before sign-in, none).
pub fn page(
    status: StatusCode,
    title: &str,
    body: &str,
    session: Option<&ConsoleSession>,
    cookies: Vec<HeaderValue>,
) -> Response {
    let nav = match session {
        Some(session) => format!(
            "<nav aria-label=\"Console\"><a href=\"/console/users\">Users</a>\
             <a href=\"/console/clients\">Clients</a><a href=\"/console/sessions\">Sessions</a>\
             <a href=\"/console/keys\">Keys</a><a href=\"/console/audit\">Audit log</a>\
             <span class=\"who\">{who}{mode}</span>\
             <form method=\"post\" action=\"/console/logout\">{csrf}\
             <button class=\"link\" type=\"submit\">Sign out</button></form></nav>",
            who = escape(&session.username),
            mode = if session.capability == crate::admin_api::access::Capability::Read {
                " (read only)"
            } else {
                ""
            },
            csrf = csrf_field(session),
        ),
        None => String::new(),
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} · Portcullis console</title><style>{STYLESHEET}</style></head>\
         <body>{nav}<main><h1>{title}</h1>{body}</main></body></html>",
        title = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    secure_headers(response.headers_mut(), STYLESHEET, false);
    for cookie in cookies {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie);
    }
    response
}

/// The hidden CSRF field of every form of `session`.
pub fn csrf_field(session: &ConsoleSession) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(&session.csrf)
    )
}
