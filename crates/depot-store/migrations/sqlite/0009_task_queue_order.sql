-- Claims read the oldest waiting tasks in (pulp_created, id) order: with the id in the
-- index they stop after the first few instead of sorting every waiting task.
DROP INDEX tasks_state;
CREATE INDEX tasks_state ON tasks (state, pulp_created, id);
