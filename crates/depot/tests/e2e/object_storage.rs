//! Artifacts in an S3 bucket: clients sent to short-lived presigned URLs once the content
//! guard admitted them, and an embedded depot moved to PostgreSQL + S3 with its history.
//! On the embedded pass (no bucket) the same tests check that the S3-only options are
//! refused clearly.

use depot_testkit::rpm_fixtures::{DnfRepo, RepoOptions};
use depot_testkit::server::{blob_store_for, depot_command};
use depot_testkit::{DepotServer, sha256_hex};
use reqwest::StatusCode;
use serde_json::json;

use crate::access::{group_with, rbac_guard, user};
use crate::common::{BIN, sync, tempdir};
use crate::rpm::{RpmUpstream, dnf_installs, publish, rpm_remote, rpm_repository};

const READER: (&str, &str) = ("reader", "reader-password");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_artifacts_redirect_to_presigned_urls_after_the_guard() {
    let tmp = tempdir();
    let data = tmp.path().join("data");
    if blob_store_for(&data).is_none() {
        // local blobs have no URL of their own: the option is refused at start
        let out = depot_command(BIN, &data)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--redirect-to-object-storage",
            ])
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("needs an S3 blob store"), "{err}");
        return;
    }
    let depot = DepotServer::start_in(BIN, &data, &["--redirect-to-object-storage"]).await;
    let upstream = RpmUpstream::new(RepoOptions::full()).await;
    let remote = rpm_remote(&depot, "up", &upstream.url(), "immediate").await;
    let repo = rpm_repository(&depot, "redirected", &remote, json!({})).await;
    assert_eq!(sync(&depot, &repo, json!({})).await["state"], "completed");
    let base_url = publish(&depot, &repo, "redirected", json!({})).await;

    // dnf follows the redirects for metadata and packages alike
    let root = tempdir();
    dnf_installs(
        root.path(),
        &upstream.info,
        DnfRepo::baseurl("depot", &base_url),
    );

    // behind a guard: who may not read gets no URL
    user(&depot, READER.0, READER.1).await;
    group_with(&depot, "readers", &[READER.0]).await;
    let guard = rbac_guard(&depot, "readers", &["readers"]).await;
    let dist = depot.get("distributions/rpm/rpm/?name=redirected").await["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    let t = depot
        .run_ok(
            reqwest::Method::PATCH,
            &dist,
            Some(json!({"content_guard": guard})),
        )
        .await;
    assert_eq!(t["state"], "completed", "{t}");
    let pkg = upstream
        .info
        .packages
        .iter()
        .find(|p| p.name == "depot-tool")
        .unwrap();
    let url = format!("{base_url}Packages/d/{}", pkg.filename);
    let no_follow = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let anonymous = no_follow.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().get("location").is_none());
    let admitted = no_follow
        .get(&url)
        .basic_auth(READER.0, Some(READER.1))
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), StatusCode::FOUND);
    let location = admitted.headers()["location"].to_str().unwrap().to_string();
    let endpoint = depot_testkit::server::s3_endpoint();
    assert!(location.starts_with(&endpoint), "{location}");
    assert!(location.contains("X-Amz-Signature="), "{location}");
    assert!(location.contains("X-Amz-Expires=600"), "{location}");
    // the signature covers the object: another key with it is refused by the store
    let forged = location.replace(&pkg.sha256[2..], &"0".repeat(62));
    let r = no_follow.get(&forged).send().await.unwrap();
    let status = r.status();
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a forged URL is refused: {}",
        r.text().await.unwrap()
    );

    // curl follows the redirect and gets upstream's bytes
    let out = std::process::Command::new(depot_testkit::tools::require("curl", "CURL"))
        .args(["-sS", "-f", "-L", "--noproxy", "*", "-u"])
        .arg(format!("{}:{}", READER.0, READER.1))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_hex(&out.stdout), pkg.sha256);

    // dnf with the guard's credentials
    let root = tempdir();
    let mut repo = DnfRepo::baseurl("guarded", &base_url);
    repo.options = vec![
        ("username".into(), READER.0.into()),
        ("password".into(), READER.1.into()),
    ];
    dnf_installs(root.path(), &upstream.info, repo);
}
