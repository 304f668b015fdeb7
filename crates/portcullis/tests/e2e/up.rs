//! `portcullis up` end to end: the walkthrough it prints is run exactly as printed, so the
//! printed commands cannot drift from what works.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().expect("addr").port())
        .collect()
}

/// Starts `up` and returns it with everything it printed up to "Ctrl-C stops everything."
fn start_up(data: &std::path::Path, ports: &[u16]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["up", "--data-dir"])
        .arg(data)
        .args([
            "--auth-port",
            &ports[0].to_string(),
            "--gateway-port",
            &ports[1].to_string(),
            "--auth-admin-port",
            &ports[4].to_string(),
        ])
        .args([
            "--users-port",
            &ports[2].to_string(),
            "--products-port",
            &ports[3].to_string(),
            "--mcp-port",
            &ports[5].to_string(),
            "--web-app-port",
            &ports[6].to_string(),
            "--corp-sso-port",
            &ports[7].to_string(),
        ])
        .env_remove("PORTCULLIS_DEMO_PASSWORD")
        .env("PORTCULLIS_PASSWORDS_ARGON2_MEMORY_KIB", "1024")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn up");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut printed = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !printed.contains("Ctrl-C stops everything.") {
        assert!(
            Instant::now() < deadline,
            "up did not finish starting: {printed}"
        );
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            panic!("up exited early: {printed}");
        }
        printed.push_str(&line);
    }
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    (child, printed)
}

/// `portcullis login --device` against `up` at `issuer`: it prints the page and a code, the
/// demo user allows it in a browser, and the command stores tokens.
fn device_login(issuer: &str, password: &str, token_file: &std::path::Path) {
    let mut login = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["login", "--device", "--issuer", issuer, "--scope", "openid"])
        .env("PORTCULLIS_TOKEN_FILE", token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn login");
    let mut reader = BufReader::new(login.stdout.take().expect("stdout"));
    let mut first = String::new();
    reader.read_line(&mut first).expect("line");
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    assert!(
        first.starts_with(&format!("To sign in, open {issuer}/device ")),
        "{first}"
    );
    let code = first.trim().rsplit(' ').next().expect("code").to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (status, page) = runtime.block_on(super::device::decide_at(
        issuer,
        &super::browser::Browser::new(),
        ("testuser", password),
        &code,
        "allow",
    ));
    assert_eq!(status, 200, "{page}");
    let output = login.wait_with_output().expect("login");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stored = std::fs::read_to_string(token_file).expect("tokens stored");
    assert!(stored.contains("\"access_token\""), "{stored}");
}

fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    let status = child.wait().expect("exit");
    assert!(status.success(), "Ctrl-C stops cleanly: {status:?}");
}

