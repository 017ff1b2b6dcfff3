//! Task throughput, against the real binary:
//!
//!   cargo bench -p depot --bench tasks
//!
//! Queues N tiny tasks (remote updates, spread over 200 remotes so they do not all wait for
//! one resource) and measures how fast they run:
//! - on the embedded default, one process queueing and running at once;
//! - on PostgreSQL (when `DEPOT_TEST_POSTGRES` names a server, as `scripts/postgres` prints),
//!   queued through an API-only process first, then drained by one worker process and
//!   again by two, the figure Pulp's is compared with (about 143 tasks/s with one worker and
//!   275/s with two, measured by Pulp's developers).
//!
//! `DEPOT_BENCH_TASKS` sets N (default 10,000), `DEPOT_BENCH_WORKERS` the tasks each worker
//! process runs at once (default 4).

use std::time::{Duration, Instant};

use depot_testkit::DepotServer;
use depot_testkit::server::POSTGRES_ENV;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_depot");
const REMOTES: usize = 200;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn remotes(depot: &DepotServer) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..REMOTES {
        let r = depot
            .create(
                "remotes/file/file/",
                json!({"name": format!("r{i}"), "url": format!("http://127.0.0.1:9/{i}/PULP_MANIFEST")}),
            )
            .await;
        out.push(r["pulp_href"].as_str().unwrap().to_string());
    }
    out
}

/// Queue `n` remote updates, 32 requests at a time; returns how long queueing took.
async fn queue(depot: &DepotServer, remotes: &[String], n: usize) -> Duration {
    let started = Instant::now();
    let mut calls = futures::stream::iter(0..n)
        .map(|i| {
            let href = remotes[i % remotes.len()].clone();
            async move {
                let (s, v) = depot
                    .call(
                        Method::PATCH,
                        &href,
                        Some(&json!({"download_concurrency": 1 + (i / remotes.len()) % 50})),
                    )
                    .await;
                assert_eq!(s, 202, "{v}");
            }
        })
        .buffer_unordered(32);
    while calls.next().await.is_some() {}
    started.elapsed()
}

/// Wait until no task waits or runs; returns the count of completed tasks.
async fn drained(depot: &DepotServer) -> i64 {
    loop {
        let waiting = depot.get("tasks/?state__in=waiting,running&limit=1").await["count"]
            .as_i64()
            .unwrap();
        if waiting == 0 {
            let v: Value = depot.get("tasks/?state=completed&limit=1").await;
            return v["count"].as_i64().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() {
    let n: usize = env_or("DEPOT_BENCH_TASKS", 10_000);
    let slots: usize = env_or("DEPOT_BENCH_WORKERS", 4);
    println!("task throughput, {n} tiny tasks (remote updates over {REMOTES} remotes)");

    // embedded: one process queues and runs
    {
        let depot = DepotServer::start_embedded(
            BIN,
            &tempfile::tempdir().unwrap().keep().join("data"),
            &["--workers", &slots.to_string()],
        )
        .await;
        let rs = remotes(&depot).await;
        let started = Instant::now();
        queue(&depot, &rs, n).await;
        let done = drained(&depot).await;
        let took = started.elapsed().as_secs_f64();
        println!(
            "{:<52} {:>8.0} tasks/s  ({done} completed in {took:.1} s, queueing included)",
            "SQLite, one process (api + worker)",
            n as f64 / took
        );
    }

    if std::env::var(POSTGRES_ENV).is_ok_and(|v| !v.is_empty()) {
        let mut rates = Vec::new();
        for workers in [1, 2] {
            let data = tempfile::tempdir().unwrap().keep().join("data");
            let api = DepotServer::start_in(BIN, &data, &["--role", "api,content"]).await;
            let rs = remotes(&api).await;
            let q = queue(&api, &rs, n).await;
            let started = Instant::now();
            let mut procs = Vec::new();
            for _ in 0..workers {
                procs.push(
                    DepotServer::start_in(
                        BIN,
                        &data,
                        &["--role", "worker", "--workers", &slots.to_string()],
                    )
                    .await,
                );
            }
            let done = drained(&api).await;
            let took = started.elapsed().as_secs_f64();
            let rate = done as f64 / took;
            rates.push(rate);
            println!(
                "{:<52} {rate:>8.0} tasks/s  ({done} in {took:.1} s; queued at {:.0}/s)",
                format!("PostgreSQL, {workers} worker process(es) x {slots}"),
                n as f64 / q.as_secs_f64()
            );
            drop(procs);
        }
        println!(
            "summary: one worker {:.0} tasks/s (target >= 1000; Pulp ~143), two {:.0} tasks/s ({:.2}x; Pulp ~275)",
            rates[0],
            rates[1],
            rates[1] / rates[0]
        );
    } else {
        println!("(set {POSTGRES_ENV} to measure PostgreSQL and several worker processes)");
    }
}
