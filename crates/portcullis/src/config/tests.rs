use super::env::{ENV_OVERRIDES, env_name};
use super::*;

fn load(toml: &str, env: &[(&str, &str)], flags: &FlagOverrides) -> anyhow::Result<Config> {
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::from_sources(toml, env, flags)
}

fn error_of(result: anyhow::Result<Config>) -> String {
    format!("{:#}", result.expect_err("an error"))
}

#[test]
fn defaults_are_valid_and_derive_the_issuer() {
    let config = load("", &[], &FlagOverrides::default()).expect("valid");
    assert_eq!(config.issuer(), "http://127.0.0.1:3000");
    assert_eq!(config.tokens.default_audience, "api://default");
    let tls = load(
        "[auth]\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]",
        &[],
        &FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(
        tls.issuer(),
        "https://127.0.0.1:3000",
        "TLS makes the default issuer https"
    );
    assert_eq!(
        config.database_path(),
        PathBuf::from("./portcullis-data/portcullis.db")
    );
    assert_eq!(config.tokens.access_token_lifetime_secs, 900);
    assert_eq!(config.access_token_algorithm().ok(), Some(Algorithm::Es256));
}

#[test]
fn flags_beat_environment_beats_file() {
    let file = "[auth]\nlisten = \"127.0.0.1:1000\"\nissuer = \"https://file.example\"\n";
    let env = [
        ("PORTCULLIS_AUTH_LISTEN", "127.0.0.1:2000"),
        ("PORTCULLIS_AUTH_ISSUER", "https://env.example"),
    ];
    let config = load(file, &env, &FlagOverrides::default()).expect("valid");
    assert_eq!(config.auth.listen.port(), 2000);
    assert_eq!(config.issuer(), "https://env.example");
    let flags = FlagOverrides {
        listen: Some("127.0.0.1:3000".parse().expect("addr")),
        admin_listen: Some("127.0.0.1:3999".parse().expect("addr")),
        issuer: Some("https://flag.example/".into()),
        data_dir: Some("/tmp/x".into()),
        gateway_listen: None,
        database_url: Some("postgres://flag@127.0.0.1/db".into()),
        redis_url: Some("redis://127.0.0.1:6379".into()),
    };
    let config = load(file, &env, &flags).expect("valid");
    assert_eq!(config.auth.listen.port(), 3000);
    assert_eq!(config.auth.admin_listen.port(), 3999);
    assert_eq!(
        config.database_url.as_ref().map(|url| url.expose()),
        Some("postgres://flag@127.0.0.1/db")
    );
    let redis = config.redis().expect("redis configured");
    assert_eq!(redis.url, "redis://127.0.0.1:6379");
    assert_eq!(redis.prefix, "portcullis");
    assert_eq!(
        config.issuer(),
        "https://flag.example",
        "trailing slash trimmed"
    );
    assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
}

#[test]
fn cluster_urls_come_from_the_environment_and_are_checked() {
    let env = [
        ("PORTCULLIS_DATABASE_URL", "postgres://env@127.0.0.1/db"),
        ("PORTCULLIS_REDIS_URL", "redis://127.0.0.1:1"),
        ("PORTCULLIS_REDIS_PREFIX", "blue"),
        ("PORTCULLIS_REDIS_CODES", "true"),
    ];
    let config = load("", &env, &FlagOverrides::default()).expect("valid");
    assert_eq!(
        config.database_url.as_ref().map(|url| url.expose()),
        Some("postgres://env@127.0.0.1/db")
    );
    assert_eq!(config.redis().expect("redis").prefix, "blue");
    assert!(config.redis_codes);
    let not_boolean = [("PORTCULLIS_REDIS_CODES", "yes")];
    assert!(
        error_of(load("", &not_boolean, &FlagOverrides::default()))
            .contains("PORTCULLIS_REDIS_CODES")
    );
    assert!(
        error_of(load("redis_codes = true", &[], &FlagOverrides::default())).contains("redis_url")
    );
    let sqlite_path = [("PORTCULLIS_DATABASE_URL", "/var/lib/portcullis.db")];
    assert!(error_of(load("", &sqlite_path, &FlagOverrides::default())).contains("database_url"));
    assert!(
        error_of(load(
            "redis_url = \"http://x\"",
            &[],
            &FlagOverrides::default()
        ))
        .contains("redis_url")
    );
    assert!(
        !format!("{:?}", config.database_url).contains("env@"),
        "database URLs may hold passwords; Debug must not print them"
    );
}

#[test]
fn a_redis_cluster_is_a_list_of_seed_nodes() {
    let env = [
        (
            "PORTCULLIS_REDIS_URL",
            "redis://127.0.0.1:7101,redis://127.0.0.1:7102",
        ),
        ("PORTCULLIS_REDIS_CLUSTER", "true"),
    ];
    let redis = load("", &env, &FlagOverrides::default())
        .expect("valid")
        .redis()
        .expect("redis");
    assert!(redis.cluster);
    assert_eq!(
        redis.nodes(),
        ["redis://127.0.0.1:7101", "redis://127.0.0.1:7102"]
    );
    let one_bad_seed = "redis_cluster = true\nredis_url = \"redis://127.0.0.1:7101,http://x\"";
    assert!(error_of(load(one_bad_seed, &[], &FlagOverrides::default())).contains("redis_url"));
    let list_without_cluster = "redis_url = \"redis://127.0.0.1:7101,redis://127.0.0.1:7102\"";
    assert!(
        load(list_without_cluster, &[], &FlagOverrides::default()).is_err(),
        "a list is only meaningful for a cluster"
    );
    assert!(
        error_of(load("redis_cluster = true", &[], &FlagOverrides::default()))
            .contains("redis_url")
    );
    let tls = "redis_url = \"rediss://127.0.0.1:6379\"";
    assert!(
        error_of(load(tls, &[], &FlagOverrides::default())).contains("not built in"),
        "TLS to Redis is refused at start, with the reason"
    );
}

#[test]
fn unknown_keys_are_named() {
    assert!(error_of(load("colour = 1", &[], &FlagOverrides::default())).contains("colour"));
    assert!(
        error_of(load(
            "[auth]\nlisten_port = 1",
            &[],
            &FlagOverrides::default()
        ))
        .contains("listen_port")
    );
    assert!(error_of(load("[tokenz]\n", &[], &FlagOverrides::default())).contains("tokenz"));
}

#[test]
fn bad_values_are_named() {
    let env_error = error_of(load(
        "",
        &[("PORTCULLIS_TOKENS_LEEWAY_SECS", "soon")],
        &FlagOverrides::default(),
    ));
    assert!(
        env_error.contains("PORTCULLIS_TOKENS_LEEWAY_SECS"),
        "{env_error}"
    );
    let cases = [
        ("version = 2", "version"),
        (
            "[keys]\naccess_token_algorithm = \"HS256\"",
            "access_token_algorithm",
        ),
        ("[keys]\nprepublish_secs = 10", "prepublish_secs"),
        (
            "[keys]\nkey_encryption_key = \"short\"",
            "key_encryption_key",
        ),
        (
            "[tokens]\naccess_token_lifetime_secs = 0",
            "access_token_lifetime_secs",
        ),
        ("[log]\nformat = \"xml\"", "log.format"),
        (
            "[auth]\nclient_cache_max_age_ms = 3600000",
            "auth.client_cache_max_age_ms must be at most 60000",
        ),
        (
            "[auth]\nsign_in_concurrency = 100000",
            "auth.sign_in_concurrency must be at most 1024",
        ),
        (
            "[gateway]\nupstream_max_connections = 0",
            "gateway.upstream_max_connections must be between 1 and 1000000",
        ),
        ("[auth]\nissuer = \"ftp://x\"", "issuer"),
        (
            "[auth]\ntls_cert_file = \"c.pem\"",
            "auth.tls_cert_file and auth.tls_key_file",
        ),
        (
            "[auth]\nissuer = \"http://x\"\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"",
            "must be https://",
        ),
        (
            "[auth]\ntrusted_proxies = [\"10.0.0.0/99\"]",
            "auth.trusted_proxies",
        ),
        (
            "[auth]\ndirect_login_origins = [\"https://app.example/path\"]",
            "direct_login_origins",
        ),
        (
            "[tokens]\ndefault_audience = \"\"",
            "tokens.default_audience",
        ),
        ("[auth]\nlisten = \"nowhere\"", "listen"),
        ("[passwords]\nargon2_iterations = 0", "passwords"),
        (
            "[sessions]\nidle_timeout_secs = 10",
            "sessions.idle_timeout_secs",
        ),
        (
            "[sessions]\nidle_timeout_secs = 7200\nabsolute_timeout_secs = 3600",
            "sessions.idle_timeout_secs",
        ),
        (
            "[tokens]\nrefresh_token_absolute_secs = 100",
            "refresh_token_sliding_secs",
        ),
        ("[auth]\nproduct_name = \"\"", "product_name"),
        (
            "[auth]\nhousekeeping_interval_secs = 0",
            "housekeeping_interval_secs",
        ),
        (
            "[auth]\npasskey_user_verification = \"discouraged\"",
            "passkey_user_verification",
        ),
    ];
    for (toml, named) in cases {
        let message = error_of(load(toml, &[], &FlagOverrides::default()));
        assert!(message.contains(named), "{toml}: {message}");
    }
}

#[test]
fn the_passkey_user_verification_policy_is_read_from_file_and_environment() {
    use portcullis_core::passkey::UserVerification;
    let flags = FlagOverrides::default();
    let default = load("", &[], &flags).expect("default");
    assert_eq!(
        default.auth.passkey_user_verification,
        UserVerification::Required
    );
    let file = load(
        "[auth]\npasskey_user_verification = \"preferred\"",
        &[],
        &flags,
    );
    assert_eq!(
        file.expect("file").auth.passkey_user_verification,
        UserVerification::Preferred
    );
    let env = load(
        "",
        &[("PORTCULLIS_AUTH_PASSKEY_USER_VERIFICATION", "preferred")],
        &flags,
    );
    assert_eq!(
        env.expect("env").auth.passkey_user_verification,
        UserVerification::Preferred
    );
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let kek = portcullis_jose::KeyEncryptionKey::generate()
        .expect("kek")
        .to_base64url();
    let config = load(
        "",
        &[("PORTCULLIS_KEYS_KEY_ENCRYPTION_KEY", kek.as_str())],
        &FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(
        config.keys.key_encryption_key.as_ref().map(Secret::expose),
        Some(kek.as_str())
    );
    assert!(!format!("{config:?}").contains(&kek));
}

#[test]
fn every_option_and_variable_is_documented() {
    let docs = include_str!("../../../../docs/configuration.md");
    for (path, _) in ENV_OVERRIDES {
        let key = path.last().copied().unwrap_or_default();
        assert!(
            docs.contains(&format!("`{key}`")),
            "docs/configuration.md lacks option `{key}`"
        );
        let name = env_name(path);
        assert!(docs.contains(&name), "docs/configuration.md lacks {name}");
    }
}

#[test]
fn the_deployment_guide_samples_are_valid_configurations() {
    let guide = include_str!("../../../../docs/deployment.md");
    let samples: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(sample, _)| sample))
        .collect();
    assert_eq!(samples.len(), 2, "an auth server and a gateway sample");
    for sample in samples {
        let config = load(sample, &[], &FlagOverrides::default())
            .unwrap_or_else(|error| panic!("{error:#}\n{sample}"));
        assert!(
            config.redis().is_some(),
            "both samples join the cluster's Redis"
        );
    }
}

