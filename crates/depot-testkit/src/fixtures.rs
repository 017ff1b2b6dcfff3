//! Fixture builders: trees of files with deterministic pseudo-random content and the
//! `PULP_MANIFEST` describing them.

use std::path::Path;

use sha2::{Digest, Sha256};

/// One file of a fixture tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureFile {
    pub relative_path: String,
    pub sha256: String,
    pub size: u64,
}

/// A small xorshift generator: deterministic content without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    /// Uniform in [lo, hi].
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Write one file with `size` pseudo-random bytes; returns its entry.
pub fn write_file(root: &Path, relative_path: &str, size: u64, rng: &mut Rng) -> FixtureFile {
    let path = root.join(relative_path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture dir");
    }
    let mut data = vec![0u8; size as usize];
    rng.fill(&mut data);
    std::fs::write(&path, &data).expect("write fixture file");
    FixtureFile {
        relative_path: relative_path.to_string(),
        sha256: hex::encode(Sha256::digest(&data)),
        size,
    }
}

/// Write a file with given bytes; returns its entry.
pub fn write_bytes(root: &Path, relative_path: &str, data: &[u8]) -> FixtureFile {
    let path = root.join(relative_path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture dir");
    }
    std::fs::write(&path, data).expect("write fixture file");
    FixtureFile {
        relative_path: relative_path.to_string(),
        sha256: hex::encode(Sha256::digest(data)),
        size: data.len() as u64,
    }
}

/// `count` files named `dir/file-<n>.bin` spread over a few directories, sizes in
/// [`min`, `max`] drawn log-uniformly (many small files, some large, like real repositories).
pub fn file_tree(root: &Path, count: usize, min: u64, max: u64, seed: u64) -> Vec<FixtureFile> {
    let mut rng = Rng::new(seed);
    let (lmin, lmax) = ((min as f64).ln(), (max as f64).ln());
    (0..count)
        .map(|i| {
            let u = (rng.next_u64() % 1_000_000) as f64 / 1_000_000.0;
            let size = (lmin + u * (lmax - lmin)).exp().round() as u64;
            let rel = format!("d{:02}/file-{i:05}.bin", i % 16);
            write_file(root, &rel, size.clamp(min, max), &mut rng)
        })
        .collect()
}

/// The `PULP_MANIFEST` text for `files`.
pub fn manifest_text(files: &[FixtureFile]) -> String {
    files
        .iter()
        .map(|f| format!("{},{},{}\n", f.relative_path, f.sha256, f.size))
        .collect()
}

/// Write `PULP_MANIFEST` (or another name) into `root`.
pub fn write_manifest(root: &Path, name: &str, files: &[FixtureFile]) {
    std::fs::write(root.join(name), manifest_text(files)).expect("write manifest");
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
