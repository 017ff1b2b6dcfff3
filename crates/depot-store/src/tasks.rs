//! The durable task queue: rows in `tasks`, claimed and finished by the task runner.

use sqlx::FromRow;

use crate::sql::{Builder, query, query_as, query_scalar};

use crate::{Db, Result, now};

#[derive(Clone, Debug, FromRow)]
pub struct TaskRow {
    pub id: String,
    pub name: String,
    pub state: String,
    pub logging_cid: String,
    pub created_by: Option<i64>,
    pub reserved_resources: String,
    pub args: String,
    pub progress_reports: String,
    pub created_resources: String,
    pub error: Option<String>,
    pub result: Option<String>,
    pub pulp_created: String,
    pub pulp_last_updated: String,
    pub unblocked_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

pub const TASK_COLUMNS: &str = "id, name, state, logging_cid, created_by, reserved_resources, \
     args, progress_reports, created_resources, error, result, pulp_created, pulp_last_updated, \
     unblocked_at, started_at, finished_at";

/// A task that is neither finished nor running.
#[derive(Clone, Debug, FromRow)]
pub struct QueuedTask {
    pub id: String,
    pub name: String,
    pub state: String,
    pub reserved_resources: String,
    pub args: String,
    pub created_by: Option<i64>,
}

/// A process sharing the database, as it last reported itself.
#[derive(Clone, Debug, FromRow)]
pub struct WorkerRow {
    pub name: String,
    /// JSON list: "api", "content", "worker"
    pub roles: String,
    pub pid: i64,
    pub host: String,
    pub started_at: String,
    pub last_heartbeat: String,
}

/// (exclusive, shared) resources of a `reserved_resources` list.
pub fn split_resources(list: &[String]) -> (Vec<String>, Vec<String>) {
    let mut exclusive = Vec::new();
    let mut shared = Vec::new();
    for r in list {
        match r.strip_prefix("shared:") {
            Some(s) => shared.push(s.to_string()),
            None => exclusive.push(r.clone()),
        }
    }
    (exclusive, shared)
}

/// Resources held by tasks, and whether a task's resources are free of them: an exclusive
/// resource excludes everyone, a shared one only the exclusive holders.
#[derive(Default)]
struct Held {
    exclusive: std::collections::HashSet<String>,
    shared: std::collections::HashSet<String>,
}

impl Held {
    fn add(&mut self, exclusive: &[String], shared: &[String]) {
        self.exclusive.extend(exclusive.iter().cloned());
        self.shared.extend(shared.iter().cloned());
    }

    fn add_list(&mut self, reserved_resources: &str) {
        let list: Vec<String> = serde_json::from_str(reserved_resources).unwrap_or_default();
        let (e, s) = split_resources(&list);
        self.add(&e, &s);
    }

