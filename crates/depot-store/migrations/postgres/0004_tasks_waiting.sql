-- The task queue as claims read it: the oldest waiting tasks, and the resources of the
-- running ones.
--
-- An index of the waiting tasks only, in claim order: on a queue table the share of waiting
-- rows changes faster than the planner's statistics, and through the broader indexes
-- PostgreSQL walked every finished task before the first waiting one (2 ms per claim after
-- 3,000 tasks, growing with the history).
CREATE INDEX tasks_waiting ON tasks (pulp_created, id) WHERE state = 'waiting';

-- The oldest `n` waiting tasks, read in index order whatever the planner's estimate: when a
-- burst of tasks arrives its statistics still say few wait, and it chose to sort all of
-- them (3 ms per claim with 7,600 waiting); when they say most wait, it walked the index of
-- all tasks by pulp_created, past every finished one (1.2 ms after 5,000).
CREATE FUNCTION tasks_waiting_first(n integer)
    RETURNS TABLE (id text, reserved_resources text, pulp_created text)
    LANGUAGE plpgsql STABLE
    SET enable_bitmapscan = off SET enable_sort = off SET enable_incremental_sort = off
AS $$
BEGIN
    RETURN QUERY SELECT t.id, t.reserved_resources, t.pulp_created FROM tasks t
        WHERE t.state = 'waiting' ORDER BY t.pulp_created, t.id LIMIT n;
END
$$;

-- The running tasks' resources, in a table of their own that the database keeps in step
-- with the tasks' states: every task passes through `running`, and reading the running ones
-- out of the tasks table visited each finished task's dead row version until a vacuum
-- (1 ms per claim after 10,000 tasks). This table stays a few pages long.
CREATE TABLE task_holds (
    task_id TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    reserved_resources TEXT NOT NULL
);
INSERT INTO task_holds (task_id, reserved_resources)
    SELECT id, reserved_resources FROM tasks WHERE state IN ('running', 'canceling');

-- The trigger also tells every process listening on `depot_events` that the queue changed
-- when a task is queued or ends, so workers of other processes look for work at once instead
-- of at their next poll (payload `tasks:<origin>`, the origin from the writing connection's
-- application_name `depot-<origin>`, so a process ignores its own). Notifications are sent
-- when the transaction commits, one per transaction.
CREATE FUNCTION task_holds_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('depot_events', 'tasks:' || substr(current_setting('application_name'), 7));
    ELSIF NEW.state IN ('running', 'canceling') THEN
        INSERT INTO task_holds (task_id, reserved_resources)
            VALUES (NEW.id, NEW.reserved_resources) ON CONFLICT (task_id) DO NOTHING;
    ELSE
        DELETE FROM task_holds WHERE task_id = NEW.id;
        PERFORM pg_notify('depot_events', 'tasks:' || substr(current_setting('application_name'), 7));
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER tasks_hold AFTER UPDATE OF state ON tasks
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION task_holds_follow();
CREATE TRIGGER tasks_queued AFTER INSERT ON tasks
    FOR EACH ROW WHEN (NEW.state = 'waiting')
    EXECUTE FUNCTION task_holds_follow();
