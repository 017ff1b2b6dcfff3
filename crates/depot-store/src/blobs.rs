//! The blob store: artifact bytes stored once, under their sha256.
//!
//! Bytes are written to a temporary file while their digests are computed, checked against
//! everything the source declared, and only then stored under the digest: renamed to
//! `artifact/ab/cdef…` in the local directory, or uploaded to `<prefix>/artifact/ab/cdef…` in an
//! S3 bucket, where the upload is hashed again as it goes and completed only when the digest
//! matches (aborted otherwise). A partial or corrupt blob is therefore never visible under a
//! digest name (invariant 1). A `TempBlob` that is dropped without being committed deletes
//! its file. No caller opens a stored blob's path itself: reads, ranges, existence, deletion
//! and listing go through this type.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use std::io::Write;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// Where blobs live.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum BlobLocation {
    /// `artifact/` in the data directory.
    #[default]
    Local,
    S3(S3Config),
}

/// An S3 bucket (or an S3-compatible server's).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing '/'.
    pub prefix: String,
    /// `http(s)://host:port` of an S3-compatible server; `None`: AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// `bucket.host` instead of `host/bucket` addressing.
    pub virtual_hosted_style: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // credentials never reach a log line
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .finish_non_exhaustive()
    }
}

impl BlobLocation {
    /// `local` (or empty) or `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> Result<BlobLocation, String> {
        let url = url.trim();
        if url.is_empty() || url == "local" {
            return Ok(BlobLocation::Local);
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(format!(
                "unsupported blob store {url:?}: expected local or s3://BUCKET[/PREFIX]"
            ));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("blob store {url:?} names no bucket"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|s| s == "." || s == "..") {
            return Err(format!(
                "blob store {url:?}: prefix may not contain . or .."
            ));
        }
        Ok(BlobLocation::S3(S3Config {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            ..Default::default()
        }))
    }

    /// `local` or `s3://bucket/prefix`, as shown in logs and /status/.
    pub fn describe(&self) -> String {
        match self {
            BlobLocation::Local => "local".into(),
            BlobLocation::S3(c) if c.prefix.is_empty() => format!("s3://{}", c.bucket),
            BlobLocation::S3(c) => format!("s3://{}/{}", c.bucket, c.prefix),
        }
    }
}

/// Content-addressed blob store: a local directory (under the data directory) or an S3
/// bucket, with temporary files always written locally.
#[derive(Clone, Debug)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
    s3: Option<Arc<S3Blobs>>,
}

#[derive(Debug)]
struct S3Blobs {
    store: object_store::aws::AmazonS3,
    prefix: String,
}

/// Objects at least this large are uploaded in parts of this size.
const PART_SIZE: usize = 8 << 20;
/// Parts of one upload in flight at once.
const PART_CONCURRENCY: usize = 4;

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

/// Bytes of a stored blob, in chunks.
pub type BlobStream = BoxStream<'static, io::Result<Bytes>>;

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

