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
fn dnf_installs(root: &Path, url: &str, upstream: &RepoInfo, repo: DnfRepo) {
    let _ = url;
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
            &base_url,
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
            &base_url,
            &upstream.info,
            DnfRepo::baseurl("depot", &base_url),
        );
    }
}
