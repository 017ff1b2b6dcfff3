//! Benchmark of the file content type, end to end against the real binary:
//!
//!   cargo bench -p depot --bench file_sync
//!
//! Generates (once, cached under /var/tmp) an upstream of 10,000 files of 1 KiB–1 MiB served on
//! loopback, then measures on_demand and immediate sync, no-change re-sync, publish, peak and
//! idle RSS of the depot process, and content app throughput with 64 concurrent clients on
//! small stored files. Beside them it prints the floors: `sha256sum` over the same bytes, and
//! fetching + hashing them over loopback with the same concurrency as depot.
//!
//! With `DEPOT_TEST_POSTGRES` set (and `DEPOT_TEST_S3`, as `scripts/postgres` and `scripts/s3`
//! print), the syncs and the publish run again on PostgreSQL (+ S3), printed beside the
//! embedded figures with their ratio, and the content app is measured with one and with two
//! content processes sharing that database and bucket.
//!
//! `DEPOT_BENCH_FILES` changes the file count, `DEPOT_BENCH_SECONDS` the throughput run,
//! `DEPOT_BENCH_DATA_PARENT` where depot's data directory goes (default /var/tmp; the
//! filesystem matters: storing 10,000 files costs mostly inode creation).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use depot_testkit::server::{memory_kib, reset_peak};
use depot_testkit::{DepotServer, FixtureFile, Upstream, file_tree, write_manifest};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_depot");

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The fixture tree, generated once and reused by later runs.
fn fixture(dir: &Path, count: usize) -> Vec<FixtureFile> {
    let manifest = dir.join("PULP_MANIFEST");
    if let Ok(text) = std::fs::read_to_string(&manifest) {
        let files: Vec<FixtureFile> = text
            .lines()
            .filter_map(|l| {
                let mut p = l.rsplitn(3, ',');
                let size = p.next()?.parse().ok()?;
                let sha256 = p.next()?.to_string();
                let relative_path = p.next()?.to_string();
                Some(FixtureFile {
                    relative_path,
                    sha256,
                    size,
                })
            })
            .collect();
        if files.len() == count {
            return files;
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    eprintln!("generating {count} files in {} ...", dir.display());
    let files = file_tree(dir, count, 1024, 1 << 20, 7);
    write_manifest(dir, "PULP_MANIFEST", &files);
    files
}

/// Wall time of `sha256sum` over every file.
fn sha256sum_floor(dir: &Path, files: &[FixtureFile]) -> Duration {
    let started = Instant::now();
    for chunk in files.chunks(500) {
        let status = std::process::Command::new("sha256sum")
            .args(chunk.iter().map(|f| dir.join(&f.relative_path)))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("sha256sum");
        assert!(status.success());
    }
    started.elapsed()
}

/// Fetch every file from the upstream and hash it, `concurrency` at a time, storing nothing.
async fn fetch_hash_floor(
    upstream: &Upstream,
    files: &[FixtureFile],
    concurrency: usize,
) -> Duration {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    futures::stream::iter(files)
        .map(|f| {
            let client = client.clone();
            let url = upstream.url(&f.relative_path);
            async move {
                let mut r = client.get(url).send().await.unwrap();
                let mut h = Sha256::new();
                while let Some(chunk) = r.chunk().await.unwrap() {
                    h.update(&chunk);
                }
                assert_eq!(hex::encode(h.finalize()), f.sha256);
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

/// Fetch every file, hash it and store it as its own file (written to a temporary name, then
/// renamed into a fan-out directory), like any content-addressed store must: the floor set by
/// the filesystem, which on ext4 is dominated by creating 10,000 inodes, not by the bytes.
async fn fetch_hash_store_floor(
    upstream: &Upstream,
    files: &[FixtureFile],
    concurrency: usize,
    dir: &Path,
) -> Duration {
    use std::io::Write;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    std::fs::create_dir_all(dir.join("tmp")).unwrap();
    for i in 0..=255u8 {
        std::fs::create_dir_all(dir.join(format!("{i:02x}"))).unwrap();
    }
    let started = Instant::now();
    futures::stream::iter(files.iter().enumerate())
        .map(|(i, f)| {
            let client = client.clone();
            let url = upstream.url(&f.relative_path);
            async move {
                let mut r = client.get(url).send().await.unwrap();
                let tmp = dir.join("tmp").join(i.to_string());
                let mut out = std::io::BufWriter::with_capacity(
                    256 * 1024,
                    std::fs::File::create(&tmp).unwrap(),
                );
                let mut h = Sha256::new();
                while let Some(chunk) = r.chunk().await.unwrap() {
                    h.update(&chunk);
                    out.write_all(&chunk).unwrap();
                }
                out.flush().unwrap();
                let sha = hex::encode(h.finalize());
                assert_eq!(sha, f.sha256);
                std::fs::rename(&tmp, dir.join(&sha[..2]).join(&sha[2..])).unwrap();
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    started.elapsed()
}

struct Phase {
    name: &'static str,
    wall: Duration,
    peak_kib: u64,
}

async fn timed_sync(depot: &DepotServer, repo: &str, name: &'static str) -> Phase {
    reset_peak(depot.pid());
    let started = Instant::now();
    let t = depot
        .run_task(Method::POST, &format!("{repo}sync/"), Some(json!({})))
        .await;
    let wall = started.elapsed();
    assert_eq!(t["state"], "completed", "{t}");
    Phase {
        name,
        wall,
        peak_kib: memory_kib(depot.pid()).0,
    }
}

async fn repo_with_remote(depot: &DepotServer, name: &str, url: &str, policy: &str) -> String {
    let remote = depot
        .create(
            "remotes/file/file/",
            json!({"name": name, "url": url, "policy": policy}),
        )
        .await;
    let repo = depot
        .create(
            "repositories/file/file/",
            json!({"name": name, "remote": remote["pulp_href"]}),
        )
        .await;
    repo["pulp_href"].as_str().unwrap().to_string()
}

/// On-demand and immediate syncs of `manifest`, each followed by a no-change re-sync, then
/// a publication of the immediate repository, distributed at `bench/`.
async fn syncs_and_publish(depot: &DepotServer, manifest: &str) -> [Phase; 5] {
    let lazy = repo_with_remote(depot, "bench-on-demand", manifest, "on_demand").await;
    let p_lazy = timed_sync(depot, &lazy, "on_demand sync").await;
    let p_lazy_again = timed_sync(depot, &lazy, "no-change re-sync (on_demand)").await;
    let eager = repo_with_remote(depot, "bench-immediate", manifest, "immediate").await;
    let p_eager = timed_sync(depot, &eager, "immediate sync").await;
    let p_eager_again = timed_sync(depot, &eager, "no-change re-sync (immediate)").await;
    reset_peak(depot.pid());
    let started = Instant::now();
    let t = depot
        .run_ok(
            Method::POST,
            "publications/file/file/",
            Some(json!({"repository": eager})),
        )
        .await;
    let p_publish = Phase {
        name: "publish",
        wall: started.elapsed(),
        peak_kib: memory_kib(depot.pid()).0,
    };
    let publication: Value = t["created_resources"][0].clone();
    depot
        .run_ok(
            Method::POST,
            "distributions/file/file/",
            Some(json!({"name": "bench", "base_path": "bench", "publication": publication})),
        )
        .await;
    [p_lazy, p_lazy_again, p_eager, p_eager_again, p_publish]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count: usize = env_or("DEPOT_BENCH_FILES", 10_000);
    let seconds: u64 = env_or("DEPOT_BENCH_SECONDS", 10);
    let dir = PathBuf::from(
        std::env::var("DEPOT_BENCH_DIR")
            .unwrap_or_else(|_| format!("/var/tmp/depot-bench-files-{count}")),
    );
    let files = fixture(&dir, count);
    let total: u64 = files.iter().map(|f| f.size).sum();
    eprintln!("fixture: {count} files, {:.1} MB", total as f64 / 1e6);

    let floor_sum = sha256sum_floor(&dir, &files);
    let upstream = Upstream::start(&dir).await;
    let floor_fetch = fetch_hash_floor(&upstream, &files, 10).await;

    let data = tempfile::Builder::new()
        .prefix("depot-bench-")
        .tempdir_in(std::env::var("DEPOT_BENCH_DATA_PARENT").unwrap_or_else(|_| "/var/tmp".into()))
        .unwrap();
    let floor_store =
        fetch_hash_store_floor(&upstream, &files, 10, &data.path().join("floor")).await;
    let depot = DepotServer::start_embedded(BIN, &data.path().join("data"), &[]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_start = memory_kib(depot.pid()).1;
    let manifest = upstream.url("PULP_MANIFEST");

    let [p_lazy, p_lazy_again, p_eager, p_eager_again, p_publish] =
        syncs_and_publish(&depot, &manifest).await;

    // small stored files for the content app
    let mut small: Vec<&FixtureFile> = files.iter().filter(|f| f.size <= 8 * 1024).collect();
    small.truncate(500);
    let avg_small = small.iter().map(|f| f.size).sum::<u64>() / small.len().max(1) as u64;
    let paths: Vec<String> = small
        .iter()
        .map(|f| format!("bench/{}", f.relative_path))
        .collect();
    reset_peak(depot.pid());
    let urls = paths.iter().map(|p| depot.content_url(p)).collect();
    let (rps, mbps) = depot_testkit::bench::throughput(urls, None, 64, seconds).await;
    let content_peak = memory_kib(depot.pid()).0;

    // the allocator hands memory back every 10 s
    tokio::time::sleep(Duration::from_secs(12)).await;
    let idle_end = memory_kib(depot.pid()).1;

    println!();
    println!(
        "depot file benchmark: {count} files, {:.1} MB (1 KiB-1 MiB), 2 cores",
        total as f64 / 1e6
    );
    println!("{:-<78}", "");
    println!(
        "floor: sha256sum over the same bytes      {:>8.2} s  ({:.0} MB/s)",
        floor_sum.as_secs_f64(),
        total as f64 / 1e6 / floor_sum.as_secs_f64()
    );
    println!(
        "floor: fetch + sha256 over loopback (x10) {:>8.2} s  ({:.0} MB/s)",
        floor_fetch.as_secs_f64(),
        total as f64 / 1e6 / floor_fetch.as_secs_f64()
    );
    println!(
        "floor: fetch + sha256 + store each file    {:>8.2} s  ({:.0} MB/s)",
        floor_store.as_secs_f64(),
        total as f64 / 1e6 / floor_store.as_secs_f64()
    );
    println!("{:-<78}", "");
    for p in [&p_lazy, &p_lazy_again, &p_eager, &p_eager_again, &p_publish] {
        println!(
            "{:<40} {:>8.3} s   peak RSS {:>6.1} MiB",
            p.name,
            p.wall.as_secs_f64(),
            mib(p.peak_kib)
        );
    }
    println!(
        "immediate sync / fetch+hash floor           {:>8.2}x",
        p_eager.wall.as_secs_f64() / floor_fetch.as_secs_f64()
    );
    println!(
        "immediate sync / fetch+hash+store floor     {:>8.2}x",
        p_eager.wall.as_secs_f64() / floor_store.as_secs_f64()
    );
    println!("{:-<78}", "");
    println!(
        "content app, 64 clients, {} small files (avg {} B): {:.0} req/s, {:.1} MB/s, peak RSS {:.1} MiB",
        small.len(),
        avg_small,
        rps,
        mbps,
        mib(content_peak)
    );
    println!(
        "idle RSS: {:.1} MiB at start, {:.1} MiB after the run",
        mib(idle_start),
        mib(idle_end)
    );
    drop(depot);
    if std::env::var(depot_testkit::server::POSTGRES_ENV).is_ok_and(|v| !v.is_empty()) {
        let embedded = [&p_lazy, &p_lazy_again, &p_eager, &p_eager_again, &p_publish];
        scaled(
            &data.path().join("data-scaled"),
            &manifest,
            &embedded,
            &small,
            rps,
            seconds,
        )
        .await;
    } else {
        println!(
            "(set {} and DEPOT_TEST_S3 to run it again on PostgreSQL + S3, with two content processes)",
            depot_testkit::server::POSTGRES_ENV
        );
    }
}

/// The same syncs and publish on PostgreSQL (+ S3 when the suite's bucket is set), printed
/// beside the embedded figures; then the content app with one and with two content
/// processes sharing that database and bucket.
async fn scaled(
    data: &Path,
    manifest: &str,
    embedded: &[&Phase],
    small: &[&FixtureFile],
    embedded_rps: f64,
    seconds: u64,
) {
    let backend = match depot_testkit::server::blob_store_for(data) {
        Some(_) => "PostgreSQL + S3",
        None => "PostgreSQL + local",
    };
    let depot = DepotServer::start_in(BIN, data, &[]).await;
    let [p_lazy, p_lazy_again, p_eager, p_eager_again, p_publish] =
        syncs_and_publish(&depot, manifest).await;
    println!("{:-<78}", "");
    println!(
        "{:<40} {:>14} {:>18} {:>8}",
        "", "SQLite + local", backend, "ratio"
    );
    for (a, b) in
        embedded
            .iter()
            .zip([&p_lazy, &p_lazy_again, &p_eager, &p_eager_again, &p_publish])
    {
        let (x, y) = (a.wall.as_secs_f64(), b.wall.as_secs_f64());
        println!("{:<40} {x:>12.3} s {y:>16.3} s {:>7.2}x", a.name, y / x);
    }

    // the stored small files, from one content process, then from two sharing the
    // database and bucket (requests alternate between them)
    let second = DepotServer::start_in(BIN, data, &["--role", "content"]).await;
    let paths: Vec<String> = small
        .iter()
        .map(|f| format!("bench/{}", f.relative_path))
        .collect();
    let one: Vec<String> = paths.iter().map(|p| depot.content_url(p)).collect();
    let two: Vec<String> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            if i % 2 == 0 {
                depot.content_url(p)
            } else {
                second.content_url(p)
            }
        })
        .collect();
    let (rps1, mb1) = depot_testkit::bench::throughput(one, None, 64, seconds).await;
    let (rps2, mb2) = depot_testkit::bench::throughput(two, None, 64, seconds).await;
    println!("{:-<78}", "");
    println!(
        "content app on {backend}, 64 clients, {} small stored files:",
        small.len()
    );
    println!(
        "  one content process    {rps1:>8.0} req/s {mb1:>6.1} MB/s  ({:.2}x SQLite + local's {embedded_rps:.0})",
        rps1 / embedded_rps
    );
    println!(
        "  two content processes  {rps2:>8.0} req/s {mb2:>6.1} MB/s  ({:.2}x one)",
        rps2 / rps1
    );
}
