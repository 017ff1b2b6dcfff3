//! The content app against nginx serving the same bytes, measured side by side in one run:
//!
//!   cargo bench -p depot --bench content_app
//!
//! - wrk, 64 connections, on a cached 4 KiB and a cached 1 MiB file, from depot and from
//!   nginx (Debian's, installed when missing) serving the same directory;
//! - the same 4 KiB file through an RBAC guard with Basic credentials;
//! - cache misses: never-requested paths of a 100,000-file repository, through a publication
//!   and through a repository version, one at a time (p50/p99);
//! - 50 clients sending a wrong password to a guarded path (the same one, and a new one per
//!   request) while 64 clients read an open path.
//!
//! Prints each figure beside its peer and the target; throughput pairs run three times in
//! turn and keep their best. `DEPOT_BENCH_SECONDS` sets each wrk run's length (default 8),
//! `DEPOT_BENCH_MISS_FILES` the size of the repository for misses (default 100,000).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use depot_testkit::{DepotServer, Upstream, file_tree, tools, write_manifest};
use reqwest::Method;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_depot");
const CONNECTIONS: u32 = 64;
const MISS_SAMPLES: usize = 2_000;
/// Throughput pairs run this many times in turn; each side keeps its best.
const ROUNDS: usize = 3;

/// One wrk run: (requests/s, MB/s).
fn wrk(url: &str, connections: u32, seconds: u64, extra: &[&str]) -> (f64, f64) {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args(extra)
        .arg(url)
        .stderr(Stdio::inherit())
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {name} in wrk output:\n{text}"))
    };
    let rps: f64 = field("Requests/sec:").parse().unwrap();
    let transfer = field("Transfer/sec:");
    let (num, unit) = transfer.split_at(transfer.find(|c: char| c.is_alphabetic()).unwrap());
    let mb = num.parse::<f64>().unwrap()
        * match unit {
            "B" => 1e-6,
            "KB" => 1024.0 / 1e6,
            "MB" => 1024.0 * 1024.0 / 1e6,
            "GB" => 1024.0 * 1024.0 * 1024.0 / 1e6,
            _ => panic!("unit {unit}"),
        };
    (rps, mb)
}

/// wrk must only have seen the status it was meant to (the script checks 2xx, or a given one).
fn wrk_checked(url: &str, connections: u32, seconds: u64, extra: &[&str]) -> (f64, f64) {
    let out = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), "-d1s"])
        .args(extra)
        .arg(url)
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("Non-2xx"),
        "{url} answered errors under load:\n{text}"
    );
    wrk(url, connections, seconds, extra)
}

/// A wrk Lua script sending a new wrong password with every request.
fn random_password_script(dir: &Path) -> String {
    let script = dir.join("wrong-passwords.lua");
    std::fs::write(
        &script,
        r#"
local b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function enc(data)
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return b64:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end
local n = 0
request = function()
  n = n + 1
  local creds = enc('admin:wrong-' .. tostring(math.random(1, 1e9)) .. '-' .. n)
  return wrk.format(nil, nil, { ['Authorization'] = 'Basic ' .. creds })
end
"#,
    )
    .unwrap();
    script.to_string_lossy().into_owned()
}

/// nginx, stopped (master and workers) when dropped.
struct Nginx(std::process::Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master stops its workers too (SIGKILL would orphan them)
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn start_nginx(root: &Path, work: &Path) -> (Nginx, u16) {
    let nginx = tools::debian_tool("nginx", "nginx-core");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = work.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes auto;\npid {pid};\nerror_log {log} warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 1000000;\n\
               default_type application/octet-stream;\n\
               client_body_temp_path {tmp}/body;\n  proxy_temp_path {tmp}/proxy;\n  fastcgi_temp_path {tmp}/fcgi;\n\
               uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n\
               server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
            pid = work.join("nginx.pid").display(),
            log = work.join("nginx.log").display(),
            tmp = work.display(),
            root = root.display(),
        ),
    )
    .unwrap();
    let child = Command::new(nginx)
        .args(["-c", conf.to_str().unwrap(), "-p", work.to_str().unwrap()])
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Nginx(child), port)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn publish(depot: &DepotServer, name: &str, manifest_url: &str) -> (String, String) {
    let remote = depot
        .create(
            "remotes/file/file/",
            json!({"name": name, "url": manifest_url}),
        )
        .await;
    let repo = depot
        .create(
            "repositories/file/file/",
            json!({"name": name, "remote": remote["pulp_href"]}),
        )
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    depot
        .run_ok(Method::POST, &format!("{repo}sync/"), Some(json!({})))
        .await;
    let t = depot
        .run_ok(
            Method::POST,
            "publications/file/file/",
            Some(json!({"repository": repo})),
        )
        .await;
    (
        repo,
        t["created_resources"][0].as_str().unwrap().to_string(),
    )
}