#[test]
fn client_registration_never_offers_the_servers_own_powers() {
    let policy = |toml: &str| {
        let config = load(toml, &[], &FlagOverrides::default()).expect("valid file");
        config
            .client_registration
            .policy(&config.issuer())
            .map_err(|error| error.to_string())
    };
    assert!(policy("[client_registration]\nmode = \"open\"").is_ok());
    for (toml, complaint) in [
        (
            "[client_registration]\nmode = \"open\"\nscopes = [\"openid\", \"portcullis:admin\"]",
            "portcullis:admin",
        ),
        (
            "[client_registration]\nmode = \"open\"\naudiences = [\"http://127.0.0.1:3000\"]",
            "issuer",
        ),
        (
            "[client_registration]\nmode = \"open\"\ngrant_types = [\"client_credentials\"]",
            "client_credentials",
        ),
        ("[client_registration]\nmode = \"sometimes\"", "mode"),
        (
            "[client_registration]\nmetadata_documents = true\ngrant_types = [\"client_credentials\"]",
            "metadata documents",
        ),
        (
            "[client_registration]\nmetadata_documents = true\nmetadata_document_hosts = [\"Evil.example\"]",
            "metadata_document_hosts",
        ),
    ] {
        let error = policy(toml).expect_err(toml);
        assert!(error.contains(complaint), "{toml}: {error}");
    }
    assert!(
        policy("[client_registration]\nmode = \"token\"\ngrant_types = [\"client_credentials\"]")
            .is_ok(),
        "with an initial access token, clients without users may be allowed"
    );
}

