//! The content app: headers, ranges, conditional requests, listings, path tricks, and
//! on-demand fetching (one upstream request for many clients, verified bytes, clean errors).

use std::time::Duration;

use depot_testkit::{DepotServer, Fault, Upstream, sha256_hex};
use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::common::{
    BIN, files_in, publish_and_distribute, raw_get, remote, repository, sync, tempdir,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_files_headers_ranges_and_listings() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 6, 2000, 20_000, 11);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "r", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    sync(&depot, &repo, json!({})).await;
    publish_and_distribute(&depot, &repo, "site/files").await;
    let f = &files[0];
    let url = depot.content_url(&format!("site/files/{}", f.relative_path));
    let http = depot.http();

    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], f.size.to_string());
    assert_eq!(r.headers()[header::ACCEPT_RANGES], "bytes");
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", f.sha256));
    let modified = r.headers()[header::LAST_MODIFIED]
        .to_str()
        .unwrap()
        .to_string();
    let body = r.bytes().await.unwrap();
    assert_eq!(sha256_hex(&body), f.sha256);

    // HEAD: same headers, no body
    let r = http.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_LENGTH], f.size.to_string());
    assert!(r.bytes().await.unwrap().is_empty());

    // ranges
    let r = http
        .get(&url)
        .header(header::RANGE, "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()[header::CONTENT_RANGE],
        format!("bytes 100-199/{}", f.size)
    );
    assert_eq!(r.bytes().await.unwrap(), body.slice(100..200));
    let r = http
        .get(&url)
        .header(header::RANGE, "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), body.slice(body.len() - 10..));
    let r = http
        .get(&url)
        .header(header::RANGE, format!("bytes={}-", f.size + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // conditional requests
    let r = http
        .get(&url)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = http
        .get(&url)
        .header(header::IF_MODIFIED_SINCE, &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // listings: content root, a path above the distribution, the distribution, a directory
    let (s, root) = depot.fetch("").await;
    assert_eq!(s, 200);
    assert!(
        String::from_utf8(root)
            .unwrap()
            .contains("<a href=\"./site/\">site/</a>")
    );
    let r = http.get(depot.content_url("site")).send().await.unwrap();
    assert_eq!(r.status(), 200, "redirects are followed to the slash form");
    assert!(r.url().as_str().ends_with("/pulp/content/site/"));
    let (s, page) = depot.fetch("site/files/").await;
    assert_eq!(s, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(
        page.contains("<a href=\"./PULP_MANIFEST\">PULP_MANIFEST</a>"),
        "{page}"
    );
    assert!(page.contains("<a href=\"./d00/\">d00/</a>"), "{page}");
    let (s, page) = depot.fetch("site/files/d00/").await;
    assert_eq!(s, 200);
    assert!(String::from_utf8(page).unwrap().contains("file-00000.bin"));

    // not found, and paths that try to escape
    assert_eq!(depot.fetch("site/files/nope.bin").await.0, 404);
    assert_eq!(depot.fetch("nothing-here/x").await.0, 404);
    // (sent raw: HTTP clients would normalise these away before sending)
    for bad in [
        "site/files/../files/d00/file-00000.bin",
        "site/files/%2e%2e/files/d00/",
        "site/files/a%00b",
        "site/files/..%2f..%2fetc",
        "site/files/d00%5c..%5c..",
        "site/files//d00/",
    ] {
        let (status, text) = raw_get(&depot.url, &format!("/pulp/content/{bad}")).await;
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(!text.contains("file-0"), "{bad} leaked a listing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_fetches_once_for_concurrent_clients() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 2, 300_000, 400_000, 12);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(
        &depot,
        "r",
        &upstream.url("PULP_MANIFEST"),
        json!({"policy": "on_demand"}),
    )
    .await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    sync(&depot, &repo, json!({})).await;
    assert_eq!(
        depot.get("artifacts/").await["count"],
        0,
        "on_demand sync downloaded files"
    );
    publish_and_distribute(&depot, &repo, "lazy").await;

    // slow upstream: the clients overlap for sure
    let f = files[0].clone();
    upstream.set_fault(&f.relative_path, Fault::Slow(Duration::from_millis(2)));
    let url = depot.content_url(&format!("lazy/{}", f.relative_path));
    let mut handles = Vec::new();
    for i in 0..8 {
        let http = depot.http().clone();
        let url = url.clone();
        handles.push(tokio::spawn(async move {
            let mut req = http.get(&url);
            if i % 2 == 1 {
                req = req.header(header::RANGE, "bytes=1000-1999");
            }
            let r = req.send().await.unwrap();
            (r.status(), r.bytes().await.unwrap())
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (i, h) in handles.into_iter().enumerate() {
        let (status, body) = h.await.unwrap();
        if i % 2 == 1 {
            assert_eq!(status, StatusCode::PARTIAL_CONTENT);
            assert_eq!(body.len(), 1000);
        } else {
            assert_eq!(status, 200);
            assert_eq!(sha256_hex(&body), f.sha256);
        }
    }
    assert_eq!(
        upstream.hits(&f.relative_path),
        1,
        "one upstream download for all clients"
    );
    // and it is stored now
    upstream.clear_faults();
    upstream.reset_hits();
    let (s, body) = depot.fetch(&format!("lazy/{}", f.relative_path)).await;
    assert_eq!(s, 200);
    assert_eq!(sha256_hex(&body), f.sha256);
    assert_eq!(upstream.total_hits(), 0);
    let content = depot
        .get(&format!(
            "content/file/files/?relative_path={}",
            f.relative_path
        ))
        .await;
    assert_eq!(content["results"][0]["sha256"], f.sha256.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_upstream_failures_never_look_like_success() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 3, 50_000, 60_000, 13);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(
        &depot,
        "r",
        &upstream.url("PULP_MANIFEST"),
        json!({"policy": "on_demand", "max_retries": 0}),
    )
    .await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    sync(&depot, &repo, json!({})).await;
    publish_and_distribute(&depot, &repo, "lazy").await;
    let artifacts_before = depot.get("artifacts/").await["count"].clone();
    let path = |f: &depot_testkit::FixtureFile| format!("lazy/{}", f.relative_path);

    // upstream error before any byte: a clean 502
    upstream.set_fault(&files[0].relative_path, Fault::Status(500));
    let (s, body) = depot.fetch(&path(&files[0])).await;
    assert_eq!(s, StatusCode::BAD_GATEWAY);
    assert!(String::from_utf8_lossy(&body).contains("upstream returned 500"));

    // different bytes than the sync recorded: the response never completes
    let mut evil = std::fs::read(dir.path().join(&files[1].relative_path)).unwrap();
    evil[10] ^= 0xff;
    upstream.set_fault(&files[1].relative_path, Fault::Replace(evil));
    let r = depot
        .http()
        .get(depot.content_url(&path(&files[1])))
        .send()
        .await
        .unwrap();
    let got = r.bytes().await;
    assert!(
        got.is_err() || got.unwrap().len() < files[1].size as usize,
        "a corrupt file was served whole"
    );

    // an upstream that cuts the connection
    upstream.set_fault(&files[2].relative_path, Fault::Truncate(1000));
    let r = depot
        .http()
        .get(depot.content_url(&path(&files[2])))
        .send()
        .await
        .unwrap();
    let got = r.bytes().await;
    assert!(got.is_err() || got.unwrap().len() < files[2].size as usize);

    // nothing bad was stored
    assert_eq!(depot.get("artifacts/").await["count"], artifacts_before);
    upstream.clear_faults();
    // the failed remote is skipped for a while (Pulp's cooldown), so a fresh remote repairs it
    let r2 = remote(
        &depot,
        "r2",
        &upstream.url("PULP_MANIFEST"),
        json!({"policy": "on_demand"}),
    )
    .await;
    depot
        .run_ok(
            Method::POST,
            &format!("{repo}sync/"),
            Some(json!({"remote": r2})),
        )
        .await;
    for f in &files {
        let (s, body) = depot.fetch(&path(f)).await;
        assert_eq!(s, 200);
        assert_eq!(sha256_hex(&body), f.sha256);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributions_serve_repositories_and_versions() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 2, 10, 100, 14);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "r", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    sync(&depot, &repo, json!({})).await;
    depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": "latest", "base_path": "latest", "repository": repo})),
        )
        .await;
    depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": "v1", "base_path": "pinned", "repository_version": format!("{repo}versions/1/")})),
        )
        .await;
    for base in ["latest", "pinned"] {
        let (s, body) = depot
            .fetch(&format!("{base}/{}", files[0].relative_path))
            .await;
        assert_eq!(s, 200, "{base}");
        assert_eq!(sha256_hex(&body), files[0].sha256);
    }
    // a new upstream file shows under "latest" after the next sync, not under "pinned"
    let extra = depot_testkit::write_bytes(dir.path(), "extra.txt", b"extra");
    let mut all = files.clone();
    all.push(extra);
    depot_testkit::write_manifest(dir.path(), "PULP_MANIFEST", &all);
    sync(&depot, &repo, json!({})).await;
    assert_eq!(depot.fetch("latest/extra.txt").await.0, 200);
    assert_eq!(depot.fetch("pinned/extra.txt").await.0, 404);
}
