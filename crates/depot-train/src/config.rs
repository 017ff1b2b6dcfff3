//! `train.yml` and the release train's repository inventory files.
//!
//! [`load`] reads `train.yml` (server, content guards, per-type defaults and
//! the list of repository files), then every repository file it names, in the
//! shape the release train keeps them (`rpm_package_repos`,
//! `deb_package_repos`, the depot extension `file_repos`, and the older
//! combined `package_repos` list whose entries carry `type`). Values that are
//! Ansible templates are ignored with a notice. Every validation problem is
//! collected and reported at once, one per line, each naming file and entry.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as Yaml;

/// Policies a remote accepts.
pub const POLICIES: &[&str] = &["immediate", "on_demand", "streamed"];
/// Sync policies of an rpm remote sync.
pub const SYNC_POLICIES: &[&str] = &["additive", "mirror_complete", "mirror_content_only"];

/// The content type of a repository entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoKind {
    Rpm,
    Deb,
    File,
}

impl RepoKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RepoKind::Rpm => "rpm",
            RepoKind::Deb => "deb",
            RepoKind::File => "file",
        }
    }
}

impl fmt::Display for RepoKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One repository of the inventory, validated, with defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct RepoEntry {
    pub kind: RepoKind,
    pub name: String,
    /// Absent only when `sync` is false.
    pub url: Option<String>,
    /// After applying `defaults.<kind>.policy`; `None` = server default.
    pub policy: Option<String>,
    /// rpm only, after applying `defaults.rpm.sync_policy`; `None` = server default.
    /// Always `None` for deb/file (a `sync_policy` given there lands in `extra`).
    pub sync_policy: Option<String>,
    /// deb/file only, after applying `defaults.<kind>.mirror`.
    /// Always `None` for rpm (a `mirror` given there lands in `extra`).
    pub mirror: Option<bool>,
    /// Always ends with '/'; the version is appended.
    pub base_path: String,
    /// Matches `^[A-Za-z0-9_]+$`; unique over all repository files. Empty only when
    /// `publish` is false (as are `base_path` and `distribution_name`).
    pub short_name: String,
    pub sync_group: Option<String>,
    /// Prefix; the version is appended.
    pub distribution_name: String,
    /// Default true.
    pub sync: bool,
    /// Default true.
    pub publish: bool,
    /// Other fields as given (architectures, components, distributions, mode, ...).
    pub extra: Map<String, Json>,
    /// Where the entry came from, for messages, e.g.
    /// `rpm-package-repos.yml: rpm_package_repos[3] (docker)`.
    pub origin: String,
}

impl RepoEntry {
    /// How progress and summaries name the repository: its short name, or its name when it
    /// has none (an entry that is never published).
    pub fn label(&self) -> &str {
        if self.short_name.is_empty() {
            &self.name
        } else {
            &self.short_name
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guards {
    pub development: String,
    pub release: String,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            development: "development".to_string(),
            release: "release".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// The `train.yml` that was loaded.
    pub path: PathBuf,
    pub server: Server,
    pub content_guards: Guards,
    /// In the order of `repository_files`, then of each file.
    pub repositories: Vec<RepoEntry>,
    /// Things ignored on purpose (Ansible templates, fields a type does not
    /// use, ...): show them, they are not errors.
    pub notices: Vec<String>,
}

/// A configuration error; the message may hold several lines, one per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

// ---------------------------------------------------------------------------
// train.yml

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainFile {
    #[serde(default)]
    server: ServerFile,
    #[serde(default)]
    content_guards: GuardsFile,
    #[serde(default)]
    defaults: DefaultsFile,
    #[serde(default)]
    repository_files: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardsFile {
    development: Option<String>,
    release: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    #[serde(default)]
    rpm: RpmDefaults,
    #[serde(default)]
    deb: MirrorDefaults,
    #[serde(default)]
    file: MirrorDefaults,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpmDefaults {
    policy: Option<String>,
    sync_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MirrorDefaults {
    policy: Option<String>,
    mirror: Option<bool>,
}

impl DefaultsFile {
    fn policy(&self, kind: RepoKind) -> Option<&String> {
        match kind {
            RepoKind::Rpm => self.rpm.policy.as_ref(),
            RepoKind::Deb => self.deb.policy.as_ref(),
            RepoKind::File => self.file.policy.as_ref(),
        }
    }

    fn mirror(&self, kind: RepoKind) -> Option<bool> {
        match kind {
            RepoKind::Rpm => None,
            RepoKind::Deb => self.deb.mirror,
            RepoKind::File => self.file.mirror,
        }
    }
}

/// Reads `train.yml` at `path` and every repository file it names.
///
/// `env` looks up environment variables (`DEPOT_URL`, `DEPOT_USERNAME`,
/// `DEPOT_PASSWORD` and the one `server.password_env` names); an empty value
/// counts as unset. Pass `&|k| std::env::var(k).ok()` in the CLI.
pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<TrainConfig, ConfigError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read {label}: {e}")))?;
    let train = parse_train_file(&text, &label)?;
    let env = |key: &str| env(key).filter(|v| !v.is_empty());

    let mut errors = Vec::new();
    let mut notices = Vec::new();

    // Defaults are validated like entries' own values.
    for (kind, policy) in [
        (RepoKind::Rpm, &train.defaults.rpm.policy),
        (RepoKind::Deb, &train.defaults.deb.policy),
        (RepoKind::File, &train.defaults.file.policy),
    ] {
        if let Some(p) = policy
            && !POLICIES.contains(&p.as_str())
        {
            errors.push(format!(
                "{label}: defaults.{kind}.policy: {}",
                unknown("policy", p, POLICIES)
            ));
        }
    }
    if let Some(sp) = &train.defaults.rpm.sync_policy
        && !SYNC_POLICIES.contains(&sp.as_str())
    {
        errors.push(format!(
            "{label}: defaults.rpm.sync_policy: {}",
            unknown("sync_policy", sp, SYNC_POLICIES)
        ));
    }

    // Server.
    let url = env("DEPOT_URL").or(train.server.url.clone().filter(|u| !u.is_empty()));
    if url.is_none() {
        errors.push(format!(
            "{label}: server.url is missing (set it there or in the environment variable DEPOT_URL)"
        ));
    }
    let username = env("DEPOT_USERNAME").or(train.server.username.clone());
    if train.server.password.is_some() && train.server.password_env.is_some() {
        errors.push(format!(
            "{label}: server: give either password or password_env, not both"
        ));
    }
    let password = if let Some(p) = env("DEPOT_PASSWORD") {
        Some(p)
    } else if let Some(var) = &train.server.password_env {
        let p = env(var);
        if p.is_none() {
            notices.push(format!(
                "{label}: server.password_env: environment variable {var} is not set; no password"
            ));
        }
        p
    } else {
        train.server.password.clone()
    };

    let guards = Guards {
        development: train
            .content_guards
            .development
            .clone()
            .unwrap_or_else(|| Guards::default().development),
        release: train
            .content_guards
            .release
            .clone()
            .unwrap_or_else(|| Guards::default().release),
    };

    // Repository files.
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut drafts = Vec::new();
    for (i, rel) in train.repository_files.iter().enumerate() {
        let file = dir.join(rel);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!(
                    "{label}: repository_files[{i}]: cannot read {}: {e}",
                    file.display()
                ));
                continue;
            }
        };
        read_repository_file(
            &text,
            rel,
            &mut drafts,
            &mut Messages {
                errors: &mut errors,
                notices: &mut notices,
            },
        );
    }

    check_entries(&drafts, &mut errors);

    if !errors.is_empty() {
        return Err(ConfigError(errors.join("\n")));
    }

    let repositories = drafts
        .into_iter()
        .map(|d| d.finish(&train.defaults))
        .collect();
    Ok(TrainConfig {
        path: path.to_path_buf(),
        server: Server {
            url: url.unwrap_or_default(),
            username,
            password,
        },
        content_guards: guards,
        repositories,
        notices,
    })
}

fn parse_train_file(text: &str, label: &str) -> Result<TrainFile, ConfigError> {
    // Parse to a value first: syntax errors then carry their line, and an
    // empty (or comments-only) file is an empty configuration.
    let value: Yaml = serde_yaml_ng::from_str(text)
        .map_err(|e| ConfigError(format!("{label}: invalid YAML: {e}")))?;
    match value {
        Yaml::Null => Ok(TrainFile::default()),
        Yaml::Mapping(_) => {
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError(format!("{label}: {e}")))
        }
        other => Err(ConfigError(format!(
            "{label}: expected a mapping at the top level, got {}",
            yaml_type(&other)
        ))),
    }
}

/// Selects repositories: `filters` are regexes searched in `short_name` and
/// in `sync_group` (an entry matches if ANY filter matches either; no filters
/// = all), `group` is an exact `sync_group` match; both must hold.
pub fn select<'a>(
    repos: &'a [RepoEntry],
    filters: &[regex::Regex],
    group: Option<&str>,
) -> Vec<&'a RepoEntry> {
    repos
        .iter()
        .filter(|r| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    f.is_match(&r.short_name)
                        || r.sync_group.as_deref().is_some_and(|g| f.is_match(g))
                })
        })
        .filter(|r| group.is_none_or(|g| r.sync_group.as_deref() == Some(g)))
        .collect()
}

