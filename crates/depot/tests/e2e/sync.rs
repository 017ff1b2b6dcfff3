//! File sync through the REST API: mirror and additive semantics, the no-change fast path,
//! and every way upstream input can be bad (each must fail clearly and change nothing).

use depot_testkit::{DepotServer, Fault, Upstream, manifest_text, write_bytes};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{BIN, files_in, latest_version, remote, repository, sync, tempdir};

async fn artifact_count(depot: &DepotServer) -> i64 {
    depot.get("artifacts/?limit=1").await["count"]
        .as_i64()
        .unwrap()
}

fn error_of(task: &Value) -> String {
    task["error"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn additive_and_mirror_sync() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 5, 10, 5000, 1);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "r", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(&depot, "repo", Some(&r)).await;

    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(latest_version(&depot, &repo).await, 1);
    assert_eq!(t["result"]["number"], 1);
    assert_eq!(
        t["result"]["content_summary"]["added"]["file.file"]["count"],
        5
    );
    let codes: Vec<&str> = t["progress_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"sync.downloading.artifacts"), "{codes:?}");
    let details = &depot.get(&repo).await["last_sync_details"];
    assert_eq!(details["most_recent_version"], 1);
    assert_eq!(details["download_policy"], "immediate");

    // upstream drops one file, changes another in place, adds a new one
    let mut next: Vec<_> = files[1..].to_vec();
    next[0] = write_bytes(
        dir.path(),
        &next[0].relative_path.clone(),
        b"changed content",
    );
    next.push(write_bytes(dir.path(), "new/file.txt", b"a new file"));
    std::fs::write(dir.path().join("PULP_MANIFEST"), manifest_text(&next)).unwrap();

    // additive: the changed file replaces the old unit at its path, the dropped one stays
    let t = sync(&depot, &repo, json!({"mirror": false})).await;
    assert_eq!(t["state"], "completed", "{t}");
    let v2 = depot.get(&format!("{repo}versions/2/")).await;
    assert_eq!(
        v2["content_summary"]["present"]["file.file"]["count"], 6,
        "{v2}"
    );
    assert_eq!(v2["content_summary"]["added"]["file.file"]["count"], 2);
    assert_eq!(v2["content_summary"]["removed"]["file.file"]["count"], 1);

    // mirror: exactly the upstream's five
    let t = sync(&depot, &repo, json!({"mirror": true})).await;
    assert_eq!(t["state"], "completed", "{t}");
    let v3 = depot.get(&format!("{repo}versions/3/")).await;
    assert_eq!(
        v3["content_summary"]["present"]["file.file"]["count"], 5,
        "{v3}"
    );
    let listed = depot
        .get(&format!(
            "content/file/files/?repository_version={repo}versions/3/&limit=100"
        ))
        .await;
    let mut paths: Vec<String> = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["relative_path"].as_str().unwrap().to_string())
        .collect();
    paths.sort();
    let mut want: Vec<String> = next.iter().map(|f| f.relative_path.clone()).collect();
    want.sort();
    assert_eq!(paths, want);
    // a mirror sync publishes the upstream manifest verbatim
    assert_eq!(t["created_resources"].as_array().unwrap().len(), 2, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_upstream_is_skipped_and_makes_no_version() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    files_in(dir.path(), 20, 10, 2000, 2);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "r", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    assert_eq!(sync(&depot, &repo, json!({})).await["state"], "completed");

    upstream.reset_hits();
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(t["progress_reports"][1]["code"], "sync.was_skipped", "{t}");
    assert_eq!(t["created_resources"], json!([]));
    assert_eq!(upstream.total_hits(), 1, "only the manifest is fetched");
    assert_eq!(latest_version(&depot, &repo).await, 1);

    // without the optimisation the work is done, but still no new version
    let t = sync(&depot, &repo, json!({"optimize": false})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert!(t["result"].is_null());
    assert_eq!(latest_version(&depot, &repo).await, 1);

    // changing the remote invalidates the shortcut
    let (s, v) = depot
        .call(Method::PATCH, &r, Some(&json!({"download_concurrency": 3})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    depot.wait_task(v["task"].as_str().unwrap()).await;
    let t = sync(&depot, &repo, json!({})).await;
    let codes: Vec<&Value> = t["progress_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["code"])
        .collect();
    assert!(!codes.contains(&&json!("sync.was_skipped")), "{t}");
}

/// Sync a repository whose last good state is version 1, against a broken upstream; the
/// task must fail with `expect` in its description and the repository must be unchanged.
async fn broken_sync(depot: &DepotServer, repo: &str, artifacts_before: i64, expect: &str) {
    let t = sync(depot, repo, json!({})).await;
    assert_eq!(t["state"], "failed", "{t}");
    let e = error_of(&t);
    assert!(e.contains(expect), "error {e:?} should mention {expect:?}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(
        latest_version(depot, repo).await,
        1,
        "a failed sync made a version"
    );
    assert_eq!(
        artifact_count(depot).await,
        artifacts_before,
        "a failed sync stored artifacts"
    );
    // nothing half-written left behind
    let leftovers = depot.temp_files();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upstream_input_fails_clearly_and_changes_nothing() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let good = files_in(dir.path(), 3, 10, 1000, 3);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(
        &depot,
        "r",
        &upstream.url("PULP_MANIFEST"),
        json!({"max_retries": 1}),
    )
    .await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    assert_eq!(sync(&depot, &repo, json!({})).await["state"], "completed");
    let before = artifact_count(&depot).await;
    let manifest = |extra: &str| format!("{}{extra}", manifest_text(&good));
    let sha = "a".repeat(64);

    // malformed lines
    std::fs::write(
        dir.path().join("PULP_MANIFEST"),
        manifest("this line is not a manifest entry\n"),
    )
    .unwrap();
    broken_sync(&depot, &repo, before, "failed on line:4").await;
    std::fs::write(
        dir.path().join("PULP_MANIFEST"),
        manifest(&format!("x.bin,{sha},-5\n")),
    )
    .unwrap();
    broken_sync(&depot, &repo, before, "line:4").await;

    // paths that would escape
    for bad in ["../../etc/passwd", "/etc/passwd", "a/./b", "a\\b"] {
        std::fs::write(
            dir.path().join("PULP_MANIFEST"),
            manifest(&format!("{bad},{sha},4\n")),
        )
        .unwrap();
        broken_sync(&depot, &repo, before, "relative path").await;
    }

    // a new file whose bytes do not match the manifest's digest
    let f = write_bytes(dir.path(), "new.bin", b"twelve bytes");
    std::fs::write(
        dir.path().join("PULP_MANIFEST"),
        manifest(&format!("new.bin,{sha},{}\n", f.size)),
    )
    .unwrap();
    broken_sync(&depot, &repo, before, "sha256 checksum mismatch").await;
    // ... or its size
    std::fs::write(
        dir.path().join("PULP_MANIFEST"),
        manifest(&format!("new.bin,{},999\n", f.sha256)),
    )
    .unwrap();
    broken_sync(&depot, &repo, before, "size mismatch").await;

    // upstream errors
    std::fs::write(
        dir.path().join("PULP_MANIFEST"),
        manifest(&format!("new.bin,{},{}\n", f.sha256, f.size)),
    )
    .unwrap();
    upstream.reset_hits();
    upstream.set_fault("new.bin", Fault::Status(404));
    broken_sync(
        &depot,
        &repo,
        before,
        &format!("upstream returned 404 for {}", upstream.url("new.bin")),
    )
    .await;
    upstream.set_fault("new.bin", Fault::Status(500));
    broken_sync(&depot, &repo, before, "upstream returned 500").await;
    assert_eq!(
        upstream.hits("new.bin"),
        1 + 2,
        "404 is not retried; 500 is, max_retries times"
    );
    upstream.set_fault("new.bin", Fault::Truncate(3));
    broken_sync(&depot, &repo, before, "new.bin").await;
    upstream.set_fault("PULP_MANIFEST", Fault::Status(404));
    broken_sync(&depot, &repo, before, "upstream returned 404").await;
    upstream.clear_faults();

    // a timeout
    let (s, v) = depot
        .call(
            Method::PATCH,
            &r,
            Some(&json!({"total_timeout": 0.5, "max_retries": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    depot.wait_task(v["task"].as_str().unwrap()).await;
    upstream.set_fault("new.bin", Fault::Delay(std::time::Duration::from_secs(3)));
    broken_sync(&depot, &repo, before, "timed out").await;
    upstream.clear_faults();

    // and once upstream is fine again, the sync succeeds
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(latest_version(&depot, &repo).await, 2);
    let (status, body) = depot.fetch("none").await;
    assert_eq!(status, 404, "{body:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_400_and_change_nothing() {
    let depot = DepotServer::start(BIN).await;
    let up = "http://127.0.0.1:9/PULP_MANIFEST";
    remote(&depot, "r", up, json!({})).await;

    let cases = [
        (
            json!({"name": "r", "url": up}),
            json!({"name": ["This field must be unique."]}),
        ),
        (
            json!({"name": "x", "url": up, "bogus": 1}),
            json!({"bogus": ["Unexpected field"]}),
        ),
        (
            json!({"url": up}),
            json!({"name": ["This field is required."]}),
        ),
        (
            json!({"name": "x", "url": up, "policy": "sometimes"}),
            json!({"policy": ["\"sometimes\" is not a valid choice."]}),
        ),
        (
            json!({"name": "x", "url": up, "download_concurrency": 0}),
            json!({"download_concurrency": ["Ensure this value is greater than or equal to 1."]}),
        ),
        (
            json!({"name": "x", "url": "http://u:p@127.0.0.1/M"}),
            json!({"url": ["The remote url contains username or password. Please use remote username or password instead."]}),
        ),
    ];
    for (body, want) in cases {
        let (s, v) = depot
            .call(Method::POST, "remotes/file/file/", Some(&body))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(v, want, "{body}");
    }
    assert_eq!(depot.get("remotes/file/file/").await["count"], 1);

    // secrets are write-only
    let r = depot
        .create(
            "remotes/file/file/",
            json!({"name": "secret", "url": up, "password": "hunter2", "username": "u"}),
        )
        .await;
    assert!(!r.to_string().contains("hunter2"));
    let hidden: Vec<(String, bool)> = r["hidden_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap().to_string(),
                h["is_set"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(hidden.contains(&("password".into(), true)));
    assert!(hidden.contains(&("proxy_password".into(), false)));
    assert!(
        !depot.log_text().contains("hunter2"),
        "a secret reached the log"
    );

    // distributions: base paths may not nest
    let repo = repository(&depot, "repo", None).await;
    let dist =
        |name: &str, base: &str| json!({"name": name, "base_path": base, "repository": repo});
    depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(dist("a", "x/y")),
        )
        .await;
    for (name, base) in [("b", "x"), ("c", "x/y/z"), ("d", "x/y")] {
        let (s, v) = depot
            .call(
                Method::POST,
                "distributions/file/file/",
                Some(&dist(name, base)),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{base}: {v}");
        assert!(v["base_path"].is_array(), "{v}");
    }
    let (s, v) = depot
        .call(
            Method::POST,
            "distributions/file/file/",
            Some(&dist("e", "../x")),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = depot
        .call(
            Method::POST,
            "distributions/file/file/",
            Some(&dist("a", "other")),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(depot.get("distributions/file/file/").await["count"], 1);

    // a sync without any remote
    let (s, v) = depot
        .call(Method::POST, &format!("{repo}sync/"), Some(&json!({})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!({"remote": ["This field is required since a remote is not set on the repository."]})
    );

    // unknown ids and unknown filters
    let (s, _) = depot
        .call(
            Method::GET,
            "remotes/file/file/01a21390-070b-7f62-a502-5ee9a2e07735/",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = depot
        .call(Method::GET, "remotes/file/file/?colour=red", None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v, json!({"errors": ["Invalid Filter: 'colour'"]}));

    // without credentials, or with wrong ones
    let r = depot
        .http()
        .get(depot.api("remotes/file/file/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"api\"");
    let r = depot
        .http()
        .get(depot.api("remotes/file/file/"))
        .basic_auth("admin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_credentials_and_headers_are_sent() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    files_in(dir.path(), 3, 10, 100, 4);
    let upstream = Upstream::start(dir.path()).await;
    upstream.require_basic_auth("mirror", "s3cret");
    let r = remote(
        &depot,
        "r",
        &upstream.url("PULP_MANIFEST"),
        json!({"max_retries": 0}),
    )
    .await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "failed");
    assert!(error_of(&t).contains("401"), "{t}");

    let (s, v) = depot
        .call(
            Method::PATCH,
            &r,
            Some(
                &json!({"username": "mirror", "password": "s3cret", "headers": [{"X-Trace": "1"}]}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    depot.wait_task(v["task"].as_str().unwrap()).await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert!(!depot.log_text().contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modify_and_delete_versions() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    files_in(dir.path(), 4, 10, 100, 5);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "r", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    sync(&depot, &repo, json!({})).await;
    let units = depot.get("content/file/files/?limit=10").await;
    let hrefs: Vec<String> = units["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pulp_href"].as_str().unwrap().to_string())
        .collect();

    depot
        .run_ok(
            Method::POST,
            &format!("{repo}modify/"),
            Some(json!({"remove_content_units": [hrefs[0]]})),
        )
        .await;
    assert_eq!(latest_version(&depot, &repo).await, 2);
    let v2 = depot.get(&format!("{repo}versions/2/")).await;
    assert_eq!(v2["content_summary"]["present"]["file.file"]["count"], 3);
    // modifying from version 1 as base brings the unit back (and adds nothing else)
    depot
        .run_ok(
            Method::POST,
            &format!("{repo}modify/"),
            Some(json!({"base_version": format!("{repo}versions/1/"), "remove_content_units": []})),
        )
        .await;
    let v3 = depot.get(&format!("{repo}versions/3/")).await;
    assert_eq!(
        v3["content_summary"]["present"]["file.file"]["count"], 4,
        "{v3}"
    );
    assert_eq!(v3["base_version"], format!("{repo}versions/1/"));

    // deleting a middle version keeps every other version's content
    depot
        .run_ok(Method::DELETE, &format!("{repo}versions/2/"), None)
        .await;
    let v3 = depot.get(&format!("{repo}versions/3/")).await;
    assert_eq!(v3["content_summary"]["present"]["file.file"]["count"], 4);
    let v1 = depot.get(&format!("{repo}versions/1/")).await;
    assert_eq!(v1["content_summary"]["present"]["file.file"]["count"], 4);
    let (s, _) = depot
        .call(Method::GET, &format!("{repo}versions/2/"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // unknown content and "*" mixed with units are refused
    let (s, v) = depot
        .call(
            Method::POST,
            &format!("{repo}modify/"),
            Some(&json!({"add_content_units": ["/pulp/api/v3/content/file/files/01a21390-070b-7f62-a502-5ee9a2e07735/"]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _) = depot
        .call(
            Method::POST,
            &format!("{repo}modify/"),
            Some(&json!({"remove_content_units": ["*", hrefs[0]]})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // a version a distribution serves cannot be deleted
    depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": "d", "base_path": "d", "repository_version": format!("{repo}versions/1/")})),
        )
        .await;
    let (s, v) = depot
        .call(Method::DELETE, &format!("{repo}versions/1/"), None)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v[0].as_str()
            .unwrap()
            .contains("being used to distribute content")
    );

    // retention keeps the newest versions only
    let (s, v) = depot
        .call(
            Method::PATCH,
            &repo,
            Some(&json!({"retain_repo_versions": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    depot.wait_task(v["task"].as_str().unwrap()).await;
    let versions = depot.get(&format!("{repo}versions/")).await;
    let numbers: Vec<i64> = versions["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_i64().unwrap())
        .collect();
    assert_eq!(
        numbers,
        vec![3, 1],
        "version 1 is protected by the distribution"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopublish_publishes_every_new_version() {
    let depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 3, 10, 100, 6);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "r", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = depot
        .create(
            "repositories/file/file/",
            json!({"name": "auto", "remote": r, "autopublish": true, "manifest": "FILES"}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    let created: Vec<&str> = t["created_resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert_eq!(created.len(), 2, "{t}");
    assert!(created[0].ends_with("/versions/1/"));
    assert!(created[1].starts_with("/pulp/api/v3/publications/file/file/"));
    let publication = depot.get(created[1]).await;
    assert_eq!(publication["manifest"], "FILES");
    assert_eq!(publication["repository_version"], created[0]);
    depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": "auto", "base_path": "auto", "repository": repo})),
        )
        .await;
    let (s, body) = depot.fetch("auto/FILES").await;
    assert_eq!(s, 200);
    assert_eq!(
        String::from_utf8(body).unwrap().lines().count(),
        files.len()
    );
    // mirror syncs are refused on autopublished repositories
    let (s, v) = depot
        .call(
            Method::POST,
            &format!("{repo}sync/"),
            Some(&json!({"mirror": true})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!(["Cannot use mirror mode with autopublished repository."])
    );
}

/// Every file of the data directory, as bytes (database, WAL, blobs).
fn data_dir_bytes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_secrets_are_encrypted_at_rest_and_the_key_rotates() {
    const PASSWORD: &str = "upstream-Pa55word-7f3a";
    let mut depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    files_in(dir.path(), 3, 10, 100, 44);
    let upstream = Upstream::start(dir.path()).await;
    upstream.require_basic_auth("mirror", PASSWORD);
    let r = remote(
        &depot,
        "r",
        &upstream.url("PULP_MANIFEST"),
        json!({"username": "mirror", "password": PASSWORD, "proxy_url": null, "max_retries": 0}),
    )
    .await;
    let repo = repository(&depot, "one", Some(&r)).await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    // the password is nowhere on disk in the clear
    let key_file = depot.data_dir.join("secrets.key");
    for (path, bytes) in data_dir_bytes(&depot.data_dir) {
        assert!(
            !bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes()),
            "{} holds the password in the clear",
            path.display()
        );
    }
    let key_before = std::fs::read_to_string(&key_file).unwrap();

    let admin = |args: &[&str], data: &std::path::Path| {
        depot_testkit::server::depot_command(BIN, data)
            .arg("admin")
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .output()
            .unwrap()
    };
    // rotation needs the directory to itself
    let out = admin(&["rotate-key"], &depot.data_dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Stop the server"));
    depot.stop().await;
    let out = admin(&["rotate-key"], &depot.data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Re-encrypted the secrets of 1 remote"));
    let key_after = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(key_before, key_after);
    depot.restart().await;
    // a new repository on the same remote needs the credentials again: they decrypt
    let repo2 = repository(&depot, "two", Some(&r)).await;
    let t = sync(&depot, &repo2, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");

    // with the wrong key the failure says so, and nothing else breaks
    depot.stop().await;
    std::fs::write(&key_file, &key_before).unwrap();
    depot.restart().await;
    let listed = depot.get("remotes/file/file/").await;
    assert_eq!(listed["count"], 1);
    let repo3 = repository(&depot, "three", Some(&r)).await;
    let t = sync(&depot, &repo3, json!({})).await;
    assert_eq!(t["state"], "failed");
    let e = error_of(&t);
    assert!(e.contains("secrets") && e.contains("not in"), "{e}");
    assert!(!depot.log_text().contains(PASSWORD));
}
