//! Users, groups, group members, roles, and role assignments (on a model or one object).
//!
//! All synchronous, as in Pulp. Changing any of them ends cached credentials and permission
//! decisions at once (the store's auth epoch).

use serde_json::{Map, Value, json};

use super::list::{FilterDef, ListSpec, Op, text_filters};
use super::{Listed, Outcome, not_found, strip_origin};
use crate::Depot;
use crate::auth::hash_password;
use crate::error::{CoreError, Result};
use crate::fields::{self, Default, Field, FieldErrors, Kind};
use crate::href;
use crate::plugin::Family;
use crate::rbac::builtin_roles;
use depot_store::StoreError;
use depot_store::rbac::{
    AssignmentRow, GroupRow, Holder, ROLE_COLUMNS, RoleRow, assignment_select,
};
use depot_store::records::{USER_COLUMNS, UserRow};

pub static USER_FIELDS: &[Field] = &[
    Field::new("username", Kind::Str)
        .required()
        .help("Required. 150 characters or fewer."),
    Field::new("password", Kind::Str)
        .nullable()
        .write_only()
        .help("Users password. Set to ``null`` to disable password authentication."),
    Field::new("first_name", Kind::Str).default(Default::Str("")),
    Field::new("last_name", Kind::Str).default(Default::Str("")),
    Field::new("email", Kind::Str).default(Default::Str("")),
    Field::new("is_staff", Kind::Bool).default(Default::Bool(false)),
    Field::new("is_active", Kind::Bool).default(Default::Bool(true)),
];

pub static GROUP_FIELDS: &[Field] = &[Field::new("name", Kind::Str).required()];

pub static ROLE_FIELDS: &[Field] = &[
    Field::new("name", Kind::Str).required(),
    Field::new("description", Kind::Str).nullable(),
    Field::new("permissions", Kind::StrList).required(),
];

pub static ASSIGNMENT_FIELDS: &[Field] = &[
    Field::new("role", Kind::Str).required(),
    Field::new("content_object", Kind::Str).nullable(),
    Field::new("content_object_prn", Kind::Str).nullable(),
];

pub static NESTED_ROLE_FIELDS: &[Field] = &[
    Field::new("role", Kind::Str).required(),
    Field::new("users", Kind::StrList).default(Default::EmptyList),
    Field::new("groups", Kind::StrList).default(Default::EmptyList),
];

fn group_href(id: i64) -> String {
    format!("{}groups/{id}/", href::API_ROOT)
}

fn role_href(id: &str) -> String {
    format!("{}roles/{id}/", href::API_ROOT)
}

pub fn user_list_spec() -> ListSpec {
    ListSpec::new("id", "id")
        .filters(text_filters("username", "username"))
        .filters(text_filters("first_name", "first_name"))
        .filters(text_filters("last_name", "last_name"))
        .filters(text_filters("email", "email"))
        .filter(FilterDef::new("is_active", "is_active", Op::Bool))
        .filter(FilterDef::new("is_staff", "is_staff", Op::Bool))
        .order(&[
            ("id", "id"),
            ("username", "username"),
            ("date_joined", "date_joined"),
        ])
}

pub fn group_list_spec() -> ListSpec {
    ListSpec::new("id", "id")
        .filters(text_filters("name", "name"))
        .filter(FilterDef::new("id", "id", Op::Int))
        .order(&[("id", "id"), ("name", "name")])
}

pub fn role_list_spec() -> ListSpec {
    ListSpec::new("id", "pulp_created")
        .filters(text_filters("name", "name"))
        .filters(text_filters("description", "description"))
        .filter(FilterDef::new("locked", "locked", Op::Bool))
        .filter(FilterDef::new(
            "contains_permission",
            "permissions",
            Op::Custom(contains_permission),
        ))
        .order(&[("pulp_created", "pulp_created"), ("name", "name")])
}

fn contains_permission(depot: &Depot, expr: &str, v: &str) -> Result<depot_store::Filter> {
    let wanted: Vec<String> = super::list::split_list(v).collect();
    Ok(depot_store::Filter::Sql(
        format!(
            "EXISTS (SELECT 1 FROM {} WHERE {})",
            depot.db.backend().json_array(expr, "p"),
            depot_store::list::in_values("p.value", wanted.len())
        ),
        wanted.into_iter().map(Into::into).collect(),
    ))
}

