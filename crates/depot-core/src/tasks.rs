//! Durable tasks: queued as rows, run by a worker pool inside the process.
//!
//! Each task names the resources it needs: exclusively (`prn:…`, e.g. the repository it writes)
//! or shared (`shared:prn:…`, e.g. the remote it reads). The scheduler starts waiting tasks in
//! creation order, skipping any whose resources conflict with a running task or with an older
//! waiting one, so one writer per repository holds and tasks on different repositories run
//! side by side.
//!
//! A running task can be canceled: its future is dropped at the next await point. Task
//! functions therefore make their changes visible in one final transaction (a repository
//! version, a publication) and leave nothing half-made when dropped earlier. Staged rows are
//! cleared when the task ends, however it ends.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Depot;
use crate::error::CoreError;
use depot_store::tasks::TaskRow;
use depot_store::{new_id, now};

/// What a finished task leaves behind.
#[derive(Debug, Default)]
pub struct TaskOutput {
    /// Serialized result (the created or changed object), shown as the task's `result`.
    pub result: Option<Value>,
}

/// Why a task did not complete.
#[derive(Debug)]
pub enum TaskError {
    Failed(String),
    Canceled,
}

impl<E: Into<CoreError>> From<E> for TaskError {
    fn from(e: E) -> Self {
        match e.into() {
            CoreError::Invalid(errs) => TaskError::Failed(errs.to_string()),
            other => TaskError::Failed(other.to_string()),
        }
    }
}

impl TaskError {
    pub fn failed(msg: impl Into<String>) -> TaskError {
        TaskError::Failed(msg.into())
    }
}

/// A new task to queue.
#[derive(Clone, Debug)]
pub struct NewTask {
    pub name: &'static str,
    pub args: Value,
    pub exclusive: Vec<String>,
    pub shared: Vec<String>,
    pub created_by: Option<i64>,
    pub logging_cid: Option<String>,
}

impl NewTask {
    pub fn new(name: &'static str, args: Value) -> NewTask {
        NewTask {
            name,
            args,
            exclusive: Vec::new(),
            shared: Vec::new(),
            created_by: None,
            logging_cid: None,
        }
    }
    pub fn exclusive(mut self, r: impl Into<String>) -> NewTask {
        self.exclusive.push(r.into());
        self
    }
    pub fn shared(mut self, r: impl Into<String>) -> NewTask {
        self.shared.push(r.into());
        self
    }
    pub fn by(mut self, user: Option<i64>) -> NewTask {
        self.created_by = user;
        self
    }
    pub fn cid(mut self, cid: Option<String>) -> NewTask {
        self.logging_cid = cid;
        self
    }
}

/// One entry of a task's `progress_reports`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProgressReport {
    pub message: String,
    pub code: String,
    pub state: &'static str,
    pub total: Option<i64>,
    pub done: i64,
    pub suffix: Option<String>,
}

#[derive(Debug, Default)]
struct ProgressState {
    reports: Vec<ProgressReport>,
    dirty: bool,
}

/// Handle on one progress report of a running task.
#[derive(Clone, Debug)]
pub struct Progress {
    state: Arc<Mutex<ProgressState>>,
    index: usize,
}

impl Progress {
    pub fn increment(&self, n: i64) {
        let mut s = self.state.lock().unwrap();
        s.reports[self.index].done += n;
        s.dirty = true;
    }
    pub fn set_total(&self, total: i64) {
        let mut s = self.state.lock().unwrap();
        s.reports[self.index].total = Some(total);
        s.dirty = true;
    }
    pub fn done(&self) -> i64 {
        self.state.lock().unwrap().reports[self.index].done
    }
    pub fn finish(&self) {
        let mut s = self.state.lock().unwrap();
        s.reports[self.index].state = "completed";
        s.dirty = true;
    }
}

/// What a task function gets: the depot, its arguments, progress and cancellation.
#[derive(Clone)]
pub struct TaskCtx {
    pub depot: Arc<Depot>,
    pub id: String,
    pub name: String,
    pub args: Value,
    pub created_by: Option<i64>,
    pub cancel: CancellationToken,
    progress: Arc<Mutex<ProgressState>>,
    created: Arc<Mutex<Vec<Value>>>,
}

impl TaskCtx {
    /// Start a progress report (running).
    pub fn progress(&self, code: &str, message: &str, total: Option<i64>) -> Progress {
        let mut s = self.progress.lock().unwrap();
        s.reports.push(ProgressReport {
            message: message.to_string(),
            code: code.to_string(),
            state: "running",
            total,
            done: 0,
            suffix: None,
        });
        s.dirty = true;
        Progress {
            state: self.progress.clone(),
            index: s.reports.len() - 1,
        }
    }

