//! The workflows: sync, publish, promote, versions, mirror. Each works repository by
//! repository with bounded parallelism and reports one [`Outcome`] per repository.

use std::collections::HashMap;
use std::sync::Arc;

use futures::StreamExt;
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{ApiError, Client, Progress, created, named, quiet};
use crate::config::{RepoEntry, RepoKind, TrainConfig};
use crate::output::Reporter;

/// What happened to one repository.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub short_name: String,
    /// e.g. "synced", "unchanged", "published", "promoted", "failed"
    pub status: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
}

impl Outcome {
    pub fn new(repo: &RepoEntry, status: &str, detail: impl Into<String>) -> Outcome {
        Outcome {
            short_name: repo.label().to_string(),
            status: status.to_string(),
            detail: detail.into(),
            version: None,
            href: None,
        }
    }
    pub fn failed(&self) -> bool {
        self.status == "failed"
    }
}

/// API paths of one content type.
pub struct Paths {
    pub remote: &'static str,
    pub repository: &'static str,
    pub publication: &'static str,
    pub distribution: &'static str,
    /// The component the server must offer.
    pub component: &'static str,
}

pub fn paths(kind: RepoKind) -> Paths {
    match kind {
        RepoKind::Rpm => Paths {
            remote: "remotes/rpm/rpm/",
            repository: "repositories/rpm/rpm/",
            publication: "publications/rpm/rpm/",
            distribution: "distributions/rpm/rpm/",
            component: "rpm",
        },
        RepoKind::Deb => Paths {
            remote: "remotes/deb/apt/",
            repository: "repositories/deb/apt/",
            publication: "publications/deb/apt/",
            distribution: "distributions/deb/apt/",
            component: "deb",
        },
        RepoKind::File => Paths {
            remote: "remotes/file/file/",
            repository: "repositories/file/file/",
            publication: "publications/file/file/",
            distribution: "distributions/file/file/",
            component: "file",
        },
    }
}

pub use crate::pins::is_version;

/// Check the server offers every content type `repos` need.
pub async fn check_components(client: &Client, repos: &[&RepoEntry]) -> Result<(), ApiError> {
    let offered = client.components().await?;
    for r in repos {
        let want = paths(r.kind).component;
        if !offered.iter().any(|c| c == want) {
            return Err(ApiError::new(format!(
                "{}: the server at {} does not offer the '{want}' content type",
                r.origin,
                client.origin()
            )));
        }
    }
    Ok(())
}

/// Run `work` over `repos`, at most `parallel` at a time, keeping the input order.
pub async fn each<F, Fut>(repos: Vec<&RepoEntry>, parallel: usize, work: F) -> Vec<Outcome>
where
    F: Fn(RepoEntry) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut indexed: Vec<(usize, Outcome)> =
        futures::stream::iter(repos.into_iter().cloned().enumerate().map(|(i, r)| {
            let fut = work(r);
            async move { (i, fut.await) }
        }))
        .buffer_unordered(parallel.max(1))
        .collect()
        .await;
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, o)| o).collect()
}

