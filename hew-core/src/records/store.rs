//! Where records live and how they are written and read.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::earlier;
use super::record::{IterRecord, RunKind, RunRecord};
use crate::time::Timestamp;

/// A record that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file system refused.
    #[error("failed to {action} `{}`: {source}", path.display())]
    Io {
        /// What hew was doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The file is not a record hew can read (truncated, corrupt, or from an unknown schema).
    #[error("`{}` is not a readable record: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A run directory of earlier hew, which this hew reads but never rewrites.
    #[error("`{}` was written by earlier hew: hew reads it but does not change it", path.display())]
    Earlier {
        /// The run's directory.
        path: PathBuf,
    },
}

/// `.hew/loop` in the repository at `repo_root`.
pub fn loop_dir(repo_root: &Path) -> PathBuf {
    repo_root.join(".hew").join("loop")
}

/// A fresh run id: UTC time and a few random hex digits, `20261122-052501-a1b2`.
pub fn new_run_id() -> String {
    let now = Timestamp::now().to_string();
    let digits: String = now.chars().filter(char::is_ascii_digit).collect();
    // Time and pid mixed through a std hasher: unique enough between runs started in the
    // same second on one repository.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(Timestamp::now().unix_ms());
    format!(
        "{}-{}-{:04x}",
        &digits[..8],
        &digits[8..14],
        h.finish() & 0xffff
    )
}

/// Writes `value` as pretty JSON to `path` through a temp file in the same directory and a
/// rename, so readers never see a partial file.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<(), RecordError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_err = |action, source| RecordError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let mut json =
        serde_json::to_vec_pretty(value).map_err(|e| io_err("serialize", io::Error::other(e)))?;
    json.push(b'\n');
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_data()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("write", e)
    })
}

