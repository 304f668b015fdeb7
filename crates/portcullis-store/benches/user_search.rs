//! The admin API's user list at 100,000 users: a page by cursor and a prefix search are one
//! range scan of the username index, so they cost the same at any table size; the full list is
//! shown beside them for contrast. Target: a page of 50 in under 1 ms on SQLite.
//! Run: `cargo bench -p portcullis-store --bench user_search`
#![allow(clippy::expect_used)] // a benchmark whose setup fails should stop loudly

use criterion::{Criterion, criterion_group, criterion_main};
use portcullis_service::{UserSearch, UserStore};
use portcullis_store::SqlStore;

const USERS: usize = 100_000;
const PAGE: u32 = 50;

/// Creates the users in one transaction on a second connection (the store's own API commits
/// each user durably, which would take minutes here).
async fn seed(path: &std::path::Path) {
    use sqlx::Connection;
    let url = format!("sqlite://{}", path.display());
    let mut connection = sqlx::AnyConnection::connect(&url)
        .await
        .expect("benchmark setup");
    let mut transaction = connection.begin().await.expect("benchmark setup");
    for index in 0..USERS {
        let name = format!("user{index:06}");
        sqlx::query(
            "INSERT INTO users (id, username, username_key, roles, email, password_hash, created_at) \
             VALUES ($1, $2, $3, 'user', NULL, 'x', 0)",
        )
        .bind(format!("id-{index}"))
        .bind(&name)
        .bind(&name)
        .execute(&mut *transaction)
        .await
        .expect("benchmark setup");
    }
    transaction.commit().await.expect("benchmark setup");
}

fn user_search(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("benchmark setup");
    let dir = tempfile::tempdir().expect("benchmark setup");
    let path = dir.path().join("portcullis.db");
    let store = runtime
        .block_on(SqlStore::open_sqlite(&path))
        .expect("benchmark setup");
    runtime.block_on(seed(&path));
    let page = |prefix: Option<&str>, after: Option<&str>| UserSearch {
        prefix: prefix.map(str::to_owned),
        after: after.map(str::to_owned),
        limit: PAGE,
    };
    let middle = page(None, Some("user050000"));
    let found = runtime
        .block_on(store.search_users(&middle))
        .expect("search");
    assert_eq!(found.len(), PAGE as usize);
    assert_eq!(found[0].username.as_str(), "user050001");
    c.bench_function("user_search/100k/first_page", |b| {
        b.iter(|| runtime.block_on(store.search_users(&page(None, None))));
    });
    c.bench_function("user_search/100k/page_after_cursor", |b| {
        b.iter(|| runtime.block_on(store.search_users(&middle)));
    });
    c.bench_function("user_search/100k/prefix_search", |b| {
        b.iter(|| runtime.block_on(store.search_users(&page(Some("USER0999"), None))));
    });
    let mut group = c.benchmark_group("user_search/100k");
    group.sample_size(10);
    group.bench_function("full_list_for_contrast", |b| {
        b.iter(|| runtime.block_on(store.list_users()));
    });
    group.finish();
}

criterion_group!(benches, user_search);
criterion_main!(benches);