pub fn assignment_list_spec() -> ListSpec {
    ListSpec::new("a.id", "a.pulp_created")
        .filters(text_filters("role", "r.name"))
        .filter(FilterDef::new(
            "content_object",
            "a.object_id",
            Op::Custom(content_object_filter),
        ))
        .order(&[
            ("pulp_created", "a.pulp_created"),
            ("role", "r.name"),
            ("description", "r.description"),
        ])
}

fn content_object_filter(depot: &Depot, _: &str, v: &str) -> Result<depot_store::Filter> {
    if v == "null" {
        return Ok(depot_store::Filter::IsNull("a.object_id".into(), true));
    }
    let (t, id) = object_ref(depot, v).ok_or_else(|| {
        CoreError::invalid(
            "content_object",
            format!("Invalid value for 'content_object': {v}."),
        )
    })?;
    Ok(depot_store::Filter::Sql(
        "a.object_type = ? AND a.object_id = ?".into(),
        vec![t.into(), id.into()],
    ))
}

/// (PRN model, id) of an object href or PRN.
pub fn object_ref(depot: &Depot, v: &str) -> Option<(String, String)> {
    if let Some(rest) = v.strip_prefix("prn:") {
        let (model, id) = rest.split_once(':')?;
        return Some((model.to_string(), id.to_string()));
    }
    let p = href::parse(&depot.plugins, strip_origin(v))?;
    if p.version.is_some() {
        return None;
    }
    Some((p.def.prn_model.to_string(), p.id))
}

/// The href of an object given by (PRN model, id).
pub fn object_href(depot: &Depot, model: &str, id: &str) -> Option<String> {
    for family in [
        Family::Remotes,
        Family::Repositories,
        Family::Publications,
        Family::Distributions,
        Family::Content,
        Family::ContentGuards,
    ] {
        if let Some(d) = depot
            .plugins
            .type_defs(family)
            .find(|d| d.prn_model == model)
        {
            return Some(href::of(d, id));
        }
    }
    None
}

/// Django's password rules that matter: long enough and not only digits.
fn check_password(pw: &str) -> std::result::Result<(), String> {
    if pw.chars().count() < 8 {
        return Err("This password is too short. It must contain at least 8 characters.".into());
    }
    if pw.chars().all(|c| c.is_ascii_digit()) {
        return Err("This password is entirely numeric.".into());
    }
    Ok(())
}

impl Depot {
    // -----------------------------------------------------------------------------------------
    // users

    pub async fn render_user(&self, u: &UserRow) -> Result<Value> {
        let groups: Vec<Value> = self
            .db
            .user_groups(u.id)
            .await?
            .iter()
            .map(|g| json!({"name": g.name, "pulp_href": group_href(g.id), "prn": href::prn("core.group", &g.id.to_string())}))
            .collect();
        Ok(json!({
            "pulp_href": href::user(u.id),
            "prn": href::prn("auth.user", &u.id.to_string()),
            "id": u.id,
            "username": u.username,
            "first_name": u.first_name,
            "last_name": u.last_name,
            "email": u.email,
            "is_staff": u.is_staff,
            "is_active": u.is_active,
            "date_joined": u.date_joined,
            "groups": groups,
            "hidden_fields": [{"name": "password", "is_set": !u.password_hash.is_empty()}],
        }))
    }

    pub async fn user_row(&self, id: &str) -> Result<UserRow> {
        let id: i64 = id
            .parse()
            .map_err(|_| CoreError::NotFound("Not found.".into()))?;
        self.db.user_get(id).await?.ok_or_else(|| not_found("User"))
    }

    pub async fn user_list(&self, params: &[(String, String)]) -> Result<Listed> {
        let q = user_list_spec().build(self, params)?;
        let page = q.run::<UserRow>(&self.db, USER_COLUMNS, "users").await?;
        let mut results = Vec::new();
        for u in &page.items {
            results.push(self.render_user(u).await?);
        }
        Ok(Listed {
            count: page.count,
            results,
            limit: q.limit,
            offset: q.offset,
        })
    }

