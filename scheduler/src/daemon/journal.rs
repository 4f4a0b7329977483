//! What the daemon persists in its state directory, so that a restart (even after `kill -9`)
//! neither repeats an action nor forgets the plan:
//!
//! - `actions.jsonl`: every action, written and synced *before* it is sent (`"intent"`), then
//!   its outcome (`"done"` / `"failed"`), keyed by the engine's idempotency key
//!   (`site/device/action/policy-step`). A key already in the journal is never sent again.
//! - `plan.json`: the last decided step and its plan, replaced atomically (write, sync, rename).
//! - `lock`: held (an exclusive advisory lock) while a daemon has the directory open, with its
//!   pid inside: a second daemon on the same directory would send every action twice and race
//!   the first one's writes, so it is refused. The system drops the lock when the process
//!   ends, however it ends.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Takes the state directory's lock, or names the daemon that holds it.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(Error::Config(format!(
                "--state {} is in use by another hcp scheduler (pid {}): one daemon per state directory",
                dir.display(),
                holder.trim()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    file.set_len(0).map_err(|e| Error::io(&path, e))?;
    writeln!(file, "{}", std::process::id()).map_err(|e| Error::io(&path, e))?;
    Ok(file)
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub key: String,
    /// `intent`, `done` or `failed`.
    pub phase: String,
    pub step: u64,
    /// Simulated (site) time of the decision, µs.
    pub time_us: i64,
    pub site: String,
    pub device: String,
    pub action: String,
    pub value: Option<f64>,
    pub job: Option<String>,
    /// What went wrong (`failed`), or the device commands' counts.
    pub detail: Option<String>,
}

/// One group's planned setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedGroup {
    pub group: String,
    pub target_w: f64,
    pub awake: usize,
}

/// The last plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub step: u64,
    pub time_us: i64,
    /// What the optimiser wants each group at (targets snapped to profiles).
    pub groups: Vec<PlannedGroup>,
    /// What the engine has told each group so far (it holds back increases the cap cannot take
    /// yet): where the miners converge.
    pub told: Vec<PlannedGroup>,
    pub place: Vec<(String, String)>,
    pub preempt: Vec<String>,
}

/// The state directory.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    /// Held for the journal's life (see the module's `lock`).
    _lock: File,
    actions: File,
    keys: BTreeSet<String>,
    /// Keys written as intent with no outcome after them (the daemon died between the two).
    pub unfinished: BTreeSet<String>,
    pub plan: Option<Plan>,
}

impl Journal {
    /// Opens (creating) `dir` and reads what an earlier run left.
    pub fn open(dir: &Path) -> Result<Journal> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let lock = lock(dir)?;
        let path = dir.join("actions.jsonl");
        let mut keys = BTreeSet::new();
        let mut unfinished = BTreeSet::new();
        if path.exists() {
            // A line cut short by a crash mid-write can only be the last one, without its
            // newline; it was never synced, so its action was never sent: cut it off, so the
            // next line starts clean.
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if whole < bytes.len() {
                let f = OpenOptions::new().write(true).open(&path).map_err(|e| Error::io(&path, e))?;
                f.set_len(whole as u64).map_err(|e| Error::io(&path, e))?;
            }
            let lines: Vec<String> = BufReader::new(&bytes[..whole])
                .lines()
                .collect::<std::io::Result<_>>()
                .map_err(|e| Error::io(&path, e))?;
            for (i, line) in lines.iter().enumerate() {
                let entry: Entry = serde_json::from_str(line)
                    .map_err(|e| Error::Config(format!("{}: line {}: {e}", path.display(), i + 1)))?;
                if entry.phase == "intent" {
                    keys.insert(entry.key.clone());
                    unfinished.insert(entry.key);
                } else {
                    unfinished.remove(&entry.key);
                }
            }
        }
        let actions = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        let plan_path = dir.join("plan.json");
        let plan = if plan_path.exists() {
            let text = std::fs::read_to_string(&plan_path).map_err(|e| Error::io(&plan_path, e))?;
            Some(serde_json::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", plan_path.display())))?)
        } else {
            None
        };
        Ok(Journal { dir: dir.to_path_buf(), _lock: lock, actions, keys, unfinished, plan })
    }

    /// Whether an action with this key was ever sent (or about to be).
    pub fn seen(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Writes entries and syncs them to disk before returning.
    pub fn write(&mut self, entries: &[Entry]) -> Result<()> {
        let path = self.dir.join("actions.jsonl");
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e).expect("serialisable");
            buf.push(b'\n');
            if e.phase == "intent" {
                self.keys.insert(e.key.clone());
            }
        }
        self.actions.write_all(&buf).map_err(|e| Error::io(&path, e))?;
        self.actions.sync_data().map_err(|e| Error::io(&path, e))
    }

    /// Replaces the plan atomically.
    pub fn save_plan(&mut self, plan: Plan) -> Result<()> {
        let path = self.dir.join("plan.json");
        let tmp = self.dir.join("plan.json.tmp");
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&serde_json::to_vec_pretty(&plan).expect("serialisable")).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        self.plan = Some(plan);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, phase: &str) -> Entry {
        Entry {
            key: key.into(),
            phase: phase.into(),
            step: 3,
            time_us: 0,
            site: "s".into(),
            device: "g".into(),
            action: "set_awake".into(),
            value: Some(4.0),
            job: None,
            detail: None,
        }
    }

    #[test]
    fn a_reopened_journal_knows_every_key_and_what_never_finished() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        j.write(&[entry("a", "intent"), entry("b", "intent"), entry("a", "done")]).unwrap();
        j.save_plan(Plan { step: 3, time_us: 9, groups: vec![], told: vec![], place: vec![], preempt: vec![] })
            .unwrap();
        drop(j);
        let j = Journal::open(dir.path()).unwrap();
        assert!(j.seen("a") && j.seen("b") && !j.seen("c"));
        assert_eq!(j.unfinished, BTreeSet::from(["b".to_string()]));
        assert_eq!(j.plan.as_ref().unwrap().step, 3);
    }

    /// Two daemons on one state directory sent every action twice, and one died racing the
    /// other's plan.json; the second is now refused, naming the first, until it lets go.
    #[test]
    fn a_state_directory_is_one_daemons_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let first = Journal::open(dir.path()).unwrap();
        let err = Journal::open(dir.path()).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(err.contains(&format!("is in use by another hcp scheduler (pid {pid})")), "{err}");
        drop(first);
        Journal::open(dir.path()).unwrap();
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_dropped_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("actions.jsonl");
        let good = serde_json::to_string(&entry("a", "intent")).unwrap();
        std::fs::write(&path, format!("{good}\n{{\"key\": \"b\", \"pha")).unwrap();
        let mut j = Journal::open(dir.path()).unwrap();
        assert!(j.seen("a") && !j.seen("b"));
        j.write(&[entry("c", "intent")]).unwrap();
        drop(j);
        let j = Journal::open(dir.path()).unwrap();
        assert!(j.seen("a") && j.seen("c"));
        drop(j);
        std::fs::write(&path, format!("{{\"key\": \"b\"}}\n{good}\n")).unwrap();
        let err = Journal::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("actions.jsonl: line 1"), "{err}");
    }
}
