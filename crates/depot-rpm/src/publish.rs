//! Publishing an rpm repository version: `repodata/` written from the fragments stored at
//! sync or upload time, packages served at the layout's paths.
//!
//! primary, filelists and other are written concurrently, each streaming pages of
//! fragments from the database through a compressor on a blocking thread into a blob; the
//! version is never held in memory.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use sha2::Digest;

use depot_core::plugin::Family;
use depot_core::resources::publications::{render_by_id, task_version};
use depot_core::tasks::{TaskCtx, TaskError, TaskOutput};
use depot_core::{CoreError, Depot};
use depot_store::content::{NewPublication, VersionFiles};
use depot_store::metadata::MetadataRow;
use depot_store::metadata::PathLayout;
use depot_store::versions::VersionRow;
use depot_store::{Digests, TempBlob};

use crate::compress::{Compression, Compressor};
use crate::packages::Fragment;
use crate::repomd::Record;
use crate::units;

pub const PULP_TYPE: &str = "rpm.rpm";

/// How a publication is written.
#[derive(Clone, Debug)]
pub struct Options {
    pub checksum_type: String,
    pub compression: Compression,
    pub layout: Layout,
    pub signing_service: Option<String>,
    /// What the publication shows (the request's options, resolved).
    pub extra: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    NestedAlphabetically,
    Flat,
}

impl Layout {
    pub fn path(self, filename: &str) -> String {
        match self {
            Layout::Flat => filename.to_string(),
            Layout::NestedAlphabetically => {
                let first = filename
                    .chars()
                    .next()
                    .map(|c| c.to_lowercase().to_string())
                    .unwrap_or_default();
                format!("Packages/{first}/{filename}")
            }
        }
    }
}

impl Options {
    /// From a publish request (`args`) and the repository's settings, the request winning.
    pub fn resolve(args: &Map<String, Value>, repo: &Map<String, Value>) -> Options {
        let pick = |k: &str| -> Option<String> {
            args.get(k)
                .and_then(Value::as_str)
                .or_else(|| repo.get(k).and_then(Value::as_str))
                .map(str::to_string)
        };
        let checksum_type = pick("checksum_type")
            .or_else(|| pick("metadata_checksum_type"))
            .unwrap_or_else(|| "sha256".into());
        let compression_name = pick("compression_type");
        let compression = match compression_name.as_deref() {
            Some("zstd") => Compression::Zstd,
            Some("none") => Compression::None,
            _ => Compression::Gz,
        };
        let layout_name = pick("layout").unwrap_or_else(|| "nested_alphabetically".into());
        let layout = if layout_name == "flat" {
            Layout::Flat
        } else {
            Layout::NestedAlphabetically
        };
        let mut extra = Map::new();
        extra.insert("checksum_type".into(), json!(checksum_type));
        extra.insert(
            "metadata_checksum_type".into(),
            json!(pick("metadata_checksum_type")),
        );
        extra.insert(
            "package_checksum_type".into(),
            json!(pick("package_checksum_type")),
        );
        extra.insert("compression_type".into(), json!(compression_name));
        extra.insert("layout".into(), json!(layout_name));
        extra.insert(
            "repo_config".into(),
            args.get("repo_config")
                .or_else(|| repo.get("repo_config"))
                .cloned()
                .unwrap_or_else(|| json!({})),
        );
        extra.insert("sqlite_metadata".into(), json!(false));
        extra.insert(
            "checkpoint".into(),
            json!(
                args.get("checkpoint")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            ),
        );
        Options {
            checksum_type,
            compression,
            layout,
            signing_service: repo
                .get("metadata_signing_service")
                .and_then(Value::as_str)
                .map(str::to_string),
            extra,
        }
    }
}

pub async fn publish(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let version = task_version(&depot, &ctx.args).await?;
    let repo = depot
        .db
        .repository_get(&version.repository_id)
        .await?
        .ok_or_else(|| TaskError::failed("the repository was deleted"))?;
    let args = ctx.args.as_object().cloned().unwrap_or_default();
    let options = Options::resolve(&args, &depot_core::resources::obj(&repo.extra));
    let (href, prn) = publish_version(&depot, &version, &options).await?;
    ctx.created(&href, &prn);
    let id = href
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(TaskOutput {
        result: Some(render_by_id(&depot, &id).await?),
    })
}

/// One metadata file being written: uncompressed bytes are hashed (open checksum) and
/// compressed on a blocking thread; compressed bytes go to a temp blob.
struct MetaWriter {
    kind: &'static str,
    compressor: Option<Compressor<Vec<u8>>>,
    open: OpenHash,
    open_size: u64,
    blob: TempBlob,
}

