//! The real `depot` binary under test: started on an ephemeral loopback port with its own
//! data directory, driven over HTTP, stopped with SIGTERM or killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// The PostgreSQL server the suite runs against instead of SQLite, when set: a URL without
/// a database name (`postgres://user@127.0.0.1:5432`). `scripts/test` starts one.
pub const POSTGRES_ENV: &str = "DEPOT_TEST_POSTGRES";

/// The metadata database of the depot on `data_dir`: `None` (SQLite in the data directory)
/// unless the suite runs on PostgreSQL, where each data directory gets a database of its
/// own, created on first use (so a restart on the same directory finds its data).
pub fn database_for(data_dir: &Path) -> Option<String> {
    let server = std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty())?;
    let server = server.trim_end_matches('/');
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.to_string_lossy().as_bytes());
    let name = format!("depot_{}", &hex::encode(digest)[..20]);
    let psql = crate::tools::require("psql", "PSQL");
    let out = Command::new(&psql)
        .arg(format!("{server}/postgres"))
        .args(["-v", "ON_ERROR_STOP=1", "-qAtc"])
        .arg(format!(
            "SELECT 1 FROM pg_database WHERE datname = '{name}'"
        ))
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql cannot reach {server}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if String::from_utf8_lossy(&out.stdout).trim() != "1" {
        let out = Command::new(&psql)
            .arg(format!("{server}/postgres"))
            .args(["-v", "ON_ERROR_STOP=1", "-qc"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .expect("run psql");
        let err = String::from_utf8_lossy(&out.stderr);
        // two processes may race to create it
        assert!(
            out.status.success() || err.contains("already exists"),
            "cannot create database {name}: {err}"
        );
    }
    Some(format!("{server}/{name}"))
}

/// The S3 bucket the suite keeps blobs in instead of data directories, when set
/// (`s3://BUCKET`), with the server in `DEPOT_TEST_S3_ENDPOINT` and the key in
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`. `scripts/s3` starts one.
pub const S3_ENV: &str = "DEPOT_TEST_S3";

/// The blob store of the depot on `data_dir`: `None` (its `artifact/` directory) unless the
/// suite runs on S3, where each data directory gets a prefix of its own in the bucket.
pub fn blob_store_for(data_dir: &Path) -> Option<String> {
    let bucket = std::env::var(S3_ENV).ok().filter(|s| !s.is_empty())?;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.to_string_lossy().as_bytes());
    Some(format!(
        "{}/{}",
        bucket.trim_end_matches('/'),
        &hex::encode(digest)[..20]
    ))
}

/// The suite's S3 server (`DEPOT_TEST_S3_ENDPOINT`).
pub fn s3_endpoint() -> String {
    std::env::var("DEPOT_TEST_S3_ENDPOINT").expect("DEPOT_TEST_S3_ENDPOINT names the S3 server")
}

/// A `depot` command for the depot on `data_dir`, pointed at its metadata database and its
/// blob store.
pub fn depot_command(binary: impl AsRef<std::ffi::OsStr>, data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary);
    match database_for(data_dir) {
        Some(url) => cmd.env("DEPOT_DATABASE_URL", url),
        None => cmd.env_remove("DEPOT_DATABASE_URL"),
    };
    match blob_store_for(data_dir) {
        Some(url) => cmd
            .env("DEPOT_BLOB_STORE", url)
            .env("DEPOT_S3_ENDPOINT", s3_endpoint())
            .env("DEPOT_S3_REGION", "garage"),
        None => cmd
            .env_remove("DEPOT_BLOB_STORE")
            .env_remove("DEPOT_S3_ENDPOINT"),
    };
    cmd
}

/// A `depot` command on the embedded default (SQLite + local directory).
pub fn embedded_command(binary: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_remove("DEPOT_DATABASE_URL")
        .env_remove("DEPOT_BLOB_STORE")
        .env_remove("DEPOT_S3_ENDPOINT");
    cmd
}

/// A running depot server.
pub struct DepotServer {
    pub binary: PathBuf,
    pub data_dir: PathBuf,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub log: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
    extra_args: Vec<String>,
    /// On SQLite and the data directory whatever the suite runs on.
    embedded: bool,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for DepotServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl DepotServer {
    /// Start a fresh server with a temporary data directory.
    pub async fn start(binary: &str) -> DepotServer {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut s = DepotServer::start_in(binary, &data, &[]).await;
        s._tmp = Some(tmp);
        s
    }

    /// Start a server on `data_dir` with extra `depot serve` arguments.
    pub async fn start_in(binary: &str, data_dir: &Path, extra_args: &[&str]) -> DepotServer {
        DepotServer::launch(binary, data_dir, extra_args, false).await
    }

    async fn launch(
        binary: &str,
        data_dir: &Path,
        extra_args: &[&str],
        embedded: bool,
    ) -> DepotServer {
        let mut s = DepotServer {
            binary: PathBuf::from(binary),
            data_dir: data_dir.to_path_buf(),
            url: String::new(),
            log: data_dir.with_extension("log"),
            child: None,
            // the test client trusts whatever certificate a depot under test presents; tests
            // of certificate checking use their own clients
            http: reqwest::Client::builder()
                .no_proxy()
                .danger_accept_invalid_certs(true)
                .timeout(Duration::from_secs(120))
                .build()
                .expect("http client"),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            embedded,
            _tmp: None,
        };
        s.spawn(None).await;
        s
    }

    /// Start a server on `data_dir` on the embedded default (SQLite + local directory),
    /// whatever backend the suite runs on.
    pub async fn start_embedded(binary: &str, data_dir: &Path, extra_args: &[&str]) -> DepotServer {
        DepotServer::launch(binary, data_dir, extra_args, true).await
    }

    /// (Re)start the process, on `port` if given (a restart keeps its address).
    async fn spawn(&mut self, port: Option<u16>) {
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        let mut cmd = if self.embedded {
            embedded_command(&self.binary)
        } else {
            depot_command(&self.binary, &self.data_dir)
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(&self.extra_args)
            .env("DEPOT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("DEPOT_LOG", "info,depot_core=debug")
            .env_remove("DEPOT_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start depot binary");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<String>();
        let log_path = self.log.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(l) = log.as_mut() {
                    let _ = writeln!(l, "{line}");
                }
                if let Some(rest) = line.split("serving on ").nth(1) {
                    let url = rest.split('/').take(3).collect::<Vec<_>>().join("/");
                    let _ = tx.send(url);
                }
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .expect("join")
            .unwrap_or_else(|_| panic!("depot did not start; see {}", self.log.display()));
        self.url = url;
        self.child = Some(child);
    }

    /// One row of a query on this depot's metadata database, whichever backend holds it
    /// (for tests that check what no API shows, like rows a failure must not leave).
    pub fn sql_row(&self, sql: &str) -> Vec<String> {
        let database = match self.embedded {
            true => None,
            false => database_for(&self.data_dir),
        };
        let out = match database {
            Some(url) => Command::new(crate::tools::require("psql", "PSQL"))
                .arg(url)
                .args(["-v", "ON_ERROR_STOP=1", "-qAtc", sql])
                .output(),
            None => Command::new("python3")
                .arg("-c")
                .arg(
                    "import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); \
                     print('|'.join(str(v) for v in d.execute(sys.argv[2]).fetchone()))",
                )
                .arg(self.data_dir.join("depot.sqlite3"))
                .arg(sql)
                .output(),
        }
        .expect("run the database client");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split('|')
            .map(str::to_string)
            .collect()
    }

    /// Files under the data directory's `tmp/` (each process writes below its own
    /// subdirectory): unfinished writes, which nothing should leave behind.
    pub fn temp_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir.join("tmp"), &mut out);
        out
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for the process to exit; returns its exit status code.
    pub async fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        tokio::task::spawn_blocking(move || child.wait().ok().and_then(|s| s.code()))
            .await
            .ok()
            .flatten()
    }

    /// Start again on the same data directory and port.
    pub async fn restart(&mut self) {
        self.kill9();
        let port = self.port();
        self.spawn(Some(port)).await;
    }

    pub fn api(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else if path.starts_with("/pulp/") {
            format!("{}{path}", self.url)
        } else {
            format!("{}/pulp/api/v3/{}", self.url, path.trim_start_matches('/'))
        }
    }

    pub fn content_url(&self, path: &str) -> String {
        format!("{}/pulp/content/{}", self.url, path.trim_start_matches('/'))
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An authenticated API call; returns the status and the JSON body (Null if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.api(path))
            .basic_auth("admin", Some(ADMIN_PASSWORD));
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request to depot");
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(Method::GET, path, None).await;
        assert_eq!(s, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// POST expecting 201 with the created object.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let (s, v) = self.call(Method::POST, path, Some(&body)).await;
        assert_eq!(s, StatusCode::CREATED, "POST {path}: {v}");
        v
    }

    /// Call an endpoint that answers 202 with a task and wait for the task to finish.
    pub async fn run_task(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(method.clone(), path, body.as_ref()).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{method} {path}: {v}");
        self.wait_task(v["task"].as_str().expect("task href")).await
    }

    /// Poll a task until it is completed, failed or canceled.
    pub async fn wait_task(&self, href: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let t = self.get(href).await;
            match t["state"].as_str() {
                Some("completed" | "failed" | "canceled" | "skipped") => return t,
                _ if Instant::now() > deadline => panic!("task {href} did not finish: {t}"),
                _ => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    /// Like `run_task` but the task must complete.
    pub async fn run_ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let t = self.run_task(method.clone(), path, body).await;
        assert_eq!(t["state"], "completed", "{method} {path}: {t}");
        t
    }

    /// Fetch a content-app path anonymously: (status, body bytes).
    pub async fn fetch(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let r = self
            .http
            .get(self.content_url(path))
            .send()
            .await
            .expect("content request");
        let status = r.status();
        (
            status,
            r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        )
    }

    /// The server log so far (for assertions and failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Peak resident memory of a process in KiB (`VmHWM`), and current (`VmRSS`).
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Reset the peak RSS counter of a process (so each phase of a benchmark reports its own).
pub fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
