//! Console pages for clients: the list (searched, paged), registration (a confidential client's secret shown
//! once), detail, secret rotation and deletion (both confirmed).

use super::form::{Signed, SignedForm, link, path, see_other};
use super::layout::csrf_field;
use super::paging::{PAGE, Search, next_link, search_form};
use crate::pages::escape;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::{Client, ClientKind, ClientRegistration, RequestObjectAlg};
use portcullis_types::GrantType;

fn words(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

fn shown_once(signed: &Signed, title: &str, id: &str, secret: &str) -> Response {
    signed.page(
        title,
        &format!(
            "<div class=\"card\"><p>The secret of <strong>{id}</strong>, shown this once (only its \
             hash is stored):</p><code class=\"secret\">{secret}</code>\
             <p><a href=\"/console/clients\">Back to clients</a></p></div>",
            id = escape(id),
            secret = escape(secret),
        ),
    )
}

/// Clients, searched by id prefix, a page at a time; the registration form for admins.
pub(super) async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(search): Query<Search>,
) -> Response {
    let prefix = search.text();
    let page = match signed
        .admin(&state)
        .client_page(prefix.clone(), search.after, PAGE)
        .await
    {
        Ok(page) => page,
        Err(error) => return signed.refused(&error),
    };
    let search = prefix.as_deref().unwrap_or_default();
    let next = page.next.map_or_else(String::new, |next| {
        next_link("/console/clients", &[("search", search), ("after", &next)])
    });
    let rows: String = page
        .clients
        .iter()
        .map(|client| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                link("/console/clients", &client.id, &client.id),
                client.kind,
                escape(&grants(client)),
                escape(&client.scopes.to_string()),
            )
        })
        .collect();
    let create = if signed.writes() {
        format!(
            "<div class=\"card\"><h2>Register a client</h2><form method=\"post\" action=\"/console/clients\">{csrf}\
             <label for=\"id\">Client id</label><input type=\"text\" id=\"id\" name=\"id\" required autocomplete=\"off\">\
             <label for=\"kind\">Type</label><select id=\"kind\" name=\"kind\">\
             <option value=\"confidential\">confidential (a service, gets a secret)</option>\
             <option value=\"public\">public (a browser or native app, PKCE)</option></select>\
             <label for=\"grants\">Grant types</label><input type=\"text\" id=\"grants\" name=\"grants\" value=\"client_credentials\">\
             <label for=\"redirect_uris\">Redirect URIs</label><input type=\"text\" id=\"redirect_uris\" name=\"redirect_uris\">\
             <label for=\"scopes\">Scopes</label><input type=\"text\" id=\"scopes\" name=\"scopes\">\
             <label for=\"audiences\">Audiences</label><input type=\"text\" id=\"audiences\" name=\"audiences\">\
             <button type=\"submit\">Register</button></form></div>",
            csrf = csrf_field(&signed.0)
        )
    } else {
        String::new()
    };
    signed.page(
        "Clients",
        &format!(
            "{search}<div class=\"card\"><table><thead><tr><th>Id</th><th>Type</th><th>Grants</th><th>Scopes</th></tr></thead>\
             <tbody>{rows}</tbody></table>{next}</div>{create}",
            search = search_form("/console/clients", "Client id starts with", search),
        ),
    )
}