enum OpenHash {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl OpenHash {
    fn new(t: &str) -> OpenHash {
        match t {
            "sha384" => OpenHash::Sha384(sha2::Sha384::new()),
            "sha512" => OpenHash::Sha512(sha2::Sha512::new()),
            _ => OpenHash::Sha256(sha2::Sha256::new()),
        }
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            OpenHash::Sha256(h) => h.update(b),
            OpenHash::Sha384(h) => h.update(b),
            OpenHash::Sha512(h) => h.update(b),
        }
    }
    fn hex(self) -> String {
        match self {
            OpenHash::Sha256(h) => hex::encode(h.finalize()),
            OpenHash::Sha384(h) => hex::encode(h.finalize()),
            OpenHash::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

fn io(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("writing metadata: {e}"))
}

impl MetaWriter {
    async fn new(
        depot: &Depot,
        kind: &'static str,
        opts: &Options,
    ) -> Result<MetaWriter, CoreError> {
        Ok(MetaWriter {
            kind,
            compressor: Some(
                Compressor::new(opts.compression, Vec::with_capacity(1 << 20)).map_err(io)?,
            ),
            open: OpenHash::new(&opts.checksum_type),
            open_size: 0,
            blob: depot.blobs.create_temp_all().await.map_err(io)?,
        })
    }

    async fn write(&mut self, bytes: Vec<u8>) -> Result<(), CoreError> {
        self.open.update(&bytes);
        self.open_size += bytes.len() as u64;
        let mut c = self.compressor.take().expect("compressor present");
        let (c, out) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            c.write_all(&bytes)?;
            let out = std::mem::take(c.get_mut());
            Ok((c, out))
        })
        .await
        .map_err(io)?
        .map_err(io)?;
        self.compressor = Some(c);
        if !out.is_empty() {
            self.blob.write(&out).await.map_err(io)?;
        }
        Ok(())
    }

    /// Finish the file, store it, and describe it as a repomd record.
    async fn finish(
        mut self,
        depot: &Depot,
        opts: &Options,
        timestamp: i64,
    ) -> Result<(Record, String), CoreError> {
        let c = self.compressor.take().expect("compressor present");
        let rest = tokio::task::spawn_blocking(move || c.finish())
            .await
            .map_err(io)?
            .map_err(io)?;
        self.blob.write(&rest).await.map_err(io)?;
        let digests = self.blob.finish().await.map_err(io)?;
        let checksum = digest_of(&digests, &opts.checksum_type);
        let base = match self.kind {
            "modules" => "modules.yaml",
            "group" => "comps.xml",
            "primary" => "primary.xml",
            "filelists" => "filelists.xml",
            "other" => "other.xml",
            _ => "updateinfo.xml",
        };
        let name = format!("{checksum}-{base}{}", opts.compression.extension());
        depot
            .blobs
            .commit(self.blob, &digests.sha256)
            .await
            .map_err(io)?;
        let artifact = depot.db.artifact_insert(&digests).await?;
        let compressed = opts.compression != Compression::None;
        Ok((
            Record {
                data_type: self.kind.to_string(),
                checksum_type: opts.checksum_type.clone(),
                checksum,
                open_checksum_type: compressed.then(|| opts.checksum_type.clone()),
                open_checksum: compressed.then(|| self.open.hex()),
                location_href: format!("repodata/{name}"),
                location_base: None,
                timestamp: Some(timestamp),
                size: Some(digests.size),
                open_size: compressed.then_some(self.open_size),
            },
            artifact,
        ))
    }
}

fn digest_of(d: &Digests, t: &str) -> String {
    match t {
        "sha384" => d.sha384.clone(),
        "sha512" => d.sha512.clone(),
        "sha224" => d.sha224.clone(),
        _ => None,
    }
    .unwrap_or_else(|| d.sha256.clone())
}

const PAGE: i64 = 1000;

/// A version's units of one type with their fragments of one kind, page by page.
struct Pages<'a> {
    version: &'a VersionRow,
    pulp_type: &'a str,
    kind: &'a str,
    after: Option<String>,
}