pub(super) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, RecordError> {
    let bytes = fs::read(path).map_err(|source| RecordError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RecordError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// A held run lock; dropping it releases the lock (so does the process dying).
#[derive(Debug)]
pub struct RunLock {
    _lock: Flock<fs::File>,
}

/// One run's directory: `.hew/loop/<run-id>/`.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    run_id: String,
}

impl RunDir {
    /// Creates the run's directory (and `.hew/.gitignore`, so records stay out of git).
    pub fn create(repo_root: &Path, run_id: &str) -> Result<Self, RecordError> {
        let hew = repo_root.join(".hew");
        let path = loop_dir(repo_root).join(run_id);
        let iters = path.join("iters");
        fs::create_dir_all(&iters).map_err(|source| RecordError::Io {
            action: "create",
            path: iters.clone(),
            source,
        })?;
        let ignore = hew.join(".gitignore");
        if !ignore.exists() {
            fs::write(&ignore, "# run records written by `hew loop`\nloop/\n").map_err(
                |source| RecordError::Io {
                    action: "write",
                    path: ignore,
                    source,
                },
            )?;
        }
        Ok(Self {
            path,
            run_id: run_id.to_owned(),
        })
    }

    /// An existing run's directory.
    pub fn open(repo_root: &Path, run_id: &str) -> Self {
        Self {
            path: loop_dir(repo_root).join(run_id),
            run_id: run_id.to_owned(),
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `run.json`.
    pub fn run_file(&self) -> PathBuf {
        self.path.join("run.json")
    }

    /// The file `hew loop cancel` creates to stop the run after its running agents finish.
    pub fn stop_file(&self) -> PathBuf {
        self.path.join("stop")
    }

    /// `iters/`: where the iteration records are, and the process groups of running
    /// agents and merge-queue verify commands (`<n>.pid`, `queue-<slot>.pid`), so a later
    /// hew can stop them if this one dies.
    pub fn iters_dir(&self) -> PathBuf {
        self.path.join("iters")
    }

    /// `iters/<n>.pid`: the process group of a running agent, so a later hew can stop it
    /// if this one dies.
    pub fn agent_pid_file(&self, n: u32) -> PathBuf {
        self.path.join("iters").join(format!("{n}.pid"))
    }

    /// Takes the run's lock for as long as the returned guard lives: the sign, for any
    /// other hew on this machine, that the run is alive (no pid guessing, no pid reuse).
    pub fn lock(&self) -> Result<RunLock, RecordError> {
        let path = self.path.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| RecordError::Io {
                action: "create",
                path: path.clone(),
                source,
            })?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .map(|lock| RunLock { _lock: lock })
            .map_err(|(_, errno)| RecordError::Io {
                action: "lock",
                path,
                source: errno.into(),
            })
    }

    /// Whether a live hew holds this run's lock.
    pub fn is_live(&self) -> bool {
        let Ok(file) = fs::OpenOptions::new()
            .write(true)
            .open(self.path.join("lock"))
        else {
            return false;
        };
        matches!(
            Flock::lock(file, FlockArg::LockExclusiveNonblock),
            Err((_, Errno::EWOULDBLOCK))
        )
    }

    /// Whether a stop was requested.
    pub fn stop_requested(&self) -> bool {
        self.stop_file().exists()
    }

    /// `iters/<n>.json`.
    pub fn iter_file(&self, n: u32) -> PathBuf {
        self.path.join("iters").join(format!("{n}.json"))
    }

    /// `iters/<n>.agent.jsonl`: the agent's stdout, as it printed it.
    pub fn agent_stdout(&self, n: u32) -> PathBuf {
        self.path.join("iters").join(format!("{n}.agent.jsonl"))
    }

    /// `iters/<n>.agent.stderr`: the agent's stderr.
    pub fn agent_stderr(&self, n: u32) -> PathBuf {
        self.path.join("iters").join(format!("{n}.agent.stderr"))
    }

    /// `iters/<n>.prompt.md`: the prompt the agent was given.
    pub fn prompt_file(&self, n: u32) -> PathBuf {
        self.path.join("iters").join(format!("{n}.prompt.md"))
    }

    /// Whether the run has a record to read: its `run.json`, or the `manifest.json` of a
    /// parallel run of earlier hew.
    pub fn has_record(&self) -> bool {
        self.run_file().is_file() || earlier::is_earlier_dir(&self.path)
    }

    /// Which hew wrote the run's records.
    pub fn kind(&self) -> RunKind {
        if earlier::is_earlier_dir(&self.path) {
            RunKind::Earlier
        } else {
            RunKind::Current
        }
    }

    /// Writes `run.json`; refused in a run directory of earlier hew, which stays as it was.
    pub fn write_run(&self, run: &RunRecord) -> Result<(), RecordError> {
        if self.kind() == RunKind::Earlier {
            return Err(RecordError::Earlier {
                path: self.path.clone(),
            });
        }
        write_json_atomic(&self.run_file(), run)
    }

    /// Reads `run.json`, or earlier hew's `run.json` or `manifest.json` converted (see
    /// [`RunKind::Earlier`]).
    pub fn read_run(&self) -> Result<RunRecord, RecordError> {
        if earlier::is_earlier_dir(&self.path)
            && let Some(run) = earlier::read_run(&self.path, &self.run_id)?
        {
            return Ok(run);
        }
        read_json(&self.run_file())
    }

    /// Writes `iters/<n>.json`.
    pub fn write_iter(&self, iter: &IterRecord) -> Result<(), RecordError> {
        write_json_atomic(&self.iter_file(iter.number), iter)
    }

    /// Every iteration record, by number, and the files that could not be read.
    pub fn read_iters(&self) -> (Vec<IterRecord>, Vec<RecordError>) {
        let mut iters = Vec::new();
        let errors = self.for_each_iter(|it| iters.push(it));
        (iters, errors)
    }

    /// Reads the iteration records one at a time, by number, handing each to `f` (so a
    /// long run is read in constant memory). Returns the files that could not be read.
    pub fn for_each_iter(&self, mut f: impl FnMut(IterRecord)) -> Vec<RecordError> {
        if earlier::is_earlier_dir(&self.path) {
            let (iters, errors) = earlier::read_iters(&self.path);
            iters.into_iter().for_each(f);
            return errors;
        }
        let dir = self.path.join("iters");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
            Err(source) => {
                return vec![RecordError::Io {
                    action: "list",
                    path: dir,
                    source,
                }];
            }
        };
        let mut files: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                let n = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .parse::<u32>()
                    .ok()?;
                Some((n, path))
            })
            .collect();
        files.sort();
        let mut errors = Vec::new();
        for (_, path) in files {
            match read_json::<IterRecord>(&path) {
                Ok(it) => f(it),
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}

/// Every run under `.hew/loop`, oldest first, and the ones whose `run.json` is unreadable.
pub fn list_runs(repo_root: &Path) -> (Vec<RunRecord>, Vec<RecordError>) {
    let dir = loop_dir(repo_root);
    let Ok(entries) = fs::read_dir(&dir) else {
        return (Vec::new(), Vec::new());
    };
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for entry in entries.flatten() {
        // A directory without run.json is a run in its first instant: not a record yet.
        let id = entry.file_name().to_string_lossy().into_owned();
        let dir = RunDir::open(repo_root, &id);
        if dir.has_record() {
            match dir.read_run() {
                Ok(r) => runs.push(r),
                Err(e) => errors.push(e),
            }
        }
    }
    runs.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.run_id.cmp(&b.run_id))
    });
    (runs, errors)
}
