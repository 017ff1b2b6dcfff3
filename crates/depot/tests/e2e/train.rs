//! A whole release-train rehearsal with `depot train` on loopback: an "ark" depot syncs and
//! snapshots fixture upstreams (RPM and file), a pin file is promoted, and a "client" depot
//! mirrors the pinned snapshots on demand with customer credentials, dnf installing from it.

use std::path::Path;
use std::process::Output;

use depot_testkit::rpm_fixtures::{self as rf, DnfRepo, RepoOptions, create_repo};
use depot_testkit::{DepotServer, Upstream, server::ADMIN_PASSWORD};
use serde_json::Value;

use crate::access::{get_as, group_with, rbac_guard, user};
use crate::common::{BIN, files_in, tempdir};

/// Run `depot train <args>` in `dir` (where train.yml is) with `env`.
fn train(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("train").args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("DEPOT_URL")
        .env_remove("DEPOT_USERNAME")
        .env_remove("DEPOT_PASSWORD");
    cmd.output().expect("run depot train")
}

/// Run it with `--json`; it must succeed. Returns the outcome per short name.
fn train_json(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<(String, String, Value)> {
    let mut all = args.to_vec();
    all.push("--json");
    let out = train(dir, &all, env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "depot train {args:?} failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).expect("json output");
    v["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["short_name"].as_str().unwrap().to_string(),
                o["status"].as_str().unwrap().to_string(),
                o.clone(),
            )
        })
        .collect()
}

fn status_of<'a>(outcomes: &'a [(String, String, Value)], short: &str) -> &'a str {
    &outcomes.iter().find(|(s, _, _)| s == short).unwrap().1
}

