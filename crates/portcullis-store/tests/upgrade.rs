//! Upgrading a SQLite database that already holds data: migration 0011 rebuilds the clients table
//! (SQLite cannot change a CHECK constraint in place), and the clients and their users' consents
//! must come through it intact.

use sqlx::Row;
use sqlx::sqlite::SqlitePoolOptions;
use std::borrow::Cow;

#[tokio::test]
async fn the_clients_rebuild_keeps_clients_and_consents() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .after_connect(|connection, _| {
            Box::pin(async move {
                sqlx::Executor::execute(connection, "PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .expect("open");
    let all = sqlx::migrate!("migrations/sqlite");
    let mut before = sqlx::migrate!("migrations/sqlite");
    before.migrations = Cow::Owned(
        all.migrations
            .iter()
            .filter(|migration| migration.version < 11)
            .cloned()
            .collect(),
    );
    before.run(&pool).await.expect("migrations up to 0010");
    for statement in [
        "INSERT INTO users (id, username, username_key, password_hash, roles, created_at) \
         VALUES ('u1', 'alice', 'alice', 'x', '', 1)",
        "INSERT INTO clients (id, kind, secret_hash, grant_types, redirect_uris, scopes, \
         audiences, created_at) VALUES ('app', 'confidential', X'00', 'authorization_code', \
         'https://app.example/cb', 'openid', '', 1)",
        "INSERT INTO consents (user_id, client_id, scopes, granted_at) \
         VALUES ('u1', 'app', 'openid', 1)",
    ] {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .expect(statement);
    }
    all.run(&pool).await.expect("migration 0011");
    let consents: i64 = sqlx::query("SELECT COUNT(*) AS n FROM consents")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get("n");
    assert_eq!(consents, 1, "the consent survived the rebuild");
    let secret: Vec<u8> = sqlx::query("SELECT secret_hash FROM clients WHERE id = 'app'")
        .fetch_one(&pool)
        .await
        .expect("client")
        .get("secret_hash");
    assert_eq!(secret, vec![0]);
    sqlx::query("DELETE FROM clients WHERE id = 'app'")
        .execute(&pool)
        .await
        .expect("delete");
    let consents: i64 = sqlx::query("SELECT COUNT(*) AS n FROM consents")
        .fetch_one(&pool)
        .await
        .expect("count")
        .get("n");
    assert_eq!(consents, 0, "the rebuilt table still cascades to consents");
}
