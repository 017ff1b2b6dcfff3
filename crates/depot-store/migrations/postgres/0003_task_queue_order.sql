-- Claims read the oldest waiting tasks in (pulp_created, id) order (see SQLite's 0009).
DROP INDEX tasks_state;
CREATE INDEX tasks_state ON tasks (state, pulp_created, id);
