//! Load generation for benchmarks: many concurrent HTTP clients against depot.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `clients` concurrent clients fetching `urls` round-robin for `seconds`, with Basic
/// credentials when given. Every answer must be 200. Returns (requests/s, MB/s).
pub async fn throughput(
    urls: Vec<String>,
    credentials: Option<(String, String)>,
    clients: usize,
    seconds: u64,
) -> (f64, f64) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("http client");
    let urls = Arc::new(urls);
    let credentials = Arc::new(credentials);
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let (client, urls, credentials, requests, bytes) = (
            client.clone(),
            urls.clone(),
            credentials.clone(),
            requests.clone(),
            bytes.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = i;
            while Instant::now() < deadline {
                let mut req = client.get(&urls[n % urls.len()]);
                if let Some((u, p)) = credentials.as_ref() {
                    req = req.basic_auth(u, Some(p));
                }
                let r = req.send().await.expect("request");
                assert_eq!(r.status(), 200, "{}", urls[n % urls.len()]);
                let b = r.bytes().await.expect("body");
                bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
                requests.fetch_add(1, Ordering::Relaxed);
                n += clients;
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    let secs = started.elapsed().as_secs_f64();
    (
        requests.load(Ordering::Relaxed) as f64 / secs,
        bytes.load(Ordering::Relaxed) as f64 / secs / 1_000_000.0,
    )
}
