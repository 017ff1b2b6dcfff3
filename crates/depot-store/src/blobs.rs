//! The blob store: artifact bytes stored once, under their sha256.
//!
//! Bytes are written to a temporary file while their digests are computed, checked against
//! everything the source declared, and only then renamed to `artifact/ab/cdef…`. A partial or
//! corrupt file is therefore never visible under a digest name (invariant 1). A `TempBlob`
//! that is dropped without being committed deletes its file.

use std::io;
use std::path::{Path, PathBuf};

use std::io::Write;

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// Local-directory blob store rooted at the data directory.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
}

/// Digests the caller expects the bytes to have; each one present is verified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedDigests {
    pub size: Option<u64>,
    pub sha224: Option<String>,
    pub sha256: Option<String>,
    pub sha384: Option<String>,
    pub sha512: Option<String>,
}

/// Digests of bytes that were written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digests {
    pub size: u64,
    pub sha256: String,
    pub sha224: Option<String>,
    pub sha384: Option<String>,
    pub sha512: Option<String>,
}

/// A process name as a directory name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Remove the files under `dir` (recursively), keeping directory `keep` itself.
fn remove_files_below(dir: &Path, keep: &Path) -> io::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            n += remove_files_below(&path, keep)?;
            if path != keep {
                let _ = std::fs::remove_dir(&path);
            }
        } else {
            std::fs::remove_file(&path)?;
            n += 1;
        }
    }
    Ok(n)
}

impl BlobStore {
    /// A store under `data_dir` (`artifact/` for blobs, `tmp/` for files being written).
    pub fn open(data_dir: &Path) -> io::Result<BlobStore> {
        let root = data_dir.join("artifact");
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        // all 256 fan-out directories up front: no directory creation per stored blob
        for i in 0..=255u8 {
            std::fs::create_dir_all(root.join(format!("{i:02x}")))?;
        }
        Ok(BlobStore { root, tmp })
    }

    /// Write temporary files under `tmp/<process>/`, so processes sharing the directory
    /// clear only their own leftovers (and those of processes known to be gone).
    pub fn for_process(mut self, process: &str) -> io::Result<BlobStore> {
        let tmp = self.tmp.join(sanitize(process));
        std::fs::create_dir_all(&tmp)?;
        self.tmp = tmp;
        Ok(self)
    }

    /// Remove leftovers of writes that never finished (after a crash): this process's own,
    /// or with `everyone` (no other process uses the directory) all of them.
    pub fn clear_tmp(&self, everyone: bool) -> io::Result<usize> {
        let dir = match (everyone, self.tmp.parent()) {
            (true, Some(root)) if root.file_name() == Some("tmp".as_ref()) => root.to_path_buf(),
            _ => self.tmp.clone(),
        };
        remove_files_below(&dir, &self.tmp)
    }

    /// Remove what a gone process left in its temporary directory.
    pub fn clear_tmp_of(&self, process: &str) -> io::Result<usize> {
        let Some(root) = self.tmp.parent() else {
            return Ok(0);
        };
        let dir = root.join(sanitize(process));
        if dir == self.tmp || !dir.exists() {
            return Ok(0);
        }
        let n = remove_files_below(&dir, &self.tmp)?;
        let _ = std::fs::remove_dir(&dir);
        Ok(n)
    }

    /// Where a blob with this digest lives.
    pub fn path_for(&self, sha256: &str) -> PathBuf {
        let (a, b) = sha256.split_at(2.min(sha256.len()));
        self.root.join(a).join(b)
    }

    /// The artifact's `file` field as Pulp shows it: `artifact/ab/cdef…`.
    pub fn file_name(sha256: &str) -> String {
        let (a, b) = sha256.split_at(2.min(sha256.len()));
        format!("artifact/{a}/{b}")
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Start writing a new blob. `expected` selects which extra digests are computed.
    pub async fn create_temp(&self, expected: &ExpectedDigests) -> io::Result<TempBlob> {
        let path = self.tmp.join(uuid::Uuid::now_v7().to_string());
        let file = std::fs::File::create(&path)?;
        Ok(TempBlob {
            path: Some(path),
            file: Some(io::BufWriter::with_capacity(256 * 1024, file)),
            hasher: Hasher::for_expected(expected),
            size: 0,
        })
    }

    /// Start writing a blob whose sha224, sha384 and sha512 are computed as well (uploads,
    /// where Pulp reports every digest).
    pub async fn create_temp_all(&self) -> io::Result<TempBlob> {
        let all = ExpectedDigests {
            sha224: Some(String::new()),
            sha384: Some(String::new()),
            sha512: Some(String::new()),
            ..Default::default()
        };
        self.create_temp(&all).await
    }

    /// Move a finished temp blob under its digest. If the blob already exists the temp file is
    /// dropped: same digest, same bytes.
    pub async fn commit(&self, mut temp: TempBlob, sha256: &str) -> io::Result<PathBuf> {
        let from = temp.path.take().expect("temp blob committed twice");
        let to = self.path_for(sha256);
        if std::fs::metadata(&to).is_ok() {
            std::fs::remove_file(&from)?;
            return Ok(to);
        }
        std::fs::rename(&from, &to)?;
        Ok(to)
    }

    pub async fn exists(&self, sha256: &str) -> bool {
        tokio::fs::try_exists(self.path_for(sha256))
            .await
            .unwrap_or(false)
    }

    pub async fn remove(&self, sha256: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path_for(sha256)).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Hash a stored blob (for `depot admin check`).
    pub async fn hash_stored(&self, sha256: &str) -> io::Result<Digests> {
        use tokio::io::AsyncReadExt;
        let mut file = tokio::fs::File::open(self.path_for(sha256)).await?;
        let mut hasher = Hasher::for_expected(&ExpectedDigests::default());
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok(hasher.finish(size))
    }
}

/// A blob being written. Dropping it without `BlobStore::commit` deletes the file.
///
/// Writes are plain blocking writes into a buffer: they land in the page cache in
/// microseconds, and doing them inline saves a thread hand-off per write, which dominated the
/// cost of storing many small files.
#[derive(Debug)]
pub struct TempBlob {
    path: Option<PathBuf>,
    file: Option<io::BufWriter<std::fs::File>>,
    hasher: Hasher,
    size: u64,
}

impl TempBlob {
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file
            .as_mut()
            .expect("write after finish")
            .write_all(chunk)
    }