// ---------------------------------------------------------------------------
// Repository files

struct Messages<'a> {
    errors: &'a mut Vec<String>,
    notices: &'a mut Vec<String>,
}

/// An entry as read, before the checks that need all entries.
struct Draft {
    kind: RepoKind,
    file: String,
    list: &'static str,
    index: usize,
    name: Option<String>,
    url: Option<String>,
    policy: Option<String>,
    sync_policy: Option<String>,
    mirror: Option<bool>,
    base_path: Option<String>,
    short_name: Option<String>,
    sync_group: Option<String>,
    distribution_name: Option<String>,
    sync: bool,
    publish: bool,
    extra: Map<String, Json>,
}

impl Draft {
    /// `file: list[i]`
    fn at(&self) -> String {
        format!("{}: {}[{}]", self.file, self.list, self.index)
    }

    /// `file: list[i] (name "X")`, the prefix of error lines.
    fn label(&self) -> String {
        entry_label(
            &self.file,
            self.list,
            self.index,
            self.name.as_deref(),
            self.short_name.as_deref(),
        )
    }

    fn finish(self, defaults: &DefaultsFile) -> RepoEntry {
        let at = self.at();
        let short_name = self.short_name.unwrap_or_default();
        let origin = format!("{at} ({short_name})");
        let (sync_policy, mirror) = match self.kind {
            RepoKind::Rpm => (self.sync_policy.or(defaults.rpm.sync_policy.clone()), None),
            RepoKind::Deb | RepoKind::File => (None, self.mirror.or(defaults.mirror(self.kind))),
        };
        RepoEntry {
            kind: self.kind,
            name: self.name.unwrap_or_default(),
            url: self.url,
            policy: self.policy.or(defaults.policy(self.kind).cloned()),
            sync_policy,
            mirror,
            base_path: self.base_path.unwrap_or_default(),
            short_name,
            sync_group: self.sync_group,
            distribution_name: self.distribution_name.unwrap_or_default(),
            sync: self.sync,
            publish: self.publish,
            extra: self.extra,
            origin,
        }
    }
}

fn entry_label(
    file: &str,
    list: &str,
    index: usize,
    name: Option<&str>,
    short_name: Option<&str>,
) -> String {
    match (name, short_name) {
        (Some(n), _) => format!("{file}: {list}[{index}] (name {n:?})"),
        (None, Some(s)) => format!("{file}: {list}[{index}] (short_name {s:?})"),
        (None, None) => format!("{file}: {list}[{index}]"),
    }
}

/// The lists a repository file may hold, with the kind of their entries
/// (`None`: the entry's `type` field says).
const LISTS: &[(&str, Option<RepoKind>)] = &[
    ("rpm_package_repos", Some(RepoKind::Rpm)),
    ("deb_package_repos", Some(RepoKind::Deb)),
    ("file_repos", Some(RepoKind::File)),
    ("package_repos", None),
];

fn read_repository_file(text: &str, file: &str, drafts: &mut Vec<Draft>, msg: &mut Messages) {
    let mut value: Yaml = match serde_yaml_ng::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            msg.errors.push(format!("{file}: invalid YAML: {e}"));
            return;
        }
    };
    if let Err(e) = value.apply_merge() {
        msg.errors.push(format!("{file}: {e}"));
        return;
    }
    let map = match value {
        Yaml::Mapping(m) => m,
        Yaml::Null => {
            msg.notices
                .push(format!("{file}: empty file; no repositories"));
            return;
        }
        other => {
            msg.errors.push(format!(
                "{file}: expected a mapping at the top level, got {}",
                yaml_type(&other)
            ));
            return;
        }
    };

    let mut found = false;
    for (key, value) in &map {
        let Some(key) = key.as_str() else { continue };
        let list = LISTS.iter().find(|(k, _)| *k == key);
        match (list, classify(value)) {
            (_, Field::Template(t)) => {
                found |= list.is_some();
                msg.notices.push(format!(
                    "{file}: {key} is an Ansible template ({}); ignored",
                    shorten(&t)
                ));
            }
            (None, _) => {} // other variables of the file (filters, ...)
            (Some(_), Field::Absent) => found = true,
            (Some((list, kind)), Field::Value(Yaml::Sequence(items))) => {
                found = true;
                for (index, item) in items.iter().enumerate() {
                    if let Some(d) = read_entry(item, file, list, index, *kind, msg) {
                        drafts.push(d);
                    }
                }
            }
            (Some((list, _)), Field::Value(other)) => msg.errors.push(format!(
                "{file}: {list}: expected a list of repositories, got {}",
                yaml_type(other)
            )),
        }
    }
    if !found {
        msg.notices.push(format!(
            "{file}: none of {} found; no repositories",
            LISTS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
        ));
    }
}

/// A field's value, after taking Ansible templates and tags into account.
enum Field<'a> {
    Absent,
    Template(String),
    Value(&'a Yaml),
}

fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

fn classify(value: &Yaml) -> Field<'_> {
    match value {
        Yaml::Null => Field::Absent,
        Yaml::String(s) if is_template(s) => Field::Template(s.clone()),
        // `!unsafe` marks a literal that Ansible never templates.
        Yaml::Tagged(t) if t.tag == "unsafe" => match &t.value {
            Yaml::Null => Field::Absent,
            v => Field::Value(v),
        },
        // `!vault` and the like: a value only Ansible can produce.
        Yaml::Tagged(t) => Field::Template(format!("{} ...", t.tag)),
        v => Field::Value(v),
    }
}

fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut:?}...")
    } else {
        format!("{s:?}")
    }
}

fn read_entry(
    item: &Yaml,
    file: &str,
    list: &'static str,
    index: usize,
    kind: Option<RepoKind>,
    msg: &mut Messages,
) -> Option<Draft> {
    let Yaml::Mapping(map) = item else {
        msg.errors.push(format!(
            "{file}: {list}[{index}]: expected a mapping, got {}",
            yaml_type(item)
        ));
        return None;
    };
    let get = |k: &str| map.get(k).and_then(|v| v.as_str());
    let label = entry_label(file, list, index, get("name"), get("short_name"));

    // The kind: the list's, or (package_repos) the entry's `type`.
    let kind = match kind {
        Some(k) => k,
        None => {
            let inferred = if ["distributions", "components", "architectures"]
                .iter()
                .any(|k| map.contains_key(*k))
            {
                RepoKind::Deb
            } else {
                RepoKind::Rpm
            };
            match map.get("type").map(classify) {
                None | Some(Field::Absent) | Some(Field::Template(_)) => inferred,
                Some(Field::Value(Yaml::String(t))) => match t.as_str() {
                    "rpm" => RepoKind::Rpm,
                    "deb" => RepoKind::Deb,
                    "file" => RepoKind::File,
                    _ => {
                        msg.errors.push(format!(
                            "{label}: unknown type {t:?} (expected one of rpm, deb, file)"
                        ));
                        inferred
                    }
                },
                Some(Field::Value(v)) => {
                    msg.errors.push(format!(
                        "{label}: type must be a string (rpm, deb or file), got {}",
                        yaml_type(v)
                    ));
                    inferred
                }
            }
        }
    };

    let mut d = Draft {
        kind,
        file: file.to_string(),
        list,
        index,
        name: None,
        url: None,
        policy: None,
        sync_policy: None,
        mirror: None,
        base_path: None,
        short_name: None,
        sync_group: None,
        distribution_name: None,
        sync: true,
        publish: true,
        extra: Map::new(),
    };

    for (key, value) in map {
        let Some(key) = key.as_str() else {
            msg.errors.push(format!(
                "{label}: field names must be strings, got {}",
                yaml_type(key)
            ));
            continue;
        };
        let value = match classify(value) {
            Field::Absent => continue,
            Field::Template(t) => {
                msg.notices.push(format!(
                    "{label}: field {key} is an Ansible template ({}); ignored",
                    shorten(&t)
                ));
                continue;
            }
            Field::Value(v) => v,
        };
        let string = |msg: &mut Messages| match value {
            Yaml::String(s) => Some(s.clone()),
            other => {
                msg.errors.push(format!(
                    "{label}: {key} must be a string, got {}",
                    yaml_type(other)
                ));
                None
            }
        };
        let boolean = |msg: &mut Messages| match parse_bool(value) {
            Some(b) => Some(b),
            None => {
                msg.errors.push(format!(
                    "{label}: {key} must be a boolean (true, false, yes or no), got {}",
                    describe(value)
                ));
                None
            }
        };
        match key {
            "name" => d.name = string(msg),
            "url" => d.url = string(msg),
            "policy" => d.policy = string(msg),
            "base_path" => d.base_path = string(msg),
            "short_name" => d.short_name = string(msg),
            "sync_group" => d.sync_group = string(msg),
            "distribution_name" => d.distribution_name = string(msg),
            "sync" => d.sync = boolean(msg).unwrap_or(true),
            "publish" => d.publish = boolean(msg).unwrap_or(true),
            "type" if list == "package_repos" => {} // consumed above
            "sync_policy" if kind == RepoKind::Rpm => d.sync_policy = string(msg),
            "mirror" if kind != RepoKind::Rpm => d.mirror = boolean(msg),
            "sync_policy" | "mirror" => {
                let used = if kind == RepoKind::Rpm {
                    "sync_policy"
                } else {
                    "mirror"
                };
                msg.notices.push(format!(
                    "{label}: {key} is not used for {kind} repositories ({used} is); kept in extra only"
                ));
                d.extra.insert(key.to_string(), to_json(value));
            }
            _ => {
                d.extra.insert(key.to_string(), to_json(value));
            }
        }
    }

    // Blank strings count as missing.
    for field in [
        &mut d.name,
        &mut d.url,
        &mut d.base_path,
        &mut d.short_name,
        &mut d.distribution_name,
    ] {
        if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
            *field = None;
        }
    }
    Some(d)
}

/// Per-entry checks and the uniqueness checks over all entries.
fn check_entries(drafts: &[Draft], errors: &mut Vec<String>) {
    for d in drafts {
        let label = d.label();
        // Only what the entry is used for is required: a retired repository kept in the list
        // (sync and publish false) needs no more than its name, as in the release train's
        // own templates.
        let mut missing: Vec<String> = Vec::new();
        if d.name.is_none() {
            missing.push("name".into());
        }
        let mut group = |fields: &[(&str, bool)], why: &str| {
            let absent: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
            if let Some((last, rest)) = absent.split_last() {
                missing.extend(rest.iter().map(|f| f.to_string()));
                missing.push(format!("{last} ({why})"));
            }
        };
        if d.publish {
            group(
                &[
                    ("short_name", d.short_name.is_none()),
                    ("base_path", d.base_path.is_none()),
                    ("distribution_name", d.distribution_name.is_none()),
                ],
                "required unless publish is false",
            );
        }
        if d.sync {
            group(&[("url", d.url.is_none())], "required unless sync is false");
        }
        match missing.len() {
            0 => {}
            1 => errors.push(format!("{label}: missing required field {}", missing[0])),
            _ => errors.push(format!(
                "{label}: missing required fields {}",
                missing.join(", ")
            )),
        }
        if let Some(s) = &d.short_name
            && !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            errors.push(format!(
                "{label}: short_name {s:?} may only hold letters, digits and '_' (it becomes part of a variable name)"
            ));
        }
        if let Some(b) = &d.base_path
            && !b.ends_with('/')
        {
            errors.push(format!(
                "{label}: base_path {b:?} must end with '/' (the version is appended to it)"
            ));
        }
        if let Some(p) = &d.policy
            && !POLICIES.contains(&p.as_str())
        {
            errors.push(format!("{label}: {}", unknown("policy", p, POLICIES)));
        }
        if let Some(p) = &d.sync_policy
            && !SYNC_POLICIES.contains(&p.as_str())
        {
            errors.push(format!(
                "{label}: {}",
                unknown("sync_policy", p, SYNC_POLICIES)
            ));
        }
    }

    // Unique over all files and kinds: short_name names a variable, the
    // others are unique on the server (repository/remote name, distribution
    // name and base path; the same version is appended to both of the last).
    type Getter = fn(&Draft) -> Option<&String>;
    let fields: [(&str, Getter); 4] = [
        ("short_name", |d| d.short_name.as_ref()),
        ("base_path", |d| d.base_path.as_ref()),
        ("name", |d| d.name.as_ref()),
        ("distribution_name", |d| d.distribution_name.as_ref()),
    ];
    for (field, get) in fields {
        let mut first: HashMap<&str, &Draft> = HashMap::new();
        for d in drafts {
            let Some(v) = get(d) else { continue };
            if let Some(f) = first.get(v.as_str()) {
                let at = if f.file == d.file {
                    format!("{}[{}]", f.list, f.index)
                } else {
                    f.at()
                };
                errors.push(format!(
                    "{}: duplicate {field} {v:?} (first at {at})",
                    d.label()
                ));
            } else {
                first.insert(v, d);
            }
        }
    }
}

