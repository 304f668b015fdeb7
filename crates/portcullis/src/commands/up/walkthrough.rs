//! The walkthrough `portcullis up` prints. Its commands are meant to be pasted as they are, and a
//! test runs them exactly as printed, so they cannot drift from what works.

use super::demo::{SERVICE_CLIENT, Seeded};
use std::net::SocketAddr;
use std::path::Path;

/// Where everything runs.
pub struct Stack<'a> {
    /// The issuer (auth server).
    pub issuer: &'a str,
    /// The gateway's URL.
    pub gateway: &'a str,
    /// The gateway's admin listener.
    pub gateway_admin: SocketAddr,
    /// The gateway's forward-auth listener.
    pub forward_auth: Option<SocketAddr>,
    /// The auth server's admin listener (admin API).
    pub auth_admin: SocketAddr,
    /// users-service.
    pub users: SocketAddr,
    /// products-service.
    pub products: SocketAddr,
    /// The MCP example server.
    pub mcp: SocketAddr,
    /// The web-app example.
    pub web_app: SocketAddr,
    /// Example Corp SSO's issuer (a second identity provider).
    pub corp_sso: &'a str,
    /// The data directory.
    pub data_dir: &'a Path,
    /// What the first start created, if this is it.
    pub seeded: Option<&'a Seeded>,
    /// Whether people may register themselves (`[registration]` with `[email]`).
    pub registration_open: bool,
}

/// The marker after which every line that does not start with `#` is a command.
pub const COMMANDS_MARKER: &str = "Try it (paste the lines one by one):";

fn login(gateway: &str, user: &str, variable: &str) -> String {
    format!(
        "{variable}=$(curl -s {gateway}/login -H 'Content-Type: application/json' \
         -d '{{\"username\":\"{user}\",\"password\":\"'\"$PORTCULLIS_DEMO_PASSWORD\"'\"}}' \
         | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')"
    )
}