    fn password_hash_of(v: Option<&Value>) -> std::result::Result<Option<String>, String> {
        match v {
            None => Ok(None),
            // null: no password works (an unusable hash)
            Some(Value::Null) => Ok(Some("!".into())),
            Some(v) => {
                let pw = v.as_str().unwrap_or_default();
                check_password(pw)?;
                Ok(Some(hash_password(pw)))
            }
        }
    }

    pub async fn user_create(&self, body: &Map<String, Value>) -> Result<Value> {
        let v = fields::validate(&USER_FIELDS.iter().collect::<Vec<_>>(), body, false)?;
        let username = v["username"].as_str().unwrap_or_default().to_string();
        if username.chars().count() > 150 {
            return Err(CoreError::invalid(
                "username",
                "Ensure this field has no more than 150 characters.",
            ));
        }
        let pw = v.get("password").cloned();
        let hash = tokio::task::spawn_blocking(move || Self::password_hash_of(pw.as_ref()))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(CoreError::non_field)?
            .unwrap_or_else(|| "!".into());
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let b = |k: &str, d: bool| v.get(k).and_then(Value::as_bool).unwrap_or(d);
        let id = self
            .db
            .user_create(
                &username,
                &hash,
                &s("first_name"),
                &s("last_name"),
                &s("email"),
                b("is_staff", false),
                b("is_active", true),
            )
            .await
            .map_err(super::remotes::unique_error)
            .map_err(|e| match e {
                CoreError::Invalid(_) => {
                    CoreError::invalid("username", "This field must be unique.")
                }
                other => other,
            })?;
        self.render_user(&self.user_row(&id.to_string()).await?)
            .await
    }

    pub async fn user_update(
        &self,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
    ) -> Result<Value> {
        let mut u = self.user_row(id).await?;
        let v = fields::validate(&USER_FIELDS.iter().collect::<Vec<_>>(), body, partial)?;
        if let Some(n) = v.get("username").and_then(Value::as_str) {
            u.username = n.to_string();
        }
        for (k, target) in [
            ("first_name", &mut u.first_name),
            ("last_name", &mut u.last_name),
            ("email", &mut u.email),
        ] {
            if let Some(x) = v.get(k).and_then(Value::as_str) {
                *target = x.to_string();
            }
        }
        if let Some(x) = v.get("is_staff").and_then(Value::as_bool) {
            u.is_staff = x;
        }
        if let Some(x) = v.get("is_active").and_then(Value::as_bool) {
            u.is_active = x;
        }
        let pw = v.get("password").cloned();
        if let Some(hash) = tokio::task::spawn_blocking(move || Self::password_hash_of(pw.as_ref()))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(CoreError::non_field)?
        {
            u.password_hash = hash;
        }
        self.db.user_update(&u).await.map_err(|e| match e {
            StoreError::Unique { .. } => {
                CoreError::invalid("username", "This field must be unique.")
            }
            other => other.into(),
        })?;
        self.render_user(&u).await
    }

    pub async fn user_delete(&self, id: &str) -> Result<()> {
        let u = self.user_row(id).await?;
        self.db.user_delete(u.id).await?;
        Ok(())
    }