/// The remote and repository of `repo` exist with the configured settings; returns the
/// repository.
///
/// Credentials are write-only: they are sent when the remote has none yet, or with
/// `resend_credentials` (after the upstream refused the stored ones). Sending them on every
/// run would touch the remote each time and defeat the server's no-change sync shortcut.
async fn ensure_repository(
    client: &Client,
    repo: &RepoEntry,
    repo_name: &str,
    remote_fields: Value,
    resend_credentials: bool,
) -> Result<Value, ApiError> {
    let p = paths(repo.kind);
    let remote_name = format!("{repo_name}-remote");
    let remote = match client.find(p.remote, &remote_name).await? {
        None => {
            client
                .call(
                    Method::POST,
                    p.remote,
                    Some(&named(&remote_name, remote_fields)),
                )
                .await?
        }
        Some(existing) => {
            let mut changes = serde_json::Map::new();
            let is_set = |name: &str| {
                existing["hidden_fields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|h| h["name"] == name && h["is_set"] == true)
            };
            for (k, v) in remote_fields.as_object().cloned().unwrap_or_default() {
                let secret = k == "password" || k == "username";
                let send = if secret {
                    resend_credentials || !is_set(&k)
                } else {
                    existing.get(&k) != Some(&v)
                };
                if send {
                    changes.insert(k, v);
                }
            }
            let href = existing["pulp_href"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !changes.is_empty() {
                client
                    .write(
                        Method::PATCH,
                        &href,
                        Some(&Value::Object(changes)),
                        &mut quiet(),
                    )
                    .await?;
            }
            client.get(&href).await?
        }
    };
    let remote_href = remote["pulp_href"].as_str().unwrap_or_default().to_string();
    match client.find(p.repository, repo_name).await? {
        None => {
            client
                .call(
                    Method::POST,
                    p.repository,
                    Some(&named(repo_name, json!({"remote": remote_href}))),
                )
                .await
        }
        Some(existing) => {
            let href = existing["pulp_href"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if existing["remote"] != json!(remote_href) {
                client
                    .write(
                        Method::PATCH,
                        &href,
                        Some(&json!({"remote": remote_href})),
                        &mut quiet(),
                    )
                    .await?;
                return client.get(&href).await;
            }
            Ok(existing)
        }
    }
}

/// The remote settings of a repository entry.
fn remote_fields(repo: &RepoEntry, url: &str, policy: Option<&str>) -> Value {
    let mut f = json!({"url": url});
    if let Some(p) = policy {
        f["policy"] = json!(p);
    }
    if repo.kind == RepoKind::Deb {
        for k in ["distributions", "components", "architectures"] {
            if let Some(v) = repo.extra.get(k) {
                f[k] = v.clone();
            }
        }
    }
    f
}

/// The sync request of a repository entry.
fn sync_body(repo: &RepoEntry, sync_policy: Option<&str>, mirror: Option<bool>) -> Value {
    match repo.kind {
        RepoKind::Rpm => match sync_policy {
            Some(p) => json!({"sync_policy": p}),
            None => json!({}),
        },
        _ => json!({"mirror": mirror.unwrap_or(false)}),
    }
}

/// Sync one repository (retrying transient failures); the outcome says whether a new
/// version came of it.
async fn sync_one(
    client: &Client,
    reporter: &Reporter,
    repo: &RepoEntry,
    repo_name: &str,
    remote: Value,
    body: Value,
    retries: u32,
) -> Outcome {
    reporter.progress(repo.label(), "syncing");
    let repository = match ensure_repository(client, repo, repo_name, remote.clone(), false).await {
        Ok(r) => r,
        Err(e) => return Outcome::new(repo, "failed", e.message),
    };
    let mut credentials_resent = remote.get("password").is_none();
    let href = repository["pulp_href"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut attempt = 0;
    loop {
        let short = repo.label().to_string();
        let mut last = String::new();
        let mut on_progress = |p: &Progress| {
            if let Some((_, done, Some(total))) = p
                .iter()
                .find(|(m, _, _)| m.starts_with("Downloading Artifacts"))
            {
                let line = format!("downloaded {done}/{total}");
                if line != last {
                    reporter.progress(&short, &line);
                    last = line;
                }
            }
        };
        match client
            .write(
                Method::POST,
                &format!("{href}sync/"),
                Some(&body),
                &mut on_progress,
            )
            .await
        {
            Ok(task) => {
                let versions = created(&task, "/versions/");
                let mut o = match versions.first() {
                    Some(v) => {
                        let n = v.trim_end_matches('/').rsplit('/').next().unwrap_or("?");
                        let mut o = Outcome::new(repo, "synced", format!("new version {n}"));
                        o.href = Some(v.clone());
                        o
                    }
                    None => Outcome::new(repo, "unchanged", "no change upstream"),
                };
                if attempt > 0 {
                    o.detail.push_str(&format!(" (after {attempt} retries)"));
                }
                reporter.progress(repo.label(), &o.detail);
                return o;
            }
            Err(e)
                if !credentials_resent
                    && (e.message.contains("returned 401")
                        || e.message.contains("returned 403")) =>
            {
                // the stored credentials may be out of date: send ours and try again
                credentials_resent = true;
                reporter.progress(
                    repo.label(),
                    "upstream refused the credentials; updating them",
                );
                if let Err(e) =
                    ensure_repository(client, repo, repo_name, remote.clone(), true).await
                {
                    return Outcome::new(repo, "failed", e.message);
                }
            }
            Err(e) if e.transient && attempt < retries => {
                attempt += 1;
                reporter.progress(
                    repo.label(),
                    &format!("retrying ({attempt}/{retries}) after: {}", e.message),
                );
                tokio::time::sleep(std::time::Duration::from_secs(2u64.pow(attempt))).await;
            }
            Err(e) => return Outcome::new(repo, "failed", e.message),
        }
    }
}

/// `depot train sync`
pub async fn sync(
    client: &Client,
    reporter: &Reporter,
    repos: Vec<&RepoEntry>,
    parallel: usize,
    retries: u32,
) -> Vec<Outcome> {
    each(repos, parallel, |repo| async move {
        if !repo.sync {
            return Outcome::new(&repo, "skipped", "sync: false");
        }
        let Some(url) = repo.url.clone() else {
            return Outcome::new(&repo, "failed", "no url");
        };
        let remote = remote_fields(&repo, &url, repo.policy.as_deref());
        let body = sync_body(&repo, repo.sync_policy.as_deref(), repo.mirror);
        let name = repo.name.clone();
        sync_one(client, reporter, &repo, &name, remote, body, retries).await
    })
    .await
}

/// Content guards by name → href, looked up once.
pub struct Guards {
    cache: Mutex<HashMap<String, String>>,
}

impl Guards {
    pub fn new() -> Guards {
        Guards {
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn href(&self, client: &Client, name: &str) -> Result<String, ApiError> {
        let mut cache = self.cache.lock().await;
        if let Some(h) = cache.get(name) {
            return Ok(h.clone());
        }
        let guards = client.list("contentguards/", &[("name", name)]).await?;
        let href = guards
            .iter()
            .find(|g| g["name"] == name)
            .and_then(|g| g["pulp_href"].as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                ApiError::new(format!(
                    "the content guard '{name}' does not exist on {}; create it first \
                     (e.g. `pulp content-guard rbac create --name {name}`)",
                    client.origin()
                ))
            })?;
        cache.insert(name.to_string(), href.clone());
        Ok(href)
    }
}

impl Default for Guards {
    fn default() -> Self {
        Guards::new()
    }
}

/// The oldest publication of `version`, creating one when there is none and deleting
/// younger duplicates.
async fn publication_of(
    client: &Client,
    kind: RepoKind,
    version: &str,
) -> Result<(String, bool), ApiError> {
    let p = paths(kind);
    let mut pubs = client
        .list(p.publication, &[("repository_version", version)])
        .await?;
    pubs.sort_by(|a, b| {
        a["pulp_created"]
            .as_str()
            .unwrap_or_default()
            .cmp(b["pulp_created"].as_str().unwrap_or_default())
    });
    if let Some(first) = pubs.first() {
        for dup in &pubs[1..] {
            if let Some(h) = dup["pulp_href"].as_str() {
                client.call(Method::DELETE, h, None).await?;
            }
        }
        return Ok((
            first["pulp_href"].as_str().unwrap_or_default().to_string(),
            false,
        ));
    }
    let task = client
        .write(
            Method::POST,
            p.publication,
            Some(&json!({"repository_version": version})),
            &mut quiet(),
        )
        .await?;
    created(&task, "/publications/")
        .into_iter()
        .next()
        .map(|h| (h, true))
        .ok_or_else(|| ApiError::new("the publish task created no publication"))
}

/// Distributions whose name starts with the entry's prefix.
async fn distributions_of(
    client: &Client,
    repo: &RepoEntry,
    prefix: &str,
) -> Result<Vec<Value>, ApiError> {
    let p = paths(repo.kind);
    let all = client
        .list(p.distribution, &[("name__startswith", prefix)])
        .await?;
    Ok(all
        .into_iter()
        .filter(|d| d["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .collect())
}

/// `depot train publish`: snapshot `version` of every repository whose latest version has no
/// distribution yet.
pub async fn publish(
    cfg: &TrainConfig,
    client: &Client,
    reporter: &Reporter,
    repos: Vec<&RepoEntry>,
    version: &str,
    parallel: usize,
) -> Vec<Outcome> {
    let guards = Arc::new(Guards::new());
    let dev = cfg.content_guards.development.clone();
    each(repos, parallel, |repo| {
        let guards = guards.clone();
        let dev = dev.clone();
        async move {
            if !repo.publish {
                return Outcome::new(&repo, "skipped", "publish: false");
            }
            match publish_one(client, reporter, &guards, &dev, &repo, version).await {
                Ok(o) => o,
                Err(e) => Outcome::new(&repo, "failed", e.message),
            }
        }
    })
    .await
}

async fn publish_one(
    client: &Client,
    reporter: &Reporter,
    guards: &Guards,
    dev_guard: &str,
    repo: &RepoEntry,
    version: &str,
) -> Result<Outcome, ApiError> {
    let p = paths(repo.kind);
    let repository = client
        .find(p.repository, &repo.name)
        .await?
        .ok_or_else(|| {
            ApiError::new(format!(
                "repository '{}' does not exist; sync it first",
                repo.name
            ))
        })?;
    let latest = repository["latest_version_href"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if latest.ends_with("/versions/0/") || latest.is_empty() {
        return Ok(Outcome::new(repo, "skipped", "the repository is empty"));
    }
    reporter.progress(repo.label(), "publishing");
    let (publication, _fresh) = publication_of(client, repo.kind, &latest).await?;
    let dists = distributions_of(client, repo, &repo.distribution_name).await?;
    if let Some(d) = dists
        .iter()
        .find(|d| d["publication"] == json!(publication))
    {
        let mut o = Outcome::new(
            repo,
            "unchanged",
            format!(
                "already published as {}",
                d["name"].as_str().unwrap_or_default()
            ),
        );
        o.version = d["name"]
            .as_str()
            .and_then(|n| n.strip_prefix(&repo.distribution_name))
            .map(str::to_string);
        return Ok(o);
    }
    let guard = guards.href(client, dev_guard).await?;
    let name = format!("{}{version}", repo.distribution_name);
    let task = client
        .write(
            Method::POST,
            p.distribution,
            Some(&json!({
                "name": name,
                "base_path": format!("{}{version}", repo.base_path),
                "publication": publication,
                "content_guard": guard,
            })),
            &mut quiet(),
        )
        .await?;
    let mut o = Outcome::new(
        repo,
        "published",
        format!("{name} at {}{version}", repo.base_path),
    );
    o.version = Some(version.to_string());
    o.href = created(&task, "/distributions/").into_iter().next();
    reporter.progress(repo.label(), &o.detail);
    Ok(o)
}

/// `depot train promote`: give the pinned snapshots the release guard. Everything is checked
/// before anything changes.
pub async fn promote(
    cfg: &TrainConfig,
    client: &Client,
    reporter: &Reporter,
    pins: &[(String, String)],
    check: bool,
) -> Result<Vec<Outcome>, Vec<String>> {
    let guards = Guards::new();
    let mut errors = Vec::new();
    let mut plan = Vec::new();
    let release = match guards.href(client, &cfg.content_guards.release).await {
        Ok(h) => Some(h),
        Err(e) => {
            errors.push(e.message);
            None
        }
    };
    for (short, version) in pins {
        let Some(repo) = cfg.repositories.iter().find(|r| &r.short_name == short) else {
            errors.push(format!(
                "unknown short name '{short}' (not in the repository files)"
            ));
            continue;
        };
        if !is_version(version) {
            errors.push(format!(
                "{short}: '{version}' is not a snapshot version (YYYYMMDDTHHMMSS)"
            ));
            continue;
        }
        let name = format!("{}{version}", repo.distribution_name);
        match client.find(paths(repo.kind).distribution, &name).await {
            Ok(Some(d)) => plan.push((repo.clone(), version.clone(), d)),
            Ok(None) => errors.push(format!(
                "{short}: there is no distribution '{name}' (snapshot {version} was never published)"
            )),
            Err(e) => errors.push(format!("{short}: {}", e.message)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let release = release.expect("checked");
    let mut out = Vec::new();
    for (repo, version, d) in plan {
        let href = d["pulp_href"].as_str().unwrap_or_default().to_string();
        let name = d["name"].as_str().unwrap_or_default().to_string();
        let mut o = if d["content_guard"] == json!(release) {
            Outcome::new(&repo, "unchanged", format!("{name} is already released"))
        } else if check {
            Outcome::new(
                &repo,
                "would promote",
                format!(
                    "{name} would get the '{}' guard",
                    cfg.content_guards.release
                ),
            )
        } else {
            match client
                .write(
                    Method::PATCH,
                    &href,
                    Some(&json!({"content_guard": release})),
                    &mut quiet(),
                )
                .await
            {
                Ok(_) => Outcome::new(
                    &repo,
                    "promoted",
                    format!("{name} now has the '{}' guard", cfg.content_guards.release),
                ),
                Err(e) => Outcome::new(&repo, "failed", e.message),
            }
        };
        o.version = Some(version);
        o.href = Some(href);
        reporter.progress(repo.label(), &o.detail);
        out.push(o);
    }
    Ok(out)
}

/// `depot train versions`: the newest snapshot of each repository.
pub async fn versions(
    client: &Client,
    repos: Vec<&RepoEntry>,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut pins = Vec::new();
    for repo in repos.into_iter().filter(|r| r.publish) {
        let dists = distributions_of(client, repo, &repo.distribution_name).await?;
        let newest = dists
            .iter()
            .filter_map(|d| d["name"].as_str()?.strip_prefix(&repo.distribution_name))
            .filter(|v| is_version(v))
            .max()
            .map(str::to_string);
        if let Some(v) = newest {
            pins.push((repo.short_name.clone(), v));
        }
    }
    Ok(pins)
}

/// Upstream (ark) access for `mirror`.
pub struct Upstream {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// `depot train mirror`: mirror each pinned snapshot of the upstream on demand, and serve it
/// at the versioned path and the site's stable `development`/`production` paths.
pub async fn mirror(
    cfg: &TrainConfig,
    client: &Client,
    reporter: &Reporter,
    upstream: &Upstream,
    pins: &[(String, String)],
    parallel: usize,
    retries: u32,
) -> Result<Vec<Outcome>, Vec<String>> {
    let mut errors = Vec::new();
    let mut selected = Vec::new();
    for (short, version) in pins {
        match cfg.repositories.iter().find(|r| &r.short_name == short) {
            Some(r) if is_version(version) => selected.push((r, version.clone())),
            Some(_) => errors.push(format!(
                "{short}: '{version}' is not a snapshot version (YYYYMMDDTHHMMSS)"
            )),
            None => errors.push(format!(
                "unknown short name '{short}' (not in the repository files)"
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let versions: HashMap<String, String> = selected
        .iter()
        .map(|(r, v)| (r.short_name.clone(), v.clone()))
        .collect();
    let repos: Vec<&RepoEntry> = selected.iter().map(|(r, _)| *r).collect();
    Ok(each(repos, parallel, |repo| {
        let version = versions[&repo.short_name].clone();
        async move {
            match mirror_one(client, reporter, upstream, &repo, &version, retries).await {
                Ok(o) => o,
                Err(e) => Outcome::new(&repo, "failed", e.message),
            }
        }
    })
    .await)
}

async fn mirror_one(
    client: &Client,
    reporter: &Reporter,
    upstream: &Upstream,
    repo: &RepoEntry,
    version: &str,
    retries: u32,
) -> Result<Outcome, ApiError> {
    let p = paths(repo.kind);
    let base = format!(
        "{}/pulp/content/{}{version}/",
        upstream.url.trim_end_matches('/'),
        repo.base_path
    );
    let url = match repo.kind {
        RepoKind::File => format!("{base}PULP_MANIFEST"),
        _ => base,
    };
    let mut remote = remote_fields(repo, &url, Some("on_demand"));
    if let Some(u) = &upstream.username {
        remote["username"] = json!(u);
        remote["password"] = json!(upstream.password.clone().unwrap_or_default());
    }
    let body = match repo.kind {
        RepoKind::Rpm => json!({"sync_policy": "mirror_complete"}),
        _ => json!({"mirror": true}),
    };
    let repo_name = format!("{} (ark)", repo.name);
    let synced = sync_one(client, reporter, repo, &repo_name, remote, body, retries).await;
    if synced.failed() {
        return Ok(synced);
    }
    let repository = client
        .find(p.repository, &repo_name)
        .await?
        .ok_or_else(|| ApiError::new(format!("repository '{repo_name}' vanished")))?;
    let latest = repository["latest_version_href"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (publication, _) = publication_of(client, repo.kind, &latest).await?;
    for suffix in [version, "development", "production"] {
        let name = format!("{}{suffix}", repo.distribution_name);
        let base_path = format!("{}{suffix}", repo.base_path);
        match client.find(p.distribution, &name).await? {
            Some(d)
                if d["publication"] == json!(publication) && d["base_path"] == json!(base_path) => {
            }
            Some(d) => {
                let href = d["pulp_href"].as_str().unwrap_or_default().to_string();
                client
                    .write(
                        Method::PATCH,
                        &href,
                        Some(&json!({"publication": publication, "base_path": base_path, "repository": null})),
                        &mut quiet(),
                    )
                    .await?;
            }
            None => {
                client
                    .write(
                        Method::POST,
                        p.distribution,
                        Some(&json!({"name": name, "base_path": base_path, "publication": publication})),
                        &mut quiet(),
                    )
                    .await?;
            }
        }
    }
    let mut o = Outcome::new(
        repo,
        if synced.status == "unchanged" {
            "unchanged"
        } else {
            "mirrored"
        },
        format!(
            "{version} served at {}{version}, {}development and {}production",
            repo.base_path, repo.base_path, repo.base_path
        ),
    );
    o.version = Some(version.to_string());
    reporter.progress(repo.label(), &o.detail);
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_look_like_timestamps() {
        assert!(is_version("20261125T120000"));
        assert!(!is_version("20261125120000"));
        assert!(!is_version("development"));
        assert!(!is_version("2026112XT120000"));
    }

    #[test]
    fn transient_errors() {
        assert!(crate::client::transient_task_error(
            "upstream returned 503 for http://x/"
        ));
        assert!(crate::client::transient_task_error(
            "timed out downloading http://x"
        ));
        assert!(!crate::client::transient_task_error(
            "sha256 checksum mismatch"
        ));
    }
}