impl<'a> Pages<'a> {
    fn new(version: &'a VersionRow, pulp_type: &'a str, kind: &'a str) -> Pages<'a> {
        Pages {
            version,
            pulp_type,
            kind,
            after: Some(String::new()),
        }
    }

    async fn next(&mut self, depot: &Depot) -> Result<Option<Vec<MetadataRow>>, CoreError> {
        let Some(after) = &self.after else {
            return Ok(None);
        };
        let page = depot
            .db
            .version_metadata(
                &self.version.repository_id,
                self.version.number,
                self.pulp_type,
                self.kind,
                after,
                PAGE,
            )
            .await?;
        self.after = page.last().map(|l| l.content_id.clone());
        Ok((!page.is_empty()).then_some(page))
    }
}

/// The XML declaration and root element of primary, filelists or other.
fn file_head(kind: &str, count: i64) -> Vec<u8> {
    let (root, ns) = root_of(kind);
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} {ns} packages=\"{count}\">\n")
        .into_bytes()
}

fn file_tail(kind: &str) -> Vec<u8> {
    format!("</{}>\n", root_of(kind).0).into_bytes()
}

fn root_of(kind: &str) -> (&'static str, &'static str) {
    match kind {
        units::PRIMARY => (
            "metadata",
            "xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\"",
        ),
        units::FILELISTS => (
            "filelists",
            "xmlns=\"http://linux.duke.edu/metadata/filelists\"",
        ),
        _ => (
            "otherdata",
            "xmlns=\"http://linux.duke.edu/metadata/other\"",
        ),
    }
}

impl Layout {
    fn store_layout(self) -> PathLayout {
        match self {
            Layout::Flat => PathLayout::AsIs,
            Layout::NestedAlphabetically => PathLayout::ByFirstLetter {
                prefix: "Packages/".into(),
            },
        }
    }
}

/// Write one of primary/filelists/other. SQLite joins a page of fragments into one value
/// (each primary fragment with its package's path), so no package passes through the
/// application one by one; a version where some package lacks a filelists or other fragment
/// goes unit by unit. `count` is the number of packages written (`duplicates`, whose file
/// name another package has, left out). The packages themselves are published from the
/// version (see `publication_begin`).
async fn package_file(
    depot: Arc<Depot>,
    version: VersionRow,
    opts: Options,
    kind: &'static str,
    (count, duplicates): (i64, Vec<String>),
    timestamp: i64,
) -> Result<(Record, String), CoreError> {
    let started = std::time::Instant::now();
    let missing = depot
        .db
        .version_missing_fragments(
            &version.repository_id,
            version.number,
            units::PACKAGE,
            kind,
            &duplicates,
        )
        .await?;
    if missing > 0 {
        if kind == units::PRIMARY {
            return Err(CoreError::Internal(format!(
                "{missing} package(s) of the version have no stored primary metadata"
            )));
        }
        return package_file_by_rows(depot, version, opts, kind, (count, duplicates), timestamp)
            .await;
    }
    let layout = opts.layout.store_layout();
    let location = (kind == units::PRIMARY).then(|| layout.clone());
    // a task reads the next pages while this one compresses (two pages wait at most)
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, CoreError>>(2);
    let reader = {
        let (depot, version, skip) = (depot.clone(), version.clone(), duplicates.clone());
        tokio::spawn(async move {
            let mut after = String::new();
            loop {
                let page = depot
                    .db
                    .version_fragments_joined(
                        &version.repository_id,
                        version.number,
                        units::PACKAGE,
                        kind,
                        location.as_ref(),
                        &skip,
                        &after,
                        PAGE,
                    )
                    .await;
                let page = match page {
                    Ok(Some((bytes, last))) => {
                        after = last;
                        Ok(bytes)
                    }
                    Ok(None) => return,
                    Err(e) => Err(CoreError::from(e)),
                };
                let failed = page.is_err();
                if tx.send(page).await.is_err() || failed {
                    return;
                }
            }
        })
    };
    let mut w = MetaWriter::new(&depot, kind, &opts).await?;
    w.write(file_head(kind, count)).await?;
    while let Some(page) = rx.recv().await {
        let mut page = page?;
        if kind == units::PRIMARY {
            // `<path>\x01<fragment>` items joined by `\x02`: each fragment gets its location
            let mut out = Vec::with_capacity(page.len() + page.len() / 16);
            for item in page.split(|b| *b == 2) {
                let sep = item
                    .iter()
                    .position(|b| *b == 1)
                    .ok_or_else(|| CoreError::Internal("a damaged fragment page".into()))?;
                let path = std::str::from_utf8(&item[..sep])
                    .map_err(|_| CoreError::Internal("a package path is not UTF-8".into()))?;
                Fragment::write_with_location(&item[sep + 1..], path, &mut out)
                    .map_err(CoreError::Internal)?;
                out.push(b'\n');
            }
            page = out;
        } else {
            page.push(b'\n');
        }
        w.write(page).await?;
    }
    let _ = reader.await;
    w.write(file_tail(kind)).await?;
    tracing::debug!(kind, elapsed = ?started.elapsed(), "fragments written");
    w.finish(&depot, &opts, timestamp).await
}

