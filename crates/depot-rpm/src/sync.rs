//! Sync from a yum/dnf repository.
//!
//! 1. Find the repository: the remote's url holds `repodata/repomd.xml`, or it is a mirror
//!    list or metalink naming mirrors (tried in order).
//! 2. Read repomd.xml; stop early when it and everything else is unchanged (`optimize`).
//! 3. Download each record, verifying its checksum, and stream it through its parser on a
//!    blocking thread, batches flowing to the database: packages (with their primary,
//!    filelists and other fragments), advisories, comps, module documents; records of other
//!    types are kept as metadata files.
//! 4. Download packages (`immediate`), commit the version; with `mirror_complete` publish
//!    the upstream metadata verbatim.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;

use serde_json::{Value, json};

use depot_core::core_tasks::new_version_created;
use depot_core::download::join_url;
use depot_core::resources::{obj, repositories::render_version};
use depot_core::sync::{BATCH, Policy, SyncRun};
use depot_core::tasks::{TaskCtx, TaskError, TaskOutput};
use depot_store::content::{NewUnit, RemoteSource};
use depot_store::{Digests, ExpectedDigests, TempBlob};

use crate::repomd::{self, Record, Repomd};
use crate::{compress, mirrors, modules, packages, records, units};

/// Pulp's sync policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    Additive,
    MirrorContentOnly,
    MirrorComplete,
}

