//! Sync from an upstream registry (another depot, a Pulp, a CNCF distribution): its tags,
//! filtered by the remote's includes and excludes, each tag's manifest (and an index's
//! manifests for every platform), and their blobs, fetched now (`immediate`) or on first pull
//! (`on_demand`). Manifests are always fetched and stored: they are the registry's answer to
//! a pull by tag.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use depot_core::core_tasks::new_version_created;
use depot_core::download::Downloader;
use depot_core::href;
use depot_core::resources::{obj, repositories::render_version};
use depot_core::sync::{Policy, SyncRun};
use depot_core::tasks::{TaskCtx, TaskError, TaskOutput};
use depot_store::ExpectedDigests;
use depot_store::content::RemoteSource;

use crate::manifest::{self, ALL_TYPES, Parsed};
use crate::{BLOB, MANIFEST, blob_unit, manifest_unit, tag_unit};

pub const SYNC_TASK: &str = "pulp_container.app.tasks.synchronize";

/// Largest manifest or config fetched.
const MAX_DOCUMENT: usize = 4 << 20;

/// `*` and `?` wildcards, as fnmatch.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

/// An upstream registry, with the token its Bearer challenge led to.
struct Upstream<'a> {
    downloader: &'a Downloader,
    base: String,
    name: String,
    token: Option<String>,
}

fn challenge_params(header: &str) -> Option<BTreeMap<String, String>> {
    let rest = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))?;
    let mut out = BTreeMap::new();
    let mut s = rest;
    while let Some((k, v)) = s.split_once('=') {
        let k = k.trim().trim_start_matches(',').trim().to_string();
        let v = v.trim_start();
        let (value, tail) = if let Some(q) = v.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = v.find(',').unwrap_or(v.len());
            (v[..end].to_string(), &v[end..])
        };
        out.insert(k, value);
        s = tail;
    }
    Some(out)
}

