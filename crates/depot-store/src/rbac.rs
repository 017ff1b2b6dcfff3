//! Users, groups, roles and role assignments, and the permission queries built on them.
//!
//! Every write here bumps the auth epoch (`Db::touch_auth`), which drops cached credentials
//! and permission decisions.

use sqlx::FromRow;

use crate::sql::{query, query_as, query_scalar};

use crate::records::{USER_COLUMNS, UserRow};
use crate::{Db, Result, StoreError, new_id, now};

#[derive(Clone, Debug, FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug, FromRow)]
pub struct RoleRow {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub permissions: String,
    pub locked: bool,
    pub pulp_created: String,
    pub pulp_last_updated: String,
}

/// A role held by a user or a group, on a model or one object.
#[derive(Clone, Debug, FromRow)]
pub struct AssignmentRow {
    pub id: String,
    pub holder_id: i64,
    pub role_id: String,
    pub role_name: String,
    pub role_description: Option<String>,
    pub role_permissions: String,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub pulp_created: String,
    pub pulp_last_updated: String,
}

/// Who holds a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    User(i64),
    Group(i64),
}

impl Holder {
    fn table(self) -> (&'static str, &'static str, i64) {
        match self {
            Holder::User(id) => ("user_roles", "user_id", id),
            Holder::Group(id) => ("group_roles", "group_id", id),
        }
    }
}

pub const ROLE_COLUMNS: &str =
    "id, name, description, permissions, locked, pulp_created, pulp_last_updated";

/// Assignments of one kind with their role, for `ListQuery::run` (`a.` assignment, `r.` role).
pub fn assignment_select(holder_column: &str) -> String {
    format!(
        "a.id, a.{holder_column} AS holder_id, a.role_id, r.name AS role_name, \
         r.description AS role_description, r.permissions AS role_permissions, a.object_type, \
         a.object_id, a.pulp_created, a.pulp_last_updated"
    )
}

/// Role assignments of `user` (direct and through groups) as a subquery with columns
/// role_id, object_type, object_id. Binds: user id twice.
const HELD: &str = "SELECT role_id, object_type, object_id FROM user_roles WHERE user_id = ? \
     UNION ALL SELECT gr.role_id, gr.object_type, gr.object_id FROM group_roles gr \
     JOIN group_users gu ON gu.group_id = gr.group_id WHERE gu.user_id = ?";

impl Db {
    // -----------------------------------------------------------------------------------------
    // users

