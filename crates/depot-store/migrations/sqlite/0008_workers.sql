-- Processes sharing the database: each heartbeats its row (name "<pid>@<host>", like Pulp's
-- workers), so a process that died is recognised and its tasks failed by a live one.
CREATE TABLE workers (
    name TEXT PRIMARY KEY,
    -- JSON list of the roles it serves: "api", "content", "worker"
    roles TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started_at TEXT NOT NULL,
    last_heartbeat TEXT NOT NULL
);
-- The worker running a task (NULL while waiting).
ALTER TABLE tasks ADD COLUMN worker TEXT;
CREATE INDEX tasks_worker ON tasks (worker);