    /// Record a resource this task created (the task's `created_resources`).
    pub fn created(&self, href: &str, prn: &str) {
        self.created
            .lock()
            .unwrap()
            .push(json!({"href": href, "prn": prn}));
    }

    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }

    pub fn require(&self, key: &str) -> Result<&str, TaskError> {
        self.arg(key)
            .ok_or_else(|| TaskError::failed(format!("task argument '{key}' is missing")))
    }

    /// Fail with `Canceled` if the task was canceled (for loops between awaits).
    pub fn check_canceled(&self) -> Result<(), TaskError> {
        if self.cancel.is_cancelled() {
            Err(TaskError::Canceled)
        } else {
            Ok(())
        }
    }

    fn reports_json(&self, final_state: Option<&'static str>) -> String {
        let mut s = self.progress.lock().unwrap();
        if let Some(st) = final_state {
            for r in s.reports.iter_mut().filter(|r| r.state == "running") {
                r.state = st;
            }
        }
        s.dirty = false;
        serde_json::to_string(&s.reports).expect("progress serializes")
    }
}

#[derive(Debug)]
struct Running {
    cancel: CancellationToken,
}

/// How often a process says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A process silent this long is gone: a live worker fails its tasks and frees what they
/// held (so within 25 s of its death).
pub const GONE_AFTER: Duration = Duration::from_secs(20);

/// This process's worker pool: it claims tasks from the database (where every process's
/// claims, reservations and cancellations live) and runs them.
#[derive(Debug)]
pub struct Runner {
    notify: Notify,
    running: Mutex<HashMap<String, Running>>,
    workers: usize,
    /// Set when the process stops: running tasks end as failed, nothing new starts.
    pub shutdown: CancellationToken,
    idle: Notify,
}

impl Runner {
    pub fn new(workers: usize) -> Runner {
        Runner {
            notify: Notify::new(),
            running: Mutex::new(HashMap::new()),
            workers: workers.max(1),
            shutdown: CancellationToken::new(),
            idle: Notify::new(),
        }
    }

    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Cancel a running task of this process (after its row moved to `canceling`).
    pub fn cancel(&self, id: &str) {
        if let Some(r) = self.running.lock().unwrap().get(id) {
            r.cancel.cancel();
        }
    }

    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap().len()
    }

    /// Stop: cancel running tasks and wait (bounded) for them to record their end.
    pub async fn stop(&self, wait: Duration) {
        self.shutdown.cancel();
        for r in self.running.lock().unwrap().values() {
            r.cancel.cancel();
        }
        let deadline = tokio::time::Instant::now() + wait;
        while self.running_count() > 0 && tokio::time::Instant::now() < deadline {
            let _ = tokio::time::timeout(Duration::from_millis(100), self.idle.notified()).await;
        }
    }
}

impl Depot {
    /// Queue a task; returns its row (state `waiting`).
    pub async fn dispatch(&self, t: NewTask) -> Result<TaskRow, CoreError> {
        let now = now();
        let mut reserved: Vec<String> = t.exclusive.clone();
        reserved.extend(t.shared.iter().map(|s| format!("shared:{s}")));
        let row = TaskRow {
            id: new_id(),
            name: t.name.to_string(),
            state: "waiting".into(),
            logging_cid: t
                .logging_cid
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            created_by: t.created_by,
            reserved_resources: serde_json::to_string(&reserved).expect("list serializes"),
            args: t.args.to_string(),
            progress_reports: "[]".into(),
            created_resources: "[]".into(),
            error: None,
            result: None,
            pulp_created: now.clone(),
            pulp_last_updated: now,
            unblocked_at: None,
            started_at: None,
            finished_at: None,
        };
        self.db.task_insert(&row).await?;
        self.runner.wake();
        Ok(row)
    }

    /// Request cancellation of a task. Returns the state it moved to, `None` if finished.
    pub async fn cancel_task(&self, id: &str) -> Result<Option<String>, CoreError> {
        let state = self.db.task_request_cancel(id).await?;
        if state.as_deref() == Some("canceling") {
            self.runner.cancel(id);
        }
        Ok(state)
    }
}

