//! What the content app serves at a path: which distribution, which publication or repository
//! version behind it, and then a stored file, a file still upstream, a directory listing or
//! nothing. HTTP details (headers, ranges, HTML) are the HTTP layer's.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use bytes::Bytes;

use crate::Depot;
use crate::auth::User;
use crate::cache::EventCache;
use crate::error::Result;
use depot_store::Topic;
use depot_store::content::ServedFile;
use depot_store::records::{ContentGuardRow, DistributionRow};

/// Where a distribution's files come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A publication; pass-through publications also serve their version's content.
    Publication {
        id: String,
        pass_through: Option<(String, i64)>,
    },
    Version {
        repository_id: String,
        number: i64,
    },
    Nothing,
}

impl Source {
    /// A key identifying the (immutable) content behind the source.
    pub fn key(&self) -> String {
        match self {
            Source::Publication { id, .. } => format!("p:{id}"),
            Source::Version {
                repository_id,
                number,
            } => format!("v:{repository_id}:{number}"),
            Source::Nothing => String::new(),
        }
    }
}

/// The content app's memory, so that serving a known path is a lookup in memory and a new
/// path one indexed query:
/// - every distribution by base path, swapped in whole (no lock on the way to it) and
///   reloaded when a serving event says distributions, guards, versions or publications
///   changed;
/// - what each distribution serves and each guard's row, forgotten on the same events;
/// - where each path of a publication or repository version is: those never change, so
///   entries live until evicted;
/// - the bytes of small stored files, by sha256, bounded by size.
pub struct ServingCache {
    events: depot_store::Events,
    table: ArcSwapOption<DistributionTable>,
    sources: EventCache<String, Arc<Source>>,
    guards: EventCache<String, Option<Arc<ContentGuardRow>>>,
    files: quick_cache::sync::Cache<FileKey, Arc<StoredFile>>,
    bodies: quick_cache::sync::Cache<String, Bytes, BodyWeight>,
    /// Files up to this size are kept in memory once served.
    pub max_body: u64,
}

impl std::fmt::Debug for ServingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCache")
            .field("files", &self.files.len())
            .field("bodies", &self.bodies.weight())
            .finish_non_exhaustive()
    }
}

/// (source key, path) of a remembered file.
#[derive(Clone, PartialEq, Eq)]
struct FileKey {
    source: Arc<str>,
    path: Box<str>,
}

impl std::hash::Hash for FileKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        FileKeyRef(&self.source, &self.path).hash(h)
    }
}

/// A `FileKey` to look up with, borrowed from the request.
#[derive(Hash)]
struct FileKeyRef<'a>(&'a str, &'a str);

impl crate::cache::Equivalent<FileKey> for FileKeyRef<'_> {
    fn equivalent(&self, k: &FileKey) -> bool {
        *k.source == *self.0 && *k.path == *self.1
    }
}

struct DistributionTable {
    generation: u64,
    by_base_path: HashMap<String, Arc<DistributionRow>>,
}

/// Bodies weigh their length.
#[derive(Clone)]
struct BodyWeight;

impl quick_cache::Weighter<String, Bytes> for BodyWeight {
    fn weight(&self, _: &String, v: &Bytes) -> u64 {
        v.len().max(1) as u64
    }
}

/// Path entries kept at most.
const MAX_CACHED_FILES: usize = 200_000;
/// Memory for file bodies, and the largest body kept.
const BODY_MEMORY: u64 = 64 * 1024 * 1024;
const MAX_BODY: u64 = 1024 * 1024;

impl ServingCache {
    pub fn new(events: &depot_store::Events) -> ServingCache {
        ServingCache {
            events: events.clone(),
            table: ArcSwapOption::empty(),
            sources: EventCache::new(events, Topic::Serving, 10_000),
            guards: EventCache::new(events, Topic::Serving, 10_000),
            files: quick_cache::sync::Cache::new(MAX_CACHED_FILES),
            bodies: quick_cache::sync::Cache::with_weighter(4096, BODY_MEMORY, BodyWeight),
            max_body: MAX_BODY,
        }
    }