const PROVIDERS: &str = r#"
[federation]
local_sign_in = false

[[federation.providers]]
id = "corp"
name = "Corp SSO"
issuer = "https://sso.corp.example"
client_id = "portcullis"
link_by_verified_email = true

[[federation.providers.roles]]
claim = "groups"
value = "admins"
role = "admin"

[[federation.providers]]
id = "hub"
name = "Hub"
protocol = "oauth2"
authorization_endpoint = "https://hub.example/login/oauth/authorize"
token_endpoint = "https://hub.example/login/oauth/access_token"
userinfo_endpoint = "https://api.hub.example/user"
client_id = "abc"
client_secret = "from-the-file"
subject_claim = "id"
username_claim = "login"
accounts = "existing"
"#;

#[test]
fn upstream_providers_are_read_with_secrets_from_the_environment() {
    let config = load(
        PROVIDERS,
        &[(
            "PORTCULLIS_FEDERATION_CORP_CLIENT_SECRET",
            "corp-secret-value",
        )],
        &FlagOverrides::default(),
    )
    .expect("valid");
    let settings = config.federation.settings().expect("settings");
    assert!(!settings.local_sign_in);
    let corp = &settings.providers[0];
    assert_eq!(corp.client_secret.as_deref(), Some("corp-secret-value"));
    assert_eq!(corp.scopes, "openid profile email");
    assert_eq!(corp.role_rules[0].role, "admin");
    assert!(corp.link_by_verified_email);
    let hub = &settings.providers[1];
    assert!(matches!(
        hub.protocol,
        portcullis_core::federation::ProviderProtocol::OAuth2 { .. }
    ));
    assert_eq!(hub.claims.subject, "id");
    assert_eq!(
        hub.accounts,
        portcullis_core::federation::AccountPolicy::ExistingOnly
    );
    let printed = format!("{config:?} {settings:?}");
    assert!(!printed.contains("corp-secret-value") && !printed.contains("from-the-file"));
}

#[test]
fn unusable_providers_are_refused_at_load() {
    let with = |from: &str, to: &str| {
        let text = PROVIDERS.replacen(from, to, 1);
        load(&text, &[], &FlagOverrides::default())
            .err()
            .map(|error| format!("{error:#}"))
            .unwrap_or_default()
    };
    assert!(with("id = \"hub\"", "id = \"corp\"").contains("used twice"));
    assert!(with("id = \"corp\"", "id = \"Corp/x\"").contains("a-z, 0-9"));
    assert!(with("issuer = \"https://sso.corp.example\"", "").contains("issuer: is required"));
    assert!(
        with("token_endpoint = \"https://", "token_endpoint = \"ftp://").contains("http(s) URL")
    );
    assert!(with("accounts = \"existing\"", "accounts = \"some\"").contains("create or existing"));
    let without_providers = load(
        "[federation]\nlocal_sign_in = false\n",
        &[],
        &FlagOverrides::default(),
    );
    assert!(without_providers.is_err(), "no way to sign in at all");
}
