//! Remotes: where and how to fetch upstream content.
//!
//! Secrets (`username`, `password`, `proxy_username`, `proxy_password`, `client_key`) are
//! write-only: stored apart from the other settings, never rendered or logged; responses only
//! say whether each is set (`hidden_fields`).

use serde_json::{Map, Value, json};

use super::list::{ListSpec, datetime_filters, text_filters};
use super::{Listed, Outcome, all_fields, labels, not_found, obj};
use crate::Depot;
use crate::core_tasks::{GENERAL_DELETE, GENERAL_UPDATE};
use crate::error::{CoreError, Result};
use crate::fields::{self, Default, Field, FieldErrors, Kind};
use crate::href;
use crate::plugin::TypeDef;
use crate::tasks::NewTask;
use depot_store::records::{REMOTE_COLUMNS, RemoteRow};
use depot_store::{new_id, now};

const POLICIES: &[&str] = &["immediate", "on_demand", "streamed"];
const TIMEOUT: Kind = Kind::Num { min: Some(0.0) };

pub static COMMON: &[Field] = &[
    Field::new("pulp_href", Kind::Str).read_only(),
    Field::new("prn", Kind::Str).read_only(),
    Field::new("pulp_created", Kind::DateTime).read_only(),
    Field::new("pulp_last_updated", Kind::DateTime).read_only(),
    Field::new("name", Kind::Str)
        .required()
        .help("A unique name for this remote."),
    Field::new("url", Kind::Str)
        .required()
        .help("The URL of an external content source."),
    Field::new("pulp_labels", Kind::Labels).default(Default::EmptyObject),
    Field::new("policy", Kind::Choice(POLICIES))
        .default(Default::Str("immediate"))
        .help("immediate: download everything during sync; on_demand: download on first request and keep; streamed: pass through, never keep."),
    Field::new("hidden_fields", Kind::Json("array")).read_only(),
    Field::new("ca_cert", Kind::Str).nullable().default(Default::Null),
    Field::new("client_cert", Kind::Str).nullable().default(Default::Null),
    Field::new("client_key", Kind::Str).nullable().write_only(),
    Field::new("tls_validation", Kind::Bool).default(Default::Bool(true)),
    Field::new("proxy_url", Kind::Str).nullable().default(Default::Null),
    Field::new("proxy_username", Kind::Str).nullable().write_only(),
    Field::new("proxy_password", Kind::Str).nullable().write_only(),
    Field::new("username", Kind::Str).nullable().write_only(),
    Field::new("password", Kind::Str).nullable().write_only(),
    Field::new("max_retries", Kind::Int { min: Some(0), max: None })
        .nullable()
        .default(Default::Null),
    Field::new("total_timeout", TIMEOUT).nullable().default(Default::Null),
    Field::new("connect_timeout", TIMEOUT).nullable().default(Default::Null),
    Field::new("sock_connect_timeout", TIMEOUT).nullable().default(Default::Null),
    Field::new("sock_read_timeout", TIMEOUT).nullable().default(Default::Null),
    Field::new("headers", Kind::Json("array")),
    Field::new("download_concurrency", Kind::Int { min: Some(1), max: None })
        .nullable()
        .default(Default::Null),
    Field::new("rate_limit", Kind::Int { min: Some(0), max: None })
        .nullable()
        .default(Default::Null),
];

/// Rendered settings, stored in `settings`.
const SETTINGS: &[&str] = &[
    "ca_cert",
    "client_cert",
    "tls_validation",
    "proxy_url",
    "max_retries",
    "total_timeout",
    "connect_timeout",
    "sock_connect_timeout",
    "sock_read_timeout",
    "headers",
    "download_concurrency",
    "rate_limit",
];

/// Write-only settings, stored in `secrets`, in the order `hidden_fields` lists them.
pub const SECRETS: &[&str] = &[
    "client_key",
    "proxy_username",
    "proxy_password",
    "username",
    "password",
];

pub fn fields(def: &TypeDef) -> Vec<&'static Field> {
    all_fields(COMMON, def)
}

pub fn list_spec() -> ListSpec {
    ListSpec::new("id", "pulp_created")
        .filters(text_filters("name", "name"))
        .filters(datetime_filters("pulp_last_updated", "pulp_last_updated"))
        .filter(super::generic::label_filter("pulp_labels"))
        .order(&[
            ("pulp_created", "pulp_created"),
            ("pulp_last_updated", "pulp_last_updated"),
            ("pulp_type", "pulp_type"),
            ("name", "name"),
            ("url", "url"),
            ("policy", "policy"),
        ])
}