    #[allow(clippy::too_many_arguments)]
    pub async fn user_create(
        &self,
        username: &str,
        password_hash: &str,
        first_name: &str,
        last_name: &str,
        email: &str,
        is_staff: bool,
        is_active: bool,
    ) -> Result<i64> {
        let t = now();
        let id: i64 = query_scalar(
            "INSERT INTO users (username, password_hash, first_name, last_name, email, \
             is_superuser, is_staff, is_active, date_joined, pulp_last_updated) \
             VALUES (?, ?, ?, ?, ?, FALSE, ?, ?, ?, ?) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(first_name)
        .bind(last_name)
        .bind(email)
        .bind(is_staff)
        .bind(is_active)
        .bind(&t)
        .bind(&t)
        .fetch_one(&self.write)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.changed(crate::events::Topic::Auth);
        Ok(id)
    }

    /// Write every column of a user (read, changed, written back by the caller).
    pub async fn user_update(&self, u: &UserRow) -> Result<()> {
        query(
            "UPDATE users SET username = ?, password_hash = ?, first_name = ?, last_name = ?, \
             email = ?, is_staff = ?, is_active = ?, is_superuser = ?, pulp_last_updated = ? \
             WHERE id = ?",
        )
        .bind(&u.username)
        .bind(&u.password_hash)
        .bind(&u.first_name)
        .bind(&u.last_name)
        .bind(&u.email)
        .bind(u.is_staff)
        .bind(u.is_active)
        .bind(u.is_superuser)
        .bind(now())
        .bind(u.id)
        .execute(&self.write)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn user_delete(&self, id: i64) -> Result<()> {
        let mut tx = self.write.begin().await?;
        query("UPDATE tasks SET created_by = NULL WHERE created_by = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn users_by_names(&self, names: &[String]) -> Result<Vec<UserRow>> {
        let json = serde_json::to_string(names).expect("names serialize");
        Ok(query_as(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username IN (SELECT value FROM json_each(?))"
        ))
        .bind(json)
        .fetch_all(&self.read)
        .await?)
    }

    pub async fn user_groups(&self, user_id: i64) -> Result<Vec<GroupRow>> {
        Ok(query_as(
            "SELECT g.id, g.name FROM groups g JOIN group_users gu ON gu.group_id = g.id \
             WHERE gu.user_id = ? ORDER BY g.name",
        )
        .bind(user_id)
        .fetch_all(&self.read)
        .await?)
    }

    // -----------------------------------------------------------------------------------------
    // groups

    pub async fn group_create(&self, name: &str) -> Result<i64> {
        let id: i64 = query_scalar("INSERT INTO groups (name) VALUES (?) RETURNING id")
            .bind(name)
            .fetch_one(&self.write)
            .await
            .map_err(StoreError::from_sqlx)?;
        self.changed(crate::events::Topic::Auth);
        Ok(id)
    }

    pub async fn group_get(&self, id: i64) -> Result<Option<GroupRow>> {
        Ok(query_as("SELECT id, name FROM groups WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.read)
            .await?)
    }

    pub async fn groups_by_names(&self, names: &[String]) -> Result<Vec<GroupRow>> {
        let json = serde_json::to_string(names).expect("names serialize");
        Ok(
            query_as("SELECT id, name FROM groups WHERE name IN (SELECT value FROM json_each(?))")
                .bind(json)
                .fetch_all(&self.read)
                .await?,
        )
    }

    pub async fn group_rename(&self, id: i64, name: &str) -> Result<()> {
        query("UPDATE groups SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(StoreError::from_sqlx)?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn group_delete(&self, id: i64) -> Result<()> {
        query("DELETE FROM groups WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn group_add_user(&self, group_id: i64, user_id: i64) -> Result<()> {
        query("INSERT INTO group_users (group_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(group_id)
            .bind(user_id)
            .execute(&self.write)
            .await?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn group_remove_user(&self, group_id: i64, user_id: i64) -> Result<bool> {
        let done = query("DELETE FROM group_users WHERE group_id = ? AND user_id = ?")
            .bind(group_id)
            .bind(user_id)
            .execute(&self.write)
            .await?;
        self.changed(crate::events::Topic::Auth);
        Ok(done.rows_affected() > 0)
    }

    // -----------------------------------------------------------------------------------------
    // roles

    /// Create or refresh a built-in (locked) role.
    pub async fn role_upsert_locked(
        &self,
        name: &str,
        description: &str,
        permissions: &[String],
    ) -> Result<()> {
        let t = now();
        query(
            "INSERT INTO roles (id, name, description, permissions, locked, pulp_created, \
             pulp_last_updated) VALUES (?, ?, ?, ?, TRUE, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
             permissions = excluded.permissions, locked = TRUE",
        )
        .bind(new_id())
        .bind(name)
        .bind(description)
        .bind(serde_json::to_string(permissions).expect("permissions serialize"))
        .bind(&t)
        .bind(&t)
        .execute(&self.write)
        .await?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn role_create(
        &self,
        name: &str,
        description: Option<&str>,
        permissions: &[String],
    ) -> Result<String> {
        let t = now();
        let id = new_id();
        query(
            "INSERT INTO roles (id, name, description, permissions, locked, pulp_created, \
             pulp_last_updated) VALUES (?, ?, ?, ?, FALSE, ?, ?)",
        )
        .bind(&id)
        .bind(name)
        .bind(description)
        .bind(serde_json::to_string(permissions).expect("permissions serialize"))
        .bind(&t)
        .bind(&t)
        .execute(&self.write)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.changed(crate::events::Topic::Auth);
        Ok(id)
    }

    pub async fn role_update(&self, r: &RoleRow) -> Result<()> {
        query(
            "UPDATE roles SET name = ?, description = ?, permissions = ?, pulp_last_updated = ? \
             WHERE id = ?",
        )
        .bind(&r.name)
        .bind(&r.description)
        .bind(&r.permissions)
        .bind(now())
        .bind(&r.id)
        .execute(&self.write)
        .await
        .map_err(StoreError::from_sqlx)?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn role_delete(&self, id: &str) -> Result<()> {
        query("DELETE FROM roles WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    pub async fn role_get(&self, id: &str) -> Result<Option<RoleRow>> {
        Ok(
            query_as(format!("SELECT {ROLE_COLUMNS} FROM roles WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    pub async fn role_by_name(&self, name: &str) -> Result<Option<RoleRow>> {
        Ok(
            query_as(format!("SELECT {ROLE_COLUMNS} FROM roles WHERE name = ?"))
                .bind(name)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Every permission any role names (to validate custom roles).
    pub async fn known_permissions(&self) -> Result<Vec<String>> {
        Ok(query_scalar(
            "SELECT DISTINCT p.value FROM roles r, json_each(r.permissions) p WHERE r.locked = TRUE",
        )
        .fetch_all(&self.read)
        .await?)
    }

    // -----------------------------------------------------------------------------------------
    // role assignments

    /// Give `holder` a role, on a model (`object` None) or one object. Returns the assignment
    /// id, or `Conflict` if it was already held.
    pub async fn assign_role(
        &self,
        holder: Holder,
        role_id: &str,
        object: Option<(&str, &str)>,
    ) -> Result<String> {
        let (table, column, holder_id) = holder.table();
        let t = now();
        let id = new_id();
        let done = query(format!(
            "INSERT INTO {table} (id, {column}, role_id, object_type, object_id, pulp_created, \
             pulp_last_updated) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
        ))
        .bind(&id)
        .bind(holder_id)
        .bind(role_id)
        .bind(object.map(|o| o.0))
        .bind(object.map(|o| o.1))
        .bind(&t)
        .bind(&t)
        .execute(&self.write)
        .await?;
        self.changed(crate::events::Topic::Auth);
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("already assigned".into()));
        }
        Ok(id)
    }

    /// Take a role away; `false` when it was not held.
    pub async fn unassign_role(
        &self,
        holder: Holder,
        role_id: &str,
        object: Option<(&str, &str)>,
    ) -> Result<bool> {
        let (table, column, holder_id) = holder.table();
        let done = query(format!(
            "DELETE FROM {table} WHERE {column} = ? AND role_id = ? \
             AND object_type IS NOT DISTINCT FROM ? AND object_id IS NOT DISTINCT FROM ?"
        ))
        .bind(holder_id)
        .bind(role_id)
        .bind(object.map(|o| o.0))
        .bind(object.map(|o| o.1))
        .execute(&self.write)
        .await?;
        self.changed(crate::events::Topic::Auth);
        Ok(done.rows_affected() > 0)
    }

    pub async fn assignment_get(&self, holder: Holder, id: &str) -> Result<Option<AssignmentRow>> {
        let (table, column, holder_id) = holder.table();
        Ok(query_as(format!(
            "SELECT {} FROM {table} a JOIN roles r ON r.id = a.role_id WHERE a.id = ? AND a.{column} = ?",
            assignment_select(column)
        ))
        .bind(id)
        .bind(holder_id)
        .fetch_optional(&self.read)
        .await?)
    }

    pub async fn assignment_delete(&self, holder: Holder, id: &str) -> Result<()> {
        let (table, column, holder_id) = holder.table();
        query(format!("DELETE FROM {table} WHERE id = ? AND {column} = ?"))
            .bind(id)
            .bind(holder_id)
            .execute(&self.write)
            .await?;
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    /// Remove every assignment on an object (it was deleted).
    pub async fn unassign_object(&self, object_type: &str, object_id: &str) -> Result<()> {
        for table in ["user_roles", "group_roles"] {
            query(format!(
                "DELETE FROM {table} WHERE object_type = ? AND object_id = ?"
            ))
            .bind(object_type)
            .bind(object_id)
            .execute(&self.write)
            .await?;
        }
        self.changed(crate::events::Topic::Auth);
        Ok(())
    }

    /// Roles held on one object: (role name, usernames, group names).
    pub async fn object_roles(
        &self,
        object_type: &str,
        object_id: &str,
    ) -> Result<Vec<(String, Vec<String>, Vec<String>)>> {
        let rows: Vec<(String, Option<String>, Option<String>)> = query_as(
            "SELECT r.name, u.username, NULL FROM user_roles a JOIN roles r ON r.id = a.role_id \
             JOIN users u ON u.id = a.user_id WHERE a.object_type = ? AND a.object_id = ? \
             UNION ALL \
             SELECT r.name, NULL, g.name FROM group_roles a JOIN roles r ON r.id = a.role_id \
             JOIN groups g ON g.id = a.group_id WHERE a.object_type = ? AND a.object_id = ? \
             ORDER BY 1",
        )
        .bind(object_type)
        .bind(object_id)
        .bind(object_type)
        .bind(object_id)
        .fetch_all(&self.read)
        .await?;
        let mut out: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
        for (role, user, group) in rows {
            if out.last().is_none_or(|l| l.0 != role) {
                out.push((role.clone(), Vec::new(), Vec::new()));
            }
            let last = out.last_mut().expect("just pushed");
            if let Some(u) = user {
                last.1.push(u);
            }
            if let Some(g) = group {
                last.2.push(g);
            }
        }
        Ok(out)
    }

    /// Users and groups holding `permission` on an object (directly, or model-wide).
    pub async fn holders_of(
        &self,
        permission: &str,
        object_type: &str,
        object_id: &str,
    ) -> Result<(Vec<(i64, String)>, Vec<(i64, String)>)> {
        let users: Vec<(i64, String)> = query_as(
            "SELECT DISTINCT u.id, u.username FROM user_roles a JOIN roles r ON r.id = a.role_id \
             JOIN users u ON u.id = a.user_id \
             WHERE EXISTS (SELECT 1 FROM json_each(r.permissions) p WHERE p.value = ?) \
             AND (a.object_type IS NULL OR (a.object_type = ? AND a.object_id = ?)) \
             ORDER BY u.username",
        )
        .bind(permission)
        .bind(object_type)
        .bind(object_id)
        .fetch_all(&self.read)
        .await?;
        let groups: Vec<(i64, String)> = query_as(
            "SELECT DISTINCT g.id, g.name FROM group_roles a JOIN roles r ON r.id = a.role_id \
             JOIN groups g ON g.id = a.group_id \
             WHERE EXISTS (SELECT 1 FROM json_each(r.permissions) p WHERE p.value = ?) \
             AND (a.object_type IS NULL OR (a.object_type = ? AND a.object_id = ?)) \
             ORDER BY g.name",
        )
        .bind(permission)
        .bind(object_type)
        .bind(object_id)
        .fetch_all(&self.read)
        .await?;
        Ok((users, groups))
    }

    /// Whether `user_id` holds `permission` on the model or on the given object.
    pub async fn has_permission(
        &self,
        user_id: i64,
        permission: &str,
        object: Option<(&str, &str)>,
    ) -> Result<bool> {
        let found: Option<i64> = query_scalar(format!(
            "SELECT CAST(1 AS BIGINT) FROM roles r JOIN ({HELD}) a ON a.role_id = r.id \
             WHERE EXISTS (SELECT 1 FROM json_each(r.permissions) p WHERE p.value = ?) \
             AND (a.object_type IS NULL OR (a.object_type = ? AND a.object_id = ?)) LIMIT 1"
        ))
        .bind(user_id)
        .bind(user_id)
        .bind(permission)
        .bind(object.map(|o| o.0))
        .bind(object.map(|o| o.1))
        .fetch_optional(&self.read)
        .await?;
        Ok(found.is_some())
    }

    /// Ids of the objects of `object_type` on which `user_id` holds `permission` through an
    /// object-level role; `None` when a model-level role grants it for all of them.
    pub async fn objects_with_permission(
        &self,
        user_id: i64,
        permission: &str,
        object_type: &str,
    ) -> Result<Option<Vec<String>>> {
        let rows: Vec<(Option<String>, Option<String>)> = query_as(format!(
            "SELECT a.object_type, a.object_id FROM roles r JOIN ({HELD}) a ON a.role_id = r.id \
             WHERE EXISTS (SELECT 1 FROM json_each(r.permissions) p WHERE p.value = ?) \
             AND (a.object_type IS NULL OR a.object_type = ?)"
        ))
        .bind(user_id)
        .bind(user_id)
        .bind(permission)
        .bind(object_type)
        .fetch_all(&self.read)
        .await?;
        if rows.iter().any(|(t, _)| t.is_none()) {
            return Ok(None);
        }
        Ok(Some(rows.into_iter().filter_map(|(_, id)| id).collect()))
    }

    /// Every permission `user_id` holds on an object (object-level and model-level roles).
    pub async fn permissions_on(
        &self,
        user_id: i64,
        object: Option<(&str, &str)>,
    ) -> Result<Vec<String>> {
        Ok(query_scalar(format!(
            "SELECT DISTINCT p.value FROM roles r JOIN ({HELD}) a ON a.role_id = r.id, \
             json_each(r.permissions) p \
             WHERE a.object_type IS NULL OR (a.object_type = ? AND a.object_id = ?) ORDER BY 1"
        ))
        .bind(user_id)
        .bind(user_id)
        .bind(object.map(|o| o.0))
        .bind(object.map(|o| o.1))
        .fetch_all(&self.read)
        .await?)
    }
}
