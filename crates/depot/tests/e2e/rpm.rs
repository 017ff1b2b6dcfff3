//! RPM repositories end to end: upstream repositories built with rpmbuild + createrepo_c,
//! served over loopback HTTP, synced by depot, published, and consumed by the real dnf.

use std::path::Path;

use depot_testkit::rpm_fixtures::{
    self as rf, DnfRepo, PackageLayout, RepoInfo, RepoOptions, build_standard, create_repo,
};
use depot_testkit::{DepotServer, Upstream};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{BIN, latest_version, sync, tempdir};

/// An upstream repository at `<root>/repo`, served over HTTP.
pub struct RpmUpstream {
    pub info: RepoInfo,
    pub server: Upstream,
    pub _dir: tempfile::TempDir,
}

impl RpmUpstream {
    pub async fn new(opts: RepoOptions) -> RpmUpstream {
        let dir = tempdir();
        let rpms = build_standard(&dir.path().join("rpms"));
        let info = create_repo(&dir.path().join("repo"), &rpms, &opts);
        let server = Upstream::start(dir.path()).await;
        RpmUpstream {
            info,
            server,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        self.server.url("repo/")
    }
}

pub async fn rpm_remote(depot: &DepotServer, name: &str, url: &str, policy: &str) -> String {
    let r = depot
        .create(
            "remotes/rpm/rpm/",
            json!({"name": name, "url": url, "policy": policy}),
        )
        .await;
    r["pulp_href"].as_str().unwrap().to_string()
}

pub async fn rpm_repository(depot: &DepotServer, name: &str, remote: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "remote": remote});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let r = depot.create("repositories/rpm/rpm/", body).await;
    r["pulp_href"].as_str().unwrap().to_string()
}

/// Publish the latest version (with `options`) and distribute it; returns the base URL.
pub async fn publish(depot: &DepotServer, repo: &str, base_path: &str, options: Value) -> String {
    let mut body = json!({"repository": repo});
    body.as_object_mut()
        .unwrap()
        .extend(options.as_object().cloned().unwrap_or_default());
    let t = depot
        .run_ok(Method::POST, "publications/rpm/rpm/", Some(body))
        .await;
    let publication = t["created_resources"][0].as_str().unwrap().to_string();
    distribute(depot, base_path, &publication).await
}

pub async fn distribute(depot: &DepotServer, base_path: &str, publication: &str) -> String {
    let t = depot
        .run_ok(
            Method::POST,
            "distributions/rpm/rpm/",
            Some(json!({"name": base_path, "base_path": base_path, "publication": publication})),
        )
        .await;
    let d = depot.get(t["created_resources"][0].as_str().unwrap()).await;
    d["base_url"].as_str().unwrap().to_string()
}

fn count(v: &Value) -> i64 {
    v["count"].as_i64().unwrap()
}