    /// Create a user from the command line (`depot admin create-user`).
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        superuser: bool,
    ) -> Result<i64> {
        check_password(password).map_err(CoreError::non_field)?;
        let pw = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        let id = if superuser {
            self.db.user_insert(username, &hash, true).await?
        } else {
            self.db
                .user_create(username, &hash, "", "", "", false, true)
                .await?
        };
        Ok(id)
    }

    // -----------------------------------------------------------------------------------------
    // groups and members

    pub fn render_group(g: &GroupRow) -> Value {
        json!({"name": g.name, "pulp_href": group_href(g.id), "prn": href::prn("core.group", &g.id.to_string()), "id": g.id})
    }

    pub async fn group_row(&self, id: &str) -> Result<GroupRow> {
        let id: i64 = id
            .parse()
            .map_err(|_| CoreError::NotFound("Not found.".into()))?;
        self.db
            .group_get(id)
            .await?
            .ok_or_else(|| not_found("Group"))
    }

    pub async fn group_list(&self, params: &[(String, String)]) -> Result<Listed> {
        let q = group_list_spec().build(self, params)?;
        let page = q.run::<GroupRow>(&self.db, "id, name", "groups").await?;
        Ok(Listed::of(&q, &page, Self::render_group))
    }

    pub async fn group_create(&self, body: &Map<String, Value>) -> Result<Value> {
        let v = fields::validate(&GROUP_FIELDS.iter().collect::<Vec<_>>(), body, false)?;
        let name = v["name"].as_str().unwrap_or_default();
        let id = self.db.group_create(name).await.map_err(|e| match e {
            StoreError::Unique { .. } => CoreError::invalid("name", "This field must be unique."),
            other => other.into(),
        })?;
        Ok(Self::render_group(&self.group_row(&id.to_string()).await?))
    }

    pub async fn group_update(
        &self,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
    ) -> Result<Value> {
        let g = self.group_row(id).await?;
        let v = fields::validate(&GROUP_FIELDS.iter().collect::<Vec<_>>(), body, partial)?;
        if let Some(name) = v.get("name").and_then(Value::as_str) {
            self.db
                .group_rename(g.id, name)
                .await
                .map_err(|e| match e {
                    StoreError::Unique { .. } => {
                        CoreError::invalid("name", "This field must be unique.")
                    }
                    other => other.into(),
                })?;
        }
        Ok(Self::render_group(&self.group_row(id).await?))
    }

    pub async fn group_delete(&self, id: &str) -> Result<()> {
        let g = self.group_row(id).await?;
        self.db.group_delete(g.id).await?;
        Ok(())
    }

    pub async fn group_members(&self, id: &str, params: &[(String, String)]) -> Result<Listed> {
        let g = self.group_row(id).await?;
        let mut q = user_list_spec().build(self, params)?;
        q.filters.push(depot_store::Filter::Sql(
            "id IN (SELECT user_id FROM group_users WHERE group_id = ?)".into(),
            vec![g.id.into()],
        ));
        let page = q.run::<UserRow>(&self.db, USER_COLUMNS, "users").await?;
        let results = page
            .items
            .iter()
            .map(|u| json!({"username": u.username, "pulp_href": href::user(u.id), "prn": href::prn("auth.user", &u.id.to_string())}))
            .collect();
        Ok(Listed {
            count: page.count,
            results,
            limit: q.limit,
            offset: q.offset,
        })
    }

    pub async fn group_add_member(&self, id: &str, body: &Map<String, Value>) -> Result<Value> {
        let g = self.group_row(id).await?;
        let Some(name) = body.get("username").and_then(Value::as_str) else {
            return Err(CoreError::InvalidList(
                "Please provide one of the following values for User: 'pk', 'id', 'username'"
                    .into(),
            ));
        };
        let Some(u) = self.db.user_by_name(name).await? else {
            return Err(CoreError::InvalidList(format!(
                "Could not find user {name}"
            )));
        };
        self.db.group_add_user(g.id, u.id).await?;
        Ok(
            json!({"username": u.username, "pulp_href": href::user(u.id), "prn": href::prn("auth.user", &u.id.to_string())}),
        )
    }

    pub async fn group_remove_member(&self, id: &str, user_id: &str) -> Result<()> {
        let g = self.group_row(id).await?;
        let u = self.user_row(user_id).await?;
        if !self.db.group_remove_user(g.id, u.id).await? {
            return Err(not_found("User"));
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // roles

    pub fn render_role(r: &RoleRow) -> Value {
        json!({
            "pulp_href": role_href(&r.id),
            "prn": href::prn("core.role", &r.id),
            "pulp_created": r.pulp_created,
            "pulp_last_updated": r.pulp_last_updated,
            "name": r.name,
            "description": r.description,
            "permissions": serde_json::from_str::<Value>(&r.permissions).unwrap_or(json!([])),
            "locked": r.locked,
        })
    }

    pub async fn role_row(&self, id: &str) -> Result<RoleRow> {
        self.db.role_get(id).await?.ok_or_else(|| not_found("Role"))
    }

    pub async fn role_list(&self, params: &[(String, String)]) -> Result<Listed> {
        let q = role_list_spec().build(self, params)?;
        let page = q.run::<RoleRow>(&self.db, ROLE_COLUMNS, "roles").await?;
        Ok(Listed::of(&q, &page, Self::render_role))
    }

    async fn check_permissions(&self, perms: &[String]) -> Result<()> {
        let known = self.db.known_permissions().await?;
        let mut errors = FieldErrors::default();
        for p in perms {
            if p.split_once('.')
                .is_none_or(|(a, c)| a.is_empty() || c.is_empty())
            {
                errors.add(
                    "permissions",
                    format!("Permission '{p}' is not in the format '<app_label>.<codename>'."),
                );
            } else if !known.contains(p) {
                errors.add("permissions", format!("Permission '{p}' does not exist."));
            }
        }
        errors.into_result().map_err(Into::into)
    }

    pub async fn role_create(&self, body: &Map<String, Value>) -> Result<Value> {
        let v = fields::validate(&ROLE_FIELDS.iter().collect::<Vec<_>>(), body, false)?;
        let perms: Vec<String> =
            serde_json::from_value(v["permissions"].clone()).unwrap_or_default();
        self.check_permissions(&perms).await?;
        let id = self
            .db
            .role_create(
                v["name"].as_str().unwrap_or_default(),
                v.get("description").and_then(Value::as_str),
                &perms,
            )
            .await
            .map_err(|e| match e {
                StoreError::Unique { .. } => {
                    CoreError::invalid("name", "This field must be unique.")
                }
                other => other.into(),
            })?;
        Ok(Self::render_role(&self.role_row(&id).await?))
    }

    pub async fn role_update(
        &self,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
    ) -> Result<Value> {
        let mut r = self.role_row(id).await?;
        if r.locked {
            return Err(CoreError::Forbidden("The role is locked.".into()));
        }
        let v = fields::validate(&ROLE_FIELDS.iter().collect::<Vec<_>>(), body, partial)?;
        if let Some(n) = v.get("name").and_then(Value::as_str) {
            r.name = n.to_string();
        }
        if let Some(d) = v.get("description") {
            r.description = d.as_str().map(str::to_string);
        }
        if let Some(p) = v.get("permissions") {
            let perms: Vec<String> = serde_json::from_value(p.clone()).unwrap_or_default();
            self.check_permissions(&perms).await?;
            r.permissions = serde_json::to_string(&perms).unwrap_or_default();
        }
        self.db.role_update(&r).await.map_err(|e| match e {
            StoreError::Unique { .. } => CoreError::invalid("name", "This field must be unique."),
            other => other.into(),
        })?;
        Ok(Self::render_role(&self.role_row(id).await?))
    }

    pub async fn role_delete(&self, id: &str) -> Result<()> {
        let r = self.role_row(id).await?;
        if r.locked {
            return Err(CoreError::Forbidden("The role is locked.".into()));
        }
        self.db.role_delete(&r.id).await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // role assignments of a user or group

    fn render_assignment(&self, holder: Holder, a: &AssignmentRow) -> Value {
        let base = match holder {
            Holder::User(id) => format!("{}roles/", href::user(id)),
            Holder::Group(id) => format!("{}roles/", group_href(id)),
        };
        let (object, object_prn) = match (&a.object_type, &a.object_id) {
            (Some(t), Some(id)) => (object_href(self, t, id), Some(href::prn(t, id))),
            _ => (None, None),
        };
        json!({
            "pulp_href": format!("{base}{}/", a.id),
            "prn": href::prn(if matches!(holder, Holder::User(_)) { "core.userrole" } else { "core.grouprole" }, &a.id),
            "pulp_created": a.pulp_created,
            "pulp_last_updated": a.pulp_last_updated,
            "role": a.role_name,
            "content_object": object,
            "content_object_prn": object_prn,
            "description": a.role_description,
            "permissions": serde_json::from_str::<Value>(&a.role_permissions).unwrap_or(json!([])),
            "domain": null,
        })
    }

    pub async fn holder(&self, users: bool, id: &str) -> Result<Holder> {
        Ok(if users {
            Holder::User(self.user_row(id).await?.id)
        } else {
            Holder::Group(self.group_row(id).await?.id)
        })
    }

    pub async fn assignment_list(
        &self,
        holder: Holder,
        params: &[(String, String)],
    ) -> Result<Listed> {
        let (table, column, hid) = match holder {
            Holder::User(i) => ("user_roles", "user_id", i),
            Holder::Group(i) => ("group_roles", "group_id", i),
        };
        let mut q = assignment_list_spec().build(self, params)?;
        q.filters
            .push(depot_store::Filter::Eq(format!("a.{column}"), hid.into()));
        let page = q
            .run::<AssignmentRow>(
                &self.db,
                &assignment_select(column),
                &format!("{table} a JOIN roles r ON r.id = a.role_id"),
            )
            .await?;
        Ok(Listed {
            count: page.count,
            results: page
                .items
                .iter()
                .map(|a| self.render_assignment(holder, a))
                .collect(),
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// Whether a role carries any permission for objects of `model` (`app.model`).
    fn role_fits(role: &RoleRow, model: &str) -> bool {
        let (app, m) = model.split_once('.').unwrap_or(("", model));
        let perms: Vec<String> = serde_json::from_str(&role.permissions).unwrap_or_default();
        perms
            .iter()
            .any(|p| p.starts_with(&format!("{app}.")) && p.ends_with(&format!("_{m}")))
    }

    pub async fn assignment_create(
        &self,
        holder: Holder,
        body: &Map<String, Value>,
    ) -> Result<Value> {
        let v = fields::validate(&ASSIGNMENT_FIELDS.iter().collect::<Vec<_>>(), body, true)?;
        let Some(role_name) = v.get("role").and_then(Value::as_str) else {
            return Err(CoreError::invalid("role", "This field is required."));
        };
        let role = self.db.role_by_name(role_name).await?.ok_or_else(|| {
            CoreError::invalid(
                "role",
                format!("Object with name={role_name} does not exist."),
            )
        })?;
        let object = match (v.get("content_object"), v.get("content_object_prn")) {
            (None, None) => {
                return Err(CoreError::non_field(
                    "Either 'content_object' or 'content_object_prn' needs to be specified. Use 'null' for global or domain level access.",
                ));
            }
            (Some(Value::String(s)), _) | (_, Some(Value::String(s))) => {
                let (t, id) = object_ref(self, s).ok_or_else(|| {
                    CoreError::invalid("content_object", format!("Invalid value: {s}."))
                })?;
                if !Self::role_fits(&role, &t) {
                    return Err(CoreError::non_field(format!(
                        "The role '{role_name}' does not carry any permission for that object."
                    )));
                }
                Some((t, id))
            }
            _ => None,
        };
        let id = match self
            .db
            .assign_role(
                holder,
                &role.id,
                object.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
            )
            .await
        {
            Err(StoreError::Conflict(_)) => {
                let who = if matches!(holder, Holder::User(_)) {
                    "user"
                } else {
                    "group"
                };
                return Err(CoreError::non_field(format!(
                    "The role is already assigned to this {who}."
                )));
            }
            other => other?,
        };
        let a = self
            .db
            .assignment_get(holder, &id)
            .await?
            .ok_or_else(|| not_found("Role"))?;
        Ok(self.render_assignment(holder, &a))
    }

    pub async fn assignment_read(&self, holder: Holder, id: &str) -> Result<Value> {
        let a = self
            .db
            .assignment_get(holder, id)
            .await?
            .ok_or_else(|| not_found("UserRole"))?;
        Ok(self.render_assignment(holder, &a))
    }

    pub async fn assignment_delete(&self, holder: Holder, id: &str) -> Result<()> {
        self.db
            .assignment_get(holder, id)
            .await?
            .ok_or_else(|| not_found("UserRole"))?;
        self.db.assignment_delete(holder, id).await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // roles on one object: add_role/, remove_role/, list_roles/, my_permissions/

    pub async fn object_list_roles(&self, model: &str, id: &str) -> Result<Value> {
        let roles: Vec<Value> = self
            .db
            .object_roles(model, id)
            .await?
            .into_iter()
            .map(|(role, users, groups)| json!({"role": role, "users": users, "groups": groups}))
            .collect();
        Ok(json!({ "roles": roles }))
    }

    pub async fn object_my_permissions(
        &self,
        user: &crate::auth::User,
        model: &str,
        id: &str,
    ) -> Result<Value> {
        let perms = if user.is_superuser {
            let (app, m) = model.split_once('.').unwrap_or(("", model));
            let mut all: Vec<String> = builtin_roles(&self.plugins)
                .into_iter()
                .flat_map(|r| r.permissions)
                .filter(|p| p.starts_with(&format!("{app}.")) && p.ends_with(&format!("_{m}")))
                .collect();
            all.sort();
            all.dedup();
            all
        } else {
            self.db.permissions_on(user.id, Some((model, id))).await?
        };
        Ok(json!({ "permissions": perms }))
    }

    /// `add_role/` (`add` true) or `remove_role/` on one object.
    pub async fn object_change_role(
        &self,
        model: &str,
        id: &str,
        body: &Map<String, Value>,
        add: bool,
    ) -> Result<Outcome> {
        let mut body = body.clone();
        body.retain(|k, _| ["role", "users", "groups"].contains(&k.as_str()));
        let v = fields::validate(&NESTED_ROLE_FIELDS.iter().collect::<Vec<_>>(), &body, false)?;
        let role_name = v["role"].as_str().unwrap_or_default();
        let role = self.db.role_by_name(role_name).await?.ok_or_else(|| {
            CoreError::invalid(
                "role",
                format!("Object with name={role_name} does not exist."),
            )
        })?;
        if !Self::role_fits(&role, model) {
            return Err(CoreError::non_field(
                "The role does not contain any permission for that object.",
            ));
        }
        let names =
            |k: &str| -> Vec<String> { serde_json::from_value(v[k].clone()).unwrap_or_default() };
        let (user_names, group_names) = (names("users"), names("groups"));
        let users = self.db.users_by_names(&user_names).await?;
        let groups = self.db.groups_by_names(&group_names).await?;
        let mut errors = FieldErrors::default();
        for (key, wanted, found, what) in [
            (
                "users",
                &user_names,
                users.iter().map(|u| u.username.clone()).collect::<Vec<_>>(),
                "username",
            ),
            (
                "groups",
                &group_names,
                groups.iter().map(|g| g.name.clone()).collect::<Vec<_>>(),
                "name",
            ),
        ] {
            for n in wanted.iter().filter(|n| !found.contains(n)) {
                errors.add(key, format!("Object with {what}={n} does not exist."));
            }
        }
        errors.into_result()?;
        let holders: Vec<(Holder, String, &str)> = users
            .iter()
            .map(|u| (Holder::User(u.id), u.username.clone(), "user"))
            .chain(
                groups
                    .iter()
                    .map(|g| (Holder::Group(g.id), g.name.clone(), "group")),
            )
            .collect();
        for (holder, name, what) in &holders {
            if add {
                match self
                    .db
                    .assign_role(*holder, &role.id, Some((model, id)))
                    .await
                {
                    Err(StoreError::Conflict(_)) => {
                        return Err(CoreError::non_field(format!(
                            "The role is already assigned to {what} '{name}'."
                        )));
                    }
                    other => {
                        other?;
                    }
                }
            } else if !self
                .db
                .unassign_role(*holder, &role.id, Some((model, id)))
                .await?
            {
                return Err(CoreError::non_field(format!(
                    "The role is not assigned to {what} '{name}'."
                )));
            }
        }
        Ok(Outcome::Done(
            json!({"users": user_names, "groups": group_names, "role": role_name}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_password;

    #[test]
    fn passwords_must_be_usable() {
        assert!(check_password("short").is_err());
        assert!(check_password("12345678").is_err());
        assert!(check_password("long enough").is_ok());
    }
}