fn unknown(field: &str, value: &str, allowed: &[&str]) -> String {
    format!(
        "unknown {field} {value:?} (expected one of {})",
        allowed.join(", ")
    )
}

fn parse_bool(value: &Yaml) -> Option<bool> {
    match value {
        Yaml::Bool(b) => Some(*b),
        Yaml::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn yaml_type(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

fn describe(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => format!("{s:?}"),
        Yaml::Number(n) => n.to_string(),
        other => yaml_type(other).to_string(),
    }
}

fn to_json(value: &Yaml) -> Json {
    match value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Json::Null, Json::Number)
            }
        }
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Number(n) => n.to_string(),
                        Yaml::Bool(b) => b.to_string(),
                        other => serde_yaml_ng::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Tagged(t) => to_json(&t.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    /// Writes `train.yml` and the given files into a fresh directory.
    fn setup(train: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train.yml");
        std::fs::write(&path, train).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        (dir, path)
    }

    const TRAIN: &str =
        "server:\n  url: http://depot.example:24817\nrepository_files: [repos.yml]\n";

    fn load_repos(repos: &str) -> Result<TrainConfig, ConfigError> {
        let (_dir, path) = setup(TRAIN, &[("repos.yml", repos)]);
        load(&path, &no_env)
    }

    fn errors_of(repos: &str) -> Vec<String> {
        load_repos(repos)
            .unwrap_err()
            .0
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn find<'a>(c: &'a TrainConfig, short_name: &str) -> &'a RepoEntry {
        c.repositories
            .iter()
            .find(|r| r.short_name == short_name)
            .unwrap_or_else(|| panic!("no {short_name}"))
    }

    // -- the real inventory ------------------------------------------------

    #[test]
    fn real_inventory_loads() {
        let c = load(
            &fixture("train.yml"),
            &env_of(&[("ARK_PASSWORD", "s3cret")]),
        )
        .unwrap_or_else(|e| panic!("real inventory rejected:\n{e}"));

        assert_eq!(
            c.server,
            Server {
                url: "http://127.0.0.1:24817".into(),
                username: Some("release-train-ci".into()),
                password: Some("s3cret".into()),
            }
        );
        assert_eq!(c.content_guards, Guards::default());

        let rpm = c.repositories.iter().filter(|r| r.kind == RepoKind::Rpm);
        let deb = c.repositories.iter().filter(|r| r.kind == RepoKind::Deb);
        assert_eq!(rpm.count(), 155);
        assert_eq!(deb.count(), 21);

        // Docker CE for CentOS 8: the 4th rpm entry.
        let docker = find(&c, "docker");
        assert_eq!(docker.kind, RepoKind::Rpm);
        assert_eq!(docker.name, "Docker CE for CentOS 8");
        assert_eq!(docker.base_path, "docker-ce/centos/8/x86_64/stable/");
        assert_eq!(docker.sync_group.as_deref(), Some("docker"));
        assert_eq!(docker.distribution_name, "docker-ce-for-centos-8-");
        assert_eq!(
            docker.url.as_deref(),
            Some("https://download.docker.com/linux/centos/8/x86_64/stable")
        );
        assert_eq!(
            docker.origin,
            "rpm-package-repos.yml: rpm_package_repos[3] (docker)"
        );
        // defaults.rpm applied
        assert_eq!(docker.policy.as_deref(), Some("immediate"));
        assert_eq!(docker.sync_policy.as_deref(), Some("mirror_complete"));
        assert_eq!(docker.mirror, None);
        assert!(docker.sync && docker.publish);
        assert!(docker.extra.is_empty());

        // Own values win over defaults; `sync: false` is read.
        let elk = find(&c, "elasticsearch_logstash_kibana_7_x");
        assert_eq!(elk.policy.as_deref(), Some("on_demand"));
        assert!(!elk.sync);
        assert!(elk.publish);
        assert_eq!(
            find(&c, "epel").sync_policy.as_deref(),
            Some("mirror_content_only")
        );

        // A deb entry: mirror, and the other fields in extra.
        let uca = find(&c, "ubuntu_cloud_archive");
        assert_eq!(uca.kind, RepoKind::Deb);
        assert_eq!(uca.mirror, Some(true));
        assert_eq!(uca.policy.as_deref(), Some("immediate"));
        assert_eq!(uca.sync_policy, None);
        assert_eq!(uca.extra["architectures"], "amd64");
        assert_eq!(uca.extra["components"], "main");
        assert_eq!(
            uca.extra["distributions"],
            "jammy-updates/caracal noble-updates/epoxy noble-updates/gazpacho"
        );
        assert_eq!(uca.extra["mode"], "verbatim");
        assert_eq!(
            uca.origin,
            "deb-package-repos.yml: deb_package_repos[0] (ubuntu_cloud_archive)"
        );

        // Deb entries without policy/mirror: no deb defaults in train.yml.
        let td = find(&c, "ubuntu_noble_treasuredata_5");
        assert_eq!((td.policy.as_ref(), td.mirror), (None, None));

        // Docker for Ubuntu noble: same sync_group as the rpm one.
        let docker_deb = find(&c, "docker_ce_ubuntu_noble");
        assert_eq!(docker_deb.sync_group.as_deref(), Some("docker"));
        assert_eq!(docker_deb.base_path, "docker-ce/ubuntu-noble/");

        // The only notices: the two templated `*_filtered` variables, and the
        // two deb entries that carry an rpm-only sync_policy.
        let templated: Vec<&String> = c
            .notices
            .iter()
            .filter(|n| n.contains("is an Ansible template"))
            .collect();
        assert_eq!(
            templated,
            [
                "rpm-package-repos.yml: rpm_package_repos_filtered is an Ansible template (\"{{ rpm_package_repos | select_repos(rpm_package_repo_filt\"...); ignored",
                "deb-package-repos.yml: deb_package_repos_filtered is an Ansible template (\"{{ deb_package_repos | select_repos(deb_package_repo_filt\"...); ignored",
            ]
        );
        let others: Vec<&String> = c
            .notices
            .iter()
            .filter(|n| !n.contains("is an Ansible template"))
            .collect();
        assert_eq!(
            others,
            [
                "deb-package-repos.yml: deb_package_repos[10] (name \"RabbitMQ - Erlang - Ubuntu Noble\"): sync_policy is not used for deb repositories (mirror is); kept in extra only",
                "deb-package-repos.yml: deb_package_repos[11] (name \"RabbitMQ - Server - Ubuntu Noble\"): sync_policy is not used for deb repositories (mirror is); kept in extra only",
            ]
        );
        let erlang = find(&c, "ubuntu_noble_rabbitmq_erlang");
        assert_eq!(erlang.sync_policy, None);
        assert_eq!(erlang.extra["sync_policy"], "mirror_content_only");

        // select() over the real data.
        let docker_group = select(&c.repositories, &[], Some("docker"));
        let names: Vec<&str> = docker_group.iter().map(|r| r.short_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "docker",
                "centos_stream_9_docker",
                "centos_stream_10_docker",
                "docker_ce_ubuntu_jammy",
                "docker_ce_ubuntu_noble"
            ]
        );
        let rocky_9_8_x86 = select(
            &c.repositories,
            &[Regex::new(r"^rocky_9_8_[a-z]+$").unwrap()],
            None,
        );
        assert!(
            rocky_9_8_x86
                .iter()
                .any(|r| r.short_name == "rocky_9_8_baseos")
        );
        assert_eq!(rocky_9_8_x86.len(), 6);
        assert!(
            rocky_9_8_x86
                .iter()
                .all(|r| !r.short_name.ends_with("_aarch64"))
        );
    }

    // -- train.yml ---------------------------------------------------------

    #[test]
    fn train_missing_file_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/train.yml");
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(
            e.starts_with(&format!("cannot read {}: ", path.display())),
            "{e}"
        );
    }

    #[test]
    fn train_invalid_yaml_has_line() {
        let (_d, path) = setup("server:\n  url: [http://x\nrepository_files: []\n", &[]);
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(e.contains("train.yml: invalid YAML: "), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn train_unknown_keys_are_errors() {
        let (_d, path) = setup("server: {url: http://x}\nrepository_file: [a.yml]\n", &[]);
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(
            e.contains("train.yml: unknown field `repository_file`"),
            "{e}"
        );
        assert!(e.contains("line 2"), "{e}");

        let (_d, path) = setup("server:\n  url: http://x\n  pasword: x\n", &[]);
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(e.contains("server: unknown field `pasword`"), "{e}");

        let (_d, path) = setup(
            "server: {url: http://x}\ndefaults:\n  deb: {sync_policy: additive}\n",
            &[],
        );
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(e.contains("unknown field `sync_policy`"), "{e}");

        let (_d, path) = setup("- a\n- b\n", &[]);
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(
            e.ends_with("train.yml: expected a mapping at the top level, got a list"),
            "{e}"
        );
    }

    #[test]
    fn train_missing_url() {
        let (_d, path) = setup("server: {username: ci}\n", &[]);
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(e.ends_with("train.yml: server.url is missing (set it there or in the environment variable DEPOT_URL)"), "{e}");

        // An empty train.yml is fine once DEPOT_URL is set.
        let (_d, path) = setup("# nothing yet\n", &[]);
        assert!(load(&path, &no_env).is_err());
        let c = load(&path, &env_of(&[("DEPOT_URL", "http://env:1")])).unwrap();
        assert_eq!(c.server.url, "http://env:1");
        assert!(c.repositories.is_empty());
        assert_eq!(c.content_guards, Guards::default());
    }

    #[test]
    fn env_overrides_server_block() {
        let train =
            "server:\n  url: http://file:1\n  username: fileuser\n  password_env: ARK_PASSWORD\n";
        let (_d, path) = setup(train, &[]);

        let c = load(&path, &env_of(&[("ARK_PASSWORD", "ark")])).unwrap();
        assert_eq!(c.server.url, "http://file:1");
        assert_eq!(c.server.username.as_deref(), Some("fileuser"));
        assert_eq!(c.server.password.as_deref(), Some("ark"));
        assert!(c.notices.is_empty());
        assert_eq!(c.path, path);

        let c = load(
            &path,
            &env_of(&[
                ("ARK_PASSWORD", "ark"),
                ("DEPOT_URL", "http://env:2"),
                ("DEPOT_USERNAME", "envuser"),
                ("DEPOT_PASSWORD", "envpw"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.server,
            Server {
                url: "http://env:2".into(),
                username: Some("envuser".into()),
                password: Some("envpw".into()),
            }
        );

        // Empty variables count as unset.
        let c = load(
            &path,
            &env_of(&[("DEPOT_URL", ""), ("ARK_PASSWORD", "ark")]),
        )
        .unwrap();
        assert_eq!(c.server.url, "http://file:1");

        // password_env naming an unset variable: no password, a notice.
        let c = load(&path, &no_env).unwrap();
        assert_eq!(c.server.password, None);
        assert_eq!(
            c.notices,
            [format!(
                "{}: server.password_env: environment variable ARK_PASSWORD is not set; no password",
                path.display()
            )]
        );
    }

    #[test]
    fn literal_password_and_conflict() {
        let (_d, path) = setup("server: {url: http://x, password: pw}\n", &[]);
        assert_eq!(
            load(&path, &no_env).unwrap().server.password.as_deref(),
            Some("pw")
        );
        let c = load(&path, &env_of(&[("DEPOT_PASSWORD", "env")])).unwrap();
        assert_eq!(c.server.password.as_deref(), Some("env"));

        let (_d, path) = setup(
            "server: {url: http://x, password: pw, password_env: P}\n",
            &[],
        );
        let e = load(&path, &no_env).unwrap_err().0;
        assert!(
            e.ends_with("train.yml: server: give either password or password_env, not both"),
            "{e}"
        );
    }

    #[test]
    fn content_guards() {
        let (_d, path) = setup(
            "server: {url: http://x}\ncontent_guards: {release: rel}\n",
            &[],
        );
        let c = load(&path, &no_env).unwrap();
        assert_eq!(
            c.content_guards,
            Guards {
                development: "development".into(),
                release: "rel".into()
            }
        );
    }

    #[test]
    fn invalid_defaults() {
        let (_d, path) = setup(
            "server: {url: http://x}\ndefaults:\n  rpm: {policy: lazy, sync_policy: mirror}\n  file: {policy: ondemand}\n",
            &[],
        );
        let e = load(&path, &no_env).unwrap_err().0;
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(lines[0].ends_with("train.yml: defaults.rpm.policy: unknown policy \"lazy\" (expected one of immediate, on_demand, streamed)"));
        assert!(lines[1].ends_with("train.yml: defaults.file.policy: unknown policy \"ondemand\" (expected one of immediate, on_demand, streamed)"));
        assert!(lines[2].ends_with("train.yml: defaults.rpm.sync_policy: unknown sync_policy \"mirror\" (expected one of additive, mirror_complete, mirror_content_only)"));
    }

    #[test]
    fn deb_and_file_defaults() {
        let (_d, path) = setup(
            "server: {url: http://x}\ndefaults:\n  deb: {policy: on_demand, mirror: true}\n  file: {mirror: false}\nrepository_files: [r.yml]\n",
            &[(
                "r.yml",
                "deb_package_repos:\n  - {name: D, url: http://d, base_path: d/, short_name: d, distribution_name: d-}\n  - {name: E, url: http://e, mirror: false, policy: immediate, base_path: e/, short_name: e, distribution_name: e-}\nfile_repos:\n  - {name: F, url: http://f/PULP_MANIFEST, base_path: f/, short_name: f, distribution_name: f-}\n",
            )],
        );
        let c = load(&path, &no_env).unwrap();
        let d = find(&c, "d");
        assert_eq!(
            (d.policy.as_deref(), d.mirror),
            (Some("on_demand"), Some(true))
        );
        let e = find(&c, "e");
        assert_eq!(
            (e.policy.as_deref(), e.mirror),
            (Some("immediate"), Some(false))
        );
        let f = find(&c, "f");
        assert_eq!(f.kind, RepoKind::File);
        assert_eq!((f.policy.as_deref(), f.mirror), (None, Some(false)));
        assert_eq!(f.origin, "r.yml: file_repos[0] (f)");
    }

    #[test]
    fn repository_files_relative_to_train_yml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("conf/inv")).unwrap();
        let train = dir.path().join("conf/train.yml");
        std::fs::write(
            &train,
            "server: {url: http://x}\nrepository_files: [inv/a.yml, missing.yml]\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("conf/inv/a.yml"),
            "rpm_package_repos:\n  - {name: A, url: http://a, base_path: a/, short_name: a, distribution_name: a-}\n",
        )
        .unwrap();
        let e = load(&train, &no_env).unwrap_err().0;
        assert!(
            e.starts_with(&format!(
                "{}: repository_files[1]: cannot read {}: ",
                train.display(),
                dir.path().join("conf/missing.yml").display()
            )),
            "{e}"
        );
        std::fs::write(
            &train,
            "server: {url: http://x}\nrepository_files: [inv/a.yml]\n",
        )
        .unwrap();
        let c = load(&train, &no_env).unwrap();
        assert_eq!(
            c.repositories[0].origin,
            "inv/a.yml: rpm_package_repos[0] (a)"
        );
    }

    // -- repository entries ------------------------------------------------

    const GOOD: &str = "  - name: A\n    url: http://a\n    base_path: a/\n    short_name: a\n    distribution_name: a-\n";

    #[test]
    fn minimal_entry_and_defaults() {
        let c = load_repos(&format!("rpm_package_repos:\n{GOOD}")).unwrap();
        let a = &c.repositories[0];
        assert_eq!(a.kind, RepoKind::Rpm);
        assert_eq!((a.sync, a.publish), (true, true));
        assert_eq!((&a.policy, &a.sync_policy, a.mirror), (&None, &None, None));
        assert_eq!(a.sync_group, None);
        assert!(c.notices.is_empty(), "{:?}", c.notices);
        let json = serde_json::to_value(a).unwrap();
        assert_eq!(json["kind"], "rpm");
    }

    #[test]
    fn missing_short_name() {
        let e = errors_of(
            "rpm_package_repos:\n  - {name: Grafana, url: http://g, base_path: g/, distribution_name: g-}\n",
        );
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"Grafana\"): missing required field short_name (required unless publish is false)"
            ]
        );
    }

    #[test]
    fn missing_several_and_blank() {
        let e = errors_of("rpm_package_repos:\n  - {short_name: x, name: \"  \"}\n");
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (short_name \"x\"): missing required fields name, base_path, distribution_name (required unless publish is false), url (required unless sync is false)"
            ]
        );
        let e = errors_of("rpm_package_repos:\n  - {}\n");
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0]: missing required fields name, short_name, base_path, distribution_name (required unless publish is false), url (required unless sync is false)"
            ]
        );
    }

    #[test]
    fn retired_entries_need_only_a_name() {
        let c = load_repos(
            "rpm_package_repos:\n  - {name: Retired, sync: false, publish: false}\n  - {name: A, url: http://a, base_path: a/, short_name: a, distribution_name: a-}\n",
        )
        .unwrap();
        assert_eq!(c.repositories.len(), 2);
        assert_eq!(c.repositories[0].label(), "Retired");
        assert_eq!(c.repositories[1].label(), "a");
        // synced but never published: no distribution fields needed either
        let c = load_repos("rpm_package_repos:\n  - {name: S, url: http://s, publish: false}\n")
            .unwrap();
        assert!(c.repositories[0].sync && !c.repositories[0].publish);
        // still a name, and a url when synced
        let e = errors_of(
            "rpm_package_repos:\n  - {sync: false, publish: false}\n  - {name: B, publish: false}\n",
        );
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0]: missing required field name",
                "repos.yml: rpm_package_repos[1] (name \"B\"): missing required field url (required unless sync is false)",
            ]
        );
    }

    #[test]
    fn url_only_required_when_syncing() {
        let e = errors_of(
            "rpm_package_repos:\n  - {name: A, base_path: a/, short_name: a, distribution_name: a-}\n",
        );
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): missing required field url (required unless sync is false)"
            ]
        );
        for no in ["false", "no", "\"no\"", "\"False\""] {
            let c = load_repos(&format!(
                "rpm_package_repos:\n  - {{name: A, base_path: a/, short_name: a, distribution_name: a-, sync: {no}}}\n"
            ))
            .unwrap();
            assert!(!c.repositories[0].sync);
            assert_eq!(c.repositories[0].url, None);
        }
    }

    #[test]
    fn sync_and_publish_strings() {
        let c = load_repos(&format!(
            "rpm_package_repos:\n{GOOD}    sync: \"yes\"\n    publish: \"no\"\n"
        ))
        .unwrap();
        assert!(c.repositories[0].sync);
        assert!(!c.repositories[0].publish);
        let e = errors_of(&format!("rpm_package_repos:\n{GOOD}    publish: maybe\n"));
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): publish must be a boolean (true, false, yes or no), got \"maybe\""
            ]
        );
        let e = errors_of(&format!("rpm_package_repos:\n{GOOD}    sync: 1\n"));
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): sync must be a boolean (true, false, yes or no), got 1"
            ]
        );
    }

    #[test]
    fn duplicate_short_name() {
        let e = errors_of(
            "rpm_package_repos:
  - {name: Docker, url: http://d, base_path: d/, short_name: docker, distribution_name: d-}
  - {name: Other, url: http://o, base_path: o/, short_name: other, distribution_name: o-}
  - {name: Grafana, url: http://g, base_path: g/, short_name: docker, distribution_name: g-}
",
        );
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[2] (name \"Grafana\"): duplicate short_name \"docker\" (first at rpm_package_repos[0])"
            ]
        );
    }

    #[test]
    fn duplicate_base_path_across_files_and_kinds() {
        let (_d, path) = setup(
            "server: {url: http://x}\nrepository_files: [rpm.yml, deb.yml]\n",
            &[
                ("rpm.yml", &format!("rpm_package_repos:\n{GOOD}")),
                (
                    "deb.yml",
                    "deb_package_repos:\n  - {name: B, url: http://b, base_path: a/, short_name: b, distribution_name: b-}\n",
                ),
            ],
        );
        let e = load(&path, &no_env).unwrap_err().0;
        assert_eq!(
            e,
            "deb.yml: deb_package_repos[0] (name \"B\"): duplicate base_path \"a/\" (first at rpm.yml: rpm_package_repos[0])"
        );
    }

    #[test]
    fn duplicate_name_and_distribution_name() {
        let e = errors_of(&format!(
            "rpm_package_repos:\n{GOOD}  - {{name: A, url: http://b, base_path: b/, short_name: b, distribution_name: a-}}\n"
        ));
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[1] (name \"A\"): duplicate name \"A\" (first at rpm_package_repos[0])",
                "repos.yml: rpm_package_repos[1] (name \"A\"): duplicate distribution_name \"a-\" (first at rpm_package_repos[0])",
            ]
        );
    }

    #[test]
    fn unknown_sync_policy_and_policy() {
        let e = errors_of(&format!(
            "rpm_package_repos:\n{GOOD}    sync_policy: mirror\n    policy: lazy\n"
        ));
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): unknown policy \"lazy\" (expected one of immediate, on_demand, streamed)",
                "repos.yml: rpm_package_repos[0] (name \"A\"): unknown sync_policy \"mirror\" (expected one of additive, mirror_complete, mirror_content_only)",
            ]
        );
        for ok in SYNC_POLICIES {
            let c = load_repos(&format!(
                "rpm_package_repos:\n{GOOD}    sync_policy: {ok}\n"
            ))
            .unwrap();
            assert_eq!(c.repositories[0].sync_policy.as_deref(), Some(*ok));
        }
        for ok in POLICIES {
            let c = load_repos(&format!("rpm_package_repos:\n{GOOD}    policy: {ok}\n")).unwrap();
            assert_eq!(c.repositories[0].policy.as_deref(), Some(*ok));
        }
    }

    #[test]
    fn sync_policy_on_deb_and_mirror_on_rpm_are_noticed() {
        let c = load_repos(
            "deb_package_repos:
  - {name: D, url: http://d, base_path: d/, short_name: d, distribution_name: d-, sync_policy: bogus}
rpm_package_repos:
  - {name: R, url: http://r, base_path: r/, short_name: r, distribution_name: r-, mirror: true}
",
        )
        .unwrap();
        let d = find(&c, "d");
        assert_eq!((d.sync_policy.as_ref(), d.mirror), (None, None));
        assert_eq!(d.extra["sync_policy"], "bogus");
        let r = find(&c, "r");
        assert_eq!(r.mirror, None);
        assert_eq!(r.extra["mirror"], true);
        assert_eq!(
            c.notices,
            [
                "repos.yml: deb_package_repos[0] (name \"D\"): sync_policy is not used for deb repositories (mirror is); kept in extra only",
                "repos.yml: rpm_package_repos[0] (name \"R\"): mirror is not used for rpm repositories (sync_policy is); kept in extra only",
            ]
        );
    }

    #[test]
    fn base_path_needs_trailing_slash() {
        let e = errors_of(
            "rpm_package_repos:\n  - {name: A, url: http://a, base_path: a/b, short_name: a, distribution_name: a-}\n",
        );
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): base_path \"a/b\" must end with '/' (the version is appended to it)"
            ]
        );
    }

    #[test]
    fn short_name_must_be_identifier() {
        let e = errors_of(
            "rpm_package_repos:\n  - {name: A, url: http://a, base_path: a/, short_name: rocky-9.8, distribution_name: a-}\n",
        );
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): short_name \"rocky-9.8\" may only hold letters, digits and '_' (it becomes part of a variable name)"
            ]
        );
    }

    #[test]
    fn field_types() {
        let e = errors_of(
            "rpm_package_repos:\n  - {name: A, url: http://a, base_path: a/, short_name: 8, distribution_name: [a]}\n",
        );
        assert_eq!(
            e,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): short_name must be a string, got a number",
                "repos.yml: rpm_package_repos[0] (name \"A\"): distribution_name must be a string, got a list",
                "repos.yml: rpm_package_repos[0] (name \"A\"): missing required fields short_name, distribution_name (required unless publish is false)",
            ]
        );
        let e = errors_of("rpm_package_repos:\n  - just a string\n");
        assert_eq!(
            e,
            ["repos.yml: rpm_package_repos[0]: expected a mapping, got a string"]
        );
        let e = errors_of("rpm_package_repos: {a: 1}\n");
        assert_eq!(
            e,
            ["repos.yml: rpm_package_repos: expected a list of repositories, got a mapping"]
        );
        let e = errors_of("rpm_package_repos:\n  - name: A\n  name: B\n");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("repos.yml: invalid YAML: "), "{e:?}");
        assert!(e[0].contains("line 3"), "{e:?}");
    }

    #[test]
    fn all_errors_reported_together() {
        let e = errors_of(
            "rpm_package_repos:
  - {name: A, url: http://a, base_path: a, short_name: a, distribution_name: a-}
  - {name: B, url: http://b, base_path: b/, short_name: a, distribution_name: b-, sync_policy: x}
  - {name: C, base_path: c/, distribution_name: c-}
",
        );
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(
            e[0].contains("rpm_package_repos[0] (name \"A\"): base_path \"a\" must end with '/'")
        );
        assert!(e[1].contains("rpm_package_repos[1] (name \"B\"): unknown sync_policy \"x\""));
        assert!(e[2].contains(
            "rpm_package_repos[2] (name \"C\"): missing required fields short_name (required unless publish is false), url"
        ));
        assert!(e[3].contains("rpm_package_repos[1] (name \"B\"): duplicate short_name \"a\" (first at rpm_package_repos[0])"));
    }

    // -- templates ----------------------------------------------------------

    #[test]
    fn templated_fields_are_ignored_with_notice() {
        let c = load_repos(&format!(
            "rpm_package_repos:\n{GOOD}    policy: \"{{{{ my_policy }}}}\"\n    sync_group: \"{{% if x %}}a{{% endif %}}\"\n    architectures: \"{{{{ arches }}}}\"\n"
        ))
        .unwrap();
        let a = &c.repositories[0];
        assert_eq!((&a.policy, &a.sync_group), (&None, &None));
        assert!(a.extra.is_empty());
        assert_eq!(
            c.notices,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): field policy is an Ansible template (\"{{ my_policy }}\"); ignored",
                "repos.yml: rpm_package_repos[0] (name \"A\"): field sync_group is an Ansible template (\"{% if x %}a{% endif %}\"); ignored",
                "repos.yml: rpm_package_repos[0] (name \"A\"): field architectures is an Ansible template (\"{{ arches }}\"); ignored",
            ]
        );
    }

    #[test]
    fn templated_required_field_is_missing() {
        let (_d, path) = setup(
            TRAIN,
            &[(
                "repos.yml",
                "rpm_package_repos:\n  - {name: A, url: \"{{ mirror }}/a\", base_path: a/, short_name: a, distribution_name: a-}\n",
            )],
        );
        let e = load(&path, &no_env).unwrap_err().0;
        assert_eq!(
            e,
            "repos.yml: rpm_package_repos[0] (name \"A\"): missing required field url (required unless sync is false)"
        );
    }

    #[test]
    fn tagged_values() {
        let c = load_repos(&format!(
            "rpm_package_repos:\n{GOOD}    sync_group: !unsafe \"{{{{ literal }}}}\"\n    token: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n"
        ))
        .unwrap();
        let a = &c.repositories[0];
        assert_eq!(a.sync_group.as_deref(), Some("{{ literal }}"));
        assert!(!a.extra.contains_key("token"));
        assert_eq!(
            c.notices,
            [
                "repos.yml: rpm_package_repos[0] (name \"A\"): field token is an Ansible template (\"!vault ...\"); ignored"
            ]
        );
    }

    #[test]
    fn other_top_level_keys() {
        let c = load_repos(&format!(
            "---\nrpm_package_repos:\n{GOOD}rpm_package_repo_filter: \"\"\nrpm_package_repos_filtered: \"{{{{ rpm_package_repos | select_repos(rpm_package_repo_filter, package_sync_group) }}}}\"\nsomething_else: [1, 2]\n"
        ))
        .unwrap();
        assert_eq!(c.repositories.len(), 1);
        assert_eq!(c.notices.len(), 1, "{:?}", c.notices);
        assert!(
            c.notices[0]
                .starts_with("repos.yml: rpm_package_repos_filtered is an Ansible template")
        );

        // A list that is itself a template: notice, no repositories.
        let c = load_repos("rpm_package_repos: \"{{ other_list }}\"\n").unwrap();
        assert!(c.repositories.is_empty());
        assert_eq!(
            c.notices,
            ["repos.yml: rpm_package_repos is an Ansible template (\"{{ other_list }}\"); ignored"]
        );

        // A file without any repository list.
        let c = load_repos("dev_pulp_distribution_version: x\n").unwrap();
        assert_eq!(
            c.notices,
            [
                "repos.yml: none of rpm_package_repos, deb_package_repos, file_repos, package_repos found; no repositories"
            ]
        );
    }

    #[test]
    fn yaml_anchors_and_merge_keys() {
        let c = load_repos(
            "common: &common {sync_group: third_party, policy: on_demand}
rpm_package_repos:
  - <<: *common
    name: A
    url: http://a
    base_path: a/
    short_name: a
    distribution_name: a-
",
        )
        .unwrap();
        let a = &c.repositories[0];
        assert_eq!(a.sync_group.as_deref(), Some("third_party"));
        assert_eq!(a.policy.as_deref(), Some("on_demand"));
    }

    // -- the combined package_repos list ----------------------------------

    #[test]
    fn combined_package_repos() {
        let c = load_repos(
            "package_repos:
  - {type: rpm, name: R, url: http://r, base_path: r/, short_name: r, distribution_name: r-, sync_policy: additive}
  - {type: deb, name: D, url: http://d, base_path: d/, short_name: d, distribution_name: d-, mirror: true}
  - {type: file, name: F, url: http://f, base_path: f/, short_name: f, distribution_name: f-}
  - {name: D2, url: http://d2, base_path: d2/, short_name: d2, distribution_name: d2-, distributions: noble}
  - {name: D3, url: http://d3, base_path: d3/, short_name: d3, distribution_name: d3-, components: main}
  - {name: D4, url: http://d4, base_path: d4/, short_name: d4, distribution_name: d4-, architectures: amd64}
  - {name: R2, url: http://r2, base_path: r2/, short_name: r2, distribution_name: r2-}
",
        )
        .unwrap();
        let kinds: Vec<(&str, RepoKind)> = c
            .repositories
            .iter()
            .map(|r| (r.short_name.as_str(), r.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("r", RepoKind::Rpm),
                ("d", RepoKind::Deb),
                ("f", RepoKind::File),
                ("d2", RepoKind::Deb),
                ("d3", RepoKind::Deb),
                ("d4", RepoKind::Deb),
                ("r2", RepoKind::Rpm),
            ]
        );
        assert_eq!(find(&c, "r").sync_policy.as_deref(), Some("additive"));
        assert_eq!(find(&c, "d").mirror, Some(true));
        assert!(!find(&c, "r").extra.contains_key("type"));
        assert_eq!(find(&c, "d2").extra["distributions"], "noble");
        assert_eq!(c.repositories[0].origin, "repos.yml: package_repos[0] (r)");
        assert!(c.notices.is_empty(), "{:?}", c.notices);
    }

    #[test]
    fn combined_package_repos_unknown_type() {
        let e = errors_of(
            "package_repos:\n  - {type: container, name: C, url: http://c, base_path: c/, short_name: c, distribution_name: c-}\n",
        );
        assert_eq!(
            e,
            [
                "repos.yml: package_repos[0] (name \"C\"): unknown type \"container\" (expected one of rpm, deb, file)"
            ]
        );
    }

    #[test]
    fn extra_keeps_structure() {
        let c = load_repos(&format!(
            "deb_package_repos:\n{GOOD}    architectures: [amd64, arm64]\n    retain: 3\n    options: {{gpgkey: k}}\n"
        ))
        .unwrap();
        let a = &c.repositories[0];
        assert_eq!(
            a.extra["architectures"],
            serde_json::json!(["amd64", "arm64"])
        );
        assert_eq!(a.extra["retain"], 3);
        assert_eq!(a.extra["options"], serde_json::json!({"gpgkey": "k"}));
        let keys: Vec<&String> = a.extra.keys().collect();
        assert_eq!(keys, ["architectures", "retain", "options"]);
    }

    // -- select -------------------------------------------------------------

    fn entry(short_name: &str, group: Option<&str>) -> RepoEntry {
        RepoEntry {
            kind: RepoKind::Rpm,
            name: short_name.to_uppercase(),
            url: Some(format!("http://{short_name}")),
            policy: None,
            sync_policy: None,
            mirror: None,
            base_path: format!("{short_name}/"),
            short_name: short_name.to_string(),
            sync_group: group.map(str::to_string),
            distribution_name: format!("{short_name}-"),
            sync: true,
            publish: true,
            extra: Map::new(),
            origin: format!("test ({short_name})"),
        }
    }

    fn short_names(v: Vec<&RepoEntry>) -> Vec<&str> {
        v.into_iter().map(|r| r.short_name.as_str()).collect()
    }

    #[test]
    fn select_filters_and_group() {
        let repos = [
            entry("rocky_9_8_baseos", Some("rocky_9")),
            entry("rocky_9_8_baseos_aarch64", Some("rocky_9_aarch64")),
            entry("epel", Some("epel")),
            entry("docker", Some("docker")),
            entry("grafana", None),
        ];
        let re = |s: &str| Regex::new(s).unwrap();

        // No filters, no group: all.
        assert_eq!(select(&repos, &[], None).len(), 5);

        // Search, not anchored, on short_name.
        assert_eq!(
            short_names(select(&repos, &[re("baseos")], None)),
            ["rocky_9_8_baseos", "rocky_9_8_baseos_aarch64"]
        );
        // Anchors are the caller's.
        assert_eq!(
            short_names(select(&repos, &[re("^rocky_9_8_baseos$")], None)),
            ["rocky_9_8_baseos"]
        );
        // Any filter; a filter may match the sync_group.
        assert_eq!(
            short_names(select(&repos, &[re("^epel$"), re("^docker$")], None)),
            ["epel", "docker"]
        );
        assert_eq!(
            short_names(select(&repos, &[re("_aarch64$")], None)),
            ["rocky_9_8_baseos_aarch64"]
        );
        assert_eq!(
            short_names(select(&repos, &[re("^rocky_9$")], None)),
            ["rocky_9_8_baseos"]
        );
        // Group: exact.
        assert_eq!(
            short_names(select(&repos, &[], Some("rocky_9"))),
            ["rocky_9_8_baseos"]
        );
        assert!(select(&repos, &[], Some("rocky")).is_empty());
        // Both: AND.
        assert_eq!(
            short_names(select(&repos, &[re("rocky")], Some("rocky_9_aarch64"))),
            ["rocky_9_8_baseos_aarch64"]
        );
        assert!(select(&repos, &[re("epel")], Some("docker")).is_empty());
        // No match.
        assert!(select(&repos, &[re("nothing")], None).is_empty());
    }
}
