//! Change events: what caches elsewhere must forget when the database changes.
//!
//! Every write that changes what is served (versions, publications, distributions, content
//! guards) or who may do what (users, groups, memberships, roles, assignments) notifies its
//! topic. A cache remembers the generation it read under and ignores entries from older
//! generations, so an invalidation costs one atomic increment and a lookup one atomic load.
//! Within a process the store notifies directly; a process that learns of another's write
//! (a signal from an admin command today, the database's notifications with many processes)
//! calls [`Events::notify`] too.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// What the content app serves: distributions, publications, versions, guards.
    Serving,
    /// Users, groups, memberships, roles and role assignments.
    Auth,
    /// The task queue: a task was queued, or one ended and released what it held. Workers
    /// look for tasks to start (other processes hear of it from the database itself: a
    /// trigger on the tasks table notifies, see PostgreSQL's migration 0004).
    Tasks,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Serving, Topic::Auth, Topic::Tasks];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Serving => "serving",
            Topic::Auth => "auth",
            Topic::Tasks => "tasks",
        }
    }

    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }

    fn index(self) -> usize {
        match self {
            Topic::Serving => 0,
            Topic::Auth => 1,
            Topic::Tasks => 2,
        }
    }
}

/// The generation counters of every topic. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Events {
    counters: Arc<[AtomicU64; 3]>,
    /// Woken when the task queue changed.
    tasks: Arc<tokio::sync::Notify>,
    /// Identifies this process's own notifications when they come back from the database.
    pub origin: Arc<str>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            counters: Arc::new([AtomicU64::new(1), AtomicU64::new(1), AtomicU64::new(1)]),
            tasks: Arc::default(),
            origin: uuid::Uuid::new_v4().simple().to_string().into(),
        }
    }
}

/// The PostgreSQL channel every process listens on; payloads are `<topic>:<origin>`.
pub const CHANNEL: &str = "depot_events";

impl Events {
    /// The current generation of `topic`.
    pub fn generation(&self, topic: Topic) -> u64 {
        self.counters[topic.index()].load(Ordering::Acquire)
    }

    /// Something under `topic` changed: everything cached before is stale.
    pub fn notify(&self, topic: Topic) {
        self.counters[topic.index()].fetch_add(1, Ordering::AcqRel);
        if topic == Topic::Tasks {
            self.tasks.notify_one();
        }
    }

    /// Resolves once the task queue changed (after the last call), for a scheduler to look
    /// for work.
    pub async fn tasks_changed(&self) {
        self.tasks.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_move_independently() {
        let e = Events::default();
        let (s, a) = (e.generation(Topic::Serving), e.generation(Topic::Auth));
        e.clone().notify(Topic::Auth);
        assert_eq!(e.generation(Topic::Serving), s);
        assert_eq!(e.generation(Topic::Auth), a + 1);
    }
}