/// The text.
pub fn render(stack: &Stack<'_>) -> String {
    let gateway = stack.gateway;
    let mut text = format!(
        "\nPortcullis is up.\n\
         \n  gateway           {gateway}   (admin: http://{admin}/metrics)\
         \n  auth server       {issuer}   (issuer; sign-in pages at {issuer}/signin)\
         \n  auth admin API    http://{auth_admin}/admin/v1   (OpenAPI: http://{auth_admin}/admin/openapi.json)\
         \n  users-service     http://{users}\
         \n  products-service  http://{products}\
         \n  mcp-server        http://{mcp}/mcp   (an MCP server, behind {gateway}/mcp)\
         \n  web-app           http://{web_app}   (signs you in through the SDK's relying party)\
         \n  Example Corp SSO  {corp_sso}   (another identity provider: user ada, the demo password)\
         \n  data              {data}\
         \n\nDemo users: testuser (roles admin, user) and guest (role user); role admin grants portcullis:admin. Clients: demo-cli (public, PKCE),\
         \ndemo-service (client credentials, token exchange), demo-web (first-party, POST /login).\n",
        admin = stack.gateway_admin,
        auth_admin = stack.auth_admin,
        issuer = stack.issuer,
        users = stack.users,
        products = stack.products,
        mcp = stack.mcp,
        web_app = stack.web_app,
        corp_sso = stack.corp_sso,
        data = stack.data_dir.display(),
    );
    match stack.seeded {
        Some(seeded) => {
            text.push_str("\nSecrets of this first start, shown once; run these in your shell first:\n");
            if let Some(password) = &seeded.generated_password {
                text.push_str(&format!("  export PORTCULLIS_DEMO_PASSWORD='{password}'\n"));
            }
            text.push_str(&format!("  export DEMO_SERVICE_SECRET='{}'\n", seeded.service_secret));
        }
        None => text.push_str(
            "\nThe data directory already existed: use the PORTCULLIS_DEMO_PASSWORD and DEMO_SERVICE_SECRET\
             \nshown on its first start (`portcullis admin client rotate-secret demo-service` makes a new secret).\n",
        ),
    }
    text.push_str(&format!(
        "\n{COMMANDS_MARKER}\n\
         # 1. sign in as testuser and keep the access token\n\
         {login_admin}\n\
         # 2. call users-service through the gateway: 200\n\
         curl -i {gateway}/users/me -H \"Authorization: Bearer $TOKEN\"\n\
         # 3. without a token: 401\n\
         curl -i {gateway}/users/me\n\
         # 4. as guest on the admin-only route: 403\n\
         {login_guest}\n\
         curl -i {gateway}/users -H \"Authorization: Bearer $GUEST_TOKEN\"\n\
         # 5. a service's own token (client credentials)\n\
         curl -s -u \"{SERVICE_CLIENT}:$DEMO_SERVICE_SECRET\" -d grant_type=client_credentials {gateway}/token\n\
         # 6. a public endpoint: no token needed, 200\n\
         curl -i {gateway}/public\n\
         # 7. the admin API with testuser's token (scope portcullis:admin, role admin): the users\n\
         curl -s 'http://{auth_admin}/admin/v1/users?limit=10' -H \"Authorization: Bearer $TOKEN\"\n\
         # 8. roles and the scopes they grant: only admin grants portcullis:admin, so guest's token lacks it\n\
         curl -s 'http://{auth_admin}/admin/v1/roles' -H \"Authorization: Bearer $TOKEN\"\n\
         # 9. the admin console, in a browser: http://{auth_admin}/console (sign in as testuser)\n\
         # 10. your own account, in a browser: {issuer}/account (sessions, applications, password, email)\n\
         {register}\
         # 12. delegation (RFC 8693 token exchange): demo-service trades testuser's token for one to call the API\n\
         #     on her behalf, narrowed to demo-service's scope, its act claim naming demo-service\n\
         curl -s -u \"{SERVICE_CLIENT}:$DEMO_SERVICE_SECRET\" {gateway}/token -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
         -d subject_token_type=urn:ietf:params:oauth:token-type:access_token -d subject_token=\"$TOKEN\" -d audience={gateway}\n\
         # 13. step-up (RFC 9470): the admin report needs two factors, so the password-only token gets 401\n\
         #     insufficient_user_authentication, naming the acr_values to sign in with\n\
         curl -i {gateway}/users/admin/report -H \"Authorization: Bearer $TOKEN\"\n\
         # 14. set up an authenticator app at {issuer}/account (two-step verification), then sign in with its\n\
         #     code, adding \"otp\":\"123456\" to step 1's JSON, and repeat step 13: 200, amr [pwd, otp, mfa]\n\
         # 15. passkeys need the issuer on a domain name: start with `portcullis up --issuer-host localhost`,\n\
         #     add one at http://localhost:<auth port>/account, then sign in with it alone (docs/strong-authentication.md)\n\
         #     (a security key without a PIN, as a second factor: also PORTCULLIS_AUTH_PASSKEY_USER_VERIFICATION=preferred)\n\
         # 16. protected resource metadata (RFC 9728): without a token /products answers 401 naming its metadata,\n\
         #     which names the auth server and the resource identifier its tokens must carry in aud (how MCP clients find us)\n\
         curl -si {gateway}/products | grep -i '^www-authenticate'\n\
         curl -s {gateway}/.well-known/oauth-protected-resource/products\n\
         # 17. pushed authorization requests (RFC 9126): demo-cli posts its whole request first and gets a\n\
         #     single-use request_uri, so the browser goes to {issuer}/authorize?client_id=demo-cli&request_uri=...\n\
         #     (a client with registered keys may instead sign its request: request=<JWT>, RFC 9101, docs/clients.md)\n\
         curl -s {issuer}/par -d client_id=demo-cli -d response_type=code -d redirect_uri=http://127.0.0.1/callback \
         -d scope=openid -d code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM -d code_challenge_method=S256\n\
         # 18. sign in on a machine without a browser (RFC 8628): `portcullis login --device` prints {issuer}/device and\n\
         #     a code to type there in any browser, then polls until you allow it; the device's first request:\n\
         curl -s {issuer}/device_authorization -d client_id=demo-cli -d scope=openid\n\
         # 19. dynamic client registration (RFC 7591): an application (an MCP client, say) registers itself for\n\
         #     /products and gets a client_id, and a token to manage its registration (RFC 7592)\n\
         curl -s {issuer}/oauth/register -H 'Content-Type: application/json' \
         -d '{{\"redirect_uris\":[\"http://127.0.0.1/callback\"],\"token_endpoint_auth_method\":\"none\",\"client_name\":\"My agent\"}}'\n\
         # 20. an MCP server behind {gateway}/mcp: an MCP client (the MCP Inspector, an AI agent) given that URL finds the\n\
         #     auth server in the metadata below, registers itself (step 19), signs you in with PKCE and calls its tools\n\
         #     whoami and list_products (docs/mcp.md); a client whose client_id is the https URL of its metadata document\n\
         #     needs no registration at all (client_id_metadata_document_supported, docs/clients.md)\n\
         curl -s {gateway}/.well-known/oauth-protected-resource/mcp\n\
         # 21. a server-rendered web app signing you in with the SDK's relying party (PKCE, state, nonce, iss, id token\n\
         #     checked; tokens kept server-side, only a session cookie in the browser): open http://{web_app} and sign in\n\
         curl -s http://{web_app}/ | grep -o 'Not signed in'\n\
         # 22. personal access tokens and API keys (pcl_pat_...): make one at {issuer}/account, or one for demo-service\n\
         #     with the admin API; shown once, the gateway takes it (introspected) as a bearer token or in X-API-Key,\n\
         #     within its scope, until revoked (the example services verify JWTs themselves, so try it with step 23)\n\
         KEY=$(curl -s -X POST http://{auth_admin}/admin/v1/clients/{SERVICE_CLIENT}/tokens -H \"Authorization: Bearer $TOKEN\" \
         -H 'Content-Type: application/json' -d '{{\"name\":\"walkthrough\",\"scope\":\"products:read\",\"expires_in_days\":1}}' \
         | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')\n\
         {forward_auth}\
         # 24. the gateway as the backend of a browser front end (session mode, docs/gateway.md): open {gateway}/users/me\n\
         #     in a browser: it signs you in (Code + PKCE), keeps the tokens itself and gives the browser one HttpOnly\n\
         #     cookie; {gateway}/_portcullis/logout ends it. A page load without a session is sent to sign in:\n\
         curl -si {gateway}/users/me -H 'Accept: text/html' | grep -i -E '^(HTTP|location)'\n\
         # 25. sign in through another identity provider (docs/federation.md): {issuer}/signin offers \"Sign in with\n\
         #     Example Corp SSO\" ({corp_sso}, user ada, the demo password); the first sign-in makes a local account ada\n\
         #     (role user, mapped from its claims) linked to the provider: see it on {issuer}/account\n\
         curl -s {issuer}/signin | grep -o 'Sign in with Example Corp SSO'\n\
         \nCtrl-C stops everything.",
        forward_auth = match stack.forward_auth {
            Some(address) => format!(
                "# 23. forward-auth: nginx auth_request, Traefik, Caddy or Envoy in front ask the gateway whether a request may pass\n\
                 #     (docs/forward-auth.md): 200 with the X-Portcullis-* identity headers (here demo-service's, by step 22's key),\n\
                 #     or the 401/403 the gateway would answer\n\
                 curl -si http://{address}/_portcullis/auth -H 'X-Original-URI: /products' -H 'X-Original-Method: GET' \
                 -H 'X-Forwarded-Host: 127.0.0.1' -H \"X-API-Key: $KEY\" | grep -i -E '^(HTTP|x-portcullis-(subject|scopes))'\n"
            ),
            None => String::new(),
        },
        register = if stack.registration_open {
            format!(
                "# 11. create an account, in a browser: {}/register (the verification link goes to the address)\n",
                stack.issuer
            )
        } else {
            "# 11. self-service accounts: start with [email] and registration.mode = \"open\" (docs/accounts.md),\n\
             #     e.g. PORTCULLIS_EMAIL_SMTP_HOST=... PORTCULLIS_EMAIL_FROM=... PORTCULLIS_REGISTRATION_MODE=open\n"
                .to_owned()
        },
        issuer = stack.issuer,
        web_app = stack.web_app,
        corp_sso = stack.corp_sso,
        login_admin = login(gateway, "testuser", "TOKEN"),
        auth_admin = stack.auth_admin,
        login_guest = login(gateway, "guest", "GUEST_TOKEN"),
    ));
    text
}