/// Write filelists or other unit by unit: packages without a fragment of the kind get a
/// minimal entry.
async fn package_file_by_rows(
    depot: Arc<Depot>,
    version: VersionRow,
    opts: Options,
    kind: &'static str,
    (count, duplicates): (i64, Vec<String>),
    timestamp: i64,
) -> Result<(Record, String), CoreError> {
    let skip: HashSet<String> = duplicates.into_iter().collect();
    let mut w = MetaWriter::new(&depot, kind, &opts).await?;
    w.write(file_head(kind, count)).await?;
    let mut pages = Pages::new(&version, units::PACKAGE, kind);
    while let Some(page) = pages.next(&depot).await? {
        let mut out = Vec::new();
        for row in page.iter().filter(|r| !skip.contains(&r.content_id)) {
            if row.body.is_empty() {
                let data: Value = serde_json::from_str(&row.data).unwrap_or_default();
                minimal_entry(&data, &mut out);
            } else {
                out.extend_from_slice(&row.body);
            }
            out.push(b'\n');
        }
        w.write(out).await?;
    }
    w.write(file_tail(kind)).await?;
    w.finish(&depot, &opts, timestamp).await
}

/// A filelists/other entry for a package whose upstream had none.
fn minimal_entry(data: &Value, out: &mut Vec<u8>) {
    let s = |k: &str| quick_xml::escape::escape(data[k].as_str().unwrap_or_default()).into_owned();
    out.extend_from_slice(
        format!(
            "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\"><version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/></package>",
            s("pkgId"),
            s("name"),
            s("arch"),
            s("epoch"),
            s("version"),
            s("release")
        )
        .as_bytes(),
    );
}

/// A metadata file made of the fragments of units of some types.
struct Concat<'a> {
    data_type: &'static str,
    kind: &'a str,
    types: &'a [&'a str],
    head: String,
    tail: &'a str,
}

