//! The stored blobs of a depot under test, read and damaged behind its back: files under
//! `artifact/` in the data directory, or objects in the suite's S3 bucket when it runs on S3
//! (`DEPOT_TEST_S3`, see [`crate::server::blob_store_for`]).

use std::path::{Path, PathBuf};

use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::server::{blob_store_for, s3_endpoint};

enum Store {
    Local(PathBuf),
    S3(object_store::aws::AmazonS3, String),
}

fn store(data_dir: &Path) -> Store {
    let Some(url) = blob_store_for(data_dir) else {
        return Store::Local(data_dir.join("artifact"));
    };
    let rest = url.strip_prefix("s3://").expect("an s3:// URL");
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let endpoint = s3_endpoint();
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region("garage")
        .with_allow_http(endpoint.starts_with("http://"))
        .with_endpoint(endpoint)
        .build()
        .expect("S3 client");
    Store::S3(s3, format!("{prefix}/artifact"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The sha256 of every stored blob, sorted.
pub async fn stored(data_dir: &Path) -> Vec<String> {
    let mut out = match store(data_dir) {
        Store::Local(root) => {
            let mut files = Vec::new();
            walk(&root, &mut files);
            files
                .iter()
                .map(|p| {
                    let dir = p.parent().unwrap().file_name().unwrap().to_string_lossy();
                    format!("{dir}{}", p.file_name().unwrap().to_string_lossy())
                })
                .collect()
        }
        Store::S3(s3, prefix) => {
            let prefix = object_store::path::Path::from(prefix);
            let mut list = s3.list(Some(&prefix));
            let mut names = Vec::new();
            while let Some(meta) = list.next().await {
                let parts: Vec<String> = meta
                    .expect("list objects")
                    .location
                    .parts()
                    .map(|p| p.as_ref().to_string())
                    .collect();
                names.push(parts[parts.len() - 2..].concat());
            }
            names
        }
    };
    out.sort();
    out
}

fn split(sha256: &str) -> (&str, &str) {
    sha256.split_at(2)
}

/// A stored blob's bytes.
pub async fn read(data_dir: &Path, sha256: &str) -> Vec<u8> {
    let (a, b) = split(sha256);
    match store(data_dir) {
        Store::Local(root) => std::fs::read(root.join(a).join(b)).expect("read blob"),
        Store::S3(s3, prefix) => s3
            .get(&object_store::path::Path::from(format!("{prefix}/{a}/{b}")))
            .await
            .expect("get object")
            .bytes()
            .await
            .expect("object bytes")
            .to_vec(),
    }
}

/// Replace a stored blob's bytes (to test that damage is found).
pub async fn overwrite(data_dir: &Path, sha256: &str, bytes: Vec<u8>) {
    let (a, b) = split(sha256);
    match store(data_dir) {
        Store::Local(root) => std::fs::write(root.join(a).join(b), bytes).expect("write blob"),
        Store::S3(s3, prefix) => {
            s3.put(
                &object_store::path::Path::from(format!("{prefix}/{a}/{b}")),
                bytes.into(),
            )
            .await
            .expect("put object");
        }
    }
}