/// An object store error as an I/O error, "not found" kept recognisable.
fn s3_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl BlobStore {
    /// A local store under `data_dir` (`artifact/` for blobs, `tmp/` for files being written).
    pub fn open(data_dir: &Path) -> io::Result<BlobStore> {
        BlobStore::open_at(data_dir, &BlobLocation::Local)
    }

    /// A store at `location`; temporary files are written under `data_dir/tmp/` either way.
    pub fn open_at(data_dir: &Path, location: &BlobLocation) -> io::Result<BlobStore> {
        let root = data_dir.join("artifact");
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        let s3 = match location {
            BlobLocation::Local => {
                // all 256 fan-out directories up front: no directory creation per stored blob
                for i in 0..=255u8 {
                    std::fs::create_dir_all(root.join(format!("{i:02x}")))?;
                }
                None
            }
            BlobLocation::S3(c) => Some(Arc::new(S3Blobs::connect(c)?)),
        };
        Ok(BlobStore { root, tmp, s3 })
    }

    /// Blobs are in an object store rather than a local directory.
    pub fn is_remote(&self) -> bool {
        self.s3.is_some()
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

    /// Where a blob with this digest lives in the local directory.
    fn path_for(&self, sha256: &str) -> PathBuf {
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

    /// Store a finished temp blob under its digest. If the blob already exists the temp
    /// file is dropped: same digest, same bytes.
    pub async fn commit(&self, temp: TempBlob, sha256: &str) -> io::Result<()> {
        self.commit_keeping(temp, sha256).await.map(|_| ())
    }

    /// Like `commit`, saying where the bytes are now: locally the temp file has become the
    /// blob; on an object store the temp file is handed back, still readable, for the caller
    /// to drop once no reader can still want to open it.
    pub async fn commit_keeping(&self, mut temp: TempBlob, sha256: &str) -> io::Result<Committed> {
        if !is_digest(sha256) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a sha256 digest: {sha256:?}"),
            ));
        }
        if let Some(s3) = &self.s3 {
            let from = temp.path.clone().expect("temp blob committed twice");
            s3.upload_verified(&from, sha256).await?;
            return Ok(Committed::Uploaded(Box::new(temp)));
        }
        let from = temp.path.take().expect("temp blob committed twice");
        let to = self.path_for(sha256);
        if std::fs::metadata(&to).is_ok() {
            std::fs::remove_file(&from)?;
        } else {
            std::fs::rename(&from, &to)?;
        }
        Ok(Committed::Local(to))
    }

    pub async fn exists(&self, sha256: &str) -> bool {
        if let Some(s3) = &self.s3 {
            return s3.store.head(&s3.key(sha256)).await.is_ok();
        }
        tokio::fs::try_exists(self.path_for(sha256))
            .await
            .unwrap_or(false)
    }

    /// Delete a blob; one that is not there is not an error.
    pub async fn remove(&self, sha256: &str) -> io::Result<()> {
        if let Some(s3) = &self.s3 {
            return match s3.store.delete(&s3.key(sha256)).await {
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                other => other.map_err(s3_error),
            };
        }
        match tokio::fs::remove_file(self.path_for(sha256)).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// `len` bytes of a blob from `start` (`None`: to the end), in chunks.
    pub async fn read(&self, sha256: &str, start: u64, len: Option<u64>) -> io::Result<BlobStream> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        if let Some(s3) = &self.s3 {
            let range = match len {
                Some(0) => return Ok(futures::stream::empty().boxed()),
                Some(n) => object_store::GetRange::Bounded(start..start + n),
                None if start == 0 => {
                    let r = s3.store.get(&s3.key(sha256)).await.map_err(s3_error)?;
                    return Ok(r.into_stream().map(|c| c.map_err(s3_error)).boxed());
                }
                None => object_store::GetRange::Offset(start),
            };
            let opts = object_store::GetOptions {
                range: Some(range),
                ..Default::default()
            };
            let r = s3
                .store
                .get_opts(&s3.key(sha256), opts)
                .await
                .map_err(s3_error)?;
            return Ok(r.into_stream().map(|c| c.map_err(s3_error)).boxed());
        }
        let mut file = tokio::fs::File::open(self.path_for(sha256)).await?;
        if start > 0 {
            file.seek(io::SeekFrom::Start(start)).await?;
        }
        let capacity = len.unwrap_or(u64::MAX).clamp(1, 256 * 1024) as usize;
        Ok(match len {
            Some(n) => tokio_util::io::ReaderStream::with_capacity(file.take(n), capacity).boxed(),
            None => tokio_util::io::ReaderStream::with_capacity(file, capacity).boxed(),
        })
    }

    /// A whole (small) blob.
    pub async fn read_all(&self, sha256: &str) -> io::Result<Bytes> {
        if let Some(s3) = &self.s3 {
            let r = s3.store.get(&s3.key(sha256)).await.map_err(s3_error)?;
            return r.bytes().await.map_err(s3_error);
        }
        let path = self.path_for(sha256);
        tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(io::Error::other)?
            .map(Bytes::from)
    }

    /// A local file holding the blob's bytes, for readers that need one (header parsers):
    /// the stored file itself, or a temporary copy of an object that is removed on drop.
    pub async fn local_copy(&self, sha256: &str) -> io::Result<LocalBlob> {
        if self.s3.is_none() {
            let path = self.path_for(sha256);
            tokio::fs::metadata(&path).await?;
            return Ok(LocalBlob { path, temp: None });
        }
        let mut temp = self.create_temp(&ExpectedDigests::default()).await?;
        let mut stream = self.read(sha256, 0, None).await?;
        while let Some(chunk) = stream.next().await {
            temp.write(&chunk?).await?;
        }
        let digests = temp.finish().await?;
        if digests.sha256 != sha256 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "stored blob {sha256} is damaged: its sha256 is {}",
                    digests.sha256
                ),
            ));
        }
        Ok(LocalBlob {
            path: temp
                .path()
                .expect("fresh temp blob has a path")
                .to_path_buf(),
            temp: Some(temp),
        })
    }

    /// A short-lived URL a client can fetch the blob from directly (object stores only).
    pub async fn presigned_url(&self, sha256: &str, ttl: Duration) -> io::Result<Option<String>> {
        use object_store::signer::Signer;
        let Some(s3) = &self.s3 else {
            return Ok(None);
        };
        let url = s3
            .store
            .signed_url(http::Method::GET, &s3.key(sha256), ttl)
            .await
            .map_err(s3_error)?;
        Ok(Some(url.to_string()))
    }

    /// Digests of stored blobs after `after`, in order, at most `limit` (for finding
    /// blobs no artifact names).
    pub async fn list_page(&self, after: &str, limit: usize) -> io::Result<Vec<String>> {
        if let Some(s3) = &self.s3 {
            let prefix = object_store::path::Path::from(s3.dir());
            let offset = object_store::path::Path::from(if after.is_empty() {
                s3.dir()
            } else {
                s3.key(after).to_string()
            });
            let mut out = Vec::new();
            let mut list = s3.store.list_with_offset(Some(&prefix), &offset);
            while let Some(meta) = list.next().await {
                let meta = meta.map_err(s3_error)?;
                let parts: Vec<_> = meta.location.parts().collect();
                let n = parts.len();
                if n >= 2 {
                    let sha = format!("{}{}", parts[n - 2].as_ref(), parts[n - 1].as_ref());
                    if is_digest(&sha) && sha.as_str() > after {
                        out.push(sha);
                    }
                }
                if out.len() >= limit {
                    break;
                }
            }
            out.sort();
            return Ok(out);
        }
        let root = self.root.clone();
        let after = after.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for i in 0..=255u8 {
                let dir = format!("{i:02x}");
                if after.len() >= 2 && dir.as_str() < &after[..2] {
                    continue;
                }
                let mut names: Vec<String> = match std::fs::read_dir(root.join(&dir)) {
                    Ok(rd) => rd
                        .filter_map(|e| e.ok())
                        .map(|e| format!("{dir}{}", e.file_name().to_string_lossy()))
                        .filter(|s| is_digest(s) && s.as_str() > after.as_str())
                        .collect(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                names.sort();
                for n in names {
                    out.push(n);
                    if out.len() >= limit {
                        return Ok(out);
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(io::Error::other)?
    }

    /// Hash a stored blob (for `depot admin check`).
    pub async fn hash_stored(&self, sha256: &str) -> io::Result<Digests> {
        let mut stream = self.read(sha256, 0, None).await?;
        let mut hasher = Hasher::for_expected(&ExpectedDigests::default());
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        Ok(hasher.finish(size))
    }
}

impl S3Blobs {
    fn connect(c: &S3Config) -> io::Result<S3Blobs> {
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&c.bucket)
            .with_region(c.region.as_deref().unwrap_or("us-east-1"))
            .with_virtual_hosted_style_request(c.virtual_hosted_style);
        if let Some(endpoint) = &c.endpoint {
            b = b
                .with_endpoint(endpoint.trim_end_matches('/'))
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(k) = &c.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &c.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let store = b.build().map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot use S3 bucket {}: {e}", c.bucket),
            )
        })?;
        Ok(S3Blobs {
            store,
            prefix: c.prefix.clone(),
        })
    }

    /// `<prefix>/artifact/`
    fn dir(&self) -> String {
        if self.prefix.is_empty() {
            "artifact".into()
        } else {
            format!("{}/artifact", self.prefix)
        }
    }

    fn key(&self, sha256: &str) -> object_store::path::Path {
        let (a, b) = sha256.split_at(2.min(sha256.len()));
        object_store::path::Path::from(format!("{}/{a}/{b}", self.dir()))
    }

    /// Upload the file at `from` under `sha256`, hashing it again on the way: the object is
    /// completed only when the bytes sent have that digest; otherwise the upload is aborted
    /// and nothing appears.
    async fn upload_verified(&self, from: &Path, sha256: &str) -> io::Result<()> {
        use tokio::io::AsyncReadExt;
        let key = self.key(sha256);
        if self.store.head(&key).await.is_ok() {
            return Ok(());
        }
        let mut file = tokio::fs::File::open(from).await?;
        let size = file.metadata().await?.len();
        let mut hasher = Sha256::new();
        let mismatch = |got: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("blob changed before upload: expected sha256 {sha256}, sent {got}"),
            )
        };
        if size < PART_SIZE as u64 {
            // one PUT: the object appears whole or not at all
            let mut buf = Vec::with_capacity(size as usize);
            file.read_to_end(&mut buf).await?;
            hasher.update(&buf);
            let got = hex::encode(hasher.finalize());
            if got != sha256 {
                return Err(mismatch(got));
            }
            self.store
                .put(&key, Bytes::from(buf).into())
                .await
                .map_err(s3_error)?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&key).await.map_err(s3_error)?;
        let mut writer = object_store::WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; 1 << 20];
        let sent = async {
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                writer
                    .wait_for_capacity(PART_CONCURRENCY)
                    .await
                    .map_err(s3_error)?;
                writer.write(&buf[..n]);
            }
            io::Result::Ok(())
        }
        .await;
        if let Err(e) = sent {
            let _ = writer.abort().await;
            return Err(e);
        }
        let got = hex::encode(hasher.finalize());
        if got != sha256 {
            let _ = writer.abort().await;
            return Err(mismatch(got));
        }
        writer.finish().await.map_err(s3_error)?;
        Ok(())
    }
}

