//! Shared helpers for the end-to-end tests.

use std::path::Path;

use depot_testkit::{DepotServer, FixtureFile, file_tree, write_manifest};
use reqwest::Method;
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_depot");

/// Write `count` files and their PULP_MANIFEST into `dir` (content depends on `seed`).
pub fn files_in(dir: &Path, count: usize, min: u64, max: u64, seed: u64) -> Vec<FixtureFile> {
    let files = file_tree(dir, count, min, max, seed);
    write_manifest(dir, "PULP_MANIFEST", &files);
    files
}

/// Create a file remote; returns its href.
pub async fn remote(depot: &DepotServer, name: &str, url: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "url": url});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let r = depot.create("remotes/file/file/", body).await;
    r["pulp_href"].as_str().unwrap().to_string()
}

/// Create a file repository with a remote; returns its href.
pub async fn repository(depot: &DepotServer, name: &str, remote: Option<&str>) -> String {
    let r = depot
        .create(
            "repositories/file/file/",
            json!({"name": name, "remote": remote}),
        )
        .await;
    r["pulp_href"].as_str().unwrap().to_string()
}

/// Sync and return the finished task (whatever its state).
pub async fn sync(depot: &DepotServer, repo: &str, body: Value) -> Value {
    depot
        .run_task(Method::POST, &format!("{repo}sync/"), Some(body))
        .await
}

/// Publish the latest version and distribute it at `base_path`; returns the publication href.
pub async fn publish_and_distribute(depot: &DepotServer, repo: &str, base_path: &str) -> String {
    let t = depot
        .run_ok(
            Method::POST,
            "publications/file/file/",
            Some(json!({"repository": repo})),
        )
        .await;
    let publication = t["created_resources"][0].as_str().unwrap().to_string();
    depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": base_path.replace('/', "-"), "base_path": base_path, "publication": publication})),
        )
        .await;
    publication
}

/// The latest version number of a repository.
pub async fn latest_version(depot: &DepotServer, repo: &str) -> i64 {
    let r = depot.get(repo).await;
    r["latest_version_href"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// A GET with the path exactly as given (no client-side normalisation): (status, body).
pub async fn raw_get(base: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}