impl Upstream<'_> {
    /// GET a registry path, answering a Bearer challenge once with the remote's credentials.
    async fn get(&mut self, path: &str, accept: &[&str]) -> Result<reqwest::Response, TaskError> {
        let url = format!("{}{path}", self.base);
        let accept = accept.join(", ");
        let headers: Vec<(&str, &str)> = if accept.is_empty() {
            vec![]
        } else {
            vec![("Accept", accept.as_str())]
        };
        let fail = |e: depot_core::download::DownloadError| TaskError::failed(e.message);
        let mut r = self
            .downloader
            .send(&url, &headers, self.token.as_deref())
            .await
            .map_err(fail)?;
        if r.status() == reqwest::StatusCode::UNAUTHORIZED {
            let header = r
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let Some(params) = challenge_params(&header) else {
                return Err(TaskError::failed(format!(
                    "{url}: the upstream registry refused the credentials (401)"
                )));
            };
            let realm = params.get("realm").cloned().unwrap_or_default();
            let mut token_url = reqwest::Url::parse(&realm).map_err(|e| {
                TaskError::failed(format!(
                    "the upstream's token realm {realm:?} is not a URL: {e}"
                ))
            })?;
            {
                let mut q = token_url.query_pairs_mut();
                if let Some(s) = params.get("service") {
                    q.append_pair("service", s);
                }
                q.append_pair(
                    "scope",
                    params
                        .get("scope")
                        .map(String::as_str)
                        .unwrap_or(&format!("repository:{}:pull", self.name)),
                );
            }
            let t = self
                .downloader
                .send(token_url.as_str(), &[], None)
                .await
                .map_err(fail)?;
            if !t.status().is_success() {
                return Err(TaskError::failed(format!(
                    "the upstream's token service answered {} for the remote's credentials",
                    t.status().as_u16()
                )));
            }
            let v: Value = t
                .json()
                .await
                .map_err(|e| TaskError::failed(format!("token answer: {e}")))?;
            let token = v["token"]
                .as_str()
                .or(v["access_token"].as_str())
                .unwrap_or_default()
                .to_string();
            self.token = Some(token);
            r = self
                .downloader
                .send(&url, &headers, self.token.as_deref())
                .await
                .map_err(fail)?;
        }
        if !r.status().is_success() {
            return Err(TaskError::failed(format!(
                "upstream returned {} for {url}",
                r.status().as_u16()
            )));
        }
        Ok(r)
    }

    async fn bytes(
        &mut self,
        path: &str,
        accept: &[&str],
    ) -> Result<(bytes::Bytes, Option<String>), TaskError> {
        let r = self.get(path, accept).await?;
        let content_type = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if r.content_length()
            .is_some_and(|l| l as usize > MAX_DOCUMENT)
        {
            return Err(TaskError::failed(format!(
                "{path}: larger than {MAX_DOCUMENT} bytes"
            )));
        }
        let b = r
            .bytes()
            .await
            .map_err(|e| TaskError::failed(format!("{path}: {e}")))?;
        if b.len() > MAX_DOCUMENT {
            return Err(TaskError::failed(format!(
                "{path}: larger than {MAX_DOCUMENT} bytes"
            )));
        }
        Ok((b, content_type))
    }

    /// Every tag, following `Link` pages.
    async fn tags(&mut self) -> Result<Vec<String>, TaskError> {
        let mut out = Vec::new();
        let mut path = format!("/v2/{}/tags/list?n=1000", self.name);
        loop {
            let r = self.get(&path, &[]).await?;
            let next = r
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| {
                    l.split_once('<')
                        .and_then(|(_, r)| r.split_once('>'))
                        .map(|(u, _)| u.to_string())
                });
            let v: Value = r
                .json()
                .await
                .map_err(|e| TaskError::failed(format!("the upstream's tags list: {e}")))?;
            let page: Vec<String> = v["tags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if page.is_empty() {
                break;
            }
            out.extend(page);
            match next {
                Some(n) => {
                    path = match n.find("/v2/") {
                        Some(i) => n[i..].to_string(),
                        None => break,
                    }
                }
                None => break,
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// A manifest fetched from upstream, parsed and stored.
struct Fetched {
    digest: String,
    parsed: Parsed,
    content_id: String,
    artifact_id: String,
}

pub async fn synchronize(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let run = SyncRun::start(&ctx).await?;
    let mirror = ctx
        .args
        .get("mirror")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let extra = obj(&run.remote.extra);
    let upstream_name = extra
        .get("upstream_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if run.remote.url.is_empty() || upstream_name.is_empty() {
        return Err(TaskError::failed(
            "A remote must have a url and an upstream_name to synchronize.",
        ));
    }
    let list = |a: &str, b: &str| -> Option<Vec<String>> {
        let mut v: Vec<String> = Vec::new();
        let mut any = false;
        for k in [a, b] {
            if let Some(Value::Array(items)) = extra.get(k) {
                any = true;
                v.extend(items.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
        }
        any.then_some(v)
    };
    let includes = list("includes", "include_tags");
    let mut excludes = list("excludes", "exclude_tags").unwrap_or_default();
    excludes.push("sha256-*".into());

    let mut up = Upstream {
        downloader: &run.downloader,
        base: run.remote.url.trim_end_matches('/').to_string(),
        name: upstream_name.clone(),
        token: None,
    };
    let p = ctx.progress("sync.downloading.tags", "Downloading tag list", Some(1));
    let all_tags = up.tags().await?;
    p.increment(1);
    p.finish();
    let tags: Vec<String> = all_tags
        .into_iter()
        .filter(|t| {
            includes
                .as_ref()
                .is_none_or(|inc| inc.iter().any(|p| matches(p, t)))
        })
        .filter(|t| !excludes.iter().any(|p| matches(p, t)))
        .collect();

    let blob_type = depot.plugins.content_def(BLOB).map(|d| d.def.clone());
    let manifest_type = depot.plugins.content_def(MANIFEST).map(|d| d.def.clone());
    let blob_href = |id: &str| {
        blob_type
            .as_ref()
            .map(|d| href::of(d, id))
            .unwrap_or_default()
    };
    let manifest_href = |id: &str| {
        manifest_type
            .as_ref()
            .map(|d| href::of(d, id))
            .unwrap_or_default()
    };

    let progress = ctx.progress(
        "sync.processing.tag",
        "Processing Tags",
        Some(tags.len() as i64),
    );
    let mut done: BTreeMap<String, (String, String, String)> = BTreeMap::new(); // digest -> (id, artifact, media type)
    for tag in &tags {
        ctx.check_canceled()?;
        let root = fetch_manifest(
            &depot,
            &run,
            &mut up,
            tag,
            &blob_href,
            &manifest_href,
            &mut done,
        )
        .await?;
        let (digest, media_type, id, artifact) = (
            root.digest,
            root.parsed.media_type,
            root.content_id,
            root.artifact_id,
        );
        let unit = tag_unit(tag, &digest, &media_type, &manifest_href(&id), &artifact);
        depot.db.declare_units(&[unit], Some(&ctx.id)).await?;
        progress.increment(1);
    }
    progress.finish();

    if run.policy == Policy::Immediate {
        run.download_artifacts().await?;
    }
    let number = run.commit(mirror).await?;
    let Some(number) = number else {
        return Ok(TaskOutput::default());
    };
    new_version_created(&depot, &ctx, &run.repository.id, number).await?;
    let version = depot
        .db
        .version_get(&run.repository.id, number)
        .await?
        .ok_or_else(|| TaskError::failed("the new version vanished"))?;
    Ok(TaskOutput {
        result: Some(render_version(&depot, &version)),
    })
}

/// Fetch the manifest at `reference` (and, for an index, every manifest it lists), store it,
/// declare its blobs as remote content and it as a unit staged for the new version.
#[allow(clippy::too_many_arguments)]
fn fetch_manifest<'a>(
    depot: &'a std::sync::Arc<depot_core::Depot>,
    run: &'a SyncRun,
    up: &'a mut Upstream<'_>,
    reference: &'a str,
    blob_href: &'a (dyn Fn(&str) -> String + Sync),
    manifest_href: &'a (dyn Fn(&str) -> String + Sync),
    done: &'a mut BTreeMap<String, (String, String, String)>,
) -> futures::future::BoxFuture<'a, Result<Fetched, TaskError>> {
    Box::pin(async move {
        let path = format!("/v2/{}/manifests/{reference}", up.name);
        let (bytes, content_type) = up.bytes(&path, ALL_TYPES).await?;
        let sha = hex::encode(Sha256::digest(&bytes));
        let digest = format!("sha256:{sha}");
        if manifest::is_digest(reference) && reference != digest {
            return Err(TaskError::failed(format!(
                "the upstream's manifest {reference} has the digest {digest}"
            )));
        }
        let parsed = manifest::parse(&bytes, content_type.as_deref())
            .map_err(|e| TaskError::failed(format!("the upstream's manifest {reference}: {e}")))?;
        if let Some((id, artifact, _)) = done.get(&digest) {
            return Ok(Fetched {
                digest,
                parsed,
                content_id: id.clone(),
                artifact_id: artifact.clone(),
            });
        }
        let ctx = &run.ctx;
        // listed manifests first: the index names them by href
        let mut listed = Vec::new();
        for (d, _) in parsed.manifests.clone() {
            let child =
                fetch_manifest(depot, run, up, &d.digest, blob_href, manifest_href, done).await?;
            listed.push(json!(manifest_href(&child.content_id)));
        }
        // blobs: remote content, fetched now or on first pull
        let mut blob_units = Vec::new();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for d in parsed
            .config
            .iter()
            .chain(parsed.layers.iter().filter(|l| !l.urls))
        {
            if !seen.insert(d.digest.clone()) {
                continue;
            }
            blob_units.push(blob_unit(
                &d.digest,
                None,
                Some(RemoteSource {
                    remote_id: run.remote.id.clone(),
                    url: format!("{}/v2/{}/blobs/{}", up.base, up.name, d.digest),
                    expected: ExpectedDigests {
                        size: Some(d.size as u64),
                        sha256: Some(d.digest["sha256:".len()..].to_string()),
                        ..Default::default()
                    },
                }),
            ));
        }
        let blob_ids = depot.db.declare_units(&blob_units, Some(&ctx.id)).await?;
        let config: Option<Value> = match &parsed.config {
            Some(c) if (c.size as usize) <= MAX_DOCUMENT => {
                let hex = &c.digest["sha256:".len()..];
                match depot.blobs.read_all(hex).await {
                    Ok(b) => serde_json::from_slice(&b).ok(),
                    Err(_) => {
                        let (b, _) = up
                            .bytes(&format!("/v2/{}/blobs/{}", up.name, c.digest), &[])
                            .await?;
                        serde_json::from_slice(&b).ok()
                    }
                }
            }
            _ => None,
        };
        // the manifest's bytes, stored
        let _adding = depot.blobs_adding().await?;
        let mut temp = depot.blobs.create_temp(&ExpectedDigests::default()).await?;
        temp.write(&bytes).await?;
        let digests = temp.finish().await?;
        depot.blobs.commit(temp, &sha).await?;
        let artifact = match depot.db.artifact_by_sha256(&sha).await? {
            Some(a) => a.id,
            None => depot.db.artifact_insert(&digests).await?,
        };
        let mut data: Map<String, Value> = manifest::fields(&parsed, config.as_ref());
        let mut hrefs: Vec<Value> = blob_ids.iter().map(|id| json!(blob_href(id))).collect();
        let config_href = if parsed.config.is_some() && !hrefs.is_empty() {
            hrefs.remove(0)
        } else {
            Value::Null
        };
        data.insert("blobs".into(), Value::from(hrefs));
        data.insert("config_blob".into(), config_href);
        data.insert("listed_manifests".into(), Value::from(listed));
        let subject = parsed.subject.as_ref().map(|s| s.digest.clone());
        let unit = manifest_unit(&digest, data, &artifact, subject.as_deref());
        let id = depot
            .db
            .declare_units(&[unit], Some(&ctx.id))
            .await?
            .remove(0);
        done.insert(
            digest.clone(),
            (id.clone(), artifact.clone(), parsed.media_type.clone()),
        );
        Ok(Fetched {
            digest,
            parsed,
            content_id: id,
            artifact_id: artifact,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_fnmatch() {
        assert!(matches("2024.1-*", "2024.1-rocky-9-20240922T102435"));
        assert!(!matches("2024.1-*", "2023.1-rocky-9"));
        assert!(matches("v?", "v1"));
        assert!(!matches("v?", "v10"));
        assert!(matches("*", ""));
        assert!(matches("sha256-*", "sha256-abc.sig"));
    }

    #[test]
    fn bearer_challenges_are_read() {
        let p = challenge_params(
            r#"Bearer realm="http://h:5000/token/",service="h:5000",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(p["realm"], "http://h:5000/token/");
        assert_eq!(p["service"], "h:5000");
        assert_eq!(p["scope"], "repository:a/b:pull");
        assert!(challenge_params("Basic realm=\"x\"").is_none());
    }
}