fn write_config(
    dir: &Path,
    server: &str,
    upstream_rpm_a: &str,
    upstream_rpm_b: &str,
    upstream_file: &str,
) {
    std::fs::write(
        dir.join("train.yml"),
        format!(
            "server:\n  url: {server}\n  username: admin\n  password_env: TRAIN_PASSWORD\n\
             content_guards: {{development: development, release: release}}\n\
             defaults:\n  rpm: {{policy: immediate, sync_policy: mirror_complete}}\n\
             repository_files:\n  - repos.yml\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("repos.yml"),
        format!(
            "---\nrpm_package_repos:\n\
             \x20 - name: Fixture BaseOS\n    url: {upstream_rpm_a}\n    base_path: fixture/9/BaseOS/x86_64/os/\n\
             \x20   short_name: fixture_baseos\n    sync_group: fixture\n    distribution_name: fixture-baseos-\n\
             \x20 - name: Fixture Extras\n    url: {upstream_rpm_b}\n    policy: on_demand\n\
             \x20   sync_policy: mirror_content_only\n    base_path: fixture/9/extras/x86_64/os/\n\
             \x20   short_name: fixture_extras\n    sync_group: fixture\n    distribution_name: fixture-extras-\n\
             \x20 - name: Not synced\n    url: \"{{{{ some_template }}}}\"\n    base_path: unsynced/\n\
             \x20   short_name: unsynced\n    sync: false\n    publish: false\n    distribution_name: unsynced-\n\
             \x20 - name: Retired repository\n    sync: false\n    publish: false\n\
             rpm_package_repos_filtered: \"{{{{ rpm_package_repos | select_repos(filter) }}}}\"\n\
             file_repos:\n\
             \x20 - name: Fixture images\n    url: {upstream_file}\n    base_path: images/\n\
             \x20   short_name: images\n    sync_group: files\n    distribution_name: images-\n    mirror: true\n"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_train_rehearsal() {
    // upstreams: two RPM repositories and a file repository
    let up = tempdir();
    let rpms = rf::build_standard(&up.path().join("rpms"));
    let baseos = create_repo(&up.path().join("baseos"), &rpms, &RepoOptions::full());
    let extras_rpms: Vec<_> = rpms
        .iter()
        .filter(|p| p.to_string_lossy().contains("depot-lib"))
        .cloned()
        .collect();
    create_repo(
        &up.path().join("extras"),
        &extras_rpms,
        &RepoOptions::default(),
    );
    let files = files_in(&up.path().join("images"), 4, 100, 5000, 3);
    let upstream = Upstream::start(up.path()).await;

    // the ark: guards, a customer in the group that may read released snapshots
    let ark = DepotServer::start(BIN).await;
    user(&ark, "customer", "customer-pass").await;
    group_with(&ark, "stackhpc", &["customer"]).await;
    rbac_guard(&ark, "release", &["stackhpc"]).await;
    rbac_guard(&ark, "development", &[]).await;

    let conf = tempdir();
    write_config(
        conf.path(),
        &ark.url,
        &upstream.url("baseos/"),
        &upstream.url("extras/"),
        &upstream.url("images/PULP_MANIFEST"),
    );
    let env = [("TRAIN_PASSWORD", ADMIN_PASSWORD)];

    // a bad configuration fails clearly, naming file and entry
    let bad = tempdir();
    std::fs::copy(conf.path().join("train.yml"), bad.path().join("train.yml")).unwrap();
    std::fs::write(
        bad.path().join("repos.yml"),
        std::fs::read_to_string(conf.path().join("repos.yml"))
            .unwrap()
            .replace("base_path: images/", "base_path: images"),
    )
    .unwrap();
    let out = train(bad.path(), &["sync"], &env);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("repos.yml") && err.contains("images") && err.contains("base_path"),
        "{err}"
    );

    // night 1: sync and snapshot everything
    let synced = train_json(conf.path(), &["sync"], &env);
    for short in ["fixture_baseos", "fixture_extras", "images"] {
        assert_eq!(status_of(&synced, short), "synced", "{synced:?}");
    }
    assert_eq!(status_of(&synced, "unsynced"), "skipped");
    let night1 = [
        ("TRAIN_PASSWORD", ADMIN_PASSWORD),
        ("DEPOT_TRAIN_NOW", "20260101T010000"),
    ];
    let published = train_json(conf.path(), &["publish"], &night1);
    for short in ["fixture_baseos", "fixture_extras", "images"] {
        assert_eq!(status_of(&published, short), "published", "{published:?}");
    }

    // night 2: nothing changed upstream: no new snapshot
    let night2 = [
        ("TRAIN_PASSWORD", ADMIN_PASSWORD),
        ("DEPOT_TRAIN_NOW", "20260102T010000"),
    ];
    let synced = train_json(conf.path(), &["sync"], &night2);
    for short in ["fixture_baseos", "fixture_extras", "images"] {
        assert_eq!(status_of(&synced, short), "unchanged", "{synced:?}");
    }
    let published = train_json(conf.path(), &["publish"], &night2);
    for short in ["fixture_baseos", "fixture_extras", "images"] {
        assert_eq!(status_of(&published, short), "unchanged", "{published:?}");
    }
    for kind in ["rpm/rpm", "file/file"] {
        let dists = ark
            .get(&format!("distributions/{kind}/?name__contains=20260102"))
            .await;
        assert_eq!(dists["count"], 0, "{dists}");
    }

    // night 3: extras gains a package: exactly one new snapshot
    let mut more = extras_rpms.clone();
    more.extend(
        rpms.iter()
            .filter(|p| p.to_string_lossy().contains("depot-docs"))
            .cloned(),
    );
    create_repo(&up.path().join("extras"), &more, &RepoOptions::default());
    let night3 = [
        ("TRAIN_PASSWORD", ADMIN_PASSWORD),
        ("DEPOT_TRAIN_NOW", "20260103T010000"),
    ];
    let synced = train_json(conf.path(), &["sync", "--group", "fixture"], &night3);
    assert_eq!(status_of(&synced, "fixture_extras"), "synced", "{synced:?}");
    assert_eq!(
        status_of(&synced, "fixture_baseos"),
        "unchanged",
        "{synced:?}"
    );
    let published = train_json(conf.path(), &["publish"], &night3);
    let new: Vec<&str> = published
        .iter()
        .filter(|(_, s, _)| s == "published")
        .map(|(n, _, _)| n.as_str())
        .collect();
    assert_eq!(new, ["fixture_extras"], "{published:?}");

    // the pin file of the newest snapshots
    let out = train(conf.path(), &["versions"], &env);
    assert!(out.status.success(), "{out:?}");
    let pins = String::from_utf8(out.stdout).unwrap();
    assert!(
        pins.contains("stackhpc_pulp_repo_fixture_baseos_version: 20260101T010000"),
        "{pins}"
    );
    assert!(
        pins.contains("stackhpc_pulp_repo_fixture_extras_version: 20260103T010000"),
        "{pins}"
    );
    assert!(
        pins.contains("stackhpc_pulp_repo_images_version: 20260101T010000"),
        "{pins}"
    );
    let pin_file = conf.path().join("pulp-repo-versions.yml");
    std::fs::write(&pin_file, &pins).unwrap();

    // customers cannot read unpromoted snapshots
    let customer = Some(("customer", "customer-pass"));
    let baseos_snapshot = "fixture/9/BaseOS/x86_64/os/20260101T010000/repodata/repomd.xml";
    assert_eq!(get_as(&ark, baseos_snapshot, customer).await, 403);

    // a pin file naming an unknown repository changes nothing
    let bad_pins = conf.path().join("bad-pins.yml");
    std::fs::write(
        &bad_pins,
        format!("{pins}stackhpc_pulp_repo_nonexistent_version: 20260101T010000\n"),
    )
    .unwrap();
    let out = train(
        conf.path(),
        &["promote", "--versions", bad_pins.to_str().unwrap()],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nonexistent"),
        "{out:?}"
    );
    assert_eq!(get_as(&ark, baseos_snapshot, customer).await, 403);
    // --check changes nothing either
    let checked = train_json(
        conf.path(),
        &[
            "promote",
            "--versions",
            pin_file.to_str().unwrap(),
            "--check",
        ],
        &env,
    );
    assert!(
        checked.iter().all(|(_, s, _)| s == "would promote"),
        "{checked:?}"
    );
    assert_eq!(get_as(&ark, baseos_snapshot, customer).await, 403);
    let promoted = train_json(
        conf.path(),
        &["promote", "--versions", pin_file.to_str().unwrap()],
        &env,
    );
    assert!(
        promoted.iter().all(|(_, s, _)| s == "promoted"),
        "{promoted:?}"
    );
    assert_eq!(get_as(&ark, baseos_snapshot, customer).await, 200);
    // the older extras snapshot stays development-only
    assert_eq!(
        get_as(
            &ark,
            "fixture/9/extras/x86_64/os/20260101T010000/repodata/repomd.xml",
            customer
        )
        .await,
        403
    );

    // the client site mirrors the pinned snapshots on demand with the customer's credentials
    let client = DepotServer::start(BIN).await;
    let site = tempdir();
    write_config(
        site.path(),
        &client.url,
        &upstream.url("baseos/"),
        &upstream.url("extras/"),
        &upstream.url("images/PULP_MANIFEST"),
    );
    let site_env = [
        ("TRAIN_PASSWORD", ADMIN_PASSWORD),
        ("ARK_PASSWORD", "customer-pass"),
    ];
    let mirrored = train_json(
        site.path(),
        &[
            "mirror",
            "--upstream",
            &ark.url,
            "--upstream-username",
            "customer",
            "--versions",
            pin_file.to_str().unwrap(),
        ],
        &site_env,
    );
    assert!(
        mirrored.iter().all(|(_, s, _)| s == "mirrored"),
        "{mirrored:?}"
    );
    // nothing downloaded yet: on demand
    let stored = client.get("content/rpm/packages/?name=depot-tool").await;
    assert_eq!(stored["results"][0]["artifact"], Value::Null, "{stored}");
    let base_url = client.content_url("fixture/9/BaseOS/x86_64/os/production/");
    let root = tempdir();
    let repo = DnfRepo::baseurl("site", &base_url);
    let dest = root.path().join("dl");
    let out = rf::dnf(
        root.path(),
        &[repo],
        &[
            "install",
            "--downloadonly",
            "--destdir",
            dest.to_str().unwrap(),
            "depot-tool",
        ],
    );
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    let tool = baseos
        .packages
        .iter()
        .find(|p| p.name == "depot-tool")
        .unwrap();
    assert_eq!(
        rf::file_digest(&dest.join(&tool.filename), "sha256"),
        tool.sha256
    );
    // the bytes came through from the ark, and the client kept them
    let stored = client.get("content/rpm/packages/?name=depot-tool").await;
    assert!(stored["results"][0]["artifact"].is_string(), "{stored}");
    // the versioned path serves the same, the file repository too
    let (status, body) = client
        .fetch(&format!("images/development/{}", files[0].relative_path))
        .await;
    assert_eq!(status, 200);
    assert_eq!(depot_testkit::sha256_hex(&body), files[0].sha256);
    let versioned = client
        .fetch("fixture/9/extras/x86_64/os/20260103T010000/repodata/repomd.xml")
        .await;
    assert_eq!(versioned.0, 200);

    // a second mirror run with the same pins changes nothing
    let again = train_json(
        site.path(),
        &[
            "mirror",
            "--upstream",
            &ark.url,
            "--upstream-username",
            "customer",
            "--versions",
            pin_file.to_str().unwrap(),
        ],
        &site_env,
    );
    assert!(again.iter().all(|(_, s, _)| s == "unchanged"), "{again:?}");
}