    /// Make everything written so far visible to readers of the file.
    pub async fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Flush the file and return the digests of everything written.
    pub async fn finish(&mut self) -> io::Result<Digests> {
        if let Some(mut file) = self.file.take() {
            file.flush()?;
        }
        let hasher = std::mem::take(&mut self.hasher);
        Ok(hasher.finish(self.size))
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Computes sha256 always and the other digests only when a source declared them.
#[derive(Debug, Default)]
struct Hasher {
    sha256: Sha256,
    sha224: Option<Sha224>,
    sha384: Option<Sha384>,
    sha512: Option<Sha512>,
}

impl Hasher {
    fn for_expected(expected: &ExpectedDigests) -> Hasher {
        Hasher {
            sha256: Sha256::new(),
            sha224: expected.sha224.as_ref().map(|_| Sha224::new()),
            sha384: expected.sha384.as_ref().map(|_| Sha384::new()),
            sha512: expected.sha512.as_ref().map(|_| Sha512::new()),
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        if let Some(h) = &mut self.sha224 {
            h.update(chunk);
        }
        if let Some(h) = &mut self.sha384 {
            h.update(chunk);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(chunk);
        }
    }

    fn finish(self, size: u64) -> Digests {
        Digests {
            size,
            sha256: hex::encode(self.sha256.finalize()),
            sha224: self.sha224.map(|h| hex::encode(h.finalize())),
            sha384: self.sha384.map(|h| hex::encode(h.finalize())),
            sha512: self.sha512.map(|h| hex::encode(h.finalize())),
        }
    }
}

impl ExpectedDigests {
    /// Compare actual digests with the expected ones; the message names what differs.
    pub fn verify(&self, actual: &Digests) -> Result<(), String> {
        if let Some(size) = self.size
            && size != actual.size
        {
            return Err(format!(
                "size mismatch: expected {size} bytes, got {} bytes",
                actual.size
            ));
        }
        let pairs = [
            (
                "sha256",
                self.sha256.as_deref(),
                Some(actual.sha256.as_str()),
            ),
            ("sha224", self.sha224.as_deref(), actual.sha224.as_deref()),
            ("sha384", self.sha384.as_deref(), actual.sha384.as_deref()),
            ("sha512", self.sha512.as_deref(), actual.sha512.as_deref()),
        ];
        for (name, want, got) in pairs {
            if let (Some(want), Some(got)) = (want, got)
                && !want.eq_ignore_ascii_case(got)
            {
                return Err(format!(
                    "{name} checksum mismatch: expected {want}, got {got}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn temp_blob_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut blob = store
            .create_temp(&ExpectedDigests::default())
            .await
            .unwrap();
        blob.write(b"hello").await.unwrap();
        let path = blob.path().unwrap().to_path_buf();
        assert!(path.exists());
        drop(blob);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn commit_stores_under_digest_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let expected = ExpectedDigests {
            size: Some(5),
            sha256: Some("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into()),
            sha512: Some("wrong".into()),
            ..Default::default()
        };
        let mut blob = store.create_temp(&expected).await.unwrap();
        blob.write(b"hello").await.unwrap();
        let digests = blob.finish().await.unwrap();
        assert_eq!(digests.sha256, expected.sha256.clone().unwrap());
        let err = expected.verify(&digests).unwrap_err();
        assert!(err.contains("sha512 checksum mismatch"), "{err}");
        let path = store.commit(blob, &digests.sha256).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"hello");
        assert_eq!(
            BlobStore::file_name(&digests.sha256),
            "artifact/2c/f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn size_mismatch_is_reported_first() {
        let expected = ExpectedDigests {
            size: Some(3),
            ..Default::default()
        };
        let actual = Digests {
            size: 4,
            ..Default::default()
        };
        assert!(
            expected
                .verify(&actual)
                .unwrap_err()
                .contains("size mismatch")
        );
    }
}
