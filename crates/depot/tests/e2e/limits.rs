//! Limits an operator relies on: bounded request bodies, slow or idle clients closed, a bound
//! on connections. Each is driven over raw TCP the way a misbehaving client would.

use std::time::{Duration, Instant};

use depot_testkit::{DepotServer, Upstream};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{BIN, publish_and_distribute, remote, repository, sync, tempdir};

fn addr(depot: &DepotServer) -> String {
    depot.url.trim_start_matches("http://").to_string()
}

/// Read until the server closes the connection (or `limit` passes): (bytes, closed).
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (usize, bool) {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (total, true),
            Ok(Ok(n)) => total += n,
            Err(_) => return (total, false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_and_slow_clients_are_bounded() {
    let tmp = tempdir();
    let depot = DepotServer::start_in(
        BIN,
        &tmp.path().join("data"),
        &[
            "--header-timeout",
            "1",
            "--idle-timeout",
            "1",
            "--max-connections",
            "6",
        ],
    )
    .await;

    // a JSON body past the bound is refused, and nothing is created
    let big = "x".repeat(9 * 1024 * 1024);
    let (s, v) = depot
        .call(
            Method::POST,
            "remotes/file/file/",
            Some(&json!({"name": "big", "url": "http://127.0.0.1:9/x", "description": big})),
        )
        .await;
    assert_eq!(s, 413, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("larger than"), "{v}");
    assert_eq!(depot.get("remotes/").await["count"], 0);

    // headers that never finish: closed after the header timeout
    let mut slow = TcpStream::connect(addr(&depot)).await.unwrap();
    slow.write_all(b"GET /pulp/api/v3/status/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(closed, "a connection with unfinished headers stayed open");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // a connection that sends nothing, and an idle keep-alive connection, likewise
    let mut silent = TcpStream::connect(addr(&depot)).await.unwrap();
    assert!(
        read_until_closed(&mut silent, Duration::from_secs(5))
            .await
            .1
    );
    let mut kept = TcpStream::connect(addr(&depot)).await.unwrap();
    kept.write_all(b"GET /pulp/api/v3/livez/ HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (n, closed) = read_until_closed(&mut kept, Duration::from_secs(5)).await;
    assert!(n > 0 && closed, "answered {n} bytes, closed {closed}");

    // a client that stops reading a large file: closed after the idle timeout, not held
    let dir = tempdir();
    let big = vec![7u8; 48 * 1024 * 1024];
    std::fs::write(dir.path().join("big.iso"), &big).unwrap();
    depot_testkit::write_manifest(
        dir.path(),
        "PULP_MANIFEST",
        &[depot_testkit::FixtureFile {
            relative_path: "big.iso".into(),
            sha256: depot_testkit::sha256_hex(&big),
            size: big.len() as u64,
        }],
    );
    let upstream = Upstream::start(dir.path()).await;
    let r = remote(&depot, "big", &upstream.url("PULP_MANIFEST"), json!({})).await;
    let repo = repository(&depot, "big", Some(&r)).await;
    assert_eq!(sync(&depot, &repo, json!({})).await["state"], "completed");
    publish_and_distribute(&depot, &repo, "big").await;
    let mut stalled = TcpStream::connect(addr(&depot)).await.unwrap();
    stalled
        .write_all(b"GET /pulp/content/big/big.iso HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (got, closed) = read_until_closed(&mut stalled, Duration::from_secs(10)).await;
    assert!(closed, "the stalled download was not closed");
    assert!(
        got < big.len(),
        "the whole file was buffered for a client that did not read ({got} bytes)"
    );

    // at the connection limit, new connections wait until one closes
    let fresh = || {
        reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_millis(700))
            .build()
            .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut held = Vec::new();
    for _ in 0..6 {
        held.push(TcpStream::connect(addr(&depot)).await.unwrap());
    }
    let r = fresh().get(depot.api("livez/")).send().await;
    assert!(r.is_err(), "served past the connection limit: {r:?}");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(r) = fresh().get(depot.api("livez/")).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not served after the connections closed"
        );
    }
    assert!(depot.log_text().contains("connection limit reached"));
}