    /// The bytes of a small stored file, if in memory.
    pub fn body(&self, sha256: &str) -> Option<Bytes> {
        self.bodies.get(sha256)
    }

    /// Keep the bytes of a stored file in memory (small ones only).
    pub fn keep_body(&self, sha256: &str, bytes: Bytes) {
        if bytes.len() as u64 <= self.max_body {
            self.bodies.insert(sha256.to_string(), bytes);
        }
    }
}

/// One of the two kinds of path tables a listing walks.
enum Table<'a> {
    Published(&'a str),
    Version(&'a str, i64),
}

/// A stored file as the content app sends it.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub size: u64,
    pub sha256: String,
    /// When the artifact was stored (Pulp's rendering, RFC 3339).
    pub last_modified: String,
}

/// A file to send.
#[derive(Clone, Debug)]
pub enum FileSource {
    Stored(Arc<StoredFile>),
    /// Not downloaded yet (on_demand / streamed).
    Remote {
        content_artifact_id: String,
        size: Option<u64>,
        last_modified: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingEntry {
    pub name: String,
    pub is_dir: bool,
    pub date: Option<String>,
    pub size: Option<i64>,
}

#[derive(Clone, Debug)]
pub enum Resolution {
    NotFound,
    /// The path names a directory: send the client to `<path>/`.
    AddSlash,
    Listing(Vec<ListingEntry>),
    File(FileSource),
}

/// The credentials a content request carries, and who they turn out to be.
struct Asker<'a> {
    credentials: Option<(&'a str, &'a str)>,
    user: &'a tokio::sync::OnceCell<Option<User>>,
}

/// Whether a request may read a distribution's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Allow,
    /// No (valid) credentials: answer 401 asking for them.
    Unauthenticated,
    /// Credentials that the guard refuses: 403.
    Forbidden(String),
}

/// Reject paths that could escape their base: `..`, `.`, empty segments, backslashes, NUL
/// and other control characters (the path is already percent-decoded).
pub fn check_path(path: &str) -> std::result::Result<(), String> {
    if path.starts_with('/') {
        return Err("absolute paths are not allowed".into());
    }
    if path.chars().any(|c| c == '\\' || c.is_control()) {
        return Err("backslashes and control characters are not allowed in paths".into());
    }
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if trimmed.is_empty() {
        return Ok(());
    }
    for seg in trimmed.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(format!("path segment '{seg}' is not allowed"));
        }
    }
    Ok(())
}

