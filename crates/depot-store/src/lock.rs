//! One embedded data directory, one server: `depot serve` holds an exclusive lock on
//! `<data>/depot.lock` for as long as it runs, so a second server on the same directory stops
//! at once instead of "recovering" (failing) the first one's running tasks.
//!
//! The lock file also tells other processes who holds it (`pid <n>`) and how many times the
//! holder has reloaded its caches (`reloads <n>`): an admin command that changed users while
//! the server runs signals it (SIGHUP) and waits for that count to move, so its change is seen
//! before the command returns.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOCK_FILE: &str = "depot.lock";

/// The held lock; released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
}

/// Who holds a data directory's lock, as its lock file says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub reloads: u64,
}

fn parse(text: &str) -> Holder {
    let mut h = Holder::default();
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("pid", v)) => h.pid = v.trim().parse().ok(),
            Some(("reloads", v)) => h.reloads = v.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    h
}

fn open(dir: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(dir)?;
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(LOCK_FILE))
}

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    parse(&text)
}

impl DataDirLock {
    /// Take the lock of `dir`, or say who has it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, String> {
        let mut file = open(dir)
            .map_err(|e| format!("cannot open the lock file in {}: {e}", dir.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = match read_holder(&mut file).pid {
                    Some(pid) => format!("another depot process (pid {pid})"),
                    None => "another depot process".to_string(),
                };
                return Err(format!(
                    "{who} is using the data directory {}; stop it first, or give this one its own --data-dir",
                    dir.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!(
                    "cannot lock {}: {e}",
                    dir.join(LOCK_FILE).display()
                ));
            }
        }
        let mut lock = DataDirLock {
            file,
            path: dir.join(LOCK_FILE),
        };
        lock.write(0)
            .map_err(|e| format!("cannot write {}: {e}", lock.path.display()))?;
        Ok(lock)
    }

    fn write(&mut self, reloads: u64) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.seek(SeekFrom::Start(0))?;
        write!(self.file, "pid {}\nreloads {reloads}\n", std::process::id())?;
        self.file.flush()
    }

    /// Record that the holder reloaded its caches (the `reloads` count others wait for).
    pub fn record_reload(&mut self, reloads: u64) {
        if let Err(e) = self.write(reloads) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot update the lock file");
        }
    }
}

/// Who holds `dir`'s lock now (`None`: nobody, the directory is free).
pub fn holder(dir: &Path) -> Option<Holder> {
    let mut file = open(dir).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => Some(read_holder(&mut file)),
    }
}

/// Wait until the holder of `dir` has reloaded more than `seen` times (or `timeout` passes).
pub fn wait_for_reload(dir: &Path, seen: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match holder(dir) {
            Some(h) if h.reloads > seen => return true,
            None => return false,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path()), None);
        let mut lock = DataDirLock::acquire(dir.path()).unwrap();
        let h = holder(dir.path()).expect("held");
        assert_eq!(h.pid, Some(std::process::id()));
        assert_eq!(h.reloads, 0);
        let err = DataDirLock::acquire(dir.path()).unwrap_err();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        lock.record_reload(3);
        assert_eq!(holder(dir.path()).unwrap().reloads, 3);
        assert!(wait_for_reload(dir.path(), 2, Duration::from_millis(10)));
        drop(lock);
        assert_eq!(holder(dir.path()), None);
        DataDirLock::acquire(dir.path()).unwrap();
    }
}
