//! Blob upload sessions (`POST …/blobs/uploads/`, then `PATCH`es, then `PUT ?digest=`).
//!
//! A session's bytes go straight into a temporary blob in this process's temporary directory,
//! hashed as they arrive, so finishing costs nothing beyond the last chunk and memory stays
//! bounded whatever the blob's size. Nothing is visible until the final digest matches; a
//! session left idle is dropped with its file, and a restart removes the files of sessions that
//! never finished (with every other unfinished temporary file).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use depot_store::TempBlob;

/// Sessions idle this long are dropped.
pub const IDLE: Duration = Duration::from_secs(3600);
/// Open sessions at most (each holds an open file).
pub const MAX_SESSIONS: usize = 1024;

pub struct Session {
    pub name: String,
    pub repository_id: String,
    pub user_id: i64,
    pub blob: TempBlob,
    pub touched: Instant,
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Session>>>>,
}

impl Sessions {
    /// A new session's id, or `None` when too many are open.
    pub fn open(&self, session: Session) -> Option<String> {
        let mut map = self.map.lock().expect("sessions lock");
        if map.len() >= MAX_SESSIONS {
            return None;
        }
        let id = uuid::Uuid::new_v4().to_string();
        map.insert(id.clone(), Arc::new(tokio::sync::Mutex::new(session)));
        Some(id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.map.lock().expect("sessions lock").get(id).cloned()
    }

    /// Forget a session; its temporary file goes once nobody holds it.
    pub fn remove(&self, id: &str) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.map.lock().expect("sessions lock").remove(id)
    }

    /// Drop sessions nobody touched for `IDLE` (and that no request holds now).
    pub fn reap(&self) -> usize {
        let mut map = self.map.lock().expect("sessions lock");
        let before = map.len();
        map.retain(|_, s| match s.try_lock() {
            Ok(s) => s.touched.elapsed() < IDLE,
            Err(_) => true,
        });
        before - map.len()
    }
}