async fn distribute(depot: &DepotServer, name: &str, target: serde_json::Value) {
    let mut body = json!({"name": name, "base_path": name});
    body.as_object_mut()
        .unwrap()
        .extend(target.as_object().unwrap().clone());
    depot
        .run_ok(Method::POST, "distributions/file/file/", Some(body))
        .await;
}

/// Fetch each path once, one after the other: the latency of each (ms), sorted.
async fn miss_latencies(base: &str, paths: &[String]) -> Vec<f64> {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let t = Instant::now();
        let r = client.get(format!("{base}{p}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        r.bytes().await.unwrap();
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

fn line(label: &str, depot: f64, peer: f64, peer_name: &str, unit: &str, target: f64) {
    let ratio = depot / peer;
    println!(
        "{label:<44} depot {depot:>10.0} {unit}   {peer_name} {peer:>10.0} {unit}   {ratio:>5.2}x  (target >= {target}x) {}",
        if ratio >= target { "ok" } else { "MISSED" }
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds: u64 = std::env::var("DEPOT_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    // the size of the repository for cache misses (100,000 unless set, for quick runs)
    let miss_files: usize = std::env::var("DEPOT_BENCH_MISS_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
        .max(MISS_SAMPLES);
    tools::debian_tool("wrk", "wrk");
    let work = tempfile::tempdir().unwrap();

    // the same two files for nginx and depot
    let hot = work.path().join("hot");
    std::fs::create_dir_all(&hot).unwrap();
    let mut hot_files = Vec::new();
    for (name, size, seed) in [("small.bin", 4096u64, 1u64), ("large.bin", 1 << 20, 2)] {
        let mut rng = depot_testkit::fixtures::Rng::new(seed);
        hot_files.push(depot_testkit::fixtures::write_file(
            &hot, name, size, &mut rng,
        ));
    }
    write_manifest(&hot, "PULP_MANIFEST", &hot_files);
    let (nginx, nginx_port) = start_nginx(&hot, work.path());
    let nginx_url = format!("http://127.0.0.1:{nginx_port}/");

    // 100,000 small files for the cache misses
    eprintln!("building a {miss_files}-file upstream ...");
    let many = work.path().join("many");
    let many_files = file_tree(&many, miss_files, 32, 256, 7);
    write_manifest(&many, "PULP_MANIFEST", &many_files);
    let upstream_hot = Upstream::start(&hot).await;
    let upstream_many = Upstream::start(&many).await;

    let data = work.path().join("data");
    let depot = DepotServer::start_embedded(BIN, &data, &[]).await;
    let (_, hot_publication) = publish(&depot, "hot", &upstream_hot.url("PULP_MANIFEST")).await;
    distribute(&depot, "open", json!({"publication": hot_publication})).await;
    distribute(&depot, "guarded", json!({"publication": hot_publication})).await;
    eprintln!("syncing and publishing {miss_files} files ...");
    let started = Instant::now();
    let (many_repo, many_publication) =
        publish(&depot, "many", &upstream_many.url("PULP_MANIFEST")).await;
    eprintln!("  took {:.1} s", started.elapsed().as_secs_f64());
    distribute(&depot, "many-pub", json!({"publication": many_publication})).await;
    distribute(&depot, "many-repo", json!({"repository": many_repo})).await;

    // the guard: ci reads through the development group
    depot
        .create(
            "users/",
            json!({"username": "ci", "password": "ci-password"}),
        )
        .await;
    let group = depot.create("groups/", json!({"name": "dev"})).await;
    depot
        .create(
            &format!("{}users/", group["pulp_href"].as_str().unwrap()),
            json!({"username": "ci"}),
        )
        .await;
    let guard = depot
        .create("contentguards/core/rbac/", json!({"name": "development"}))
        .await["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    depot
        .call(
            Method::POST,
            &format!("{guard}add_role/"),
            Some(&json!({"role": "core.rbaccontentguard_downloader", "groups": ["dev"]})),
        )
        .await;
    let dist = depot.get("distributions/file/file/?name=guarded").await["results"][0]["pulp_href"]
        .as_str()
        .unwrap()
        .to_string();
    depot
        .run_ok(Method::PATCH, &dist, Some(json!({"content_guard": guard})))
        .await;
    let basic = |user: &str, pw: &str| {
        format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
        )
    };
    let ci = basic("ci", "ci-password");
    let content = |base: &str, path: &str| depot.content_url(&format!("{base}/{path}"));

    println!("\ncontent app, {CONNECTIONS} connections, {seconds} s per run (wrk -t2)");
    let mut summary = Vec::new();
    // each side runs ROUNDS times, in turn, and keeps its best: noise on a shared machine
    // hits both alike
    let best = |a: (f64, f64), b: (f64, f64)| if a.0 >= b.0 { a } else { b };
    for (name, label) in [("small.bin", "4 KiB file"), ("large.bin", "1 MiB file")] {
        let nginx_file = format!("{nginx_url}{name}");
        let depot_file = content("open", name);
        let (mut n, mut d) = (
            wrk_checked(&nginx_file, CONNECTIONS, seconds, &[]),
            wrk_checked(&depot_file, CONNECTIONS, seconds, &[]),
        );
        for _ in 1..ROUNDS {
            n = best(n, wrk(&nginx_file, CONNECTIONS, seconds, &[]));
            d = best(d, wrk(&depot_file, CONNECTIONS, seconds, &[]));
        }
        let ((n_rps, n_mb), (d_rps, d_mb)) = (n, d);
        line(
            &format!("{label}, req/s"),
            d_rps,
            n_rps,
            "nginx",
            "req/s",
            0.8,
        );
        println!(
            "{:<44} depot {d_mb:>10.0} MB/s    nginx {n_mb:>10.0} MB/s",
            format!("{label}, throughput")
        );
        summary.push((label, d_rps, n_rps));
    }
    let open = content("open", "small.bin");
    let guarded = content("guarded", "small.bin");
    // both runs send the same credentials, so wrk does the same work for each and the
    // ratio is what the guard costs depot (the open distribution never reads them)
    let (mut o, mut g) = (
        wrk_checked(&open, CONNECTIONS, seconds, &["-H", &ci]),
        wrk_checked(&guarded, CONNECTIONS, seconds, &["-H", &ci]),
    );
    for _ in 1..ROUNDS {
        o = best(o, wrk(&open, CONNECTIONS, seconds, &["-H", &ci]));
        g = best(g, wrk(&guarded, CONNECTIONS, seconds, &["-H", &ci]));
    }
    let (open_rps, guarded_rps) = (o.0, g.0);
    line(
        "4 KiB through an RBAC guard (Basic auth)",
        guarded_rps,
        open_rps,
        "open",
        "req/s",
        0.9,
    );

    // cache misses: paths never asked for, one at a time
    let step = miss_files / MISS_SAMPLES;
    let paths: Vec<String> = (0..MISS_SAMPLES)
        .map(|i| many_files[i * step].relative_path.clone())
        .collect();
    let (pub_paths, repo_paths) = paths.split_at(MISS_SAMPLES / 2);
    for (label, base, sample) in [
        ("publication", "many-pub", pub_paths),
        ("repository version", "many-repo", repo_paths),
    ] {
        let l = miss_latencies(&depot.content_url(&format!("{base}/")), sample).await;
        let p99 = percentile(&l, 0.99);
        println!(
            "{:<44} p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (target p99 < 5 ms) {}",
            format!("miss, {miss_files} files, {label}"),
            percentile(&l, 0.5),
            p99,
            l[l.len() - 1],
            if p99 < 5.0 { "ok" } else { "MISSED" }
        );
    }

    // a flood of wrong passwords while others read an open path
    let reader = content("open", "small.bin");
    let (alone, _) = wrk(&reader, CONNECTIONS, seconds, &[]);
    let wrong = basic("admin", "wrong-password");
    for (label, flood_args) in [
        (
            "the same wrong password",
            vec!["-H".to_string(), wrong.clone()],
        ),
        (
            "a new wrong password each request",
            vec!["-s".to_string(), random_password_script(work.path())],
        ),
    ] {
        let target = content("guarded", "small.bin");
        let flood = std::thread::spawn(move || {
            let args: Vec<&str> = flood_args.iter().map(String::as_str).collect();
            let _ = Command::new("wrk")
                .args(["-t1", "-c50", &format!("-d{}s", seconds + 2)])
                .args(&args)
                .arg(&target)
                .stdout(Stdio::null())
                .status();
        });
        std::thread::sleep(Duration::from_millis(500));
        let (under, _) = wrk(&reader, CONNECTIONS, seconds, &[]);
        flood.join().unwrap();
        line(
            &format!("readers under 50 clients sending {label}"),
            under,
            alone,
            "alone",
            "req/s",
            0.9,
        );
    }
    let (after, _) = wrk(&reader, CONNECTIONS, seconds, &[]);
    println!(
        "{:<44} {after:.0} req/s (readers alone again)",
        "after the floods"
    );
    drop(nginx);
    println!();
    for (label, d, n) in summary {
        println!("summary: {label}: depot {d:.0} req/s = {:.2}x nginx", d / n);
    }
}
