-- Processes sharing the database (see the SQLite migration 0008).
CREATE TABLE workers (
    name TEXT COLLATE "C" PRIMARY KEY,
    roles TEXT COLLATE "C" NOT NULL,
    pid BIGINT NOT NULL,
    host TEXT COLLATE "C" NOT NULL,
    started_at TEXT COLLATE "C" NOT NULL,
    last_heartbeat TEXT COLLATE "C" NOT NULL
);
ALTER TABLE tasks ADD COLUMN worker TEXT COLLATE "C";
CREATE INDEX tasks_worker ON tasks (worker);
