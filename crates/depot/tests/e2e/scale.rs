//! Several depot processes on one PostgreSQL database and one data directory: an API and
//! content process, and worker processes that share the task queue. Needs the PostgreSQL
//! server of `scripts/test` (DEPOT_TEST_POSTGRES); without it these tests fail, they do not
//! skip (the SQLite pass of `scripts/test` leaves them out).

use std::time::{Duration, Instant};

use depot_testkit::{DepotServer, Fault, Upstream, server::POSTGRES_ENV};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{BIN, files_in, remote, repository, sync, tempdir};

fn require_postgres() {
    assert!(
        std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty()),
        "these tests need PostgreSQL: set {POSTGRES_ENV} (scripts/test starts one)"
    );
}

/// An upstream of `count` files that each answer after `delay`.
async fn slow_upstream(dir: &std::path::Path, count: usize, seed: u64, delay: u64) -> Upstream {
    let files = files_in(dir, count, 1000, 3000, seed);
    let upstream = Upstream::start(dir).await;
    for f in &files {
        upstream.set_fault(&f.relative_path, Fault::Delay(Duration::from_millis(delay)));
    }
    upstream
}

/// The worker (process name) a task runs or ran on.
fn worker_of(depot: &DepotServer, task: &str) -> String {
    let id = task.trim_end_matches('/').rsplit('/').next().unwrap();
    depot.sql_row(&format!(
        "SELECT coalesce(worker, '') FROM tasks WHERE id = '{id}'"
    ))[0]
        .clone()
}

async fn start_sync(depot: &DepotServer, repo: &str) -> String {
    let (s, v) = depot
        .call(Method::POST, &format!("{repo}sync/"), Some(&json!({})))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    v["task"].as_str().unwrap().to_string()
}

