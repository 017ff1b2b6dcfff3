-- The task queue as claims read it (as PostgreSQL's 0004): an index of the waiting tasks in
-- claim order, and the running tasks' resources in a table the database keeps in step with
-- the tasks' states.
CREATE INDEX tasks_waiting ON tasks (pulp_created, id) WHERE state = 'waiting';

CREATE TABLE task_holds (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    reserved_resources TEXT NOT NULL
);
INSERT INTO task_holds (task_id, reserved_resources)
    SELECT id, reserved_resources FROM tasks WHERE state IN ('running', 'canceling');

CREATE TRIGGER tasks_hold AFTER UPDATE OF state ON tasks
    WHEN NEW.state IN ('running', 'canceling')
BEGIN
    INSERT OR IGNORE INTO task_holds (task_id, reserved_resources)
        VALUES (NEW.id, NEW.reserved_resources);
END;
CREATE TRIGGER tasks_release AFTER UPDATE OF state ON tasks
    WHEN NEW.state NOT IN ('running', 'canceling')
BEGIN
    DELETE FROM task_holds WHERE task_id = NEW.id;
END;