impl SyncPolicy {
    pub fn parse(s: &str) -> Option<SyncPolicy> {
        Some(match s {
            "additive" => SyncPolicy::Additive,
            "mirror_content_only" => SyncPolicy::MirrorContentOnly,
            "mirror_complete" => SyncPolicy::MirrorComplete,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SyncPolicy::Additive => "additive",
            SyncPolicy::MirrorContentOnly => "mirror_content_only",
            SyncPolicy::MirrorComplete => "mirror_complete",
        }
    }
}

/// Record types depot reads itself.
const PARSED: &[&str] = &[
    "primary",
    "filelists",
    "other",
    "updateinfo",
    "group",
    "group_gz",
    "modules",
];

/// Record types derived from the parsed ones, regenerated (or not) at publish; not kept.
fn derived(t: &str) -> bool {
    t.ends_with("_db") || t.ends_with("_zck") || matches!(t, "prestodelta" | "deltainfo")
}

/// Where the repository was found.
struct Upstream {
    /// Base URLs (ending in '/'), the one that answered first.
    bases: Vec<String>,
    repomd_blob: TempBlob,
    repomd_digests: Digests,
    repomd: Repomd,
}

fn failed(e: impl std::fmt::Display) -> TaskError {
    TaskError::failed(e.to_string())
}

pub async fn synchronize(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let mut run = SyncRun::start(&ctx).await?;
    let policy = match ctx.args.get("sync_policy").and_then(Value::as_str) {
        Some(p) => {
            SyncPolicy::parse(p).ok_or_else(|| failed(format!("unknown sync_policy '{p}'")))?
        }
        None if ctx.args.get("mirror").and_then(Value::as_bool) == Some(true) => {
            SyncPolicy::MirrorComplete
        }
        None => SyncPolicy::Additive,
    };
    let skip_types: Vec<String> = ctx
        .args
        .get("skip_types")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let skip_srpm = skip_types.iter().any(|t| t == "srpm");
    let optimize = ctx
        .args
        .get("optimize")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if run.remote.url.is_empty() {
        return Err(failed(
            "[PLP0013] Sync failed: A remote must have a url specified to synchronize.",
        ));
    }

    let upstream = locate(&run).await?;
    let base = upstream.bases[0].clone();
    if policy == SyncPolicy::MirrorComplete {
        refuse_unmirrorable(&upstream.repomd, &run.remote.url)?;
    }

    if optimize && should_skip(&run, policy, &skip_types, &upstream.repomd_digests.sha256).await? {
        let p = ctx.progress(
            "sync.was_skipped",
            "Skipping Sync (no change from previous sync)",
            Some(1),
        );
        p.increment(1);
        p.finish();
        return Ok(TaskOutput::default());
    }

    // Download every record we read, verifying it; keep them for mirror_complete.
    let records = &upstream.repomd.records;
    let pick = |t: &str| records.iter().find(|r| r.data_type == t);
    let primary = pick("primary").ok_or_else(|| {
        failed(format!(
            "{base}repodata/repomd.xml lists no primary metadata"
        ))
    })?;
    let mut fetched: Vec<(Record, TempBlob, Digests)> = Vec::new();
    let downloading = ctx.progress(
        "sync.downloading.metadata",
        "Downloading Metadata Files",
        None,
    );
    for r in records {
        let wanted = PARSED.contains(&r.data_type.as_str())
            || !derived(&r.data_type)
            || policy == SyncPolicy::MirrorComplete;
        if !wanted {
            continue;
        }
        let (blob, digests) = fetch_record(&run, &upstream.bases, r).await?;
        downloading.increment(1);
        fetched.push((r.clone(), blob, digests));
    }
    downloading.finish();
    let path_of = |r: &Record| -> Option<PathBuf> {
        fetched
            .iter()
            .find(|(x, _, _)| x.data_type == r.data_type)
            .and_then(|(_, b, _)| b.path().map(|p| p.to_path_buf()))
    };

    // Packages.
    let parsed = ctx.progress("sync.parsing.packages", "Parsed Packages", None);
    let remote_id = run.remote.id.clone();
    let mut seen: HashSet<String> = HashSet::new();
    let mirror_complete = policy == SyncPolicy::MirrorComplete;
    let primary_path = path_of(primary).expect("primary was fetched");
    let mut stream = Parsed::start(primary_path, |i, e| packages::parse_primary(i, e));
    while let Some(batch) = stream.next().await {
        let mut units = Vec::with_capacity(batch.len());
        for p in batch {
            if skip_srpm && p.arch == "src" {
                continue;
            }
            if mirror_complete {
                check_mirrorable(&p, &run.remote.url)?;
            }
            if !seen.insert(p.nevra()) {
                tracing::warn!(nevra = %p.nevra(), "upstream lists a package twice; keeping the first");
                continue;
            }
            let from = p.location_base.clone().unwrap_or_else(|| base.clone());
            let url = join_url(&from, &p.location_href).map_err(failed)?;
            let expected = units::expected(&p.checksum_type, &p.pkgid, p.size_package);
            let source = RemoteSource {
                remote_id: remote_id.clone(),
                url,
                expected,
            };
            units.push(units::package(p, Some(source), None, vec![]));
        }
        parsed.increment(units.len() as i64);
        declare(&mut run, units).await?;
    }
    stream.finish().await?;
    drop(seen);
    parsed.set_total(parsed.done());
    parsed.finish();

    // Their filelists and other entries.
    let extras: [(&str, &str, ParseFn<packages::Extra>); 2] = [
        ("filelists", units::FILELISTS, |i, e| {
            packages::parse_extra(i, "filelists", e)
        }),
        ("other", units::OTHER, |i, e| {
            packages::parse_extra(i, "otherdata", e)
        }),
    ];
    for (t, kind, parse) in extras {
        let Some(path) = pick(t).and_then(path_of) else {
            continue;
        };
        let mut stream = Parsed::start(path, parse);
        while let Some(batch) = stream.next().await {
            let entries: Vec<(String, Vec<u8>)> = batch
                .into_iter()
                .map(|e| (units::package_key_prefix(&e.pkgid), e.fragment))
                .collect();
            depot
                .db
                .metadata_put_by_key_prefix(units::PACKAGE, kind, &entries)
                .await
                .map_err(failed)?;
        }
        stream.finish().await?;
    }

    // Advisories, comps, module documents: one unit per element, the first of each key.
    if let Some(path) = pick("updateinfo").and_then(path_of) {
        let p = ctx.progress("sync.parsing.advisories", "Parsed Advisories", None);
        let stream = Parsed::start(path, |i, e| {
            records::parse(i, "updateinfo.xml", "updates", &["update"], e)
        });
        declare_elements(&mut run, stream, &p, units::advisory).await?;
    }
    if let Some(path) = pick("group").or_else(|| pick("group_gz")).and_then(path_of) {
        let p = ctx.progress("sync.parsing.comps", "Parsed Comps", None);
        let stream = Parsed::start(path, |i, e| {
            records::parse(
                i,
                "comps.xml",
                "comps",
                &["group", "category", "environment", "langpacks"],
                e,
            )
        });
        declare_elements(&mut run, stream, &p, units::comps).await?;
    }
    if let Some(path) = pick("modules").and_then(path_of) {
        let p = ctx.progress("sync.parsing.modulemds", "Parsed Modulemd", None);
        let stream = Parsed::start(path, |i, e| modules::parse(i, e));
        declare_elements(&mut run, stream, &p, units::module_document).await?;
    }

    // Other records: kept as they are.
    let _gc = depot.blobs_adding().await?;
    let mut metadata_files: Vec<(String, String)> = Vec::new(); // (href, artifact id)
    let mut kept = Vec::new();
    for (r, blob, digests) in fetched {
        let parsed_type = PARSED.contains(&r.data_type.as_str());
        let keep_as_unit = !parsed_type && !derived(&r.data_type);
        if !keep_as_unit && !mirror_complete {
            continue;
        }
        depot
            .blobs
            .commit(blob, &digests.sha256)
            .await
            .map_err(|e| failed(format!("storing {}: {e}", r.location_href)))?;
        let artifact = depot.db.artifact_insert(&digests).await.map_err(failed)?;
        if keep_as_unit {
            let name = packages::filename_of(&r.location_href).unwrap_or(&r.data_type);
            kept.push(units::repo_metadata_file(
                &r.data_type,
                &r.checksum_type,
                &r.checksum,
                &format!("repodata/{name}"),
                artifact.clone(),
            ));
        }
        metadata_files.push((r.location_href.clone(), artifact));
    }
    if !kept.is_empty() {
        declare(&mut run, kept).await?;
    }
    run.parsed_all();

    if run.policy == Policy::Immediate {
        run.download_artifacts().await?;
    }
    let retain = obj(&run.repository.extra)
        .get("retain_package_versions")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let number = if retain > 0 && policy == SyncPolicy::Additive {
        // the whole next version is staged, so older package versions can be left out of it
        let key = depot
            .plugins
            .repository(crate::PULP_TYPE)
            .and_then(|r| r.repo_key)
            .unwrap_or("$.repo_key");
        crate::retention::stage_whole_version(
            &depot,
            &ctx.id,
            &run.repository.id,
            run.repository.latest_version,
            key,
        )
        .await?;
        let dropped = crate::retention::drop_old_versions(&depot, &ctx.id, retain as usize).await?;
        tracing::info!(dropped, retain, "older package versions left out");
        run.commit(true).await?
    } else {
        run.commit(policy != SyncPolicy::Additive).await?
    };
    let latest = number.unwrap_or(run.repository.latest_version);

    let mut extra = obj(&depot
        .db
        .repository_get(&run.repository.id)
        .await?
        .map(|r| r.extra)
        .unwrap_or_default());
    extra.insert(
        "last_sync_details".into(),
        json!({
            "url": run.remote.url,
            "remote_pk": run.remote.id,
            "remote_last_updated": run.remote.pulp_last_updated,
            "download_policy": run.remote.policy,
            "repomd_checksum": upstream.repomd_digests.sha256,
            "sync_policy": policy.as_str(),
            "skip_types": skip_types,
            "most_recent_version": latest,
        }),
    );
    depot
        .db
        .repository_set_extra(&run.repository.id, &Value::Object(extra).to_string())
        .await?;

    if let Some(n) = number {
        new_version_created(&depot, &ctx, &run.repository.id, n).await?;
    }
    if mirror_complete {
        let version = depot
            .db
            .version_get(&run.repository.id, latest)
            .await?
            .ok_or_else(|| failed("the repository version vanished"))?;
        let mut verbatim = metadata_files;
        let repomd_artifact = {
            depot
                .blobs
                .commit(upstream.repomd_blob, &upstream.repomd_digests.sha256)
                .await
                .map_err(|e| failed(format!("storing repomd.xml: {e}")))?;
            depot
                .db
                .artifact_insert(&upstream.repomd_digests)
                .await
                .map_err(failed)?
        };
        verbatim.push(("repodata/repomd.xml".into(), repomd_artifact));
        for extra_file in ["repodata/repomd.xml.asc", "repodata/repomd.xml.key"] {
            if let Some(a) = fetch_optional(&run, &base, extra_file).await? {
                verbatim.push((extra_file.to_string(), a));
            }
        }
        let (href, prn) =
            crate::publish::store_verbatim_publication(&depot, &version, verbatim).await?;
        ctx.created(&href, &prn);
    }
    // Like Pulp: the result is the repository's version, the existing one when nothing changed.
    let version = depot
        .db
        .version_get(&run.repository.id, latest)
        .await?
        .ok_or_else(|| failed("the repository version vanished"))?;
    Ok(TaskOutput {
        result: Some(render_version(&depot, &version)),
    })
}

async fn declare(run: &mut SyncRun, units: Vec<NewUnit>) -> Result<(), TaskError> {
    if units.is_empty() {
        return Ok(());
    }
    run.declare(units).await
}

/// Declare the units made from parsed elements, keeping the first of each (type, key).
async fn declare_elements<T: Send + 'static>(
    run: &mut SyncRun,
    mut stream: Parsed<T>,
    progress: &depot_core::tasks::Progress,
    make: fn(T) -> Result<NewUnit, String>,
) -> Result<(), TaskError> {
    let mut keys = HashSet::new();
    while let Some(batch) = stream.next().await {
        let mut units = Vec::with_capacity(batch.len());
        for el in batch {
            let u = make(el).map_err(failed)?;
            let key = u
                .natural_key
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string();
            if keys.insert((u.pulp_type.clone(), key)) {
                units.push(u);
            }
        }
        progress.increment(units.len() as i64);
        declare(run, units).await?;
    }
    stream.finish().await?;
    progress.set_total(progress.done());
    progress.finish();
    Ok(())
}