async fn wait_state(depot: &DepotServer, task: &str, state: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let t = depot.get(task).await;
        if t["state"] == state {
            return t;
        }
        assert!(
            started.elapsed() < within,
            "task not {state} within {within:?}: {t}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_the_queue_and_a_killed_worker_is_recovered() {
    require_postgres();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    // the API and content app, which runs no task itself
    let api = DepotServer::start_in(BIN, &data, &["--role", "api,content"]).await;
    let w1 = DepotServer::start_in(BIN, &data, &["--role", "worker", "--workers", "1"]).await;
    let w2 = DepotServer::start_in(BIN, &data, &["--role", "worker", "--workers", "1"]).await;

    // each process is listed by what it does
    let status = api.get("status/").await;
    let names = |key: &str| -> Vec<String> {
        status[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["name"].as_str().unwrap().to_string())
            .collect()
    };
    let pid_in = |list: &[String], pid: u32| list.iter().any(|n| n.starts_with(&format!("{pid}@")));
    assert!(pid_in(&names("online_workers"), w1.pid()), "{status}");
    assert!(pid_in(&names("online_workers"), w2.pid()), "{status}");
    assert!(!pid_in(&names("online_workers"), api.pid()), "{status}");
    assert!(pid_in(&names("online_api_apps"), api.pid()), "{status}");
    assert!(!pid_in(&names("online_api_apps"), w1.pid()), "{status}");
    assert!(pid_in(&names("online_content_apps"), api.pid()), "{status}");
    // a worker process serves neither the API nor content
    let (s, _) = w1.call(Method::GET, "repositories/", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // four syncs of four repositories, spread over the two workers
    let mut tasks = Vec::new();
    let mut dirs = Vec::new();
    let mut upstreams = Vec::new();
    for i in 0..4 {
        let dir = tempdir();
        let up = slow_upstream(dir.path(), 6, 100 + i, 100).await;
        let r = remote(
            &api,
            &format!("r{i}"),
            &up.url("PULP_MANIFEST"),
            json!({"download_concurrency": 1}),
        )
        .await;
        let repo = repository(&api, &format!("repo{i}"), Some(&r)).await;
        tasks.push(start_sync(&api, &repo).await);
        dirs.push(dir);
        upstreams.push(up);
    }
    let mut ran_on = std::collections::HashSet::new();
    for t in &tasks {
        let done = api.wait_task(t).await;
        assert_eq!(done["state"], "completed", "{done}");
        ran_on.insert(worker_of(&api, t));
    }
    assert_eq!(ran_on.len(), 2, "the syncs ran on {ran_on:?}");

    // a slow sync, then the worker running it killed: the live one fails the task and
    // frees the repository
    let dir = tempdir();
    let up = slow_upstream(dir.path(), 40, 7, 200).await;
    let r = remote(
        &api,
        "slow",
        &up.url("PULP_MANIFEST"),
        json!({"download_concurrency": 1}),
    )
    .await;
    let repo = repository(&api, "slow", Some(&r)).await;
    let task = start_sync(&api, &repo).await;
    wait_state(&api, &task, "running", Duration::from_secs(20)).await;
    let victim_name = worker_of(&api, &task);
    let mut workers = [w1, w2];
    let victim = workers
        .iter()
        .position(|w| victim_name.starts_with(&format!("{}@", w.pid())))
        .unwrap_or_else(|| panic!("the sync runs on {victim_name:?}, not a worker of this test"));
    let killed_at = Instant::now();
    workers[victim].kill9();
    let survivor = &workers[1 - victim];
    let t = wait_state(&api, &task, "failed", Duration::from_secs(30)).await;
    let recovered_in = killed_at.elapsed();
    assert!(
        t["error"]["description"]
            .as_str()
            .unwrap()
            .contains("worker died"),
        "{t}"
    );
    // nothing half-made: no version, no staged units
    assert_eq!(
        api.get(&format!("{repo}versions/")).await["count"],
        1,
        "a killed sync left a version"
    );
    let id = task.trim_end_matches('/').rsplit('/').next().unwrap();
    assert_eq!(
        api.sql_row(&format!(
            "SELECT count(*) FROM sync_staging WHERE task_id = '{id}'"
        ))[0],
        "0"
    );

    // a task the survivor runs, canceled through the API process
    let busy_dir = tempdir();
    let busy_up = slow_upstream(busy_dir.path(), 30, 8, 200).await;
    let busy_r = remote(
        &api,
        "busy",
        &busy_up.url("PULP_MANIFEST"),
        json!({"download_concurrency": 1}),
    )
    .await;
    let busy_repo = repository(&api, "busy", Some(&busy_r)).await;
    let busy = start_sync(&api, &busy_repo).await;
    wait_state(&api, &busy, "running", Duration::from_secs(20)).await;
    assert!(worker_of(&api, &busy).starts_with(&format!("{}@", survivor.pid())));
    let (s, v) = api
        .call(Method::PATCH, &busy, Some(&json!({"state": "canceled"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    wait_state(&api, &busy, "canceled", Duration::from_secs(10)).await;

    // the repository is free again: a re-sync runs on the survivor and completes
    up.clear_faults();
    let again = sync(&api, &repo, json!({})).await;
    assert_eq!(again["state"], "completed", "{again}");
    assert!(
        worker_of(&api, again["pulp_href"].as_str().unwrap())
            .starts_with(&format!("{}@", survivor.pid()))
    );
    // a worker that hangs (stopped, so its pid lives on) is recognised by its silence
    let w3 = DepotServer::start_in(BIN, &data, &["--role", "worker", "--workers", "1"]).await;
    let hang_dir = tempdir();
    let hang_up = slow_upstream(hang_dir.path(), 40, 9, 300).await;
    let hang_r = remote(
        &api,
        "hang",
        &hang_up.url("PULP_MANIFEST"),
        json!({"download_concurrency": 1}),
    )
    .await;
    let hang_repo = repository(&api, "hang", Some(&hang_r)).await;
    let hung_task = start_sync(&api, &hang_repo).await;
    wait_state(&api, &hung_task, "running", Duration::from_secs(20)).await;
    let hung_name = worker_of(&api, &hung_task);
    let (hung, live) = if hung_name.starts_with(&format!("{}@", w3.pid())) {
        (&w3, survivor)
    } else {
        (survivor, &w3)
    };
    let signal = |sig: &str, pid: u32| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    signal("-STOP", hung.pid());
    let hung_at = Instant::now();
    let t = wait_state(&api, &hung_task, "failed", Duration::from_secs(30)).await;
    let silent_for = hung_at.elapsed();
    signal("-KILL", hung.pid());
    assert!(
        silent_for >= Duration::from_secs(15),
        "failed after {silent_for:?}, before the worker could be silent long enough: {t}"
    );
    hang_up.clear_faults();
    let again = sync(&api, &hang_repo, json!({})).await;
    assert_eq!(again["state"], "completed", "{again}");
    assert!(
        worker_of(&api, again["pulp_href"].as_str().unwrap())
            .starts_with(&format!("{}@", live.pid()))
    );

    // every stored blob matches its digest
    let out = depot_testkit::server::depot_command(BIN, &data)
        .args(["admin", "check", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // and the killed worker is no longer listed
    let status = api.get("status/").await;
    assert!(
        !status["online_workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == victim_name.as_str()),
        "{status}"
    );
    eprintln!(
        "killed worker's task failed after {recovered_in:?}, a hung worker's after {silent_for:?}"
    );
}

/// Poll `probe` until it returns `want`; how long that took.
async fn seen_within<F, Fut>(limit: Duration, want: u16, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let started = Instant::now();
    loop {
        let got = probe().await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "still {got} after {limit:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_through_one_process_are_seen_by_every_other_within_a_second() {
    require_postgres();
    use crate::access::{get_as, group_with, rbac_guard, user};
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let a = DepotServer::start_in(BIN, &data, &[]).await;
    let b = DepotServer::start_in(BIN, &data, &["--role", "api,content"]).await;

    let dir = tempdir();
    let files = files_in(dir.path(), 3, 100, 500, 31);
    let up = Upstream::start(dir.path()).await;
    let r = remote(&a, "r", &up.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(&a, "repo", Some(&r)).await;
    assert_eq!(sync(&a, &repo, json!({})).await["state"], "completed");
    crate::common::publish_and_distribute(&a, &repo, "dev").await;
    let path = format!("dev/{}", files[0].relative_path);
    user(&a, "ci", "ci-password-1").await;
    group_with(&a, "developers", &["ci"]).await;
    let guard = rbac_guard(&a, "development", &["developers"]).await;

    // b serves the unguarded distribution (and remembers it)
    assert_eq!(get_as(&b, &path, None).await, 200);
    assert_eq!(get_as(&b, &path, None).await, 200);

    // the guard set through a: b refuses anonymous readers within a second
    let dist = a.get("distributions/file/file/?name=dev").await["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    a.run_ok(Method::PATCH, &dist, Some(json!({"content_guard": guard})))
        .await;
    let guarded_in = seen_within(Duration::from_secs(1), 401, || get_as(&b, &path, None)).await;
    // the member reads through b (and b remembers the verified password)
    assert_eq!(get_as(&b, &path, Some(("ci", "ci-password-1"))).await, 200);
    assert_eq!(get_as(&b, &path, Some(("ci", "ci-password-1"))).await, 200);

    // a password change through a: b refuses the old one within a second
    let ci = a.get("users/?username=ci").await["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, v) = a
        .call(
            Method::PATCH,
            &ci,
            Some(&json!({"password": "ci-password-2"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let password_in = seen_within(Duration::from_secs(1), 401, || {
        get_as(&b, &path, Some(("ci", "ci-password-1")))
    })
    .await;
    assert_eq!(get_as(&b, &path, Some(("ci", "ci-password-2"))).await, 200);

    // the membership removed through a: b forbids the member within a second
    let group = a.get("groups/?name=developers").await["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let id = ci.trim_end_matches('/').rsplit('/').next().unwrap();
    let (s, v) = a
        .call(Method::DELETE, &format!("{group}users/{id}/"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let membership_in = seen_within(Duration::from_secs(1), 403, || {
        get_as(&b, &path, Some(("ci", "ci-password-2")))
    })
    .await;
    eprintln!(
        "seen by the other process after: guard {guarded_in:?}, password {password_in:?}, \
         membership {membership_in:?}"
    );
}

/// `depot admin migrate`: an embedded depot with history (two versions, a publication, a
/// guarded distribution, a user, a remote with a password) copied into PostgreSQL and the
/// suite's bucket, then served from there with the same bytes, guard, history and secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_depot_moves_to_postgres_and_s3_with_its_history() {
    require_postgres();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let up_dir = tempdir();
    let files = files_in(up_dir.path(), 6, 1000, 300_000, 77);
    let upstream = Upstream::start(up_dir.path()).await;
    upstream.require_basic_auth("mirror", "mirror-secret");

    let mut embedded = DepotServer::start_embedded(BIN, &data, &[]).await;
    let r = remote(
        &embedded,
        "up",
        &upstream.url("PULP_MANIFEST"),
        json!({"username": "mirror", "password": "mirror-secret"}),
    )
    .await;
    let repo = repository(&embedded, "kept", Some(&r)).await;
    assert_eq!(
        sync(&embedded, &repo, json!({})).await["state"],
        "completed"
    );
    crate::common::publish_and_distribute(&embedded, &repo, "kept/1").await;
    crate::access::user(&embedded, "reader", "reader-password").await;
    crate::access::group_with(&embedded, "readers", &["reader"]).await;
    let guard = crate::access::rbac_guard(&embedded, "readers", &["readers"]).await;
    let dist = embedded
        .get("distributions/file/file/?base_path=kept/1")
        .await["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    embedded
        .run_ok(Method::PATCH, &dist, Some(json!({"content_guard": guard})))
        .await;
    let fetch_all = |depot: &DepotServer| {
        let client = depot.http().clone();
        let urls: Vec<String> = files
            .iter()
            .map(|f| depot.content_url(&format!("kept/1/{}", f.relative_path)))
            .collect();
        async move {
            let mut out = Vec::new();
            for u in urls {
                let r = client
                    .get(&u)
                    .basic_auth("reader", Some("reader-password"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK, "{u}");
                out.push(depot_testkit::sha256_hex(&r.bytes().await.unwrap()));
            }
            out
        }
    };
    let before = fetch_all(&embedded).await;
    let want: Vec<String> = files.iter().map(|f| f.sha256.clone()).collect();
    assert_eq!(before, want);
    let counts = |d: &DepotServer| {
        d.sql_row(
            "SELECT (SELECT count(*) FROM repository_versions), (SELECT count(*) FROM artifacts), \
             (SELECT count(*) FROM content), (SELECT count(*) FROM tasks), \
             (SELECT count(*) FROM users)",
        )
    };
    let had = counts(&embedded);

    // refused while the server runs: the data directory is locked
    let database = depot_testkit::server::database_for(&data).unwrap();
    let blob_store = depot_testkit::server::blob_store_for(&data);
    let migrate = || {
        let mut cmd = depot_testkit::server::embedded_command(BIN);
        cmd.args(["admin", "migrate", "--data-dir"])
            .arg(&data)
            .args(["--to-database", &database]);
        if let Some(b) = &blob_store {
            cmd.args(["--to-blob-store", b])
                .args(["--s3-endpoint", &depot_testkit::server::s3_endpoint()])
                .args(["--s3-region", "garage"]);
        }
        cmd.output().unwrap()
    };
    let out = migrate();
    assert!(!out.status.success(), "migrate ran beside a server");
    embedded.stop().await;
    let out = migrate();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Copied"), "{stdout}");
    // a second run finds the target taken and changes nothing
    let again = migrate();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    if blob_store.is_some() {
        // the bytes now come from the bucket: the local copies are moved out of reach
        std::fs::rename(data.join("artifact"), tmp.path().join("artifact.old")).unwrap();
    }

    let moved = DepotServer::start_in(BIN, &data, &[]).await;
    assert_eq!(counts(&moved), had, "every row arrived");
    assert_eq!(fetch_all(&moved).await, want, "the same bytes are served");
    let anonymous = moved
        .http()
        .get(moved.content_url(&format!("kept/1/{}", files[0].relative_path)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        StatusCode::UNAUTHORIZED,
        "the guard came along"
    );
    assert_eq!(latest_version_of(&moved, &repo).await, 1);
    // the remote's password (encrypted with the data directory's key) still works, and new
    // rows take fresh ids after the copied ones
    std::fs::write(up_dir.path().join("late.txt"), b"added after the move").unwrap();
    let mut manifest = std::fs::read_to_string(up_dir.path().join("PULP_MANIFEST")).unwrap();
    manifest.push_str(&format!(
        "late.txt,{},{}\n",
        depot_testkit::sha256_hex(b"added after the move"),
        "added after the move".len()
    ));
    std::fs::write(up_dir.path().join("PULP_MANIFEST"), manifest).unwrap();
    assert_eq!(sync(&moved, &repo, json!({})).await["state"], "completed");
    assert_eq!(latest_version_of(&moved, &repo).await, 2);
    crate::access::user(&moved, "after", "after-password").await;
    let out = depot_testkit::server::depot_command(BIN, &data)
        .args(["admin", "check", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    // six files, the published PULP_MANIFEST and the late file
    assert!(stdout.contains("Checked 8 artifacts"), "{stdout}");
}

async fn latest_version_of(depot: &DepotServer, repo: &str) -> i64 {
    crate::common::latest_version(depot, repo).await
}

/// A task queued through a process that runs none starts on a worker process at once: the
/// database tells the workers (a trigger's NOTIFY), they do not wait for their next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_queued_elsewhere_starts_at_once() {
    require_postgres();
    let tmp = tempdir();
    let data = tmp.path().join("data");
    let api = DepotServer::start_in(BIN, &data, &["--role", "api,content"]).await;
    let _worker = DepotServer::start_in(BIN, &data, &["--role", "worker"]).await;
    let r = remote(&api, "r", "http://127.0.0.1:9/PULP_MANIFEST", json!({})).await;
    // the worker polls once a second: five tasks in a row each waiting less than 400 ms
    // by chance would be about a 1% event
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut waits = Vec::new();
    for i in 0..5 {
        let (s, v) = api
            .call(
                Method::PATCH,
                &r,
                Some(&json!({"download_concurrency": 2 + i})),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        let done = api.wait_task(v["task"].as_str().unwrap()).await;
        assert_eq!(done["state"], "completed", "{done}");
        let at = |k: &str| chrono::DateTime::parse_from_rfc3339(done[k].as_str().unwrap()).unwrap();
        waits.push((at("started_at") - at("pulp_created")).num_milliseconds());
        // let the next one come between two polls
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        waits.iter().all(|w| *w < 400),
        "milliseconds from queued to started: {waits:?}"
    );
}