/// Where a committed blob's bytes can be read.
#[derive(Debug)]
pub enum Committed {
    /// The local file the temp file became.
    Local(PathBuf),
    /// Uploaded to the object store; the temp file is kept until this is dropped.
    Uploaded(Box<TempBlob>),
}

/// A blob as a local file; a temporary copy is removed when this is dropped.
#[derive(Debug)]
pub struct LocalBlob {
    path: PathBuf,
    temp: Option<TempBlob>,
}

impl LocalBlob {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file is a temporary copy (the blob lives in an object store).
    pub fn is_copy(&self) -> bool {
        self.temp.is_some()
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
        store.commit(blob, &digests.sha256).await.unwrap();
        assert_eq!(
            store.read_all(&digests.sha256).await.unwrap().as_ref(),
            b"hello"
        );
        assert_eq!(
            store.list_page("", 10).await.unwrap(),
            vec![digests.sha256.clone()]
        );
        assert!(
            store
                .list_page(&digests.sha256, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let part: Vec<u8> = store
            .read(&digests.sha256, 1, Some(3))
            .await
            .unwrap()
            .map(|c| c.unwrap().to_vec())
            .concat()
            .await;
        assert_eq!(part, b"ell");
        assert_eq!(
            BlobStore::file_name(&digests.sha256),
            "artifact/2c/f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    /// The suite's bucket when it runs on S3 (`DEPOT_TEST_S3`, as `scripts/s3` prints), under a
    /// prefix of this test's own; otherwise the local directory.
    fn test_store(dir: &Path) -> BlobStore {
        let location = match std::env::var("DEPOT_TEST_S3")
            .ok()
            .filter(|s| !s.is_empty())
        {
            None => BlobLocation::Local,
            Some(bucket) => {
                let prefix = format!("unit-{}", uuid::Uuid::now_v7());
                let BlobLocation::S3(mut c) =
                    BlobLocation::parse(&format!("{bucket}/{prefix}")).unwrap()
                else {
                    panic!("DEPOT_TEST_S3 is not an s3:// URL");
                };
                c.endpoint = std::env::var("DEPOT_TEST_S3_ENDPOINT").ok();
                c.region = Some("garage".into());
                c.access_key_id = std::env::var("AWS_ACCESS_KEY_ID").ok();
                c.secret_access_key = std::env::var("AWS_SECRET_ACCESS_KEY").ok();
                BlobLocation::S3(c)
            }
        };
        BlobStore::open_at(dir, &location).unwrap()
    }

    async fn temp_with(store: &BlobStore, bytes: &[u8]) -> (TempBlob, Digests) {
        let mut blob = store
            .create_temp(&ExpectedDigests::default())
            .await
            .unwrap();
        for chunk in bytes.chunks(100_000) {
            blob.write(chunk).await.unwrap();
        }
        let d = blob.finish().await.unwrap();
        (blob, d)
    }

    #[tokio::test]
    async fn large_blobs_round_trip_and_only_verified_bytes_appear() {
        let dir = tempfile::tempdir().unwrap();
        let store = test_store(dir.path());
        // larger than one part: a multipart upload on S3
        let big: Vec<u8> = (0..(PART_SIZE * 2 + 12345) as u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let (blob, d) = temp_with(&store, &big).await;
        assert!(!store.exists(&d.sha256).await);
        store.commit(blob, &d.sha256).await.unwrap();
        assert!(store.exists(&d.sha256).await);
        assert_eq!(store.hash_stored(&d.sha256).await.unwrap(), d);
        let start = PART_SIZE as u64 - 10;
        let part: Vec<u8> = store
            .read(&d.sha256, start, Some(20))
            .await
            .unwrap()
            .map(|c| c.unwrap().to_vec())
            .concat()
            .await;
        assert_eq!(part, &big[start as usize..start as usize + 20]);
        assert_eq!(
            store.list_page("", 10).await.unwrap(),
            vec![d.sha256.clone()]
        );
        // a second commit of the same bytes changes nothing
        let (again, _) = temp_with(&store, &big).await;
        store.commit(again, &d.sha256).await.unwrap();
        assert_eq!(store.list_page("", 10).await.unwrap().len(), 1);

        if store.is_remote() {
            // bytes that changed on disk after they were hashed are not uploaded: small (one
            // PUT) or large (multipart, aborted)
            for len in [1000, PART_SIZE + 1] {
                let bytes = vec![7u8; len];
                let (blob, d) = temp_with(&store, &bytes).await;
                let mut damaged = bytes.clone();
                damaged[len / 2] ^= 1;
                std::fs::write(blob.path().unwrap(), &damaged).unwrap();
                let err = store.commit(blob, &d.sha256).await.unwrap_err();
                assert!(err.to_string().contains("changed before upload"), "{err}");
                assert!(
                    !store.exists(&d.sha256).await,
                    "an unverified object appeared"
                );
            }
            // presigned URLs name the object and carry a signature
            let url = store
                .presigned_url(&d.sha256, Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert!(
                url.contains(&d.sha256[2..]) && url.contains("X-Amz-Signature="),
                "{url}"
            );
        } else {
            assert!(
                store
                    .presigned_url(&d.sha256, Duration::from_secs(60))
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        store.remove(&d.sha256).await.unwrap();
        assert!(!store.exists(&d.sha256).await);
        store.remove(&d.sha256).await.unwrap();
        assert!(store.list_page("", 10).await.unwrap().is_empty());
        let err = store.read_all(&d.sha256).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn blob_store_urls() {
        assert_eq!(BlobLocation::parse("local").unwrap(), BlobLocation::Local);
        let BlobLocation::S3(c) = BlobLocation::parse("s3://bucket/a/b/").unwrap() else {
            panic!()
        };
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("bucket", "a/b"));
        assert!(BlobLocation::parse("s3:///x").is_err());
        assert!(BlobLocation::parse("s3://b/../x").is_err());
        assert!(BlobLocation::parse("file:///srv").is_err());
        let c = S3Config {
            secret_access_key: Some("hunter2".into()),
            ..c
        };
        assert!(!format!("{c:?}").contains("hunter2"));
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