/// A package of a complete mirror must be served from where upstream metadata says it is.
fn check_mirrorable(p: &packages::Package, url: &str) -> Result<(), TaskError> {
    let why = if let Some(b) = &p.location_base {
        format!("package '{}' has an xml:base location ({b})", p.nevra())
    } else if p.location_href.split('/').any(|s| s == "..") {
        format!(
            "package '{}' is located outside the repository ('../' in '{}')",
            p.nevra(),
            p.location_href
        )
    } else {
        return Ok(());
    };
    Err(failed(format!(
        "[RPM0006] The repository at {url} uses features which are incompatible with 'mirror' \
         sync (sync_policy 'mirror_complete'): {why}, so its metadata cannot be served verbatim. \
         Sync it with the 'mirror_content_only' sync policy instead."
    )))
}

/// Fetch repomd.xml from the remote's url, or through the mirror list / metalink it names.
async fn locate(run: &SyncRun) -> Result<Upstream, TaskError> {
    let url = run.remote.url.trim().to_string();
    let direct = if url.ends_with('/') {
        url.clone()
    } else {
        format!("{url}/")
    };
    let first = match fetch_repomd(run, &direct, &[]).await {
        Ok((blob, digests, repomd)) => {
            return Ok(Upstream {
                bases: vec![direct],
                repomd_blob: blob,
                repomd_digests: digests,
                repomd,
            });
        }
        Err(e) => e,
    };
    // Maybe a mirror list or a metalink.
    let doc = match run
        .downloader
        .download(&run.depot().blobs, &url, &ExpectedDigests::default())
        .await
    {
        Ok((blob, _)) => read_small(&blob).await?,
        Err(_) => return Err(failed(first)),
    };
    let Ok(list) = mirrors::parse(&doc) else {
        return Err(failed(first));
    };
    let mut errors = Vec::new();
    for (i, base) in list.bases.iter().enumerate() {
        match fetch_repomd(run, base, &list.repomd_sha256).await {
            Ok((blob, digests, repomd)) => {
                let mut bases = vec![base.clone()];
                bases.extend(list.bases[i + 1..].iter().cloned());
                return Ok(Upstream {
                    bases,
                    repomd_blob: blob,
                    repomd_digests: digests,
                    repomd,
                });
            }
            Err(e) => errors.push(e),
        }
    }
    Err(failed(format!(
        "No mirror named by {url} serves a usable repository: {}",
        errors.join("; ")
    )))
}