impl Depot {
    /// The distribution serving `path` (relative to the content root) and the rest of the path
    /// below its base path.
    pub async fn distribution_for_path(
        &self,
        path: &str,
    ) -> Result<Option<(Arc<DistributionRow>, String)>> {
        let trimmed = path.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(None);
        }
        let generation = self.serving.events.generation(Topic::Serving);
        let table = match self.serving.table.load_full() {
            Some(t) if t.generation == generation => t,
            _ => {
                let all = self.db.distributions_all().await?;
                let t = Arc::new(DistributionTable {
                    generation,
                    by_base_path: all
                        .into_iter()
                        .map(|d| (d.base_path.clone(), Arc::new(d)))
                        .collect(),
                });
                self.serving.table.store(Some(t.clone()));
                t
            }
        };
        // base paths never nest, so at most one prefix of the path is a base path
        let ends = trimmed
            .char_indices()
            .filter(|(_, c)| *c == '/')
            .map(|(i, _)| i)
            .chain(std::iter::once(trimmed.len()));
        for end in ends {
            if let Some(d) = table.by_base_path.get(&trimmed[..end]) {
                let rest = path[end..].trim_start_matches('/').to_string();
                return Ok(Some((d.clone(), rest)));
            }
        }
        Ok(None)
    }

    /// The content guard decision for a request by `user` (None: anonymous); `header` reads
    /// a request header. This is the one place guards are evaluated.
    pub async fn content_access(
        &self,
        d: &DistributionRow,
        credentials: Option<(&str, &str)>,
        header: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Access> {
        // nothing guarded: no password is checked at all
        let Some(g) = &d.content_guard_id else {
            return Ok(Access::Allow);
        };
        let user = tokio::sync::OnceCell::new();
        let asker = Asker {
            credentials,
            user: &user,
        };
        self.guard_decision(g, &asker, header, 0).await
    }

    fn guard_decision<'a>(
        &'a self,
        guard_id: &'a str,
        asker: &'a Asker<'a>,
        header: &'a (dyn Fn(&str) -> Option<String> + Sync),
        depth: usize,
    ) -> futures::future::BoxFuture<'a, Result<Access>> {
        use crate::resources::content_guards::{COMPOSITE, DOWNLOAD, HEADER, RBAC, parse_jq_path};
        use base64::Engine;
        Box::pin(async move {
            let denied = |why: &str| Access::Forbidden(why.to_string());
            let Some(g) = self.guard_cached(guard_id).await? else {
                // a guard that vanished admits nobody rather than everybody
                return Ok(denied("Access denied."));
            };
            Ok(match g.pulp_type.as_str() {
                RBAC => match self.asking_user(asker).await? {
                    None => Access::Unauthenticated,
                    Some(u) => {
                        if self
                            .has_perm(u, DOWNLOAD, Some(("core.rbaccontentguard", &g.id)))
                            .await?
                        {
                            Access::Allow
                        } else {
                            denied("You do not have permission to perform this action.")
                        }
                    }
                },
                HEADER => {
                    let extra = crate::resources::obj(&g.extra);
                    let name = extra
                        .get("header_name")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default();
                    let want = extra
                        .get("header_value")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default();
                    let decoded = header(name).and_then(|v| {
                        base64::engine::general_purpose::STANDARD
                            .decode(v.trim())
                            .ok()
                    });
                    let got = match (decoded, extra.get("jq_filter").and_then(|v| v.as_str())) {
                        (None, _) => None,
                        (Some(bytes), Some(filter)) => {
                            serde_json::from_slice::<serde_json::Value>(&bytes)
                                .ok()
                                .and_then(|doc| {
                                    let mut cur = &doc;
                                    for key in parse_jq_path(filter)? {
                                        cur = cur.get(&key)?;
                                    }
                                    cur.as_str().map(str::to_string)
                                })
                        }
                        (Some(bytes), None) => String::from_utf8(bytes).ok(),
                    };
                    if got.as_deref() == Some(want) {
                        Access::Allow
                    } else {
                        denied("Access denied.")
                    }
                }
                COMPOSITE => {
                    let extra = crate::resources::obj(&g.extra);
                    let guards: Vec<String> = extra
                        .get("guards")
                        .and_then(|v| v.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|h| h.as_str())
                                .map(|h| {
                                    h.trim_end_matches('/')
                                        .rsplit('/')
                                        .next()
                                        .unwrap_or_default()
                                        .to_string()
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if guards.is_empty() {
                        return Ok(Access::Allow);
                    }
                    if depth > 4 {
                        return Ok(denied("Content guards nest too deeply."));
                    }
                    let mut ask_credentials = false;
                    let mut reasons = Vec::new();
                    for child in &guards {
                        match self.guard_decision(child, asker, header, depth + 1).await? {
                            Access::Allow => return Ok(Access::Allow),
                            Access::Unauthenticated => ask_credentials = true,
                            Access::Forbidden(r) => reasons.push(r),
                        }
                    }
                    if ask_credentials {
                        Access::Unauthenticated
                    } else {
                        Access::Forbidden(format!("Access forbidden. Refusals: {reasons:?}"))
                    }
                }
                _ => denied("Access denied."),
            })
        })
    }

    /// Who is asking, authenticated on first need (once, however many guards ask).
    async fn asking_user<'a>(&self, asker: &'a Asker<'a>) -> Result<Option<&'a User>> {
        let user = asker
            .user
            .get_or_try_init(|| async {
                match asker.credentials {
                    Some((name, password)) => self.authenticate(name, password).await,
                    None => Ok(None),
                }
            })
            .await?;
        Ok(user.as_ref())
    }

    /// A guard row, remembered until serving data changes.
    async fn guard_cached(&self, id: &str) -> Result<Option<Arc<ContentGuardRow>>> {
        if let Some(g) = self.serving.guards.get(id) {
            return Ok(g);
        }
        let generation = self.serving.guards.generation();
        let g = self.db.content_guard_get(id).await?.map(Arc::new);
        self.serving
            .guards
            .insert(id.to_string(), g.clone(), generation);
        Ok(g)
    }

    /// Which publication or repository version a distribution serves now.
    pub async fn distribution_source(&self, d: &DistributionRow) -> Result<Arc<Source>> {
        if let Some(s) = self.serving.sources.get(d.id.as_str()) {
            return Ok(s);
        }
        let generation = self.serving.sources.generation();
        let source = Arc::new(self.load_source(d).await?);
        self.serving
            .sources
            .insert(d.id.clone(), source.clone(), generation);
        Ok(source)
    }

    async fn load_source(&self, d: &DistributionRow) -> Result<Source> {
        if let Some(p) = &d.publication_id {
            if let Some(p) = self.db.publication_get(p).await? {
                return Ok(publication_source(&p));
            }
            return Ok(Source::Nothing);
        }
        let version = if let Some(vid) = &d.repository_version_id {
            self.db.version_by_id(vid).await?
        } else if let Some(rid) = &d.repository_id {
            self.db.version_latest(rid).await?
        } else {
            None
        };
        let Some(v) = version else {
            return Ok(Source::Nothing);
        };
        let serves_publications = self
            .plugins
            .distribution(&d.pulp_type)
            .is_some_and(|def| def.serves_publications);
        if serves_publications
            && let Some(p) = self.db.publication_latest_for_version(&v.id).await?
        {
            return Ok(publication_source(&p));
        }
        Ok(Source::Version {
            repository_id: v.repository_id,
            number: v.number,
        })
    }

    /// Resolve `rest` (a checked path below the base path) within a source.
    pub async fn resolve(&self, source: &Source, rest: &str) -> Result<Resolution> {
        if *source == Source::Nothing {
            return Ok(if rest.is_empty() {
                Resolution::Listing(Vec::new())
            } else {
                Resolution::NotFound
            });
        }
        if rest.is_empty() || rest.ends_with('/') {
            if let Some(f) = self.lookup(source, &format!("{rest}index.html")).await? {
                return Ok(Resolution::File(f));
            }
            let entries = self.listing(source, rest).await?;
            if entries.is_empty() && !rest.is_empty() {
                return Ok(Resolution::NotFound);
            }
            return Ok(Resolution::Listing(entries));
        }
        if let Some(f) = self.lookup(source, rest).await? {
            return Ok(Resolution::File(f));
        }
        let dir = format!("{rest}/");
        if !self.children(source, &dir, 1).await?.is_empty() {
            return Ok(Resolution::AddSlash);
        }
        Ok(Resolution::NotFound)
    }

    /// A file at `path` of `source`: stored files from memory once seen (what a publication
    /// or version holds never changes), the rest from the database.
    async fn lookup(&self, source: &Source, path: &str) -> Result<Option<FileSource>> {
        let key = source.key();
        if let Some(f) = self.serving.files.get(&FileKeyRef(&key, path)) {
            return Ok(Some(FileSource::Stored(f)));
        }
        let Some(found) = self.lookup_db(source, path).await? else {
            return Ok(None);
        };
        let f = self.file_source(found);
        // files not downloaded yet are not remembered: they may be stored any moment
        if let FileSource::Stored(stored) = &f {
            self.serving.files.insert(
                FileKey {
                    source: Arc::from(key.as_str()),
                    path: Box::from(path),
                },
                stored.clone(),
            );
        }
        Ok(Some(f))
    }

    async fn lookup_db(&self, source: &Source, path: &str) -> Result<Option<ServedFile>> {
        Ok(match source {
            Source::Publication { id, pass_through } => {
                match self.db.published_file(id, path).await? {
                    Some(f) => Some(f),
                    None => match pass_through {
                        Some((repo, n)) => self.db.version_file(repo, *n, path).await?,
                        None => None,
                    },
                }
            }
            Source::Version {
                repository_id,
                number,
            } => self.db.version_file(repository_id, *number, path).await?,
            Source::Nothing => None,
        })
    }

    fn file_source(&self, f: ServedFile) -> FileSource {
        match (f.artifact_sha256, f.artifact_size) {
            (Some(sha256), Some(size)) => FileSource::Stored(Arc::new(StoredFile {
                size: size as u64,
                sha256,
                last_modified: f.artifact_created.unwrap_or_default(),
            })),
            _ => FileSource::Remote {
                content_artifact_id: f.content_artifact_id.unwrap_or_default(),
                size: f.remote_size.map(|s| s as u64),
                last_modified: f.content_created,
            },
        }
    }

    /// Entries directly below `dir` (empty or ending in '/').
    pub async fn listing(&self, source: &Source, dir: &str) -> Result<Vec<ListingEntry>> {
        self.children(source, dir, usize::MAX).await
    }

    /// Up to `max` children of `dir`, sorted by name.
    async fn children(&self, source: &Source, dir: &str, max: usize) -> Result<Vec<ListingEntry>> {
        let mut out = match source {
            Source::Publication { id, pass_through } => {
                let mut a = self.children_in(Table::Published(id), dir, max).await?;
                if let Some((repo, n)) = pass_through {
                    let b = self.children_in(Table::Version(repo, *n), dir, max).await?;
                    for e in b {
                        if !a.iter().any(|x| x.name == e.name) {
                            a.push(e);
                        }
                    }
                    a.sort_by(|x, y| x.name.cmp(&y.name));
                    a.truncate(max);
                }
                a
            }
            Source::Version {
                repository_id,
                number,
            } => {
                self.children_in(Table::Version(repository_id, *number), dir, max)
                    .await?
            }
            Source::Nothing => Vec::new(),
        };
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }

    /// Walk the sorted paths below `dir`, skipping each subdirectory's subtree once seen, so a
    /// listing costs about one query per entry however many files lie deeper.
    async fn children_in(
        &self,
        table: Table<'_>,
        dir: &str,
        max: usize,
    ) -> Result<Vec<ListingEntry>> {
        const PAGE: i64 = 500;
        let upper = format!("{dir}\u{10FFFF}");
        let mut after = dir.to_string();
        let mut out: Vec<ListingEntry> = Vec::new();
        'pages: loop {
            let rows = match table {
                Table::Published(p) => {
                    self.db
                        .published_paths_between(p, &after, &upper, PAGE)
                        .await?
                }
                Table::Version(repo, n) => {
                    self.db
                        .version_paths_between(repo, n, &after, &upper, PAGE)
                        .await?
                }
            };
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                let below = &row.relative_path[dir.len()..];
                let date = row.artifact_created.clone().or(row.content_created.clone());
                match below.split_once('/') {
                    Some((sub, _)) => {
                        out.push(ListingEntry {
                            name: sub.to_string(),
                            is_dir: true,
                            date,
                            size: None,
                        });
                        after = format!("{dir}{sub}/\u{10FFFF}");
                        if out.len() >= max {
                            break 'pages;
                        }
                        continue 'pages;
                    }
                    None => {
                        out.push(ListingEntry {
                            name: below.to_string(),
                            is_dir: false,
                            date,
                            size: row.artifact_size.or(row.remote_size),
                        });
                        after = row.relative_path.clone();
                        if out.len() >= max {
                            break 'pages;
                        }
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(out)
    }
}

fn publication_source(p: &depot_store::records::PublicationRow) -> Source {
    Source::Publication {
        id: p.id.clone(),
        pass_through: p
            .pass_through
            .then(|| (p.repository_id.clone(), p.version_number)),
    }
}

#[cfg(test)]
mod tests {
    use super::check_path;

    #[test]
    fn path_tricks_are_rejected() {
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "a/./b",
            "/abs",
            "a\\b",
            "a\0b",
            "a//b",
            "..",
            "a/..",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["", "a", "a/b.txt", "dir/", "a..b/c", "..hidden/x"] {
            assert!(check_path(good).is_ok(), "{good:?} rejected");
        }
    }
}