pub fn render(depot: &Depot, row: &RemoteRow) -> Value {
    let def = depot
        .plugins
        .type_def(crate::Family::Remotes, &row.pulp_type);
    let settings = obj(&row.settings);
    let secrets = depot.open_secrets(row).unwrap_or_else(|e| {
        tracing::error!(remote = %row.name, error = %e, "cannot read the remote's secrets");
        Map::new()
    });
    let extra = obj(&row.extra);
    let mut m = Map::new();
    let href = def.map(|d| href::of(d, &row.id)).unwrap_or_default();
    let prn = def
        .map(|d| href::prn(d.prn_model, &row.id))
        .unwrap_or_default();
    for f in COMMON.iter().chain(def.map(|d| d.fields).unwrap_or(&[])) {
        if f.write_only {
            continue;
        }
        let v = match f.name {
            "pulp_href" => Value::from(href.clone()),
            "prn" => Value::from(prn.clone()),
            "pulp_created" => Value::from(row.pulp_created.clone()),
            "pulp_last_updated" => Value::from(row.pulp_last_updated.clone()),
            "name" => Value::from(row.name.clone()),
            "url" => Value::from(row.url.clone()),
            "pulp_labels" => labels(&row.pulp_labels),
            "policy" => Value::from(row.policy.clone()),
            "hidden_fields" => Value::Array(
                SECRETS
                    .iter()
                    .map(|s| {
                        let set = secrets
                            .get(*s)
                            .and_then(Value::as_str)
                            .is_some_and(|v| !v.is_empty());
                        json!({"name": s, "is_set": set})
                    })
                    .collect(),
            ),
            "tls_validation" => settings.get(f.name).cloned().unwrap_or(Value::Bool(true)),
            n if SETTINGS.contains(&n) => settings.get(n).cloned().unwrap_or(Value::Null),
            _ => super::extra_field(&extra, f),
        };
        m.insert(f.name.to_string(), v);
    }
    Value::Object(m)
}

