//! Benchmark of the content app behind an RBAC content guard:
//!
//!   cargo bench -p depot --bench content_guard
//!
//! 64 concurrent clients fetch small stored files, anonymously from an unguarded
//! distribution and with Basic credentials through an RBAC guard (the user holds the
//! downloader role through a group). Authentication must cost little: the target is
//! authenticated >= 0.9 x anonymous. `DEPOT_BENCH_SECONDS` sets each run's length.

use depot_testkit::bench::throughput;
use depot_testkit::{DepotServer, Upstream, file_tree, write_manifest};
use reqwest::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_depot");

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds: u64 = std::env::var("DEPOT_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let fixture = tempfile::tempdir().unwrap();
    let files = file_tree(fixture.path(), 300, 1024, 8 * 1024, 5);
    write_manifest(fixture.path(), "PULP_MANIFEST", &files);
    let upstream = Upstream::start(fixture.path()).await;
    let data = tempfile::tempdir().unwrap();
    let depot = DepotServer::start_in(BIN, &data.path().join("data"), &[]).await;

    let remote = depot
        .create(
            "remotes/file/file/",
            json!({"name": "r", "url": upstream.url("PULP_MANIFEST")}),
        )
        .await;
    let repo = depot
        .create(
            "repositories/file/file/",
            json!({"name": "r", "remote": remote["pulp_href"]}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    depot
        .run_ok(Method::POST, &format!("{repo}sync/"), Some(json!({})))
        .await;
    let t = depot
        .run_ok(
            Method::POST,
            "publications/file/file/",
            Some(json!({"repository": repo})),
        )
        .await;
    let publication = t["created_resources"][0].clone();
    for (name, base) in [("open", "open"), ("guarded", "guarded")] {
        depot
            .run_ok(
                Method::POST,
                "distributions/file/file/",
                Some(json!({"name": name, "base_path": base, "publication": publication})),
            )
            .await;
    }
    depot
        .create(
            "users/",
            json!({"username": "ci", "password": "ci-password"}),
        )
        .await;
    let group = depot
        .create("groups/", json!({"name": "stackhpc-dev"}))
        .await;
    depot
        .create(
            &format!("{}users/", group["pulp_href"].as_str().unwrap()),
            json!({"username": "ci"}),
        )
        .await;
    let guard = depot
        .create("contentguards/core/rbac/", json!({"name": "development"}))
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = depot
        .call(
            Method::POST,
            &format!("{guard}add_role/"),
            Some(&json!({"role": "core.rbaccontentguard_downloader", "users": [], "groups": ["stackhpc-dev"]})),
        )
        .await;
    assert!(s.is_success());
    let dist = depot.get("distributions/file/file/?name=guarded").await;
    let href = dist["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, v) = depot
        .call(Method::PATCH, &href, Some(&json!({"content_guard": guard})))
        .await;
    depot.wait_task(v["task"].as_str().unwrap()).await;

    let urls = |base: &str| {
        files
            .iter()
            .map(|f| depot.content_url(&format!("{base}/{}", f.relative_path)))
            .collect::<Vec<_>>()
    };
    let creds = Some(("ci".to_string(), "ci-password".to_string()));
    // warm up both paths, then alternate to even out noise
    throughput(urls("open"), None, 64, 1).await;
    throughput(urls("guarded"), creds.clone(), 64, 1).await;
    let mut anon = Vec::new();
    let mut auth = Vec::new();
    for _ in 0..2 {
        anon.push(throughput(urls("open"), None, 64, seconds / 2).await.0);
        auth.push(
            throughput(urls("guarded"), creds.clone(), 64, seconds / 2)
                .await
                .0,
        );
    }
    let a = anon.iter().sum::<f64>() / anon.len() as f64;
    let b = auth.iter().sum::<f64>() / auth.len() as f64;
    let avg = files.iter().map(|f| f.size).sum::<u64>() / files.len() as u64;
    println!();
    println!(
        "content app, 64 clients, {} files of avg {avg} B, 2 cores",
        files.len()
    );
    println!("anonymous, unguarded:                  {a:>8.0} req/s  (runs: {anon:.0?})");
    println!("Basic auth through an RBAC guard:      {b:>8.0} req/s  (runs: {auth:.0?})");
    println!("authenticated / anonymous:             {:>8.2}", b / a);
}
