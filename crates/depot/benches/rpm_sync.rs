//! Benchmark of the rpm content type, end to end against the real binary:
//!
//!   cargo bench -p depot --bench rpm_sync
//!
//! Two upstreams, generated once and cached under /var/tmp, served on loopback:
//! - a synthetic repository: repodata (primary, filelists, other) for 20,000 packages of 40
//!   files each, with no package files behind it (fine for `on_demand`);
//! - a real one: 300 small RPMs built with rpmbuild, indexed by `createrepo_c`.
//!
//! Measured: on_demand sync of the synthetic repository (wall time, peak RSS of the depot
//! process), its no-change re-sync (which must be skipped), publishing it, immediate sync and
//! publish of the real repository; beside them `createrepo_c` over the same real RPMs and a
//! gunzip + gzip of the synthetic repodata (the least a publication that rewrites it costs).
//! Then the published synthetic repository is checked: repomd.xml names a primary record
//! listing every package, and (unless `DEPOT_BENCH_RPM_DNF=0`) `dnf repoquery` against the
//! distribution lists them all.
//!
//! With `DEPOT_TEST_POSTGRES` set (and `DEPOT_TEST_S3`, as `scripts/postgres` and `scripts/s3`
//! print), the syncs and publishes run again on PostgreSQL (+ S3) and are printed beside the
//! embedded figures, with their ratio (target: on_demand sync within 1.5x).
//!
//! `DEPOT_BENCH_RPM_PACKAGES` changes the synthetic package count, `DEPOT_BENCH_RPM_FILES` its
//! files per package, `DEPOT_BENCH_RPM_REAL` the number of real RPMs, `DEPOT_BENCH_DATA_PARENT`
//! where depot's data directory goes (default /var/tmp); with `DEPOT_BENCH_KEEP` set it (and
//! depot's log, beside it) is kept after the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use depot_testkit::rpm_fixtures::{
    self as rf, DnfRepo, PackageSpec, RepoOptions, SyntheticRepo, build_rpms, create_repo,
    parse_repomd, synthetic_repodata,
};
use depot_testkit::server::{memory_kib, reset_peak};
use depot_testkit::{DepotServer, Upstream};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_depot");
const SEED: u64 = 20_240_101;
/// Bumped when the real packages' specs change, so a stale cache is not reused.
const REAL_FIXTURE_REVISION: u32 = 1;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The synthetic upstream, generated once (`dir/.complete` marks a finished one).
fn synthetic_fixture(dir: &Path, packages: usize, files: usize) -> SyntheticRepo {
    let done = dir.join(".complete");
    let repomd = dir.join("repodata/repomd.xml");
    if done.exists()
        && let Ok(xml) = std::fs::read_to_string(&repomd)
    {
        let records = parse_repomd(&xml);
        if records.iter().all(|r| dir.join(&r.location_href).exists()) {
            return SyntheticRepo {
                dir: dir.to_path_buf(),
                repomd,
                packages,
                files_per_package: files,
                seed: SEED,
                records,
            };
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    eprintln!(
        "generating repodata for {packages} packages x {files} files in {} ...",
        dir.display()
    );
    let started = Instant::now();
    let repo = synthetic_repodata(dir, packages, files, SEED);
    std::fs::write(&done, "").unwrap();
    eprintln!("  done in {:.1} s", secs(started.elapsed()));
    repo
}

/// Package `i` of the real upstream: a handful of files of a few KiB, a dependency on an
/// earlier package, a provide, a config file and two changelog entries.
fn real_spec(i: usize) -> PackageSpec {
    let name = format!("bench-pkg-{i:04}");
    let mut spec = PackageSpec::new(&name, &format!("{}.{}", 1 + i % 4, i % 10), "1");
    spec.summary = format!("Benchmark package {i}");
    spec.description = format!("Package {i} of the depot rpm benchmark's real upstream.");
    spec.files = vec![
        (format!("/usr/bin/{name}"), 4096 + (i as u64 * 811) % 28_672),
        (
            format!("/usr/share/{name}/data.bin"),
            1024 + (i as u64 * 397) % 7168,
        ),
        (format!("/usr/share/{name}/README"), 512),
        (format!("/usr/share/doc/{name}/NOTES"), 300),
        (format!("/etc/{name}.conf"), 128),
    ];
    spec.provides = vec![format!("bench-cap-{i} = 1.0")];
    if i > 0 {
        spec.requires = vec![format!("bench-cap-{} >= 1.0", (i * 7919) % i)];
    }
    spec.changelog.push(rf::ChangelogEntry::new(
        1_700_000_000,
        &format!("Depot Bench <bench@depot.invalid> - {}-0", spec.version),
        "- Earlier build",
    ));
    spec
}

/// The real upstream: `dir/rpms/` (the built packages) and `dir/upstream/repo/` (a yum
/// repository of them), made once. Returns (the rpm files, the repository directory).
fn real_fixture(dir: &Path, count: usize) -> (Vec<PathBuf>, PathBuf) {
    let rpms_dir = dir.join("rpms");
    let repo_dir = dir.join("upstream/repo");
    let done = dir.join(".complete");
    let specs: Vec<PackageSpec> = (0..count).map(real_spec).collect();
    let rpms: Vec<PathBuf> = specs.iter().map(|s| rpms_dir.join(s.filename())).collect();
    if done.exists()
        && repo_dir.join("repodata/repomd.xml").exists()
        && rpms.iter().all(|p| p.exists())
    {
        return (rpms, repo_dir);
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(&rpms_dir).unwrap();
    eprintln!("building {count} rpms in {} ...", rpms_dir.display());
    let started = Instant::now();
    // build_rpms starts one rpmbuild per spec at once: keep that to a few
    let parallel = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let mut built = Vec::with_capacity(count);
    for chunk in specs.chunks(parallel) {
        built.extend(build_rpms(&rpms_dir, chunk));
    }
    assert_eq!(built, rpms);
    let info = create_repo(&repo_dir, &rpms, &RepoOptions::default());
    assert_eq!(info.packages.len(), count);
    std::fs::write(&done, "").unwrap();
    eprintln!("  done in {:.1} s", secs(started.elapsed()));
    (rpms, repo_dir)
}

/// Wall time of `createrepo_c` indexing the directory of rpms into a fresh output directory.
fn createrepo_floor(rpms_dir: &Path, scratch: &Path) -> Duration {
    let out = scratch.join("createrepo-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let started = Instant::now();
    let status = Command::new("createrepo_c")
        .arg("--quiet")
        .arg("--outputdir")
        .arg(&out)
        .arg(rpms_dir)
        .stdout(Stdio::null())
        .status()
        .expect("run createrepo_c");
    let wall = started.elapsed();
    assert!(status.success(), "createrepo_c failed");
    assert!(out.join("repodata/repomd.xml").exists());
    wall
}

/// Wall time of decompressing the synthetic repodata and compressing it again with gzip -6
/// (on as many records at once as there are), i.e. the least a publication that regenerates
/// primary/filelists/other has to spend on compression.
fn regzip_floor(repo: &SyntheticRepo) -> Duration {
    let started = Instant::now();
    let children: Vec<_> = repo
        .records
        .iter()
        .map(|r| {
            Command::new("sh")
                .arg("-c")
                .arg("gzip -dc \"$1\" | gzip -6 > /dev/null")
                .arg("sh")
                .arg(repo.dir.join(&r.location_href))
                .spawn()
                .expect("run gzip")
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "gzip pipeline failed");
    }
    started.elapsed()
}

struct Phase {
    name: String,
    wall: Duration,
    peak_kib: u64,
}

impl Phase {
    fn print(&self) {
        println!(
            "{:<52} {:>8.3} s   peak RSS {:>6.1} MiB",
            self.name,
            secs(self.wall),
            mib(self.peak_kib)
        );
    }
}

/// Run a task (expected to complete), timing it and the depot process's peak RSS meanwhile.
async fn timed_task(depot: &DepotServer, name: &str, path: &str, body: Value) -> (Phase, Value) {
    reset_peak(depot.pid());
    let started = Instant::now();
    let t = depot.run_task(Method::POST, path, Some(body)).await;
    let wall = started.elapsed();
    assert_eq!(t["state"], "completed", "{name}: {t}");
    let phase = Phase {
        name: name.to_string(),
        wall,
        peak_kib: memory_kib(depot.pid()).0,
    };
    (phase, t)
}

async fn repo_with_remote(depot: &DepotServer, name: &str, url: &str, policy: &str) -> String {
    let remote = depot
        .create(
            "remotes/rpm/rpm/",
            json!({"name": name, "url": url, "policy": policy}),
        )
        .await;
    let repo = depot
        .create(
            "repositories/rpm/rpm/",
            json!({"name": name, "remote": remote["pulp_href"]}),
        )
        .await;
    repo["pulp_href"].as_str().unwrap().to_string()
}

/// Distribute a publication at `base_path`; returns the distribution's base URL.
async fn distribute(depot: &DepotServer, base_path: &str, publication: &str) -> String {
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

fn progress_codes(task: &Value) -> Vec<String> {
    task["progress_reports"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn content_count(version: &Value) -> i64 {
    version["content_summary"]["present"]["rpm.package"]["count"]
        .as_i64()
        .unwrap_or(-1)
}

/// Check the published repository at `base_path`: repomd.xml has a primary record whose
/// (decompressed) document lists `packages` packages. Returns the published records'
/// compressed size in bytes.
async fn check_published(depot: &DepotServer, base_path: &str, packages: usize) -> u64 {
    let (status, body) = depot
        .fetch(&format!("{base_path}/repodata/repomd.xml"))
        .await;
    assert!(status.is_success(), "repomd.xml: {status}");
    let records = parse_repomd(std::str::from_utf8(&body).expect("repomd.xml is utf-8"));
    let primary = records
        .iter()
        .find(|r| r.kind == "primary")
        .expect("published repomd.xml lists a primary record");
    let (status, bytes) = depot
        .fetch(&format!("{base_path}/{}", primary.location_href))
        .await;
    assert!(status.is_success(), "{}: {status}", primary.location_href);
    let scratch = tempfile::tempdir().unwrap();
    let name = primary.location_href.rsplit('/').next().unwrap();
    let file = scratch.path().join(name);
    std::fs::write(&file, &bytes).unwrap();
    let text = rf::read_decompressed(&file);
    let head = String::from_utf8_lossy(&text[..text.len().min(4096)]).into_owned();
    let want = format!("packages=\"{packages}\"");
    assert!(
        head.contains(&want),
        "published primary does not say {want}: {}",
        &head[..head.len().min(400)]
    );
    let tag = b"<package type=\"";
    let listed = text.windows(tag.len()).filter(|w| w == tag).count();
    assert_eq!(listed, packages, "packages in the published primary");
    records.iter().filter_map(|r| r.size).sum()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n_synth: usize = env_or("DEPOT_BENCH_RPM_PACKAGES", 20_000);
    let n_files: usize = env_or("DEPOT_BENCH_RPM_FILES", 40);
    let n_real: usize = env_or("DEPOT_BENCH_RPM_REAL", 300);
    let run_dnf = std::env::var("DEPOT_BENCH_RPM_DNF").map_or(true, |v| v != "0");

    let synth_root = PathBuf::from(format!(
        "/var/tmp/depot-bench-rpm-synthetic-{n_synth}x{n_files}-{SEED}"
    ));
    let synth_dir = synth_root.join("repo");
    let synth = synthetic_fixture(&synth_dir, n_synth, n_files);
    let synth_bytes: u64 = synth.records.iter().filter_map(|r| r.size).sum();
    let synth_open: u64 = synth.records.iter().filter_map(|r| r.open_size).sum();
    let real_root = PathBuf::from(format!(
        "/var/tmp/depot-bench-rpm-real-{n_real}-r{REAL_FIXTURE_REVISION}"
    ));
    let (rpms, real_repo) = real_fixture(&real_root, n_real);
    let real_bytes: u64 = rpms
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();

    let data = tempfile::Builder::new()
        .prefix("depot-bench-rpm-")
        .tempdir_in(std::env::var("DEPOT_BENCH_DATA_PARENT").unwrap_or_else(|_| "/var/tmp".into()))
        .unwrap();

    let data_path = data.path().to_path_buf();
    // floors
    let floor_createrepo = createrepo_floor(&real_root.join("rpms"), data.path());
    let floor_regzip = regzip_floor(&synth);

    let synth_upstream = Upstream::start(&synth_root).await;
    let real_upstream = Upstream::start(real_repo.parent().unwrap()).await;
    let depot = DepotServer::start_embedded(BIN, &data.path().join("data"), &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_start = memory_kib(depot.pid()).1;

    // 1. on_demand sync of the synthetic repository
    let lazy = repo_with_remote(
        &depot,
        "bench-synthetic",
        &synth_upstream.url("repo/"),
        "on_demand",
    )
    .await;
    let (p_sync, _) = timed_task(
        &depot,
        &format!("on_demand sync, {n_synth} packages"),
        &format!("{lazy}sync/"),
        json!({}),
    )
    .await;
    let repo = depot.get(&lazy).await;
    let version = depot
        .get(repo["latest_version_href"].as_str().expect("a version"))
        .await;
    assert_eq!(
        content_count(&version),
        n_synth as i64,
        "packages in the synced version: {version}"
    );

    // 2. no-change re-sync
    let (p_resync, t) = timed_task(
        &depot,
        "no-change re-sync (on_demand)",
        &format!("{lazy}sync/"),
        json!({}),
    )
    .await;
    let resync_codes = progress_codes(&t);
    let skipped = resync_codes.iter().any(|c| c == "sync.was_skipped");

    // 3. publish of the synthetic version
    let (p_publish, t) = timed_task(
        &depot,
        &format!("publish, {n_synth} packages"),
        "publications/rpm/rpm/",
        json!({"repository": lazy}),
    )
    .await;
    let synth_pub = t["created_resources"][0].as_str().unwrap().to_string();
    let synth_url = distribute(&depot, "bench-synthetic", &synth_pub).await;
    // publish and floor again, in turn, so machine noise hits both alike; the best of each
    let mut publish_walls = vec![p_publish.wall];
    let mut floor_walls = vec![floor_regzip];
    for _ in 0..2 {
        floor_walls.push(regzip_floor(&synth));
        let (p, _) = timed_task(
            &depot,
            "publish again",
            "publications/rpm/rpm/",
            json!({"repository": lazy}),
        )
        .await;
        publish_walls.push(p.wall);
    }
    let best_publish = *publish_walls.iter().min().unwrap();
    let best_floor = *floor_walls.iter().min().unwrap();

    // 4. immediate sync and publish of the real repository
    let eager = repo_with_remote(
        &depot,
        "bench-real",
        &real_upstream.url("repo/"),
        "immediate",
    )
    .await;
    let (p_real_sync, _) = timed_task(
        &depot,
        &format!("immediate sync, {n_real} real rpms"),
        &format!("{eager}sync/"),
        json!({}),
    )
    .await;
    let (p_real_publish, t) = timed_task(
        &depot,
        &format!("publish, {n_real} real rpms"),
        "publications/rpm/rpm/",
        json!({"repository": eager}),
    )
    .await;
    let real_pub = t["created_resources"][0].as_str().unwrap().to_string();
    distribute(&depot, "bench-real", &real_pub).await;

    // 6. sanity of the published synthetic repository
    let published_bytes = check_published(&depot, "bench-synthetic", n_synth).await;
    check_published(&depot, "bench-real", n_real).await;
    let dnf = if run_dnf {
        let root = tempfile::tempdir().unwrap();
        let url = synth_url.clone();
        let started = Instant::now();
        let listed = tokio::task::spawn_blocking(move || {
            rf::dnf_repoquery(root.path(), DnfRepo::baseurl("bench", &url), &[])
        })
        .await
        .unwrap();
        let wall = started.elapsed();
        assert_eq!(listed.len(), n_synth, "dnf repoquery lists every package");
        let first = synth.package(0).nevra();
        assert!(listed.contains(&first), "dnf lists {first}");
        Some(wall)
    } else {
        None
    };
    let idle_end = memory_kib(depot.pid()).1;
    if std::env::var_os("DEPOT_BENCH_KEEP").is_some() {
        let kept = data.keep();
        eprintln!(
            "kept depot's data directory and log in {} (DEPOT_BENCH_KEEP)",
            kept.display()
        );
    }

    println!();
    println!(
        "depot rpm benchmark: {n_synth} synthetic packages x {n_files} files \
         (repodata {:.1} MB gz, {:.1} MB xml); {n_real} real rpms ({:.1} MB); {} cores",
        synth_bytes as f64 / 1e6,
        synth_open as f64 / 1e6,
        real_bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("{:-<90}", "");
    p_sync.print();
    println!(
        "{:<52} {:>8.3} s   ({})",
        "no-change re-sync (on_demand)",
        secs(p_resync.wall),
        if skipped {
            "skipped: sync.was_skipped".to_string()
        } else {
            format!("NOT skipped: {resync_codes:?}")
        }
    );
    p_publish.print();
    println!(
        "{:<52} {:>8.3} s",
        "floor: gunzip + gzip -6 of the upstream repodata",
        secs(floor_regzip)
    );
    let ratio = secs(best_publish) / secs(best_floor);
    println!(
        "{:<52} {:>8.3} s vs floor {:.3} s = {ratio:.2}x (target <= 1.5x) {}",
        "publish, best of 3 (floor best of 3, in turn)",
        secs(best_publish),
        secs(best_floor),
        if ratio <= 1.5 { "ok" } else { "MISSED" }
    );
    println!(
        "{:<52} {:>8.1} MB (upstream {:.1} MB)",
        "published repodata size (gz)",
        published_bytes as f64 / 1e6,
        synth_bytes as f64 / 1e6
    );
    println!("{:-<90}", "");
    p_real_sync.print();
    p_real_publish.print();
    println!(
        "{:<52} {:>8.3} s",
        format!("floor: createrepo_c over the same {n_real} rpms"),
        secs(floor_createrepo)
    );
    println!("{:-<90}", "");
    match dnf {
        Some(d) => println!(
            "{:<52} {:>8.3} s   (lists all {n_synth})",
            "dnf repoquery against the synthetic distribution",
            secs(d)
        ),
        None => println!("dnf repoquery: skipped (DEPOT_BENCH_RPM_DNF=0)"),
    }
    println!(
        "idle RSS: {:.1} MiB at start, {:.1} MiB after the run",
        mib(idle_start),
        mib(idle_end)
    );
    println!("{:-<90}", "");
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    if std::env::var(depot_testkit::server::POSTGRES_ENV).is_ok_and(|v| !v.is_empty()) {
        drop(depot);
        let data2 = data_path.join("data-postgres");
        let scaled = DepotServer::start_in(BIN, &data2, &[]).await;
        let backend = match depot_testkit::server::blob_store_for(&data2) {
            Some(_) => "PostgreSQL + S3",
            None => "PostgreSQL + local",
        };
        let lazy = repo_with_remote(
            &scaled,
            "bench-synthetic",
            &synth_upstream.url("repo/"),
            "on_demand",
        )
        .await;
        let (s_sync, _) = timed_task(
            &scaled,
            "on_demand sync",
            &format!("{lazy}sync/"),
            json!({}),
        )
        .await;
        let mut s_publish = Duration::MAX;
        for _ in 0..3 {
            let (p, _) = timed_task(
                &scaled,
                "publish",
                "publications/rpm/rpm/",
                json!({"repository": lazy}),
            )
            .await;
            s_publish = s_publish.min(p.wall);
        }
        let eager = repo_with_remote(
            &scaled,
            "bench-real",
            &real_upstream.url("repo/"),
            "immediate",
        )
        .await;
        let (s_real_sync, _) = timed_task(
            &scaled,
            "immediate sync",
            &format!("{eager}sync/"),
            json!({}),
        )
        .await;
        let (s_real_publish, _) = timed_task(
            &scaled,
            "publish",
            "publications/rpm/rpm/",
            json!({"repository": eager}),
        )
        .await;
        println!(
            "{:<40} {:>14} {:>18} {:>8}",
            "", "SQLite + local", backend, "ratio"
        );
        let row = |name: String, a: Duration, b: Duration| {
            println!(
                "{name:<40} {:>12.3} s {:>16.3} s {:>7.2}x",
                secs(a),
                secs(b),
                secs(b) / secs(a)
            );
        };
        row(
            format!("on_demand sync, {n_synth} packages"),
            p_sync.wall,
            s_sync.wall,
        );
        row(
            format!("publish, {n_synth} packages (best of 3)"),
            best_publish,
            s_publish,
        );
        row(
            format!("immediate sync, {n_real} real rpms"),
            p_real_sync.wall,
            s_real_sync.wall,
        );
        row(
            format!("publish, {n_real} real rpms"),
            p_real_publish.wall,
            s_real_publish.wall,
        );
        let ratio = secs(s_sync.wall) / secs(p_sync.wall);
        println!(
            "target: on_demand sync on {backend} within 1.5x of SQLite: {ratio:.2}x {}",
            verdict(ratio <= 1.5)
        );
        println!("{:-<90}", "");
    }
    println!(
        "targets: on_demand sync < 10 s: {}; its peak RSS < 150 MiB: {}; re-sync < 1 s and \
         skipped: {}; publish < 10 s: {}",
        verdict(p_sync.wall < Duration::from_secs(10)),
        verdict(p_sync.peak_kib < 150 * 1024),
        verdict(p_resync.wall < Duration::from_secs(1) && skipped),
        verdict(p_publish.wall < Duration::from_secs(10)),
    );
}
