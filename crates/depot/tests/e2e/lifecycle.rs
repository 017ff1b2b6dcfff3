//! The process and its tasks: kill -9 and SIGTERM in the middle of a sync, cancellation,
//! one writer per repository, orphan cleanup, the integrity check, TLS.

use std::time::Duration;

use depot_testkit::{DepotServer, Fault, FixtureFile, Upstream, sha256_hex, tools};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{
    BIN, files_in, latest_version, publish_and_distribute, remote, repository, sync, tempdir,
};

/// An upstream whose every file answers slowly, so a sync takes a while.
async fn slow_upstream(
    dir: &std::path::Path,
    count: usize,
    seed: u64,
) -> (Upstream, Vec<FixtureFile>) {
    let files = files_in(dir, count, 1000, 5000, seed);
    let upstream = Upstream::start(dir).await;
    for f in &files {
        upstream.set_fault(&f.relative_path, Fault::Delay(Duration::from_millis(150)));
    }
    (upstream, files)
}

/// Start a sync and return its task href once it is running and downloading.
async fn start_slow_sync(depot: &DepotServer, repo: &str, upstream: &Upstream) -> String {
    let (s, v) = depot
        .call(Method::POST, &format!("{repo}sync/"), Some(&json!({})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let task = v["task"].as_str().unwrap().to_string();
    for _ in 0..400 {
        if upstream.total_hits() >= 4 {
            return task;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the sync did not start downloading");
}

fn tmp_is_empty(depot: &DepotServer) -> bool {
    depot.temp_files().is_empty()
}

async fn served_ok(depot: &DepotServer, base: &str, files: &[FixtureFile]) {
    for f in files {
        let (s, body) = depot.fetch(&format!("{base}/{}", f.relative_path)).await;
        assert_eq!(s, 200);
        assert_eq!(sha256_hex(&body), f.sha256);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_sync_leaves_nothing_half_made() {
    let mut depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let (upstream, files) = slow_upstream(dir.path(), 24, 21).await;
    let r = remote(
        &depot,
        "r",
        &upstream.url("PULP_MANIFEST"),
        json!({"download_concurrency": 2}),
    )
    .await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    let task = start_slow_sync(&depot, &repo, &upstream).await;

    depot.kill9();
    depot.restart().await;

    let t = depot.get(&task).await;
    assert_eq!(t["state"], "failed", "{t}");
    assert!(
        t["error"]["description"]
            .as_str()
            .unwrap()
            .contains("worker died"),
        "{t}"
    );
    assert_eq!(
        latest_version(&depot, &repo).await,
        0,
        "a killed sync left a version"
    );
    assert_eq!(depot.get(&format!("{repo}versions/")).await["count"], 1);
    assert!(
        tmp_is_empty(&depot),
        "partial downloads survived the restart"
    );

    upstream.clear_faults();
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(latest_version(&depot, &repo).await, 1);
    publish_and_distribute(&depot, &repo, "after-kill").await;
    served_ok(&depot, "after-kill", &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_the_task_can_run_again() {
    let mut depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let (upstream, files) = slow_upstream(dir.path(), 24, 22).await;
    let r = remote(
        &depot,
        "r",
        &upstream.url("PULP_MANIFEST"),
        json!({"download_concurrency": 1}),
    )
    .await;
    let repo = repository(&depot, "repo", Some(&r)).await;
    let task = start_slow_sync(&depot, &repo, &upstream).await;

    let started = std::time::Instant::now();
    let code = depot.stop().await;
    assert_eq!(code, Some(0), "depot did not exit cleanly on SIGTERM");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "shutdown took {:?}",
        started.elapsed()
    );

    depot.restart().await;
    let t = depot.get(&task).await;
    assert_eq!(t["state"], "failed", "{t}");
    assert!(
        t["error"]["description"]
            .as_str()
            .unwrap()
            .contains("stopped"),
        "{t}"
    );
    assert_eq!(latest_version(&depot, &repo).await, 0);
    upstream.clear_faults();
    assert_eq!(sync(&depot, &repo, json!({})).await["state"], "completed");
    publish_and_distribute(&depot, &repo, "after-term").await;
    served_ok(&depot, "after-term", &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_one_writer_per_repository() {
    let depot = DepotServer::start(BIN).await;
    let dir_a = tempdir();
    let dir_b = tempdir();
    let (up_a, _) = slow_upstream(dir_a.path(), 8, 23).await;
    let (up_b, _) = slow_upstream(dir_b.path(), 8, 24).await;
    let ra = remote(
        &depot,
        "ra",
        &up_a.url("PULP_MANIFEST"),
        json!({"download_concurrency": 4}),
    )
    .await;
    let rb = remote(
        &depot,
        "rb",
        &up_b.url("PULP_MANIFEST"),
        json!({"download_concurrency": 4}),
    )
    .await;
    let a = repository(&depot, "a", Some(&ra)).await;
    let b = repository(&depot, "b", Some(&rb)).await;

    // cancel a running sync: nothing is kept
    let task = start_slow_sync(&depot, &a, &up_a).await;
    let (s, v) = depot
        .call(Method::PATCH, &task, Some(&json!({"state": "canceled"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let t = depot.wait_task(&task).await;
    assert_eq!(t["state"], "canceled", "{t}");
    assert_eq!(latest_version(&depot, &a).await, 0);
    // canceling again is fine; any other state is refused
    let (s, _) = depot
        .call(Method::PATCH, &task, Some(&json!({"state": "canceled"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = depot
        .call(Method::PATCH, &task, Some(&json!({"state": "running"})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // two syncs of `a` run one after the other; the sync of `b` runs beside them
    let mut hrefs = Vec::new();
    for (repo, body) in [
        (&a, json!({})),
        (&a, json!({"mirror": true})),
        (&b, json!({})),
    ] {
        let (s, v) = depot
            .call(Method::POST, &format!("{repo}sync/"), Some(&body))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        hrefs.push(v["task"].as_str().unwrap().to_string());
    }
    let mut done = Vec::new();
    for h in &hrefs {
        let t = depot.wait_task(h).await;
        assert_eq!(t["state"], "completed", "{t}");
        done.push(t);
    }
    let time = |t: &Value, k: &str| t[k].as_str().unwrap().to_string();
    assert!(
        time(&done[0], "finished_at") <= time(&done[1], "started_at"),
        "two tasks wrote the same repository at once"
    );
    assert!(
        time(&done[2], "started_at") < time(&done[0], "finished_at"),
        "a task on another repository waited needlessly"
    );
    assert_eq!(
        done[0]["reserved_resources_record"][0],
        format!(
            "prn:file.filerepository:{}",
            a.trim_end_matches('/').rsplit('/').next().unwrap()
        )
    );
    // the task list filters by resource
    let listed = depot
        .get(&format!("tasks/?reserved_resources={a}&state=completed"))
        .await;
    assert_eq!(listed["count"], 2, "{listed}");
    // canceling a completed task is a conflict, and the task is returned unchanged
    let (s, v) = depot
        .call(
            Method::PATCH,
            &hrefs[0],
            Some(&json!({"state": "canceled"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["state"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_cleanup_and_integrity_check() {
    let mut depot = DepotServer::start(BIN).await;
    let dir = tempdir();
    let files = files_in(dir.path(), 5, 100, 1000, 25);
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "r", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let keep = repository(&depot, "keep", Some(&r)).await;
    sync(&depot, &keep, json!({})).await;

    // a second repository with its own content, then deleted: its content is orphaned
    let dir2 = tempdir();
    files_in(dir2.path(), 3, 100, 1000, 26);
    let up2 = Upstream::start(dir2.path()).await;
    let r2 = remote(&depot, "r2", &up2.url("PULP_MANIFEST"), json!({})).await;
    let gone = repository(&depot, "gone", Some(&r2)).await;
    sync(&depot, &gone, json!({})).await;
    assert_eq!(depot.get("artifacts/").await["count"], 8);
    depot.run_ok(Method::DELETE, &gone, None).await;
    // protected by default (orphans younger than a day stay)
    depot
        .run_ok(Method::POST, "orphans/cleanup/", Some(json!({})))
        .await;
    assert_eq!(depot.get("artifacts/").await["count"], 8);
    depot
        .run_ok(
            Method::POST,
            "orphans/cleanup/",
            Some(json!({"orphan_protection_time": 0})),
        )
        .await;
    assert_eq!(depot.get("artifacts/").await["count"], 5);
    assert_eq!(depot.get("content/file/files/").await["count"], 5);
    let blobs = depot_testkit::blobs::stored(&depot.data_dir).await;
    assert_eq!(blobs.len(), 5, "orphaned blobs were not deleted");

    // the integrity check passes, then finds a corrupted blob
    let check = |data: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            depot_testkit::server::depot_command(BIN, &data)
                .args(["admin", "check", "--data-dir"])
                .arg(&data)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let out = check(depot.data_dir.clone()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Checked 5 artifacts"));
    let victim = blobs[2].clone();
    let mut bytes = depot_testkit::blobs::read(&depot.data_dir, &victim).await;
    bytes[0] ^= 0x01;
    depot_testkit::blobs::overwrite(&depot.data_dir, &victim, bytes).await;
    let out = check(depot.data_dir.clone()).await;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("CORRUPT") && stdout.contains(&victim),
        "{stdout}"
    );
    assert!(stdout.contains("1 problem"), "{stdout}");

    // every file is still served from the kept repository except the corrupted one... which
    // the check reported; a healthy server on the same data keeps working
    depot.restart().await;
    publish_and_distribute(&depot, &keep, "kept").await;
    let intact: Vec<_> = files
        .iter()
        .filter(|f| f.sha256 != victim)
        .cloned()
        .collect();
    assert_eq!(intact.len(), 4);
    served_ok(&depot, "kept", &intact).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_probes_fail_fast_and_tls_works_when_configured() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let depot = DepotServer::start(BIN).await;
    // a TLS ClientHello's first bytes against the plain listener: an answer at once
    let addr = depot.url.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .await
    .unwrap();
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
        .await
        .expect("a TLS probe was left waiting")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 400"),
        "{buf:?}"
    );

    // with a certificate: HTTPS, and plain HTTP still answers on the same port
    let dir = tempdir();
    let (cert, key, ca) = test_certificates(dir.path());
    let data = dir.path().join("data");
    let tls = DepotServer::start_in(BIN, &data, &["--tls-cert", &cert, "--tls-key", &key]).await;
    assert!(tls.url.starts_with("https://"), "{}", tls.url);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .no_proxy()
        .build()
        .unwrap();
    let r = client
        .get(format!("{}/pulp/api/v3/status/", tls.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    assert!(
        status["content_settings"]["content_origin"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let plain = tls.url.replace("https://", "http://");
    let r = tls
        .http()
        .get(format!("{plain}/pulp/api/v3/livez/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "plain HTTP on the TLS port");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_upstream_needs_its_ca_or_no_validation() {
    // depot A serves files over TLS with a private CA; depot B syncs from it
    let dir = tempdir();
    let (cert, key, ca_path) = test_certificates(dir.path());
    let a = DepotServer::start_in(
        BIN,
        &dir.path().join("a"),
        &["--tls-cert", &cert, "--tls-key", &key],
    )
    .await;
    let files_dir = tempdir();
    let files = files_in(files_dir.path(), 3, 100, 1000, 27);
    let plain = Upstream::start(files_dir.path()).await;
    let ra = remote(&a, "src", &plain.url("PULP_MANIFEST"), json!({})).await;
    let repo_a = repository(&a, "src", Some(&ra)).await;
    sync(&a, &repo_a, json!({})).await;
    publish_and_distribute(&a, &repo_a, "exported").await;

    let b = DepotServer::start(BIN).await;
    let url = format!("{}/pulp/content/exported/PULP_MANIFEST", a.url);
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let untrusted = remote(&b, "untrusted", &url, json!({"max_retries": 0})).await;
    let trusted = remote(&b, "trusted", &url, json!({"ca_cert": ca})).await;
    let unchecked = remote(&b, "unchecked", &url, json!({"tls_validation": false})).await;
    let repo = repository(&b, "copy", None).await;

    let t = sync(&b, &repo, json!({"remote": untrusted})).await;
    assert_eq!(t["state"], "failed", "{t}");
    assert!(
        t["error"]["description"]
            .as_str()
            .unwrap()
            .contains("certificate"),
        "{t}"
    );
    for r in [trusted, unchecked] {
        let t = sync(&b, &repo, json!({"remote": r, "mirror": true})).await;
        assert_eq!(t["state"], "completed", "{t}");
    }
    publish_and_distribute(&b, &repo, "copy").await;
    served_ok(&b, "copy", &files).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reset_password() {
    let depot = DepotServer::start(BIN).await;
    let out = tokio::task::spawn_blocking({
        let data = depot.data_dir.clone();
        move || {
            depot_testkit::server::depot_command(BIN, &data)
                .args([
                    "admin",
                    "reset-password",
                    "--username",
                    "admin",
                    "--password",
                    "n3w-passw0rd",
                    "--data-dir",
                ])
                .arg(&data)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let get = |pw: &'static str| {
        depot
            .http()
            .get(depot.api("tasks/"))
            .basic_auth("admin", Some(pw))
            .send()
    };
    assert_eq!(get("n3w-passw0rd").await.unwrap().status(), 200);
    assert_eq!(
        get(depot_testkit::ADMIN_PASSWORD).await.unwrap().status(),
        401
    );
}

/// A private CA and a server certificate for 127.0.0.1 signed by it, made with openssl:
/// (certificate path, key path, CA certificate path).
pub(crate) fn test_certificates(dir: &std::path::Path) -> (String, String, String) {
    let openssl = tools::require("openssl", "OPENSSL");
    let p = |n: &str| dir.join(n).to_str().unwrap().to_string();
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=depot test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("req.csr"),
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &p("req.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("cert.pem"),
        ],
    ] {
        let out = std::process::Command::new(&openssl)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (p("cert.pem"), p("key.pem"), p("ca.pem"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_data_directory() {
    let depot = DepotServer::start(BIN).await;
    // a task the first server is running, whose staging a second server must not wipe
    let dir = tempdir();
    let (upstream, _) = slow_upstream(dir.path(), 12, 71).await;
    let remote = remote(
        &depot,
        "slow",
        &upstream.url("PULP_MANIFEST"),
        json!({"policy": "immediate", "download_concurrency": 1}),
    )
    .await;
    let repo = repository(&depot, "slow", Some(&remote)).await;
    let (s, v) = depot
        .call(
            reqwest::Method::POST,
            &format!("{repo}sync/"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let task = v["task"].as_str().unwrap().to_string();

    if depot_testkit::server::database_for(&depot.data_dir).is_some() {
        // on PostgreSQL processes share the database and the directory: a second one
        // starts beside the first, and its start recovers nothing of the live first one
        let second = DepotServer::start_in(BIN, &depot.data_dir, &[]).await;
        assert_eq!(
            depot.get(&task).await["state"],
            "running",
            "the second server's start touched the first one's task"
        );
        let status = second.get("status/").await;
        let workers: Vec<&str> = status["online_workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap())
            .collect();
        assert!(
            workers
                .iter()
                .any(|w| w.starts_with(&format!("{}@", depot.pid())))
                && workers
                    .iter()
                    .any(|w| w.starts_with(&format!("{}@", second.pid()))),
            "{status}"
        );
        let t = depot.wait_task(&task).await;
        assert_eq!(t["state"], "completed", "{t}");
        let out = depot_testkit::server::depot_command(BIN, &depot.data_dir)
            .args(["admin", "orphan-cleanup", "--data-dir"])
            .arg(&depot.data_dir)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("depot processes are running")
                && stderr.contains("pulp orphan cleanup"),
            "{stderr}"
        );
        return;
    }

    let second = tokio::task::spawn_blocking({
        let data = depot.data_dir.clone();
        move || {
            let started = std::time::Instant::now();
            let out = depot_testkit::server::depot_command(BIN, &data)
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(&data)
                .env("DEPOT_ADMIN_PASSWORD", "x")
                .output()
                .unwrap();
            (out, started.elapsed())
        }
    })
    .await
    .unwrap();
    let (out, took) = second;
    assert!(!out.status.success(), "a second server started");
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("another depot process (pid {})", depot.pid()))
            && stderr.contains("is using the data directory"),
        "{stderr}"
    );
    // the first server's sync was not touched and completes
    assert_eq!(
        depot.get(&task).await["state"],
        "running",
        "the sync should still run while the second server tries to start"
    );
    let t = depot.wait_task(&task).await;
    assert_eq!(t["state"], "completed", "{t}");

    // admin commands that delete what a running server uses refuse too, and say what to do
    let out = depot_testkit::server::depot_command(BIN, &depot.data_dir)
        .args(["admin", "orphan-cleanup", "--data-dir"])
        .arg(&depot.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pulp orphan cleanup"), "{stderr}");
}