async fn read_small(blob: &TempBlob) -> Result<Vec<u8>, TaskError> {
    let path = blob.path().ok_or_else(|| failed("a download vanished"))?;
    if blob.size() > 64 * 1024 * 1024 {
        return Err(failed("a metadata document is larger than 64 MiB"));
    }
    tokio::fs::read(path).await.map_err(failed)
}

async fn fetch_repomd(
    run: &SyncRun,
    base: &str,
    allowed_sha256: &[String],
) -> Result<(TempBlob, Digests, Repomd), String> {
    let url = join_url(base, "repodata/repomd.xml")?;
    let (blob, digests) = run
        .downloader
        .download(&run.depot().blobs, &url, &ExpectedDigests::default())
        .await
        .map_err(|e| e.to_string())?;
    if !allowed_sha256.is_empty() && !allowed_sha256.contains(&digests.sha256) {
        return Err(format!(
            "{url} is not the repomd.xml the metalink lists (the mirror is out of date)"
        ));
    }
    let bytes = read_small(&blob).await.map_err(|e| match e {
        TaskError::Failed(m) => m,
        TaskError::Canceled => "canceled".to_string(),
    })?;
    let repomd = repomd::parse(&bytes).map_err(|e| format!("{url}: {e}"))?;
    Ok((blob, digests, repomd))
}

