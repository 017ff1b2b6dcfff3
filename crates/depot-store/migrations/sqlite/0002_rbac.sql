-- Groups, roles and role assignments (Pulp's RBAC model).
--
-- A role is a named set of permissions ("core.download_rbaccontentguard"). Users and groups
-- hold roles either for a whole model (object_type and object_id NULL) or for one object
-- (object_type is the object's PRN model, e.g. "core.rbaccontentguard", object_id its id).

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE group_users (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_users_user ON group_users (user_id);

CREATE TABLE roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    -- JSON list of "app_label.codename"
    permissions TEXT NOT NULL DEFAULT '[]',
    locked INTEGER NOT NULL DEFAULT 0,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);

CREATE TABLE user_roles (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    object_type TEXT,
    object_id TEXT,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);
CREATE INDEX user_roles_user ON user_roles (user_id);
CREATE INDEX user_roles_object ON user_roles (object_type, object_id);
CREATE UNIQUE INDEX user_roles_unique ON user_roles (user_id, role_id, coalesce(object_type, ''), coalesce(object_id, ''));

CREATE TABLE group_roles (
    id TEXT PRIMARY KEY,
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    object_type TEXT,
    object_id TEXT,
    pulp_created TEXT NOT NULL,
    pulp_last_updated TEXT NOT NULL
);
CREATE INDEX group_roles_group ON group_roles (group_id);
CREATE INDEX group_roles_object ON group_roles (object_type, object_id);
CREATE UNIQUE INDEX group_roles_unique ON group_roles (group_id, role_id, coalesce(object_type, ''), coalesce(object_id, ''));
