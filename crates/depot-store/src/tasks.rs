//! The durable task queue: rows in `tasks`, claimed and finished by the task runner.

use sqlx::FromRow;

use crate::sql::{query, query_as, query_scalar};

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

    pub async fn task_start(&self, id: &str) -> Result<bool> {
        let t = now();
        let done = query(
            "UPDATE tasks SET state = 'running', unblocked_at = coalesce(unblocked_at, ?), \
             started_at = ?, pulp_last_updated = ? WHERE id = ? AND state = 'waiting'",
        )
        .bind(&t)
        .bind(&t)
        .bind(&t)
        .bind(id)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
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