fn grants(client: &Client) -> String {
    client
        .grant_types
        .iter()
        .map(|grant| grant.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Registers a client from the form.
pub(super) async fn create(
    State(state): State<AppState>,
    SignedForm(signed, form): SignedForm,
) -> Response {
    let field = |name: &str| form.get(name).unwrap_or_default();
    let kind = if field("kind") == "public" {
        ClientKind::Public
    } else {
        ClientKind::Confidential
    };
    let Some(grant_types) = grant_types(field("grants")) else {
        return signed.error(
            StatusCode::BAD_REQUEST,
            "grants: use client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code or urn:ietf:params:oauth:grant-type:token-exchange",
        );
    };
    let registration = ClientRegistration {
        id: field("id").trim().to_owned(),
        kind,
        grant_types,
        redirect_uris: words(field("redirect_uris")),
        scopes: words(field("scopes")),
        audiences: words(field("audiences")),
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
    };
    match signed.admin(&state).create_client(registration).await {
        Ok(created) => match created.secret {
            Some(secret) => shown_once(&signed, "Client registered", &created.client.id, &secret),
            None => see_other("/console/clients"),
        },
        Err(error) => signed.refused(&error),
    }
}

/// One client and the actions on it.
pub(super) async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let client = match signed.admin(&state).client(&id).await {
        Ok(client) => client,
        Err(error) => return signed.refused(&error),
    };
    let base = path("/console/clients", &client.id);
    let rotate = if client.kind == ClientKind::Confidential {
        signed.button(&format!("{base}/secret"), "Rotate secret", true)
    } else {
        String::new()
    };
    signed.page(
        &format!("Client {}", client.id),
        &format!(
            "<div class=\"card\"><table><tr><th>Type</th><td>{kind}</td></tr>\
             <tr><th>Grants</th><td>{grants}</td></tr><tr><th>Redirect URIs</th><td>{redirects}</td></tr>\
             <tr><th>Scopes</th><td>{scopes}</td></tr><tr><th>Audiences</th><td>{audiences}</td></tr>\
             <tr><th>First party</th><td>{first_party}</td></tr>\
             <tr><th>Second factor</th><td>{mfa}</td></tr>\
             <tr><th>Pushed requests</th><td>{par}</td></tr>\
             <tr><th>Request objects</th><td>{request_objects}</td></tr>\
             <tr><th>Registered</th><td>{origin}</td></tr></table>{rotate}{delete}</div>{edit}",
            kind = client.kind,
            grants = escape(&grants(&client)),
            redirects = escape(&client.redirect_uris.join(" ")),
            scopes = escape(&client.scopes.to_string()),
            audiences = escape(&client.audiences.join(" ")),
            first_party = if client.first_party { "yes" } else { "no" },
            mfa = if client.require_mfa {
                "required of every user"
            } else {
                "as the MFA policy says"
            },
            origin = match (&client.client_name, client.is_self_registered()) {
                _ if client.is_described_by_document() => format!(
                    "by its metadata document at its URL, as {}",
                    escape(&client.label())
                ),
                (Some(name), true) => format!("by itself (RFC 7591), as “{}”", escape(name)),
                (None, true) => "by itself (RFC 7591)".to_owned(),
                (_, false) => "by an administrator".to_owned(),
            },
            par = if client.require_pushed_authorization_requests {
                "required"
            } else {
                "as the server says"
            },
            request_objects = escape(&request_objects(&client)),
            delete = signed.button(&format!("{base}/delete"), "Delete client", true),
            edit = edit_form(&signed, &base, &client),
        ),
    )
}

/// How a client may send request objects (RFC 9101), in words.
fn request_objects(client: &Client) -> String {
    let signing = match client.request_object_signing_alg {
        Some(RequestObjectAlg::Unsigned) => "unsigned (alg none)".to_owned(),
        Some(RequestObjectAlg::Signed(alg)) => format!("signed with {alg}"),
        None if client.keys.is_some() => "signed with its keys".to_owned(),
        None => "none (no keys)".to_owned(),
    };
    if client.request_uris.is_empty() {
        signing
    } else {
        format!(
            "{signing}; by reference from {}",
            client.request_uris.join(" ")
        )
    }
}

/// The form that changes a client's grants, redirect URIs, scopes and audiences (for admins).
fn edit_form(signed: &Signed, base: &str, client: &Client) -> String {
    if !signed.writes() {
        return String::new();
    }
    let field = |id: &str, label: &str, value: &str| {
        format!(
            "<label for=\"{id}\">{label}</label>\
             <input type=\"text\" id=\"{id}\" name=\"{id}\" value=\"{}\" autocomplete=\"off\">",
            escape(value)
        )
    };
    format!(
        "<div class=\"card\"><h2>Edit</h2><form method=\"post\" action=\"{action}\">{csrf}{grants}{redirects}{scopes}{audiences}\
         <label><input type=\"checkbox\" name=\"require_mfa\" value=\"yes\"{checked}> \
         Users must sign in with a second factor</label>\
         <label><input type=\"checkbox\" name=\"require_pushed_authorization_requests\" value=\"yes\"{par_checked}> \
         Authorization requests must be pushed first (RFC 9126)</label>\
         <button type=\"submit\">Save</button></form></div>",
        checked = if client.require_mfa { " checked" } else { "" },
        par_checked = if client.require_pushed_authorization_requests {
            " checked"
        } else {
            ""
        },
        action = escape(&format!("{base}/edit")),
        csrf = csrf_field(&signed.0),
        grants = field("grants", "Grant types", &grants(client).replace(", ", " ")),
        redirects = field(
            "redirect_uris",
            "Redirect URIs",
            &client.redirect_uris.join(" ")
        ),
        scopes = field("scopes", "Scopes", &client.scopes.to_string()),
        audiences = field("audiences", "Audiences", &client.audiences.join(" ")),
    )
}

/// The grant types of a form field.
fn grant_types(text: &str) -> Option<Vec<GrantType>> {
    words(text).iter().map(|name| name.parse().ok()).collect()
}

/// Edits a client, rotates its secret or deletes it (the last two confirmed first).
pub(super) async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    SignedForm(signed, form): SignedForm,
) -> Response {
    let back = path("/console/clients", &id);
    let confirmed = form.get("confirm") == Some("yes");
    let admin = signed.admin(&state);
    match action.as_str() {
        "edit" => {
            let existing = match admin.client(&id).await {
                Ok(client) => client,
                Err(error) => return signed.refused(&error),
            };
            let field = |name: &str| form.get(name).unwrap_or_default();
            let Some(grant_types) = grant_types(field("grants")) else {
                return signed.error(
                    StatusCode::BAD_REQUEST,
                    "grants: use client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code or urn:ietf:params:oauth:grant-type:token-exchange",
                );
            };
            let registration = ClientRegistration {
                id: existing.id,
                kind: existing.kind,
                grant_types,
                redirect_uris: words(field("redirect_uris")),
                scopes: words(field("scopes")),
                audiences: words(field("audiences")),
                access_token_lifetime_secs: existing.access_token_lifetime_secs,
                first_party: existing.first_party,
                post_logout_redirect_uris: existing.post_logout_redirect_uris,
                id_token_algorithm: existing.id_token_algorithm,
                keys: existing.keys,
                dpop_bound_access_tokens: existing.dpop_bound_access_tokens,
                backchannel_logout_uri: existing.backchannel_logout_uri,
                require_mfa: form.get("require_mfa") == Some("yes"),
                require_pushed_authorization_requests: form
                    .get("require_pushed_authorization_requests")
                    == Some("yes"),
                client_name: existing.client_name,
                request_uris: existing.request_uris,
                request_object_signing_alg: existing.request_object_signing_alg,
            };
            match admin.update_client(registration).await {
                Ok(_) => see_other(&back),
                Err(error) => signed.refused(&error),
            }
        }
        "secret" if !confirmed => signed.confirm(
            &format!("{back}/secret"),
            &format!("Rotate the secret of {id}? The current secret stops working at once."),
            &back,
        ),
        "secret" => match admin.rotate_client_secret(&id).await {
            Ok(rotated) => shown_once(&signed, "Secret rotated", &id, &rotated.secret),
            Err(error) => signed.refused(&error),
        },
        "delete" if !confirmed => signed.confirm(
            &format!("{back}/delete"),
            &format!("Delete the client {id}?"),
            &back,
        ),
        "delete" => match admin.delete_client(&id).await {
            Ok(()) => see_other("/console/clients"),
            Err(error) => signed.refused(&error),
        },
        _ => signed.error(StatusCode::NOT_FOUND, "No such action."),
    }
}