/// Rules beyond each field's type, checked against the remote as it would become.
fn check_rules(merged: &Map<String, Value>, errors: &mut FieldErrors) {
    let s = |k: &str| {
        merged
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    if let Some(url) = s("url") {
        if let Some((_, rest)) = url.split_once("://") {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
            if authority.contains('@') {
                errors.add(
                    "url",
                    "The remote url contains username or password. Please use remote username or password instead.",
                );
            }
        } else {
            errors.add("url", "Enter a valid URL.");
        }
    }
    if s("proxy_url").is_some_and(|p| p.contains('@')) {
        errors.add("proxy_url", "proxy_url must not contain credentials");
    }
    let (pu, pp) = (s("proxy_username"), s("proxy_password"));
    if (pu.is_some() || pp.is_some()) && s("proxy_url").is_none() {
        errors.add(
            "non_field_errors",
            "proxy credentials cannot be specified without a proxy",
        );
    } else if pu.is_some() != pp.is_some() {
        errors.add(
            "non_field_errors",
            "proxy username and password can only be specified together",
        );
    }
    for key in ["ca_cert", "client_cert"] {
        if let Some(pem) = s(key) {
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                errors.add(key, format!("No {key} specified in string {pem}"));
            } else if let Err(e) = reqwest::Certificate::from_pem_bundle(pem.as_bytes()) {
                errors.add(key, format!("Invalid {key} specified, error '{e}'"));
            }
        }
    }
    if let Some(h) = merged.get("headers") {
        match h {
            Value::Array(items) if items.iter().all(Value::is_object) => {}
            Value::Array(_) => errors.add("headers", "Expected a list of dictionaries."),
            other => errors.add(
                "headers",
                format!(
                    "Expected a list of items but got type \"{}\".",
                    json_type(other)
                ),
            ),
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "str",
        Value::Object(_) => "dict",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        _ => "NoneType",
    }
}

/// Current values of every writable field (secrets included), for merging and no-op checks.
fn current_values(row: &RemoteRow, secrets: Map<String, Value>) -> Map<String, Value> {
    let mut m = obj(&row.extra);
    m.extend(obj(&row.settings));
    m.extend(secrets);
    m.insert("name".into(), Value::from(row.name.clone()));
    m.insert("url".into(), Value::from(row.url.clone()));
    m.insert("policy".into(), Value::from(row.policy.clone()));
    m.insert("pulp_labels".into(), labels(&row.pulp_labels));
    m
}

/// Apply validated values to a row (its secrets sealed again with the current key).
pub fn apply(depot: &Depot, row: &mut RemoteRow, patch: &Map<String, Value>) -> Result<()> {
    let mut settings = obj(&row.settings);
    let mut secrets = depot.open_secrets(row).map_err(CoreError::Internal)?;
    let mut extra = obj(&row.extra);
    for (k, v) in patch {
        match k.as_str() {
            "name" => row.name = v.as_str().unwrap_or_default().to_string(),
            "url" => row.url = v.as_str().unwrap_or_default().to_string(),
            "policy" => row.policy = v.as_str().unwrap_or("immediate").to_string(),
            "pulp_labels" => row.pulp_labels = v.to_string(),
            n if SETTINGS.contains(&n) => {
                settings.insert(k.clone(), v.clone());
            }
            n if SECRETS.contains(&n) => {
                secrets.insert(k.clone(), v.clone());
            }
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    row.settings = Value::Object(settings).to_string();
    row.secrets = depot.secrets.seal(&Value::Object(secrets).to_string());
    row.extra = Value::Object(extra).to_string();
    Ok(())
}

impl Depot {
    /// A remote's write-only values, decrypted.
    pub fn open_secrets(&self, row: &RemoteRow) -> std::result::Result<Map<String, Value>, String> {
        let plain = self
            .secrets
            .open(&row.secrets)
            .map_err(|e| format!("remote '{}': {e}", row.name))?;
        Ok(obj(&plain))
    }

    /// Seal secrets stored before they were encrypted (databases of earlier versions).
    pub async fn seal_plaintext_secrets(&self) -> Result<usize> {
        let plain: Vec<(String, String)> = self
            .db
            .remote_secrets_all()
            .await?
            .into_iter()
            .filter(|(_, s)| !s.starts_with("enc1:"))
            .map(|(id, s)| (id, self.secrets.seal(&s)))
            .collect();
        self.db.remote_set_secrets(&plain).await?;
        Ok(plain.len())
    }

    pub async fn remote_row(&self, def: &TypeDef, id: &str) -> Result<RemoteRow> {
        match self.db.remote_get(id).await? {
            Some(r) if r.pulp_type == def.pulp_type => Ok(r),
            _ => Err(not_found(def.model)),
        }
    }

    pub async fn remote_list(
        &self,
        def: &TypeDef,
        params: &[(String, String)],
        visible: &crate::rbac::Visible,
    ) -> Result<Listed> {
        let mut q = list_spec().build(self, params)?;
        super::restrict(&mut q, "id", visible);
        q.filters.push(depot_store::Filter::Eq(
            "pulp_type".into(),
            def.pulp_type.into(),
        ));
        let page = q
            .run::<RemoteRow>(&self.db, REMOTE_COLUMNS, "remotes")
            .await?;
        Ok(Listed::of(&q, &page, |r| render(self, r)))
    }

    /// Create a remote (synchronous, like Pulp).
    pub async fn remote_create(&self, def: &TypeDef, body: &Map<String, Value>) -> Result<Value> {
        let patch = fields::validate(&fields(def), body, false)?;
        let mut errors = FieldErrors::default();
        check_rules(&patch, &mut errors);
        errors.into_result()?;
        let t = now();
        let mut row = RemoteRow {
            id: new_id(),
            pulp_type: def.pulp_type.to_string(),
            name: String::new(),
            url: String::new(),
            policy: "immediate".into(),
            pulp_labels: "{}".into(),
            settings: "{}".into(),
            secrets: "{}".into(),
            extra: "{}".into(),
            pulp_created: t.clone(),
            pulp_last_updated: t,
        };
        apply(self, &mut row, &patch)?;
        self.db.remote_insert(&row).await.map_err(unique_error)?;
        Ok(render(self, &row))
    }

    /// Validate an update; queue it as a task unless it changes nothing.
    pub async fn remote_update(
        &self,
        def: &TypeDef,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let row = self.remote_row(def, id).await?;
        let patch = fields::validate(&fields(def), body, partial)?;
        let secrets = self.open_secrets(&row).map_err(CoreError::Internal)?;
        let current = current_values(&row, secrets);
        let mut merged = current.clone();
        merged.extend(patch.clone());
        let mut errors = FieldErrors::default();
        check_rules(&merged, &mut errors);
        errors.into_result()?;
        if !super::changed(&patch, &current) {
            return Ok(Outcome::Unchanged(render(self, &row)));
        }
        if let Some(name) = patch.get("name").and_then(Value::as_str)
            && name != row.name
            && self.remote_name_taken(name).await?
        {
            return Err(CoreError::invalid("name", "This field must be unique."));
        }
        let task = self
            .dispatch(
                NewTask::new(
                    GENERAL_UPDATE,
                    json!({"family": "remotes", "id": id, "patch": patch}),
                )
                .exclusive(href::prn(def.prn_model, id))
                .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    async fn remote_name_taken(&self, name: &str) -> Result<bool> {
        let q = list_spec().build(self, &[("name".into(), name.into())])?;
        Ok(q.run::<RemoteRow>(&self.db, REMOTE_COLUMNS, "remotes")
            .await?
            .count
            > 0)
    }

    pub async fn remote_delete(
        &self,
        def: &TypeDef,
        id: &str,
        user: Option<i64>,
    ) -> Result<Outcome> {
        self.remote_row(def, id).await?;
        let task = self
            .dispatch(
                NewTask::new(GENERAL_DELETE, json!({"family": "remotes", "id": id}))
                    .exclusive(href::prn(def.prn_model, id))
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }
}

/// Unique violations become Pulp's field error.
pub fn unique_error(e: depot_store::StoreError) -> CoreError {
    match e {
        depot_store::StoreError::Unique { column } => {
            CoreError::invalid(&column, "This field must be unique.")
        }
        other => CoreError::Store(other),
    }
}

/// Apply an update in a task (re-reading the row: updates queue on the remote).
pub async fn apply_update(depot: &Depot, id: &str, patch: &Map<String, Value>) -> Result<Value> {
    let mut row = depot
        .db
        .remote_get(id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the remote was deleted".into()))?;
    apply(depot, &mut row, patch)?;
    depot
        .db
        .remote_update(&mut row)
        .await
        .map_err(unique_error)?;
    Ok(render(depot, &row))
}