    fn blocks(&self, exclusive: &[String], shared: &[String]) -> bool {
        exclusive
            .iter()
            .any(|r| self.exclusive.contains(r) || self.shared.contains(r))
            || shared.iter().any(|r| self.exclusive.contains(r))
    }
}

/// Waiting tasks looked at per claim, oldest first.
const CLAIM_WINDOW: i64 = 50;

impl Db {
    pub async fn task_insert(&self, t: &TaskRow) -> Result<()> {
        query(format!(
            "INSERT INTO tasks ({TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.state)
        .bind(&t.logging_cid)
        .bind(t.created_by)
        .bind(&t.reserved_resources)
        .bind(&t.args)
        .bind(&t.progress_reports)
        .bind(&t.created_resources)
        .bind(&t.error)
        .bind(&t.result)
        .bind(&t.pulp_created)
        .bind(&t.pulp_last_updated)
        .bind(&t.unblocked_at)
        .bind(&t.started_at)
        .bind(&t.finished_at)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    pub async fn task_get(&self, id: &str) -> Result<Option<TaskRow>> {
        Ok(
            query_as(format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// Tasks not finished yet (waiting, running, canceling), oldest first.
    pub async fn tasks_unfinished(&self) -> Result<Vec<QueuedTask>> {
        Ok(query_as(
            "SELECT id, name, state, reserved_resources, args, created_by FROM tasks \
             WHERE state IN ('waiting', 'running', 'canceling') ORDER BY pulp_created, id",
        )
        .fetch_all(&self.write)
        .await?)
    }

    /// Claim up to `max` of the oldest waiting tasks whose resources are free, for `worker`:
    /// they become `running` there. A task waits while a running task (of any process) holds
    /// a resource it needs, and also while an older waiting task needs one, so none is
    /// overtaken. Claims of different workers decide about each resource under a lock of
    /// its own, held until the claim commits and only ever tried (a resource another claim
    /// is deciding about counts as held: no claim waits for another, none deadlocks), and
    /// look at the running tasks again once they hold their locks, so two workers never
    /// start conflicting tasks.
    pub async fn task_claim(&self, worker: &str, max: usize) -> Result<Vec<QueuedTask>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.write.begin().await?;
        let b = tx.backend();
        let candidates: Vec<QueuedTask> = query_as(format!(
            "SELECT id, name, state, reserved_resources, args, created_by FROM tasks \
             WHERE state = 'waiting' ORDER BY pulp_created, id LIMIT {CLAIM_WINDOW}"
        ))
        .fetch_all(&mut tx)
        .await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut held = self.held_by_running(&mut tx).await?;
        let mut chosen = Vec::new();
        for t in candidates {
            if chosen.len() == max {
                break;
            }
            let list: Vec<String> = serde_json::from_str(&t.reserved_resources).unwrap_or_default();
            let (exclusive, shared) = split_resources(&list);
            let blocked = held.blocks(&exclusive, &shared);
            // later tasks must not overtake it on these resources, whether it runs or waits
            held.add(&exclusive, &shared);
            if blocked {
                continue;
            }
            let mut keys: Vec<&String> = exclusive.iter().chain(&shared).collect();
            keys.sort();
            keys.dedup();
            let mut locked = true;
            for k in keys {
                if !tx.try_serialize(&format!("resource:{k}")).await? {
                    locked = false;
                    break;
                }
            }
            if locked {
                chosen.push((t, exclusive, shared));
            }
        }
        if b == crate::sql::Backend::Postgres && !chosen.is_empty() {
            // the rows themselves: one another claim holds is left to it
            let mut ids = Builder::new("SELECT id FROM tasks WHERE id IN (");
            let mut list = ids.separated(", ");
            for (t, _, _) in &chosen {
                list.push_bind(t.id.clone());
            }
            ids.push(") FOR UPDATE SKIP LOCKED");
            let mine: Vec<String> = ids.build_query_scalar().fetch_all(&mut tx).await?;
            chosen.retain(|(t, _, _)| mine.contains(&t.id));
            // what other workers claimed and committed before these locks were taken
            let mut fresh = self.held_by_running(&mut tx).await?;
            chosen.retain(|(_, exclusive, shared)| {
                let ok = !fresh.blocks(exclusive, shared);
                fresh.add(exclusive, shared);
                ok
            });
        }
        let now = now();
        let mut claimed = Vec::with_capacity(chosen.len());
        for (t, _, _) in chosen {
            let done = query(
                "UPDATE tasks SET state = 'running', worker = ?, \
                 unblocked_at = coalesce(unblocked_at, ?), started_at = ?, pulp_last_updated = ? \
                 WHERE id = ? AND state = 'waiting'",
            )
            .bind(worker)
            .bind(&now)
            .bind(&now)
            .bind(&now)
            .bind(&t.id)
            .execute(&mut tx)
            .await?;
            if done.rows_affected() == 1 {
                claimed.push(t);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    async fn held_by_running(&self, tx: &mut crate::sql::Tx) -> Result<Held> {
        let running: Vec<String> = query_scalar(
            "SELECT reserved_resources FROM tasks WHERE state IN ('running', 'canceling')",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut held = Held::default();
        for r in &running {
            held.add_list(r);
        }
        Ok(held)
    }

    /// Workers named by running tasks that are not in the workers table.
    pub async fn task_workers_unknown(&self) -> Result<Vec<String>> {
        Ok(query_scalar(
            "SELECT DISTINCT worker FROM tasks WHERE state IN ('running', 'canceling') \
             AND worker IS NOT NULL AND worker NOT IN (SELECT name FROM workers)",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// Tasks of `worker` that were asked to cancel.
    pub async fn tasks_canceling_on(&self, worker: &str) -> Result<Vec<String>> {
        Ok(
            query_scalar("SELECT id FROM tasks WHERE worker = ? AND state = 'canceling'")
                .bind(worker)
                .fetch_all(&self.read)
                .await?,
        )
    }

    /// Record that `worker` is alive (and what it serves).
    pub async fn worker_heartbeat(&self, w: &WorkerRow) -> Result<()> {
        query(
            "INSERT INTO workers (name, roles, pid, host, started_at, last_heartbeat) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET \
             roles = excluded.roles, last_heartbeat = excluded.last_heartbeat",
        )
        .bind(&w.name)
        .bind(&w.roles)
        .bind(w.pid)
        .bind(&w.host)
        .bind(&w.started_at)
        .bind(now())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Every known process, most recent heartbeat first.
    pub async fn workers(&self) -> Result<Vec<WorkerRow>> {
        Ok(query_as(
            "SELECT name, roles, pid, host, started_at, last_heartbeat FROM workers \
             ORDER BY last_heartbeat DESC, name",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// Fail the unfinished tasks a gone worker was running and remove what they were
    /// building (their staged units, the incomplete versions and publications of the
    /// repositories they held); forget the worker. Returns the failed task ids.
    pub async fn recover_worker(&self, worker: &str, reason: &str) -> Result<Vec<String>> {
        let t = now();
        let error = serde_json::json!({ "description": reason, "traceback": null }).to_string();
        let mut tx = self.write.begin().await?;
        let failed: Vec<(String, String)> = query_as(
            "UPDATE tasks SET state = 'failed', error = ?, finished_at = ?, pulp_last_updated = ? \
             WHERE worker = ? AND state IN ('running', 'canceling') \
             RETURNING id, reserved_resources",
        )
        .bind(&error)
        .bind(&t)
        .bind(&t)
        .bind(worker)
        .fetch_all(&mut tx)
        .await?;
        let ids: Vec<String> = failed.iter().map(|(id, _)| id.clone()).collect();
        // a task building a version or publication holds its repository exclusively; the
        // id is the last part of the resource's PRN
        let mut repos = Vec::new();
        for (_, reserved) in &failed {
            let list: Vec<String> = serde_json::from_str(reserved).unwrap_or_default();
            let (exclusive, _) = split_resources(&list);
            repos.extend(
                exclusive
                    .iter()
                    .filter_map(|r| r.rsplit(':').next().map(str::to_string)),
            );
        }
        if !ids.is_empty() {
            let marks = vec!["?"; ids.len()].join(", ");
            let mut q = query(format!(
                "DELETE FROM sync_staging WHERE task_id IN ({marks})"
            ));
            for id in &ids {
                q = q.bind(id);
            }
            q.execute(&mut tx).await?;
        }
        if !repos.is_empty() {
            let marks = vec!["?"; repos.len()].join(", ");
            let mut q = query(format!(
                "DELETE FROM published_files WHERE publication_id IN \
                 (SELECT p.id FROM publications p \
                  JOIN repository_versions v ON v.id = p.repository_version_id \
                  WHERE p.complete = FALSE AND v.repository_id IN ({marks}))"
            ));
            for r in &repos {
                q = q.bind(r);
            }
            q.execute(&mut tx).await?;
            let mut q = query(format!(
                "DELETE FROM publications WHERE complete = FALSE AND repository_version_id IN \
                 (SELECT id FROM repository_versions WHERE repository_id IN ({marks}))"
            ));
            for r in &repos {
                q = q.bind(r);
            }
            q.execute(&mut tx).await?;
            let mut q = query(format!(
                "DELETE FROM repository_versions WHERE complete = FALSE \
                 AND repository_id IN ({marks})"
            ));
            for r in &repos {
                q = q.bind(r);
            }
            q.execute(&mut tx).await?;
        }
        query("DELETE FROM workers WHERE name = ?")
            .bind(worker)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed(crate::events::Topic::Serving);
        Ok(ids)
    }

    pub async fn task_set_progress(&self, id: &str, progress_reports: &str) -> Result<()> {
        query("UPDATE tasks SET progress_reports = ?, pulp_last_updated = ? WHERE id = ?")
            .bind(progress_reports)
            .bind(now())
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Record a task's end. Only unfinished tasks change.
    pub async fn task_finish(
        &self,
        id: &str,
        state: &str,
        error: Option<&str>,
        result: Option<&str>,
        created_resources: &str,
        progress_reports: &str,
    ) -> Result<()> {
        let t = now();
        query(
            "UPDATE tasks SET state = ?, error = ?, result = ?, created_resources = ?, \
             progress_reports = ?, finished_at = ?, pulp_last_updated = ? \
             WHERE id = ? AND state IN ('waiting', 'running', 'canceling')",
        )
        .bind(state)
        .bind(error)
        .bind(result)
        .bind(created_resources)
        .bind(progress_reports)
        .bind(&t)
        .bind(&t)
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(())
    }

    /// Move a task to `canceling` (running) or `canceled` (waiting). Returns the new state,
    /// or `None` when the task had already finished.
    pub async fn task_request_cancel(&self, id: &str) -> Result<Option<String>> {
        let t = now();
        let mut tx = self.write.begin().await?;
        let state: Option<String> = query_scalar("SELECT state FROM tasks WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut tx)
            .await?;
        let new_state = match state.as_deref() {
            Some("waiting") => "canceled",
            Some("running") | Some("canceling") => "canceling",
            _ => return Ok(None),
        };
        query(
            "UPDATE tasks SET state = ?, pulp_last_updated = ?, \
             finished_at = CASE WHEN ? = 'canceled' THEN ? ELSE finished_at END WHERE id = ?",
        )
        .bind(new_state)
        .bind(&t)
        .bind(new_state)
        .bind(&t)
        .bind(id)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(Some(new_state.to_string()))
    }

    /// After an unclean stop: fail the tasks whose worker is gone and remove what they were
    /// building (staged content, incomplete versions and publications). Returns the failed ids.
    pub async fn recover_after_crash(&self, reason: &str) -> Result<Vec<String>> {
        let t = now();
        let error = serde_json::json!({ "description": reason, "traceback": null }).to_string();
        let mut tx = self.write.begin().await?;
        let ids: Vec<String> = query_scalar(
            "UPDATE tasks SET state = 'failed', error = ?, finished_at = ?, pulp_last_updated = ? \
             WHERE state IN ('running', 'canceling') RETURNING id",
        )
        .bind(&error)
        .bind(&t)
        .bind(&t)
        .fetch_all(&mut tx)
        .await?;
        query("DELETE FROM sync_staging").execute(&mut tx).await?;
        query("DELETE FROM workers").execute(&mut tx).await?;
        query(
            "DELETE FROM published_files WHERE publication_id IN \
             (SELECT id FROM publications WHERE complete = FALSE)",
        )
        .execute(&mut tx)
        .await?;
        query("DELETE FROM publications WHERE complete = FALSE")
            .execute(&mut tx)
            .await?;
        query("DELETE FROM repository_versions WHERE complete = FALSE")
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        self.changed(crate::events::Topic::Serving);
        Ok(ids)
    }
}

impl Db {
    /// Remove a finished task's row.
    pub async fn task_delete(&self, id: &str) -> Result<()> {
        query("DELETE FROM tasks WHERE id = ?")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
