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
    /// overtaken.
    ///
    /// That order is also what keeps claims of different processes apart, without locks:
    /// the waiting tasks and the running ones are read in one snapshot, where a task another
    /// claim starts is either still waiting (and, being older than anything it conflicts
    /// with, holds that back) or already running; and a task is only started while it still
    /// waits and no other claim has its row locked (those are skipped, not waited for).
    pub async fn task_claim(&self, worker: &str, max: usize) -> Result<Vec<QueuedTask>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let b = self.write.backend();
        let waiting = match b {
            // in index order whatever the planner's estimate (migration 0004)
            crate::sql::Backend::Postgres => {
                format!("SELECT * FROM tasks_waiting_first({CLAIM_WINDOW})")
            }
            crate::sql::Backend::Sqlite => format!(
                "SELECT id, reserved_resources, pulp_created FROM tasks \
                 WHERE state = 'waiting' ORDER BY pulp_created, id LIMIT {CLAIM_WINDOW}"
            ),
        };
        // the running tasks' resources are kept in `task_holds` by the database
        let mut rows: Vec<(String, String, String, String)> = query_as(format!(
            "SELECT id, reserved_resources, 'waiting' AS state, pulp_created FROM ({waiting}) AS w \
             UNION ALL SELECT task_id, reserved_resources, 'running', '' FROM task_holds"
        ))
        .fetch_all(&self.write)
        .await?;
        let mut held = Held::default();
        rows.retain(|(_, reserved, state, _)| {
            if state == "waiting" {
                return true;
            }
            held.add_list(reserved);
            false
        });
        rows.sort_by(|a, b| (&a.3, &a.0).cmp(&(&b.3, &b.0)));
        // every task that may start now, oldest first; none conflicts with another
        let mut eligible = Vec::new();
        for (id, reserved, _, _) in rows {
            let list: Vec<String> = serde_json::from_str(&reserved).unwrap_or_default();
            let (exclusive, shared) = split_resources(&list);
            if !held.blocks(&exclusive, &shared) {
                eligible.push(id);
            }
            // later tasks must not overtake it on these resources, whether it runs or waits
            held.add(&exclusive, &shared);
        }
        if eligible.is_empty() {
            return Ok(Vec::new());
        }
        // `max` of the oldest of them that still wait, passing over rows another claim holds
        // (a few more are offered than taken, for claims of other processes at the same
        // time; the list is looked up by id, not walked in queue order)
        eligible.truncate(2 * max);
        let now = now();
        let mut update = Builder::new("UPDATE tasks SET state = 'running', worker = ");
        update
            .push_bind(worker)
            .push(", unblocked_at = coalesce(unblocked_at, ")
            .push_bind(now.clone())
            .push("), started_at = ")
            .push_bind(now.clone())
            .push(", pulp_last_updated = ")
            .push_bind(now)
            .push(" WHERE id IN (SELECT id FROM tasks WHERE state = 'waiting' AND id IN (");
        let mut list = update.separated(", ");
        for id in &eligible {
            list.push_bind(id.clone());
        }
        update.push(format!(") LIMIT {max}"));
        if b == crate::sql::Backend::Postgres {
            update.push(" FOR UPDATE SKIP LOCKED");
        }
        update.push(") RETURNING id, name, state, reserved_resources, args, created_by");
        let mut claimed: Vec<QueuedTask> = update.build_query_as().fetch_all(&self.write).await?;
        claimed.sort_by_key(|t| eligible.iter().position(|id| *id == t.id));
        Ok(claimed)
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A fresh database on every backend the suite runs on: SQLite, and PostgreSQL when
    /// `DEPOT_TEST_POSTGRES` names a server (a new database on it).
    async fn databases(dir: &std::path::Path) -> Vec<(Db, Option<String>)> {
        let mut out = vec![(Db::open(&dir.join("depot.sqlite3")).await.unwrap(), None)];
        if let Some(server) = std::env::var("DEPOT_TEST_POSTGRES")
            .ok()
            .filter(|s| !s.is_empty())
        {
            let server = server.trim_end_matches('/');
            let name = format!("depot_claims_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap();
            let url = format!("{server}/{name}");
            out.push((Db::connect(&url).await.unwrap(), Some(url)));
        }
        out
    }

    async fn queue(db: &Db, name: &str, resources: &[&str]) -> String {
        let id = format!("{name}-{}", uuid::Uuid::new_v4().simple());
        let t = now();
        db.task_insert(&TaskRow {
            id: id.clone(),
            name: name.into(),
            state: "waiting".into(),
            logging_cid: String::new(),
            created_by: None,
            reserved_resources: serde_json::to_string(resources).unwrap(),
            args: "{}".into(),
            progress_reports: "[]".into(),
            created_resources: "[]".into(),
            error: None,
            result: None,
            pulp_created: t.clone(),
            pulp_last_updated: t,
            unblocked_at: None,
            started_at: None,
            finished_at: None,
        })
        .await
        .unwrap();
        id
    }

    async fn claim_names(db: &Db, worker: &str, max: usize) -> Vec<String> {
        let mut names: Vec<String> = db
            .task_claim(worker, max)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        names.sort();
        names
    }

    async fn finish(db: &Db, id: &str) {
        db.task_finish(id, "completed", None, None, "[]", "[]")
            .await
            .unwrap();
    }

    async fn holds(db: &Db) -> usize {
        query_scalar::<i64>("SELECT count(*) FROM task_holds")
            .fetch_one(&db.read)
            .await
            .unwrap() as usize
    }

    #[tokio::test]
    async fn claims_keep_order_and_reservations_and_holds_follow_states() {
        let dir = tempfile::tempdir().unwrap();
        for (db, _) in databases(dir.path()).await {
            let a = queue(&db, "a", &["repo:1"]).await;
            let b = queue(&db, "b", &["shared:repo:1"]).await;
            let c = queue(&db, "c", &["shared:repo:1", "repo:2"]).await;
            let d = queue(&db, "d", &["repo:3"]).await;
            let e = queue(&db, "e", &["shared:repo:3"]).await;
            let h = queue(&db, "h", &["repo:2"]).await;
            // a holds repo:1 and d repo:3; b and c need repo:1 shared, e repo:3 shared:
            // they wait, and nothing later overtakes them (h waits for c's repo:2)
            assert_eq!(claim_names(&db, "w1", 10).await, ["a", "d"]);
            assert_eq!(holds(&db).await, 2);
            assert!(claim_names(&db, "w1", 10).await.is_empty());
            finish(&db, &a).await;
            assert_eq!(holds(&db).await, 1);
            // shared holders run side by side; at most `max` at once
            assert_eq!(claim_names(&db, "w1", 1).await, ["b"]);
            assert_eq!(claim_names(&db, "w1", 10).await, ["c"]);
            finish(&db, &d).await;
            assert_eq!(claim_names(&db, "w1", 10).await, ["e"]);
            assert_eq!(holds(&db).await, 3);
            // a newer exclusive task waits for the shared holders
            let f = queue(&db, "f", &["repo:1"]).await;
            assert!(claim_names(&db, "w1", 10).await.is_empty());
            finish(&db, &b).await;
            finish(&db, &c).await;
            assert_eq!(claim_names(&db, "w2", 10).await, ["f", "h"]);
            finish(&db, &h).await;
            // a worker that is gone: its tasks fail and their holds go with them
            let failed = db.recover_worker("w1", "gone").await.unwrap();
            assert_eq!(failed, std::slice::from_ref(&e));
            assert_eq!(holds(&db).await, 1);
            // a canceled running task still holds until it ends
            assert_eq!(
                db.task_request_cancel(&f).await.unwrap().as_deref(),
                Some("canceling")
            );
            assert_eq!(holds(&db).await, 1);
            let g = queue(&db, "g", &["repo:1"]).await;
            assert!(claim_names(&db, "w2", 10).await.is_empty());
            db.task_finish(&f, "canceled", None, None, "[]", "[]")
                .await
                .unwrap();
            assert_eq!(holds(&db).await, 0);
            assert_eq!(claim_names(&db, "w2", 10).await, ["g"]);
            finish(&db, &g).await;
        }
    }

    /// Several processes claiming from one queue at once (PostgreSQL: separate pools) never
    /// run two tasks that conflict, and run every task once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claims_never_start_conflicting_tasks() {
        let dir = tempfile::tempdir().unwrap();
        for (db, url) in databases(dir.path()).await {
            let mut ids = Vec::new();
            for i in 0..400 {
                let r = format!("repo:{}", i % 3);
                let shared = format!("shared:{r}");
                let list: Vec<&str> = if i % 3 == 0 { vec![&r] } else { vec![&shared] };
                ids.push(queue(&db, &format!("t{i}"), &list).await);
            }
            let claimers: Vec<Db> = match &url {
                Some(url) => {
                    let mut v = Vec::new();
                    for _ in 0..6 {
                        v.push(Db::connect(url).await.unwrap());
                    }
                    v
                }
                None => vec![db.clone(), db.clone()],
            };
            // resource -> (exclusive holders, shared holders) among tasks running now
            let running: Arc<Mutex<HashMap<String, (usize, usize)>>> = Arc::default();
            let ran: Arc<Mutex<Vec<String>>> = Arc::default();
            let mut handles = Vec::new();
            for (n, claimer) in claimers.into_iter().enumerate() {
                let running = running.clone();
                let ran = ran.clone();
                let total = ids.len();
                handles.push(tokio::spawn(async move {
                    let worker = format!("w{n}");
                    let mut idle = 0;
                    while ran.lock().unwrap().len() < total && idle < 2_000 {
                        let claimed = claimer.task_claim(&worker, 3).await.unwrap();
                        if claimed.is_empty() {
                            idle += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                            continue;
                        }
                        for t in &claimed {
                            let list: Vec<String> =
                                serde_json::from_str(&t.reserved_resources).unwrap();
                            let (e, s) = split_resources(&list);
                            let mut r = running.lock().unwrap();
                            for x in &e {
                                let h = r.entry(x.clone()).or_default();
                                assert_eq!(*h, (0, 0), "{} started while {x} was held", t.name);
                                h.0 += 1;
                            }
                            for x in &s {
                                let h = r.entry(x.clone()).or_default();
                                assert_eq!(h.0, 0, "{} started while {x} was exclusive", t.name);
                                h.1 += 1;
                            }
                        }
                        tokio::task::yield_now().await;
                        for t in claimed {
                            let list: Vec<String> =
                                serde_json::from_str(&t.reserved_resources).unwrap();
                            let (e, s) = split_resources(&list);
                            {
                                let mut r = running.lock().unwrap();
                                for x in &e {
                                    r.get_mut(x).unwrap().0 -= 1;
                                }
                                for x in &s {
                                    r.get_mut(x).unwrap().1 -= 1;
                                }
                            }
                            claimer
                                .task_finish(&t.id, "completed", None, None, "[]", "[]")
                                .await
                                .unwrap();
                            ran.lock().unwrap().push(t.id);
                        }
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
            let mut ran = ran.lock().unwrap().clone();
            ran.sort();
            ids.sort();
            assert_eq!(ran, ids, "every task ran exactly once");
            assert_eq!(holds(&db).await, 0);
        }
    }
}
