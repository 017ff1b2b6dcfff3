//! The real pulp-cli (from PyPI) driving depot through the whole file workflow.

use std::path::{Path, PathBuf};

use depot_testkit::{DepotServer, sha256_hex, tools, write_file};
use serde_json::Value;

use crate::common::{BIN, files_in, tempdir};

pub struct Pulp {
    pub exe: PathBuf,
    pub url: String,
    pub home: tempfile::TempDir,
}

impl Pulp {
    /// Run one pulp-cli command; it must exit 0. Returns stdout parsed as JSON (Null if none).
    pub async fn ok(&self, args: &[&str]) -> Value {
        let (exe, url, home) = (
            self.exe.clone(),
            self.url.clone(),
            self.home.path().to_path_buf(),
        );
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let shown = args.join(" ");
        let (ok, out, err) = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            tools::pulp(&exe, &url, &home, &refs)
        })
        .await
        .unwrap();
        assert!(ok, "`pulp {shown}` failed\nstdout: {out}\nstderr: {err}");
        serde_json::from_str(&out).unwrap_or(Value::Null)
    }
}

async fn check_served(depot: &DepotServer, base: &str, files: &[depot_testkit::FixtureFile]) {
    for f in files {
        let (status, body) = depot.fetch(&format!("{base}/{}", f.relative_path)).await;
        assert_eq!(status, 200, "{base}/{}", f.relative_path);
        assert_eq!(
            sha256_hex(&body),
            f.sha256,
            "{base}/{} differs from upstream",
            f.relative_path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulp_cli_file_workflow_for_every_policy() {
    let exe = tools::require("pulp", "PULP_CLI");
    let depot = DepotServer::start(BIN).await;
    // one upstream directory per policy, with different content, so each policy's repository
    // really has to fetch its own files
    let up_dir = tempdir();
    let upstream = depot_testkit::Upstream::start(up_dir.path()).await;
    let pulp = Pulp {
        exe,
        url: depot.url.clone(),
        home: tempdir(),
    };

    let status = pulp.ok(&["status"]).await;
    assert_eq!(status["database_connection"]["connected"], true);

    let mut immediate_files = Vec::new();
    for (seed, policy) in ["immediate", "on_demand", "streamed"]
        .into_iter()
        .enumerate()
    {
        let files = files_in(&up_dir.path().join(policy), 12, 100, 300_000, seed as u64);
        let remote = format!("remote-{policy}");
        let repo = format!("repo-{policy}");
        pulp.ok(&[
            "file",
            "remote",
            "create",
            "--name",
            &remote,
            "--url",
            &upstream.url(&format!("{policy}/PULP_MANIFEST")),
            "--policy",
            policy,
        ])
        .await;
        pulp.ok(&[
            "file",
            "repository",
            "create",
            "--name",
            &repo,
            "--remote",
            &remote,
        ])
        .await;
        pulp.ok(&["file", "repository", "sync", "--name", &repo])
            .await;
        let publication = pulp
            .ok(&["file", "publication", "create", "--repository", &repo])
            .await;
        let href = publication["pulp_href"].as_str().expect("publication href");
        let base = format!("files/{policy}");
        let dist = pulp
            .ok(&[
                "file",
                "distribution",
                "create",
                "--name",
                &format!("dist-{policy}"),
                "--base-path",
                &base,
                "--publication",
                href,
            ])
            .await;
        assert_eq!(
            dist["base_url"],
            format!("{}/pulp/content/{base}/", depot.url)
        );

        upstream.reset_hits();
        check_served(&depot, &base, &files).await;
        let fetched = upstream.total_hits();
        match policy {
            // everything was downloaded during the sync
            "immediate" => assert_eq!(fetched, 0, "immediate content came from upstream"),
            _ => assert_eq!(
                fetched,
                files.len() as u64,
                "{policy}: one upstream fetch per file"
            ),
        }
        // a second round: on_demand content is stored now, streamed content is not
        upstream.reset_hits();
        check_served(&depot, &base, &files).await;
        let again = upstream.total_hits();
        match policy {
            "streamed" => assert_eq!(again, files.len() as u64),
            _ => assert_eq!(again, 0, "{policy} content was not kept"),
        }
        let (status, manifest) = depot.fetch(&format!("{base}/PULP_MANIFEST")).await;
        assert_eq!(status, 200);
        assert_eq!(
            String::from_utf8(manifest).unwrap().lines().count(),
            files.len()
        );
        if policy == "immediate" {
            immediate_files = files;
        }
    }

    let tasks = pulp.ok(&["task", "list", "--limit", "100"]).await;
    let tasks = tasks.as_array().expect("task list");
    let syncs: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["name"] == "pulp_file.app.tasks.synchronizing.synchronize")
        .collect();
    assert_eq!(syncs.len(), 3);
    assert!(syncs.iter().all(|t| t["state"] == "completed"));

    // direct upload into a repository
    let local = tempdir();
    let mut rng = depot_testkit::fixtures::Rng::new(7);
    let small = write_file(local.path(), "small.bin", 5_000, &mut rng);
    let content = pulp
        .ok(&[
            "file",
            "content",
            "upload",
            "--file",
            path_str(&local.path().join("small.bin")),
            "--relative-path",
            "uploads/small.bin",
            "--repository",
            "repo-immediate",
        ])
        .await;
    assert_eq!(content["sha256"], small.sha256);
    assert_eq!(content["relative_path"], "uploads/small.bin");

    // chunked upload (several PUTs with Content-Range), then the content create from it
    let big = write_file(local.path(), "big.bin", 2_500_000, &mut rng);
    let content = pulp
        .ok(&[
            "file",
            "content",
            "upload",
            "--file",
            path_str(&local.path().join("big.bin")),
            "--relative-path",
            "uploads/big.bin",
            "--chunk-size",
            "1MB",
            "--repository",
            "repo-immediate",
        ])
        .await;
    assert_eq!(content["sha256"], big.sha256);

    let versions = pulp
        .ok(&[
            "file",
            "repository",
            "version",
            "list",
            "--repository",
            "repo-immediate",
        ])
        .await;
    let versions = versions.as_array().expect("version list");
    let numbers: Vec<i64> = versions
        .iter()
        .map(|v| v["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 2, 1, 0]);
    assert_eq!(
        versions[0]["content_summary"]["present"]["file.file"]["count"],
        immediate_files.len() + 2
    );

    // a publication of the new version serves the uploaded files too
    let publication = pulp
        .ok(&[
            "file",
            "publication",
            "create",
            "--repository",
            "repo-immediate",
        ])
        .await;
    pulp.ok(&[
        "file",
        "distribution",
        "update",
        "--name",
        "dist-immediate",
        "--publication",
        publication["pulp_href"].as_str().unwrap(),
    ])
    .await;
    let (status, body) = depot.fetch("files/immediate/uploads/big.bin").await;
    assert_eq!(status, 200);
    assert_eq!(sha256_hex(&body), big.sha256);
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}