#[test]
fn up_prints_a_walkthrough_that_works_verbatim() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let ports = free_ports(8);
    let (child, printed) = start_up(&data, &ports);
    let exports: Vec<&str> = printed
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("export "))
        .collect();
    assert_eq!(
        exports.len(),
        2,
        "the demo password and service secret are shown once: {printed}"
    );
    let commands: Vec<&str> = printed
        .split(super::e2e_up_marker())
        .nth(1)
        .expect("commands")
        .lines()
        .filter(|line| {
            !line.trim().is_empty() && !line.starts_with('#') && !line.starts_with("Ctrl-C")
        })
        .collect();
    assert!(commands.len() >= 7, "{printed}");
    let script = format!(
        "{}\n{}\n",
        exports.join("\n"),
        commands.join("\necho '---'\n")
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let steps: Vec<&str> = stdout.split("---").collect();
    assert!(
        steps[1].contains("HTTP/1.1 200")
            && steps[1].contains("Welcome, testuser! You are admin, user."),
        "step 2 greets the user by name: {stdout}"
    );
    assert!(steps[2].contains("HTTP/1.1 401"), "step 3: {stdout}");
    assert!(steps[4].contains("HTTP/1.1 403"), "step 4: {stdout}");
    assert!(steps[5].contains("\"access_token\""), "step 5: {stdout}");
    assert!(
        steps[6].contains("HTTP/1.1 200"),
        "step 6, the public endpoint: {stdout}"
    );
    assert!(
        steps[7].contains(r#""username":"guest""#) && steps[7].contains(r#""username":"testuser""#),
        "step 7, the admin API lists the users: {stdout}"
    );
    assert!(
        steps[8].contains(r#""name":"admin","scopes":["portcullis:admin","portcullis:audit"]"#),
        "step 8, the roles and their scopes: {stdout}"
    );
    assert!(
        steps[9].contains(r#""issued_token_type":"urn:ietf:params:oauth:token-type:access_token""#)
            && steps[9].contains(r#""scope":"products:read""#),
        "step 12, token exchange: {stdout}"
    );
    assert!(
        steps[10].contains("HTTP/1.1 401")
            && steps[10].contains("error=\"insufficient_user_authentication\"")
            && steps[10].contains("acr_values=\"urn:portcullis:acr:aal2\""),
        "step 13, step-up at the gateway: {stdout}"
    );
    let gateway = format!("http://127.0.0.1:{}", ports[1]);
    assert!(
        steps[11].contains(&format!(
            "resource_metadata=\"{gateway}/.well-known/oauth-protected-resource/products\""
        )),
        "step 16, the 401 names the metadata: {stdout}"
    );
    let metadata: serde_json::Value =
        serde_json::from_str(steps[12].trim()).expect("step 16: the metadata is JSON");
    assert_eq!(metadata["resource"], format!("{gateway}/products"));
    assert!(
        steps[13].contains(r#""request_uri":"urn:ietf:params:oauth:request_uri:"#)
            && steps[13].contains(r#""expires_in":90"#),
        "step 17, a pushed authorization request: {stdout}"
    );
    assert!(
        steps[14].contains(r#""verification_uri":"#) && steps[14].contains(r#""interval":5"#),
        "step 18, a device authorization request: {stdout}"
    );
    let registered: serde_json::Value =
        serde_json::from_str(steps[15].trim()).expect("step 19: the registration is JSON");
    assert!(
        registered["client_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("dyn-")),
        "step 19, a client registers itself: {stdout}"
    );
    assert_eq!(registered["client_name"], "My agent");
    let mcp: serde_json::Value =
        serde_json::from_str(steps[16].trim()).expect("step 20: the MCP metadata is JSON");
    assert_eq!(mcp["resource"], format!("{gateway}/mcp"));
    assert_eq!(
        mcp["scopes_supported"],
        serde_json::json!(["products:read", "offline_access"]),
        "step 20: what an MCP client asks for: {stdout}"
    );
    assert!(
        steps[17].contains("Not signed in"),
        "step 21: the web-app example answers: {stdout}"
    );
    assert!(
        steps[19].contains("HTTP/1.1 200")
            && steps[19].contains("x-portcullis-subject: demo-service")
            && steps[19].contains("x-portcullis-scopes: products:read"),
        "steps 22 and 23: demo-service's API key passes the forward-auth endpoint: {stdout}"
    );
    assert!(
        steps[20].contains("HTTP/1.1 303")
            && steps[20].contains(&format!(
                "location: http://127.0.0.1:{}/authorize?response_type=code&client_id=up-gateway-session",
                ports[0]
            )),
        "step 24: a page load without a session is sent to sign in: {stdout}"
    );
    assert!(
        steps[21].contains("Sign in with Example Corp SSO"),
        "step 25: the sign-in page offers the second identity provider: {stdout}"
    );
    let discovery = Command::new("curl")
        .args([
            "-s",
            &format!(
                "http://127.0.0.1:{}/.well-known/oauth-authorization-server",
                ports[0]
            ),
        ])
        .output()
        .expect("curl");
    let discovery: serde_json::Value =
        serde_json::from_slice(&discovery.stdout).expect("discovery JSON");
    assert_eq!(
        discovery["client_id_metadata_document_supported"], true,
        "up takes clients known by their metadata documents"
    );

    // `portcullis login --device` against up (RFC 8628): demo-cli may use the device grant.
    let password = exports
        .iter()
        .find_map(|line| line.strip_prefix("export PORTCULLIS_DEMO_PASSWORD="))
        .expect("the demo password")
        .trim_matches('\'');
    device_login(
        &format!("http://127.0.0.1:{}", ports[0]),
        password,
        &dir.path().join("tokens.json"),
    );
    assert_eq!(
        metadata["authorization_servers"],
        serde_json::json!([format!("http://127.0.0.1:{}", ports[0])])
    );

    // products-service behind the same gateway: reading needs products:read or a signed-in user,
    // writing needs the admin role and a valid body; /public needs nothing.
    let products = format!(
        "{exports}\n{login}\n{guest}\n         curl -s -o /dev/null -w '%{{http_code}}\\n' {gateway}/public/products\n         curl -s -o /dev/null -w '%{{http_code}}\\n' {gateway}/products -H \"Authorization: Bearer $TOKEN\"\n         curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST {gateway}/products -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"name\":\"Moat\",\"price_cents\":500}}'\n         curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST {gateway}/products -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"name\":\"\"}}'\n         curl -s -o /dev/null -w '%{{http_code}}\\n' -X POST {gateway}/products -H \"Authorization: Bearer $GUEST_TOKEN\" -H 'Content-Type: application/json' -d '{{\"name\":\"Moat\",\"price_cents\":500}}'\n         curl -s -o /dev/null -w '%{{http_code}}\\n' http://127.0.0.1:{users}/users/me -H 'X-Portcullis-Subject: admin' -H 'X-Portcullis-Roles: admin'\n",
        exports = exports.join("\n"),
        login = commands[0],
        guest = commands[3],
        users = ports[2],
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&products)
        .output()
        .expect("bash");
    let codes: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        codes,
        ["200", "200", "201", "422", "403", "401"],
        "public, read, create, invalid body, guest create, forged headers straight to a service"
    );
    stop(child);

    // A second start reuses the data and shows no secrets.
    let (child, again) = start_up(&data, &ports);
    assert!(!again.contains("export "), "{again}");
    for export in &exports {
        let secret = export.split('\'').nth(1).expect("quoted secret");
        assert!(!again.contains(secret), "secrets are never shown twice");
    }
    let script = format!("{}\n{}\n", exports.join("\n"), commands[..2].join("\n"));
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("HTTP/1.1 200"),
        "the data was kept"
    );
    stop(child);
}