/// Concatenate the fragments of the version's units of `types` into one file.
async fn fragments_file(
    depot: &Arc<Depot>,
    version: &VersionRow,
    opts: &Options,
    c: Concat<'_>,
    counts: &HashMap<String, i64>,
    timestamp: i64,
) -> Result<Option<(Record, String)>, CoreError> {
    let Concat {
        data_type,
        kind,
        types,
        head,
        tail,
    } = c;
    let types: Vec<&str> = types
        .iter()
        .copied()
        .filter(|t| counts.get(*t).is_some_and(|n| *n > 0))
        .collect();
    if types.is_empty() {
        return Ok(None);
    }
    // Like createrepo_c and Pulp: comps and modules.yaml are published uncompressed.
    let plain = Options {
        compression: Compression::None,
        ..opts.clone()
    };
    let opts = &plain;
    let mut w = MetaWriter::new(depot, data_type, opts).await?;
    w.write(head.as_bytes().to_vec()).await?;
    for t in types {
        let mut pages = Pages::new(version, t, kind);
        while let Some(page) = pages.next(depot).await? {
            let mut out = Vec::new();
            for row in page {
                out.extend_from_slice(&row.body);
                if !row.body.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            w.write(out).await?;
        }
    }
    w.write(tail.as_bytes().to_vec()).await?;
    Ok(Some(w.finish(depot, opts, timestamp).await?))
}

/// Publish a version; returns the publication's (href, prn).
pub async fn publish_version(
    depot: &Arc<Depot>,
    version: &VersionRow,
    opts: &Options,
) -> Result<(String, String), CoreError> {
    let _gc = depot.blobs_adding().await?;
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let (counts, duplicates) = tokio::try_join!(
        depot
            .db
            .version_type_counts(&version.repository_id, version.number),
        depot
            .db
            .version_duplicate_names(&version.repository_id, version.number, units::PACKAGE),
    )?;
    let counts: HashMap<String, i64> = counts.into_iter().collect();
    if !duplicates.is_empty() {
        tracing::warn!(
            packages = duplicates.len(),
            "packages of the version share a file name with another; publishing the first of each"
        );
    }
    // one file per name: the packages counted are the ones written
    let count = counts.get(units::PACKAGE).copied().unwrap_or(0) - duplicates.len() as i64;
    let job = |kind| {
        package_file(
            depot.clone(),
            version.clone(),
            opts.clone(),
            kind,
            (count, duplicates.clone()),
            timestamp,
        )
    };
    // the package files and the rest (advisories, comps, modules, files kept from upstream)
    // are independent: written at the same time
    // The publication starts now, invisible until complete: its package files go in while
    // the metadata is written (SQLite takes them from the version itself).
    let id = depot_store::new_id();
    let publication = NewPublication {
        id: id.clone(),
        pulp_type: PULP_TYPE.into(),
        repository_version_id: version.id.clone(),
        pass_through: false,
        extra: Value::Object(opts.extra.clone()).to_string(),
    };
    let packages = VersionFiles {
        repository_id: version.repository_id.clone(),
        number: version.number,
        pulp_type: units::PACKAGE.into(),
        layout: opts.layout.store_layout(),
        skip: duplicates.clone(),
    };
    let begin = depot.db.publication_begin(&publication, Some(&packages));
    let finished = publish_files(depot, version, opts, &counts, timestamp, &id, job, begin).await;
    if finished.is_err()
        && let Err(e) = depot.db.publication_abandon(&id).await
    {
        tracing::warn!(error = %e, "cannot remove an unfinished publication (removed at the next start)");
    }
    finished?;
    tracing::debug!(elapsed = ?started.elapsed(), "publication stored");
    Ok(depot_core::core_tasks::created_entry(
        depot,
        Family::Publications,
        PULP_TYPE,
        &id,
    ))
}

/// Write every metadata file of a begun publication and finish it.
#[allow(clippy::too_many_arguments)]
async fn publish_files<J, F>(
    depot: &Arc<Depot>,
    version: &VersionRow,
    opts: &Options,
    counts: &HashMap<String, i64>,
    timestamp: i64,
    id: &str,
    job: J,
    begin: impl std::future::Future<Output = depot_store::Result<()>>,
) -> Result<(), CoreError>
where
    J: Fn(&'static str) -> F,
    F: std::future::Future<Output = Result<(Record, String), CoreError>>,
{
    let started = std::time::Instant::now();
    // the package files and the rest (advisories, comps, modules, files kept from upstream)
    // are independent: written at the same time
    let (_, primary, filelists, other, more) = tokio::try_join!(
        async { begin.await.map_err(CoreError::from) },
        job(units::PRIMARY),
        job(units::FILELISTS),
        job(units::OTHER),
        other_records(depot, version, opts, counts, timestamp),
    )?;
    let mut files = Vec::new();
    let mut records = vec![primary, filelists, other];
    records.extend(more);
    tracing::debug!(elapsed = ?started.elapsed(), "every metadata file written");
    let recs: Vec<Record> = records.iter().map(|(r, _)| r.clone()).collect();
    for (r, artifact) in records {
        files.push((r.location_href, None, Some(artifact)));
    }
    let repomd = crate::repomd::write(&timestamp.to_string(), &recs);
    let repomd_artifact = store_bytes(depot, repomd.as_bytes()).await?;
    if let Some(service) = &opts.signing_service {
        let id = service
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let (sig, key) = depot.sign_detached(id, repomd.as_bytes()).await?;
        files.push((
            "repodata/repomd.xml.asc".into(),
            None,
            Some(store_bytes(depot, &sig).await?),
        ));
        files.push((
            "repodata/repomd.xml.key".into(),
            None,
            Some(store_bytes(depot, key.as_bytes()).await?),
        ));
    }
    files.push(("repodata/repomd.xml".into(), None, Some(repomd_artifact)));
    depot.db.publication_finish(id, &files).await?;
    tracing::debug!(files = files.len(), elapsed = ?started.elapsed(), "metadata files stored");
    Ok(())
}

/// The metadata files besides primary, filelists and other: updateinfo, comps and modules
/// from their units' fragments, and the files kept from upstream as they are.
async fn other_records(
    depot: &Arc<Depot>,
    version: &VersionRow,
    opts: &Options,
    counts: &HashMap<String, i64>,
    timestamp: i64,
) -> Result<Vec<(Record, String)>, CoreError> {
    let mut records = Vec::new();
    const XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    if let Some(r) = fragments_file(
        depot,
        version,
        opts,
        Concat {
            data_type: "updateinfo",
            kind: units::UPDATEINFO,
            types: &[units::ADVISORY],
            head: format!("{XML}<updates>\n"),
            tail: "</updates>\n",
        },
        counts,
        timestamp,
    )
    .await?
    {
        records.push(r);
    }
    if let Some(r) = fragments_file(
        depot,
        version,
        opts,
        Concat {
            data_type: "group",
            kind: units::COMPS,
            types: &[
                units::PACKAGE_GROUP,
                units::PACKAGE_CATEGORY,
                units::PACKAGE_ENVIRONMENT,
                units::PACKAGE_LANGPACKS,
            ],
            head: format!(
                "{XML}<!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n<comps>\n"
            ),
            tail: "</comps>\n",
        },
        counts,
        timestamp,
    )
    .await?
    {
        records.push(r);
    }
    if let Some(r) = fragments_file(
        depot,
        version,
        opts,
        Concat {
            data_type: "modules",
            kind: units::MODULES,
            types: &[
                units::MODULEMD,
                units::MODULEMD_DEFAULTS,
                units::MODULEMD_OBSOLETE,
            ],
            head: String::new(),
            tail: "",
        },
        counts,
        timestamp,
    )
    .await?
    {
        records.push(r);
    }

    // Metadata files kept from upstream, as they are.
    if counts
        .get(units::REPO_METADATA_FILE)
        .is_none_or(|n| *n == 0)
    {
        return Ok(records);
    }
    let mut pages = Pages::new(version, units::REPO_METADATA_FILE, "");
    while let Some(page) = pages.next(depot).await? {
        for row in page {
            let d: Value = serde_json::from_str(&row.data).unwrap_or_default();
            let path = d["relative_path"].as_str().unwrap_or_default().to_string();
            let Some(artifact) = depot
                .db
                .content_artifact_artifact(row.content_artifact_id.as_deref().unwrap_or_default())
                .await?
            else {
                continue;
            };
            records.push((
                Record {
                    data_type: d["data_type"].as_str().unwrap_or_default().to_string(),
                    checksum_type: d["checksum_type"].as_str().unwrap_or("sha256").to_string(),
                    checksum: d["checksum"].as_str().unwrap_or_default().to_string(),
                    location_href: path,
                    timestamp: Some(timestamp),
                    size: Some(artifact.1),
                    ..Default::default()
                },
                artifact.0,
            ));
        }
    }

    Ok(records)
}

/// Store bytes as an artifact; returns its id.
pub async fn store_bytes(depot: &Depot, bytes: &[u8]) -> Result<String, CoreError> {
    let mut blob = depot.blobs.create_temp_all().await.map_err(io)?;
    blob.write(bytes).await.map_err(io)?;
    let digests = blob.finish().await.map_err(io)?;
    depot
        .blobs
        .commit(blob, &digests.sha256)
        .await
        .map_err(io)?;
    depot.db.artifact_insert(&digests).await.map_err(Into::into)
}

/// The publication a `mirror_complete` sync makes: upstream metadata files verbatim (given as
/// (path, artifact id)) and the packages at their upstream locations.
pub async fn store_verbatim_publication(
    depot: &Arc<Depot>,
    version: &VersionRow,
    metadata: Vec<(String, String)>,
) -> Result<(String, String), CoreError> {
    let mut files: Vec<(String, Option<String>, Option<String>)> = metadata
        .into_iter()
        .map(|(path, a)| (path, None, Some(a)))
        .collect();
    let mut taken: HashSet<String> = files.iter().map(|f| f.0.clone()).collect();
    let mut pages = Pages::new(version, units::PACKAGE, "");
    while let Some(page) = pages.next(depot).await? {
        for row in page {
            let d: Value = serde_json::from_str(&row.data).unwrap_or_default();
            let path = d["source_href"].as_str().unwrap_or_default().to_string();
            if !path.is_empty() && taken.insert(path.clone()) {
                files.push((path, row.content_artifact_id, None));
            }
        }
    }
    let id = depot_store::new_id();
    let extra = json!({
        "checksum_type": null, "metadata_checksum_type": null, "package_checksum_type": null,
        "compression_type": null, "layout": null, "repo_config": {}, "sqlite_metadata": false,
        "checkpoint": false,
    });
    depot
        .db
        .publication_create(
            &NewPublication {
                id: id.clone(),
                pulp_type: PULP_TYPE.into(),
                repository_version_id: version.id.clone(),
                pass_through: false,
                extra: extra.to_string(),
            },
            &files,
        )
        .await?;
    Ok(depot_core::core_tasks::created_entry(
        depot,
        Family::Publications,
        PULP_TYPE,
        &id,
    ))
}