/// The scheduler loop: claim runnable tasks whenever something changes (or once a second),
/// and end those another process asked to cancel.
pub async fn run_scheduler(depot: Arc<Depot>) {
    // cancellations asked for through this process end their tasks at once; those asked
    // for through another are looked for this often
    const CANCEL_POLL: Duration = Duration::from_millis(500);
    let mut cancels_read = Instant::now();
    loop {
        if depot.runner.shutdown.is_cancelled() {
            return;
        }
        if let Err(e) = schedule_once(&depot).await {
            tracing::error!(error = %e, "task scheduling failed");
        }
        if depot.runner.running_count() > 0 && cancels_read.elapsed() >= CANCEL_POLL {
            cancels_read = Instant::now();
            match depot.db.tasks_canceling_on(&depot.process_name).await {
                Ok(ids) => {
                    for id in ids {
                        depot.runner.cancel(&id);
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading cancellations failed"),
            }
        }
        tokio::select! {
            _ = depot.runner.notify.notified() => {}
            // another process queued a task or ended one (PostgreSQL)
            _ = depot.db.events.tasks_changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = depot.runner.shutdown.cancelled() => return,
        }
    }
}

async fn schedule_once(depot: &Arc<Depot>) -> Result<(), CoreError> {
    while !depot.runner.shutdown.is_cancelled() {
        let free = depot
            .runner
            .workers
            .saturating_sub(depot.runner.running_count());
        if free == 0 {
            return Ok(());
        }
        // as many as there are free slots, in one claim
        let claimed = depot.db.task_claim(&depot.process_name, free).await?;
        if claimed.is_empty() {
            return Ok(());
        }
        for t in claimed {
            let cancel = depot.runner.shutdown.child_token();
            depot.runner.running.lock().unwrap().insert(
                t.id.clone(),
                Running {
                    cancel: cancel.clone(),
                },
            );
            let ctx = TaskCtx {
                depot: depot.clone(),
                id: t.id.clone(),
                name: t.name.clone(),
                args: serde_json::from_str(&t.args).unwrap_or(Value::Null),
                created_by: t.created_by,
                cancel,
                progress: Arc::default(),
                created: Arc::default(),
            };
            tokio::spawn(run_task(ctx));
        }
    }
    Ok(())
}

async fn run_task(ctx: TaskCtx) {
    let depot = ctx.depot.clone();
    let span = tracing::info_span!("task", id = %ctx.id, name = %ctx.name);
    let _enter = span.enter();
    tracing::info!("task started");
    drop(_enter);

    // Flush progress to the database while the task runs.
    let flusher = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let dirty = ctx.progress.lock().unwrap().dirty;
                if dirty {
                    let json = ctx.reports_json(None);
                    let _ = ctx.depot.db.task_set_progress(&ctx.id, &json).await;
                }
            }
        })
    };

    let outcome = match depot.plugins.task(&ctx.name) {
        None => Err(TaskError::failed(format!("unknown task '{}'", ctx.name))),
        Some(def) => {
            let fut = AssertUnwindSafe((def.run)(ctx.clone())).catch_unwind();
            tokio::select! {
                r = fut => match r {
                    Ok(r) => r,
                    Err(panic) => {
                        let msg = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown".into());
                        tracing::error!(panic = %msg, "task panicked");
                        Err(TaskError::failed(format!("internal error in task: {msg}")))
                    }
                },
                _ = ctx.cancel.cancelled() => Err(TaskError::Canceled),
            }
        }
    };
    flusher.abort();

    // Whatever happened, staged rows of this task go.
    if let Err(e) = depot.db.clear_staging(&ctx.id).await {
        tracing::error!(error = %e, "clearing staged content failed");
    }
    let created_list: Vec<Value> = ctx.created.lock().unwrap().clone();
    if let Some(uid) = ctx.created_by {
        for c in &created_list {
            if let Some(href) = c["href"].as_str()
                && let Err(e) = depot.grant_owner(uid, href).await
            {
                tracing::error!(error = %e, "granting the creator's owner role failed");
            }
        }
    }
    let created = serde_json::to_string(&created_list).expect("list serializes");
    let shutting_down = depot.runner.shutdown.is_cancelled();
    let (state, error, result) = match outcome {
        Ok(out) => ("completed", None, out.result.map(|v| v.to_string())),
        Err(TaskError::Canceled) if shutting_down => (
            "failed",
            Some(error_json(
                "depot was stopped while this task ran; nothing it started was kept. Run it again.",
            )),
            None,
        ),
        Err(TaskError::Canceled) => ("canceled", None, None),
        Err(TaskError::Failed(msg)) => ("failed", Some(error_json(&msg)), None),
    };
    let report_state = match state {
        "completed" => "completed",
        "canceled" => "canceled",
        _ => "failed",
    };
    let progress = ctx.reports_json(Some(report_state));
    if let Err(e) = depot
        .db
        .task_finish(
            &ctx.id,
            state,
            error.as_deref(),
            result.as_deref(),
            &created,
            &progress,
        )
        .await
    {
        tracing::error!(error = %e, "recording the task's end failed");
    }
    {
        let _enter = span.enter();
        match &error {
            None => tracing::info!(state, "task finished"),
            Some(e) => tracing::warn!(state, error = %e, "task finished"),
        }
    }
    depot.runner.running.lock().unwrap().remove(&ctx.id);
    depot.runner.idle.notify_waiters();
    depot.runner.wake();
}

fn error_json(description: &str) -> String {
    json!({ "description": description, "traceback": null }).to_string()
}