/// dnf resolves every upstream package from `url` and downloads `depot-tool` with its
/// dependency, checksums verified by dnf.
pub(crate) fn dnf_installs(root: &Path, upstream: &RepoInfo, repo: DnfRepo) {
    let mut got = rf::dnf_repoquery(root, repo.clone(), &[]);
    got.sort();
    let mut want: Vec<String> = upstream.packages.iter().map(|p| p.nevra()).collect();
    want.sort();
    assert_eq!(got, want, "dnf lists what upstream has");
    let dest = root.join("downloaded");
    let out = rf::dnf(
        root,
        &[repo],
        &[
            "install",
            "--downloadonly",
            "--destdir",
            dest.to_str().unwrap(),
            "depot-tool",
        ],
    );
    assert!(
        out.success,
        "dnf install failed: {}\n{}",
        out.stdout, out.stderr
    );
    let mut names: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for p in ["depot-tool", "depot-base"] {
        let pkg = upstream
            .packages
            .iter()
            .find(|x| x.name == p)
            .expect("upstream package");
        assert!(
            names.contains(&pkg.filename),
            "{names:?} lacks {}",
            pkg.filename
        );
        assert_eq!(
            rf::file_digest(&dest.join(&pkg.filename), "sha256"),
            pkg.sha256,
            "downloaded bytes are upstream's"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_publish_and_dnf_install() {
    let upstream = RpmUpstream::new(RepoOptions::full()).await;
    let depot = DepotServer::start(BIN).await;
    // on_demand first: content is shared, so after an immediate sync its packages are stored
    for policy in ["on_demand", "immediate"] {
        let remote = rpm_remote(&depot, policy, &upstream.url(), policy).await;
        let repo = rpm_repository(&depot, policy, &remote, json!({})).await;
        let t = sync(&depot, &repo, json!({})).await;
        assert_eq!(t["state"], "completed", "{t}");
        assert_eq!(latest_version(&depot, &repo).await, 1);
        let added = &t["result"]["content_summary"]["added"];
        assert_eq!(added["rpm.package"]["count"], upstream.info.packages.len());
        assert_eq!(
            added["rpm.advisory"]["count"],
            upstream.info.advisories.len()
        );
        assert_eq!(added["rpm.modulemd"]["count"], upstream.info.modules.len());
        assert_eq!(added["rpm.modulemd_defaults"]["count"], 1);
        assert_eq!(
            added["rpm.packagegroup"]["count"],
            upstream.info.groups.len()
        );

        let v = format!("{repo}versions/1/");
        let pkgs = depot
            .get(&format!(
                "content/rpm/packages/?repository_version={v}&name=depot-tool"
            ))
            .await;
        assert_eq!(count(&pkgs), 1, "{pkgs}");
        let tool = &pkgs["results"][0];
        let up = upstream
            .info
            .packages
            .iter()
            .find(|p| p.name == "depot-tool")
            .unwrap();
        assert_eq!(tool["epoch"], up.epoch.to_string());
        assert_eq!(tool["version"], up.version);
        assert_eq!(tool["pkgId"], up.pkgid);
        assert_eq!(
            tool["artifact"].is_string(),
            policy == "immediate",
            "{tool}"
        );
        let adv = depot
            .get(&format!(
                "content/rpm/advisories/?repository_version={v}&id={}",
                upstream.info.advisories[0].id
            ))
            .await;
        assert_eq!(count(&adv), 1, "{adv}");
        assert_eq!(adv["results"][0]["type"], upstream.info.advisories[0].kind);

        let base_url = publish(&depot, &repo, &format!("rpm-{policy}"), json!({})).await;
        let root = tempdir();
        dnf_installs(
            root.path(),
            &upstream.info,
            DnfRepo::baseurl("depot", &base_url),
        );
        // advisories, modules and groups reach dnf too
        let adv_id = &upstream.info.advisories[0].id;
        let by_advisory = rf::dnf_repoquery(
            root.path(),
            DnfRepo::baseurl("depot", &base_url),
            &["--advisory", adv_id],
        );
        assert!(!by_advisory.is_empty(), "dnf finds packages of {adv_id}");
        let modules = rf::dnf(
            root.path(),
            &[DnfRepo::baseurl("depot", &base_url)],
            &["module", "list"],
        );
        assert!(
            modules.stdout.contains(&upstream.info.modules[0].name),
            "{}",
            modules.stdout
        );
        let groups = rf::dnf(
            root.path(),
            &[DnfRepo::baseurl("depot", &base_url)],
            &["group", "list", "--ids"],
        );
        assert!(
            groups.stdout.contains(&upstream.info.groups[0]),
            "{}",
            groups.stdout
        );
        // config.repo points dnf at the distribution
        let config = reqwest::get(format!("{base_url}config.repo"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(config.contains(&format!("baseurl={base_url}")), "{config}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_checksum_and_compression_options() {
    let upstream = RpmUpstream::new(RepoOptions {
        layout: PackageLayout::Flat,
        compress: "xz".into(),
        checksum: "sha512".into(),
        ..Default::default()
    })
    .await;
    let depot = DepotServer::start(BIN).await;
    let remote = rpm_remote(&depot, "r", &upstream.url(), "immediate").await;
    let repo = rpm_repository(&depot, "r", &remote, json!({})).await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    for (i, (layout, checksum, compression, suffix)) in [
        ("flat", "sha384", "zstd", ".zst"),
        ("nested_alphabetically", "sha512", "none", ".xml"),
        ("nested_alphabetically", "sha256", "gz", ".gz"),
    ]
    .into_iter()
    .enumerate()
    {
        let base_url = publish(
            &depot,
            &repo,
            &format!("opts-{i}"),
            json!({"layout": layout, "checksum_type": checksum, "compression_type": compression}),
        )
        .await;
        let repomd = reqwest::get(format!("{base_url}repodata/repomd.xml"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let records = rf::parse_repomd(&repomd);
        let primary = records.iter().find(|r| r.kind == "primary").unwrap();
        assert!(primary.location_href.ends_with(suffix), "{repomd}");
        assert_eq!(primary.checksum_type, checksum, "{repomd}");
        let tool = upstream
            .info
            .packages
            .iter()
            .find(|p| p.name == "depot-tool")
            .unwrap();
        let where_ = if layout == "flat" {
            tool.filename.clone()
        } else {
            format!("Packages/d/{}", tool.filename)
        };
        let r = reqwest::get(format!("{base_url}{where_}")).await.unwrap();
        assert_eq!(r.status(), 200, "{where_}");
        let root = tempdir();
        dnf_installs(
            root.path(),
            &upstream.info,
            DnfRepo::baseurl("depot", &base_url),
        );
    }
}

fn progress_codes(task: &Value) -> Vec<String> {
    task["progress_reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_string())
        .collect()
}

fn error_of(task: &Value) -> String {
    task["error"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn fetch_bytes(url: &str) -> (u16, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_complete_serves_upstream_metadata_verbatim() {
    let upstream = RpmUpstream::new(RepoOptions::full()).await;
    let depot = DepotServer::start(BIN).await;
    let remote = rpm_remote(&depot, "m", &upstream.url(), "on_demand").await;
    let repo = rpm_repository(&depot, "m", &remote, json!({})).await;
    let t = sync(&depot, &repo, json!({"sync_policy": "mirror_complete"})).await;
    assert_eq!(t["state"], "completed", "{t}");
    let publication = t["created_resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|h| h.contains("/publications/rpm/rpm/"))
        .expect("mirror_complete creates a publication")
        .to_string();
    let base_url = distribute(&depot, "mirror", &publication).await;
    for file in [
        "repodata/repomd.xml",
        "repodata/repomd.xml.asc",
        "repodata/repomd.xml.key",
    ] {
        let (status, got) = fetch_bytes(&format!("{base_url}{file}")).await;
        assert_eq!(status, 200, "{file}");
        let want = std::fs::read(upstream.info.dir.join(file)).unwrap();
        assert!(got == want, "{file} is not upstream's, byte for byte");
    }
    for r in upstream.info.records() {
        let (status, got) = fetch_bytes(&format!("{base_url}{}", r.location_href)).await;
        assert_eq!(status, 200, "{}", r.location_href);
        assert_eq!(
            got,
            std::fs::read(upstream.info.dir.join(&r.location_href)).unwrap()
        );
    }
    // dnf verifies the upstream signature with the upstream key, served by depot
    let mut repo_cfg = DnfRepo::baseurl("mirror", &base_url);
    repo_cfg.repo_gpgcheck = true;
    repo_cfg.gpgkey = Some(format!("{base_url}repodata/repomd.xml.key"));
    let root = tempdir();
    dnf_installs(root.path(), &upstream.info, repo_cfg);

    // unchanged upstream: the next sync is skipped
    let again = sync(&depot, &repo, json!({"sync_policy": "mirror_complete"})).await;
    assert_eq!(again["state"], "completed", "{again}");
    assert!(
        progress_codes(&again).contains(&"sync.was_skipped".to_string()),
        "{again}"
    );
    assert_eq!(latest_version(&depot, &repo).await, 1);
    // a different policy is a different sync
    let other = sync(&depot, &repo, json!({"sync_policy": "mirror_content_only"})).await;
    assert_eq!(other["state"], "completed", "{other}");
    assert!(!progress_codes(&other).contains(&"sync.was_skipped".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_complete_refuses_what_it_cannot_mirror() {
    let depot = DepotServer::start(BIN).await;
    let cases = [
        (
            "xml-base",
            RepoOptions {
                xml_base: Some("http://127.0.0.1:9/elsewhere/".into()),
                ..Default::default()
            },
            "xml:base",
        ),
        (
            "outside",
            RepoOptions {
                layout: PackageLayout::Outside("pool".into()),
                ..Default::default()
            },
            "../",
        ),
    ];
    for (name, opts, cause) in cases {
        let upstream = RpmUpstream::new(opts).await;
        let remote = rpm_remote(&depot, name, &upstream.url(), "immediate").await;
        let repo = rpm_repository(&depot, name, &remote, json!({})).await;
        let t = sync(&depot, &repo, json!({"sync_policy": "mirror_complete"})).await;
        assert_eq!(t["state"], "failed", "{t}");
        let e = error_of(&t);
        assert!(e.contains("mirror_complete") && e.contains(cause), "{e}");
        assert_eq!(
            latest_version(&depot, &repo).await,
            0,
            "nothing was committed"
        );
        if name == "outside" {
            // the same repository syncs fine when metadata is regenerated
            let t = sync(&depot, &repo, json!({"sync_policy": "mirror_content_only"})).await;
            assert_eq!(t["state"], "completed", "{t}");
            let base_url = publish(&depot, &repo, name, json!({})).await;
            let root = tempdir();
            dnf_installs(
                root.path(),
                &upstream.info,
                DnfRepo::baseurl("depot", &base_url),
            );
        }
    }
    // delta RPM metadata
    let upstream = RpmUpstream::new(RepoOptions::default()).await;
    let delta = upstream.info.dir.join("prestodelta.xml");
    std::fs::write(&delta, "<?xml version=\"1.0\"?>\n<prestodelta/>\n").unwrap();
    rf::add_repodata(&upstream.info.dir, &delta, "prestodelta", "gz", "sha256");
    let remote = rpm_remote(&depot, "delta", &upstream.url(), "on_demand").await;
    let repo = rpm_repository(&depot, "delta", &remote, json!({})).await;
    let t = sync(&depot, &repo, json!({"sync_policy": "mirror_complete"})).await;
    assert_eq!(t["state"], "failed", "{t}");
    assert!(error_of(&t).contains("prestodelta"), "{}", error_of(&t));
    // requests Pulp refuses outright
    for (body, says) in [
        (
            json!({"sync_policy": "mirror_complete", "skip_types": ["srpm"]}),
            "skip_types",
        ),
        (
            json!({"sync_policy": "additive", "mirror": true}),
            "simultaneously",
        ),
        (json!({"skip_types": ["bogus"]}), "not a valid choice"),
        (json!({"sync_policy": "sideways"}), "not a valid choice"),
    ] {
        let (status, answer) = depot
            .call(Method::POST, &format!("{repo}sync/"), Some(&body))
            .await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert!(answer.to_string().contains(says), "{body} -> {answer}");
    }
    let published = rpm_repository(&depot, "auto", &remote, json!({"autopublish": true})).await;
    let (status, answer) = depot
        .call(
            Method::POST,
            &format!("{published}sync/"),
            Some(&json!({"sync_policy": "mirror_complete"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("autopublish"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn additive_keeps_and_mirror_content_only_drops() {
    let dir = tempdir();
    let rpms = build_standard(&dir.path().join("rpms"));
    let repo_dir = dir.path().join("repo");
    let first = create_repo(&repo_dir, &rpms, &RepoOptions::default());
    let server = Upstream::start(dir.path()).await;
    let depot = DepotServer::start(BIN).await;
    let remote = rpm_remote(&depot, "r", &server.url("repo/"), "immediate").await;
    let repo = rpm_repository(&depot, "r", &remote, json!({})).await;
    assert_eq!(sync(&depot, &repo, json!({})).await["state"], "completed");

    // upstream drops a package
    let fewer: Vec<_> = rpms
        .iter()
        .filter(|p| !p.to_string_lossy().contains("depot-docs"))
        .cloned()
        .collect();
    let second = create_repo(&repo_dir, &fewer, &RepoOptions::default());
    assert_eq!(second.packages.len() + 1, first.packages.len());
    let t = sync(&depot, &repo, json!({"sync_policy": "additive"})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(
        latest_version(&depot, &repo).await,
        1,
        "nothing new: no version"
    );
    let t = sync(&depot, &repo, json!({"sync_policy": "mirror_content_only"})).await;
    assert_eq!(t["state"], "completed", "{t}");
    assert_eq!(latest_version(&depot, &repo).await, 2);
    assert_eq!(
        t["result"]["content_summary"]["removed"]["rpm.package"]["count"], 1,
        "{t}"
    );
    let v2 = depot
        .get(&format!(
            "content/rpm/packages/?repository_version={repo}versions/2/"
        ))
        .await;
    assert_eq!(count(&v2), second.packages.len() as i64);
    let base_url = publish(&depot, &repo, "fewer", json!({})).await;
    let root = tempdir();
    dnf_installs(root.path(), &second, DnfRepo::baseurl("depot", &base_url));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_publication_verified_by_dnf() {
    let upstream = RpmUpstream::new(RepoOptions::default()).await;
    let mut depot = DepotServer::start(BIN).await;
    let key = rf::GpgKey::generate("depot test signing <signing@depot.invalid>");
    let work = tempdir();
    let script = work.path().join("sign.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\ngpg --homedir '{}' --batch --yes --pinentry-mode loopback --armor \
             --detach-sign --local-user \"$PULP_SIGNING_KEY_FINGERPRINT\" --output \"$1.asc\" \"$1\"\n\
             printf '{{\"file\": \"%s\", \"signature\": \"%s\"}}' \"$1\" \"$1.asc\"\n",
            key.home().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let public = work.path().join("key.asc");
    std::fs::write(&public, &key.public_key).unwrap();
    let admin = |args: &[&str]| {
        depot_testkit::server::depot_command(BIN, &depot.data_dir)
            .args(["admin"])
            .args(args)
            .args(["--data-dir", depot.data_dir.to_str().unwrap()])
            .output()
            .unwrap()
    };
    // a script that does not sign is refused
    let bad = work.path().join("bad.sh");
    std::fs::write(&bad, "#!/bin/sh\necho nope\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = admin(&[
        "add-signing-service",
        "bad",
        bad.to_str().unwrap(),
        "--fingerprint",
        &key.fingerprint,
        "--public-key",
        public.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must print"),
        "{out:?}"
    );
    let out = admin(&[
        "add-signing-service",
        "metadata",
        script.to_str().unwrap(),
        "--fingerprint",
        &key.fingerprint,
        "--public-key",
        public.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    depot.restart().await;
    let services = depot.get("signing-services/?name=metadata").await;
    assert_eq!(count(&services), 1, "{services}");
    let service = services["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        services["results"][0]["pubkey_fingerprint"],
        key.fingerprint
    );

    let remote = rpm_remote(&depot, "s", &upstream.url(), "on_demand").await;
    let bogus = depot
        .call(
            Method::POST,
            "repositories/rpm/rpm/",
            Some(&json!({"name": "x", "metadata_signing_service": "/pulp/api/v3/signing-services/nope/"})),
        )
        .await;
    assert_eq!(bogus.0, 400, "{:?}", bogus.1);
    assert!(
        bogus.1["metadata_signing_service"].is_array(),
        "{:?}",
        bogus.1
    );
    let repo = rpm_repository(
        &depot,
        "s",
        &remote,
        json!({"metadata_signing_service": service, "autopublish": true}),
    )
    .await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    let publication = t["created_resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|h| h.contains("/publications/rpm/rpm/"))
        .expect("autopublish publishes")
        .to_string();
    let base_url = distribute(&depot, "signed", &publication).await;
    let (status, served_key) = fetch_bytes(&format!("{base_url}repodata/repomd.xml.key")).await;
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(served_key).unwrap(), key.public_key);
    let mut cfg = DnfRepo::baseurl("signed", &base_url);
    cfg.repo_gpgcheck = true;
    cfg.gpgkey = Some(format!("{base_url}repodata/repomd.xml.key"));
    let root = tempdir();
    dnf_installs(root.path(), &upstream.info, cfg.clone());
    let config = reqwest::get(format!("{base_url}config.repo"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(config.contains("repo_gpgcheck=1"), "{config}");
    assert!(config.contains("repodata/repomd.xml.key"), "{config}");

    // a signature by another key is rejected by dnf
    let other = rf::GpgKey::generate("someone else <else@depot.invalid>");
    let mut wrong = DnfRepo::baseurl("signed", &base_url);
    wrong.repo_gpgcheck = true;
    let other_key = work.path().join("other.asc");
    std::fs::write(&other_key, &other.public_key).unwrap();
    wrong.gpgkey = Some(format!("file://{}", other_key.display()));
    let root = tempdir();
    let out = rf::dnf(root.path(), &[wrong], &["repoquery"]);
    assert!(!out.success, "dnf accepted a signature by the wrong key");

    // a publication whose signing fails (after its files went in) leaves nothing behind
    let publications = count(&depot.get("publications/rpm/rpm/").await);
    std::fs::write(&script, "#!/bin/sh\necho 'the key is gone' >&2\nexit 3\n").unwrap();
    let t = depot
        .run_task(
            Method::POST,
            "publications/rpm/rpm/",
            Some(json!({"repository": repo})),
        )
        .await;
    assert_eq!(t["state"], "failed", "{t}");
    assert_eq!(
        count(&depot.get("publications/rpm/rpm/").await),
        publications
    );
    let left = depot.sql_row(
        "SELECT (SELECT count(*) FROM publications WHERE complete = FALSE), \
         (SELECT count(*) FROM published_files WHERE publication_id NOT IN \
          (SELECT id FROM publications))",
    );
    assert_eq!(left, ["0", "0"], "an unfinished publication was left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulp_cli_rpm_workflow() {
    let exe = depot_testkit::tools::require("pulp", "PULP_CLI");
    let upstream = RpmUpstream::new(RepoOptions::full()).await;
    let depot = DepotServer::start(BIN).await;
    let pulp = crate::pulp_cli::Pulp {
        exe,
        url: depot.url.clone(),
        home: tempdir(),
    };
    // advertising rpm must not break the rest of the CLI
    pulp.ok(&["file", "repository", "list"]).await;

    pulp.ok(&[
        "rpm",
        "remote",
        "create",
        "--name",
        "up",
        "--url",
        &upstream.url(),
        "--policy",
        "on_demand",
    ])
    .await;
    pulp.ok(&[
        "rpm",
        "repository",
        "create",
        "--name",
        "train",
        "--remote",
        "up",
    ])
    .await;
    pulp.ok(&[
        "rpm",
        "repository",
        "sync",
        "--name",
        "train",
        "--sync-policy",
        "mirror_content_only",
    ])
    .await;
    let listed = pulp
        .ok(&[
            "rpm",
            "content",
            "list",
            "--name",
            "depot-tool",
            "--limit",
            "10",
        ])
        .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let advisories = pulp
        .ok(&["rpm", "content", "-t", "advisory", "list", "--limit", "50"])
        .await;
    assert_eq!(
        advisories.as_array().map(Vec::len),
        Some(upstream.info.advisories.len()),
        "{advisories}"
    );
    let modules = pulp.ok(&["rpm", "content", "-t", "modulemd", "list"]).await;
    assert_eq!(
        modules.as_array().map(Vec::len),
        Some(upstream.info.modules.len())
    );
    let publication = pulp
        .ok(&[
            "rpm",
            "publication",
            "create",
            "--repository",
            "train",
            "--checksum-type",
            "sha512",
        ])
        .await;
    assert_eq!(publication["checksum_type"], "sha512", "{publication}");
    let href = publication["pulp_href"].as_str().unwrap().to_string();
    let dist = pulp
        .ok(&[
            "rpm",
            "distribution",
            "create",
            "--name",
            "train",
            "--base-path",
            "train",
            "--publication",
            &href,
        ])
        .await;
    let base_url = dist["base_url"].as_str().unwrap().to_string();
    let root = tempdir();
    dnf_installs(
        root.path(),
        &upstream.info,
        DnfRepo::baseurl("train", &base_url),
    );

    // upload a locally built package into a second repository, then copy it into the first
    let extra = rf::build_rpm(
        &tempdir().keep(),
        &rf::PackageSpec::new("depot-hotfix", "1.0", "1"),
    );
    pulp.ok(&["rpm", "repository", "create", "--name", "builds"])
        .await;
    let uploaded = pulp
        .ok(&[
            "rpm",
            "content",
            "upload",
            "--file",
            extra.to_str().unwrap(),
            "--repository",
            "builds",
            "--no-publish",
        ])
        .await;
    assert_eq!(uploaded["name"], "depot-hotfix", "{uploaded}");
    assert_eq!(uploaded["location_href"], "depot-hotfix-1.0-1.noarch.rpm");
    // the same file again, without a repository: the same unit
    let again = pulp
        .ok(&[
            "rpm",
            "content",
            "upload",
            "--file",
            extra.to_str().unwrap(),
        ])
        .await;
    assert_eq!(again["pulp_href"], uploaded["pulp_href"], "{again}");
    let builds = pulp
        .ok(&["rpm", "repository", "show", "--name", "builds"])
        .await;
    let train = pulp
        .ok(&["rpm", "repository", "show", "--name", "train"])
        .await;
    let config = json!([{
        "source_repo_version": builds["latest_version_href"],
        "dest_repo": train["pulp_href"],
    }])
    .to_string();
    pulp.ok(&["rpm", "copy", "--config", &config]).await;
    let train = pulp
        .ok(&["rpm", "repository", "show", "--name", "train"])
        .await;
    assert!(
        train["latest_version_href"]
            .as_str()
            .unwrap()
            .ends_with("/versions/2/"),
        "{train}"
    );
    let publication = pulp
        .ok(&["rpm", "publication", "create", "--repository", "train"])
        .await;
    pulp.ok(&[
        "rpm",
        "distribution",
        "update",
        "--name",
        "train",
        "--publication",
        publication["pulp_href"].as_str().unwrap(),
    ])
    .await;
    let root = tempdir();
    let found = rf::dnf_repoquery(root.path(), DnfRepo::baseurl("train", &base_url), &[]);
    assert!(
        found.iter().any(|n| n.starts_with("depot-hotfix-0:1.0-1")),
        "{found:?}"
    );
    let out = rf::dnf(
        root.path(),
        &[DnfRepo::baseurl("train", &base_url)],
        &[
            "install",
            "--downloadonly",
            "--destdir",
            root.path().join("d").to_str().unwrap(),
            "depot-hotfix",
        ],
    );
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        rf::file_digest(
            &root.path().join("d/depot-hotfix-1.0-1.noarch.rpm"),
            "sha256"
        ),
        rf::file_digest(&extra, "sha256")
    );
}

/// Replace the checksum and size repomd.xml gives for `kind` with those of its file as it is
/// now (so only what is inside the file is wrong).
fn refresh_record(repo: &RepoInfo, kind: &str) {
    let record = repo.record(kind).unwrap();
    let file = repo.dir.join(&record.location_href);
    let sha = rf::file_digest(&file, &record.checksum_type);
    let size = std::fs::metadata(&file).unwrap().len();
    let xml = std::fs::read_to_string(&repo.repomd).unwrap();
    let xml = xml.replace(
        &format!(">{}</checksum>", record.checksum),
        &format!(">{sha}</checksum>"),
    );
    let xml = match record.size {
        Some(old) => xml.replacen(
            &format!("<size>{old}</size>"),
            &format!("<size>{size}</size>"),
            1,
        ),
        None => xml,
    };
    std::fs::write(&repo.repomd, xml).unwrap();
    // a signature would no longer match; these repositories are unsigned
    let _ = std::fs::remove_file(repo.dir.join("repodata/repomd.xml.asc"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_upstreams_fail_clearly_and_change_nothing() {
    let dir = tempdir();
    let mut specs = rf::standard_packages();
    let rpms = rf::build_rpms(&dir.path().join("rpms"), &specs);
    specs.push(rf::PackageSpec::new("depot-late", "1.0", "1"));
    let late = rf::build_rpm(&dir.path().join("rpms"), specs.last().unwrap());
    let mut all = rpms.clone();
    all.push(late.clone());
    let good = create_repo(&dir.path().join("good"), &rpms, &RepoOptions::default());
    let make = |name: &str, compress: &str| {
        create_repo(
            &dir.path().join(name),
            &all,
            &RepoOptions {
                compress: compress.into(),
                layout: PackageLayout::Flat,
                ..Default::default()
            },
        )
    };
    // 1. primary.xml.gz whose bytes do not match repomd.xml
    let corrupt = make("corrupt", "gz");
    let primary = corrupt
        .dir
        .join(corrupt.record("primary").unwrap().location_href);
    let mut bytes = std::fs::read(&primary).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&primary, bytes).unwrap();
    // 2. primary.xml.xz cut in half, repomd.xml updated to match the cut file
    let truncated = make("truncated", "xz");
    let primary = truncated
        .dir
        .join(truncated.record("primary").unwrap().location_href);
    let bytes = std::fs::read(&primary).unwrap();
    std::fs::write(&primary, &bytes[..bytes.len() / 2]).unwrap();
    refresh_record(&truncated, "primary");
    // 3. a package that is not there (404) in immediate mode
    let missing = make("missing", "gz");
    std::fs::remove_file(missing.dir.join(late.file_name().unwrap())).unwrap();
    // 4. a package whose size differs from the metadata
    let resized = make("resized", "gz");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(resized.dir.join(late.file_name().unwrap()))
        .unwrap();
    std::io::Write::write_all(&mut f, b"trailing bytes").unwrap();
    // 5. repomd.xml that is not XML
    let garbage = make("garbage", "gz");
    std::fs::write(&garbage.repomd, "<repomd><data type=").unwrap();

    let server = Upstream::start(dir.path()).await;
    let depot = DepotServer::start(BIN).await;
    let remote = rpm_remote(&depot, "r", &server.url("good/"), "immediate").await;
    let repo = rpm_repository(&depot, "r", &remote, json!({})).await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    let base_url = publish(&depot, &repo, "before", json!({})).await;
    let v1 = format!("{repo}versions/1/");
    let before = count(
        &depot
            .get(&format!("content/rpm/packages/?repository_version={v1}"))
            .await,
    );
    assert_eq!(before, good.packages.len() as i64);

    for (name, says) in [
        ("corrupt", vec!["primary", "mismatch"]),
        ("truncated", vec!["primary", "truncated or corrupt"]),
        ("missing", vec!["404", "depot-late"]),
        ("resized", vec!["size", "depot-late"]),
        ("garbage", vec!["repomd.xml"]),
    ] {
        let (status, _) = depot
            .call(
                Method::PATCH,
                &remote,
                Some(&json!({"url": server.url(&format!("{name}/"))})),
            )
            .await;
        assert!(status.is_success(), "{status}");
        let t = sync(&depot, &repo, json!({})).await;
        assert_eq!(t["state"], "failed", "{name}: {t}");
        let e = error_of(&t);
        for word in says {
            assert!(e.contains(word), "{name}: error lacks '{word}': {e}");
        }
        assert_eq!(
            latest_version(&depot, &repo).await,
            1,
            "{name} changed the repository"
        );
        let now = count(
            &depot
                .get(&format!("content/rpm/packages/?repository_version={v1}"))
                .await,
        );
        assert_eq!(now, before, "{name} changed version 1");
    }
    // what was published before is still served, intact
    let root = tempdir();
    dnf_installs(root.path(), &good, DnfRepo::baseurl("before", &base_url));

    // a file that is not an RPM is refused on upload, with a reason
    let bogus = dir.path().join("bogus.rpm");
    std::fs::write(&bogus, b"this is not an rpm package, not even close").unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(&bogus).unwrap()).file_name("bogus.rpm"),
    );
    let r = depot
        .http()
        .post(depot.api("content/rpm/packages/upload/"))
        .basic_auth("admin", Some(depot_testkit::server::ADMIN_PASSWORD))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a valid RPM"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_lists_and_metalinks() {
    let upstream = RpmUpstream::new(RepoOptions::default()).await;
    let lists = tempdir();
    let dead = upstream.server.url("gone/");
    // a mirror list whose first mirror is dead; a metalink whose best mirror is dead
    rf::write_mirrorlist(
        &lists.path().join("mirrorlist"),
        &[dead.clone(), upstream.url()],
    );
    rf::write_metalink(
        &lists.path().join("metalink.xml"),
        &upstream.info.repomd,
        &[dead.clone(), upstream.url()],
    );
    // a metalink listing hashes of some other repomd.xml: its mirrors are out of date
    let stale = rf::metalink_xml(&upstream.info.repomd, &[upstream.url()]);
    let want = rf::file_digest(&upstream.info.repomd, "sha256");
    std::fs::write(
        lists.path().join("stale.xml"),
        stale.replace(&want, &"0".repeat(64)),
    )
    .unwrap();
    let server = Upstream::start(lists.path()).await;
    let depot = DepotServer::start(BIN).await;
    for (name, doc) in [("mirrorlist", "mirrorlist"), ("metalink", "metalink.xml")] {
        let remote = rpm_remote(&depot, name, &server.url(doc), "immediate").await;
        let repo = rpm_repository(&depot, name, &remote, json!({})).await;
        let t = sync(&depot, &repo, json!({})).await;
        assert_eq!(t["state"], "completed", "{name}: {t}");
        let base_url = publish(&depot, &repo, name, json!({})).await;
        let root = tempdir();
        dnf_installs(
            root.path(),
            &upstream.info,
            DnfRepo::baseurl(name, &base_url),
        );
    }
    let remote = rpm_remote(&depot, "stale", &server.url("stale.xml"), "immediate").await;
    let repo = rpm_repository(&depot, "stale", &remote, json!({})).await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "failed", "{t}");
    assert!(error_of(&t).contains("out of date"), "{}", error_of(&t));
    assert_eq!(latest_version(&depot, &repo).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_package_versions_keeps_the_newest() {
    let upstream = RpmUpstream::new(RepoOptions::default()).await;
    let libs: Vec<_> = upstream
        .info
        .packages
        .iter()
        .filter(|p| p.name == "depot-lib")
        .collect();
    assert!(
        libs.len() >= 2,
        "the fixture has several versions of depot-lib"
    );
    let depot = DepotServer::start(BIN).await;
    let remote = rpm_remote(&depot, "r", &upstream.url(), "on_demand").await;
    let repo = rpm_repository(&depot, "r", &remote, json!({"retain_package_versions": 1})).await;
    let t = sync(&depot, &repo, json!({})).await;
    assert_eq!(t["state"], "completed", "{t}");
    let v1 = format!("{repo}versions/1/");
    let kept = depot
        .get(&format!(
            "content/rpm/packages/?repository_version={v1}&name=depot-lib"
        ))
        .await;
    assert_eq!(count(&kept), 1, "{kept}");
    let newest = libs
        .iter()
        .max_by(|a, b| {
            rf::rpmvercmp(
                &format!("{}-{}", a.version, a.release),
                &format!("{}-{}", b.version, b.release),
            )
        })
        .unwrap();
    assert_eq!(kept["results"][0]["version"], newest.version);
    let all = depot
        .get(&format!("content/rpm/packages/?repository_version={v1}"))
        .await;
    assert_eq!(
        count(&all),
        (upstream.info.packages.len() - libs.len() + 1) as i64
    );
    // with a mirror policy it is refused up front
    let (status, body) = depot
        .call(
            Method::POST,
            &format!("{repo}sync/"),
            Some(&json!({"sync_policy": "mirror_content_only"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("retain_package_versions"),
        "{body}"
    );
}

/// A record of a publication served at `base`: (its repomd location, decompressed text).
async fn published_record(depot: &DepotServer, base: &str, kind: &str) -> String {
    let (s, repomd) = depot.fetch(&format!("{base}/repodata/repomd.xml")).await;
    assert_eq!(s, 200);
    let repomd = String::from_utf8(repomd).unwrap();
    let record = rf::parse_repomd(&repomd)
        .into_iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} in {repomd}"));
    let (s, bytes) = depot
        .fetch(&format!("{base}/{}", record.location_href))
        .await;
    assert_eq!(s, 200);
    let dir = tempdir();
    let path = dir
        .path()
        .join(record.location_href.rsplit('/').next().unwrap());
    std::fs::write(&path, bytes).unwrap();
    String::from_utf8(rf::read_decompressed(&path)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_fills_gaps_and_keeps_one_file_per_name() {
    // an upstream whose filelists lacks a package
    let dir = tempdir();
    let rpms = build_standard(&dir.path().join("rpms"));
    let info = create_repo(&dir.path().join("repo"), &rpms, &RepoOptions::default());
    let base = info
        .packages
        .iter()
        .find(|p| p.name == "depot-base")
        .unwrap()
        .clone();
    let filelists = rf::read_repodata(&dir.path().join("repo"), "filelists");
    let start = filelists
        .find(&format!("<package pkgid=\"{}\"", base.pkgid))
        .expect("depot-base in filelists");
    let end = start + filelists[start..].find("</package>").unwrap() + "</package>".len();
    let cut = format!("{}{}", &filelists[..start], &filelists[end..]);
    let cut_path = dir.path().join("filelists.xml");
    std::fs::write(&cut_path, cut).unwrap();
    rf::add_repodata(
        &dir.path().join("repo"),
        &cut_path,
        "filelists",
        "gz",
        "sha256",
    );
    // and two packages with one file name (epoch 0 and 1), each in a repository of its own
    let mut twins = Vec::new();
    for (i, epoch) in [None, Some(1)].into_iter().enumerate() {
        let mut spec = rf::PackageSpec::new("depot-twin", "1.0", "1");
        spec.epoch = epoch;
        let rpm = rf::build_rpm(&dir.path().join(format!("twin{i}")), &spec);
        twins.push(create_repo(
            &dir.path().join(format!("twin{i}/repo")),
            &[rpm],
            &RepoOptions::default(),
        ));
    }
    let up = Upstream::start(dir.path()).await;
    let depot = DepotServer::start(BIN).await;
    let remote = rpm_remote(&depot, "std", &up.url("repo/"), "on_demand").await;
    let repo = rpm_repository(&depot, "gaps", &remote, json!({})).await;
    assert_eq!(sync(&depot, &repo, json!({})).await["state"], "completed");
    for i in 0..2 {
        let twin = rpm_remote(
            &depot,
            &format!("twin{i}"),
            &up.url(&format!("twin{i}/repo/")),
            "on_demand",
        )
        .await;
        let t = sync(&depot, &repo, json!({"remote": twin})).await;
        assert_eq!(t["state"], "completed", "{t}");
    }
    let v = depot
        .get(&format!(
            "content/rpm/packages/?repository_version={repo}versions/3/&name=depot-twin"
        ))
        .await;
    assert_eq!(v["count"], 2, "both twins are in the version");

    let url = publish(&depot, &repo, "gaps", json!({})).await;
    let primary = published_record(&depot, "gaps", "primary").await;
    let entries = primary.matches("<package type=\"rpm\">").count();
    assert_eq!(entries, info.packages.len() + 1, "one twin is published");
    assert!(
        primary.contains(&format!("packages=\"{entries}\"")),
        "the count says what the file holds"
    );
    assert_eq!(
        primary
            .matches("<location href=\"Packages/d/depot-twin-1.0-1.noarch.rpm\"/>")
            .count(),
        1
    );
    let filelists = published_record(&depot, "gaps", "filelists").await;
    assert_eq!(
        filelists.matches("<package ").count(),
        entries,
        "filelists has an entry for every package"
    );
    assert!(filelists.contains(&format!("pkgid=\"{}\"", base.pkgid)));
    assert!(filelists.contains(&format!("packages=\"{entries}\"")));
    // and dnf reads it all and installs from it
    let root = tempdir();
    let listed = rf::dnf_repoquery(root.path(), DnfRepo::baseurl("gaps", &url), &[]);
    assert_eq!(listed.len(), entries, "{listed:?}");
    let (s, _) = depot
        .fetch("gaps/Packages/d/depot-twin-1.0-1.noarch.rpm")
        .await;
    assert_eq!(s, 200);
    let dest = root.path().join("downloaded");
    let out = rf::dnf(
        root.path(),
        &[DnfRepo::baseurl("gaps", &url)],
        &[
            "install",
            "--downloadonly",
            "--destdir",
            dest.to_str().unwrap(),
            "depot-base",
        ],
    );
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        rf::file_digest(&dest.join(&base.filename), "sha256"),
        base.sha256
    );
}