/// Download one record from the first base that serves it correctly.
async fn fetch_record(
    run: &SyncRun,
    bases: &[String],
    r: &Record,
) -> Result<(TempBlob, Digests), TaskError> {
    let expected = units::expected(&r.checksum_type, &r.checksum, r.size);
    let check_sha1 = matches!(r.checksum_type.as_str(), "sha" | "sha1");
    if !check_sha1
        && expected
            == (ExpectedDigests {
                size: r.size,
                ..Default::default()
            })
    {
        return Err(failed(format!(
            "repomd.xml record '{}' uses checksum type '{}', which depot cannot verify",
            r.data_type, r.checksum_type
        )));
    }
    let mut errors = Vec::new();
    for base in bases {
        let from = r.location_base.as_deref().unwrap_or(base);
        let url = join_url(from, &r.location_href).map_err(failed)?;
        match run
            .downloader
            .download(&run.depot().blobs, &url, &expected)
            .await
        {
            Ok((blob, digests)) => {
                if check_sha1 {
                    let path = blob
                        .path()
                        .ok_or_else(|| failed("a download vanished"))?
                        .to_path_buf();
                    let got = tokio::task::spawn_blocking(move || sha1_file(&path))
                        .await
                        .map_err(failed)?
                        .map_err(failed)?;
                    if !got.eq_ignore_ascii_case(&r.checksum) {
                        errors.push(format!(
                            "{url}: sha1 mismatch: expected {}, got {got}",
                            r.checksum
                        ));
                        continue;
                    }
                }
                return Ok((blob, digests));
            }
            Err(e) => errors.push(e.to_string()),
        }
        if r.location_base.is_some() {
            break;
        }
    }
    Err(failed(format!(
        "could not download the '{}' metadata: {}",
        r.data_type,
        errors.join("; ")
    )))
}

fn sha1_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    let mut f = std::io::BufReader::new(std::fs::File::open(path)?);
    loop {
        let buf = f.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        h.update(buf);
        let n = buf.len();
        f.consume(n);
    }
    Ok(hex::encode(h.finalize()))
}

/// An optional upstream file (a signature, a key), stored as an artifact; `None` on 404.
async fn fetch_optional(
    run: &SyncRun,
    base: &str,
    path: &str,
) -> Result<Option<String>, TaskError> {
    let url = join_url(base, path).map_err(failed)?;
    let depot = run.depot();
    match run
        .downloader
        .download(&depot.blobs, &url, &ExpectedDigests::default())
        .await
    {
        Ok((blob, digests)) => {
            depot
                .blobs
                .commit(blob, &digests.sha256)
                .await
                .map_err(failed)?;
            Ok(Some(
                depot.db.artifact_insert(&digests).await.map_err(failed)?,
            ))
        }
        Err(e) if e.status == Some(404) || e.status == Some(403) => Ok(None),
        Err(e) => Err(failed(e)),
    }
}

/// mirror_complete serves upstream metadata verbatim: refuse what cannot be served so.
fn refuse_unmirrorable(repomd: &Repomd, url: &str) -> Result<(), TaskError> {
    let why = |what: String| {
        Err(failed(format!(
            "[RPM0006] The repository at {url} uses features which are incompatible with \
             'mirror' sync (sync_policy 'mirror_complete'): {what}. Sync it with the \
             'mirror_content_only' sync policy instead."
        )))
    };
    for r in &repomd.records {
        if let Some(b) = &r.location_base {
            return why(format!(
                "its '{}' metadata has an xml:base location ({b}), which cannot be served verbatim",
                r.data_type
            ));
        }
        if r.location_href.split('/').any(|s| s == "..") {
            return why(format!(
                "its '{}' metadata is located outside the repository ('../' in '{}')",
                r.data_type, r.location_href
            ));
        }
        if matches!(r.data_type.as_str(), "prestodelta" | "deltainfo") {
            return why(format!(
                "it has delta RPM metadata ('{}'), which depot does not sync",
                r.data_type
            ));
        }
    }
    Ok(())
}

/// Pulp's optimisation: skip when the upstream repomd.xml, the remote and the sync options
/// are those of the last sync, and the repository is still at the version it produced.
async fn should_skip(
    run: &SyncRun,
    policy: SyncPolicy,
    skip_types: &[String],
    repomd_sha256: &str,
) -> Result<bool, TaskError> {
    let extra = obj(&run.repository.extra);
    let Some(last) = extra.get("last_sync_details").and_then(Value::as_object) else {
        return Ok(false);
    };
    let s = |k: &str| last.get(k).and_then(Value::as_str);
    let same = s("url") == Some(run.remote.url.as_str())
        && s("remote_pk") == Some(run.remote.id.as_str())
        && s("remote_last_updated") == Some(run.remote.pulp_last_updated.as_str())
        && s("repomd_checksum") == Some(repomd_sha256)
        && s("sync_policy") == Some(policy.as_str())
        && last.get("skip_types") == Some(&json!(skip_types))
        && last.get("most_recent_version").and_then(Value::as_i64)
            == Some(run.repository.latest_version)
        && !(run.policy == Policy::Immediate && s("download_policy") != Some("immediate"));
    if !same {
        return Ok(false);
    }
    if run.policy == Policy::Immediate && run.missing_artifacts().await? {
        return Ok(false);
    }
    Ok(true)
}

/// `parse` running over a decompressed metadata file on a blocking thread, handing what it
/// finds over in batches; memory holds at most a few batches. Dropping it stops the parser.
struct Parsed<T> {
    rx: tokio::sync::mpsc::Receiver<Vec<T>>,
    worker: tokio::task::JoinHandle<Result<u64, String>>,
}

type ParseFn<T> =
    fn(Box<dyn BufRead + Send>, &mut dyn FnMut(T) -> Result<(), String>) -> Result<u64, String>;

impl<T: Send + 'static> Parsed<T> {
    fn start(path: PathBuf, parse: ParseFn<T>) -> Parsed<T> {
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<T>>(2);
        let worker = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let input = compress::open(&path).map_err(|e| format!("cannot read metadata: {e}"))?;
            let mut batch = Vec::with_capacity(BATCH);
            let mut each = |t: T| -> Result<(), String> {
                batch.push(t);
                if batch.len() >= BATCH {
                    tx.blocking_send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .map_err(|_| "stopped".to_string())?;
                }
                Ok(())
            };
            let n = parse(input, &mut each)?;
            if !batch.is_empty() {
                tx.blocking_send(batch).map_err(|_| "stopped".to_string())?;
            }
            Ok(n)
        });
        Parsed { rx, worker }
    }

    async fn next(&mut self) -> Option<Vec<T>> {
        self.rx.recv().await
    }

    /// Wait for the parser; its error, if it failed.
    async fn finish(self) -> Result<u64, TaskError> {
        drop(self.rx);
        self.worker
            .await
            .map_err(failed)?
            .map_err(|e| failed(format!("Parsing metadata failed: {e}")))
    }
}
