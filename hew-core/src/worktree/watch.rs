//! What changed in a slot's worktree while its agent ran, as the kernel reports it (Linux's
//! inotify), so that inspecting the worktree afterwards looks at those paths only instead
//! of checking every file of it.
//!
//! A watch covers every directory git's status looks into: all but ignored directories
//! (unless they hold tracked files), nested repositories and `.git`. It is started once per
//! slot and kept from task to task: each checkout's own events are read and dropped, and
//! directories are watched as they appear. An event names the entry that changed in a
//! watched directory; a new directory is named by its parent even if files were written in
//! it before it was watched, and whatever is below a changed path is looked at again.
//!
//! A checkout that rewrote only some paths drops the events of those paths only: anything
//! else that changed meanwhile (a process the last agent left behind) is still looked at.
//!
//! When a watch cannot tell (the kernel's queue overflowed, a `.gitignore`, `.gitmodules`
//! or `info/exclude` changed, a watched directory was moved, an ignored directory came to
//! hold tracked files, the worktree itself went away, the worktree has submodules), it
//! says so, and the caller checks the whole worktree. Not seen: a write through a hard link
//! kept outside the watched directories (outside the worktree, or in an ignored directory),
//! or a change to the user's global excludes file during a run. Elsewhere than Linux there
//! is no watch, and every inspection checks the whole worktree.

use std::collections::BTreeSet;
use std::path::PathBuf;

use git2::Repository;

/// A watch on one worktree; see the module documentation.
#[derive(Debug)]
pub(crate) struct Watch {
    #[cfg(target_os = "linux")]
    inner: linux::Watch,
}

impl Watch {
    /// Starts watching the worktree `wt`, which must be clean (nothing git's status would
    /// report). `None` if it cannot be watched: another platform, submodules, or the
    /// kernel's limit on watches reached.
    pub(crate) fn start(wt: &Repository) -> Option<Self> {
        #[cfg(target_os = "linux")]
        return linux::Watch::start(wt).map(|inner| Self { inner });
        #[cfg(not(target_os = "linux"))]
        return {
            let _ = wt;
            None
        };
    }

    /// The paths (relative to the worktree) where something changed since the watch
    /// started or since the last call, new directories watched on the way. `None` if the
    /// watch cannot tell; it is then no use any more.
    pub(crate) fn changes(&mut self, wt: &Repository) -> Option<BTreeSet<PathBuf>> {
        #[cfg(target_os = "linux")]
        return self.inner.changes(wt);
        #[cfg(not(target_os = "linux"))]
        return {
            let _ = wt;
            None
        };
    }
}

/// Whether `index` has entries below directory `rel` (relative to the worktree).
pub(super) fn holds_tracked(index: &git2::Index, rel: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let mut prefix = rel.as_os_str().as_bytes().to_vec();
    prefix.push(b'/');
    index.find_prefix(prefix).is_ok()
}

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::{BTreeSet, HashMap};
    use std::ffi::OsStr;
    use std::fs;
    use std::io;
    use std::path::{Path, PathBuf};
    use std::time::SystemTime;

    use git2::{Index, Repository};
    use nix::errno::Errno;
    use nix::sys::inotify::{AddWatchFlags as F, InitFlags, Inotify, WatchDescriptor};

    use super::holds_tracked;

    /// What every directory is watched for: any change to an entry in it, and the
    /// directory itself going away.
    const EVENTS: F = F::IN_CREATE
        .union(F::IN_DELETE)
        .union(F::IN_MODIFY)
        .union(F::IN_ATTRIB)
        .union(F::IN_CLOSE_WRITE)
        .union(F::IN_MOVED_FROM)
        .union(F::IN_MOVED_TO)
        .union(F::IN_DELETE_SELF)
        .union(F::IN_MOVE_SELF)
        .union(F::IN_ONLYDIR)
        .union(F::IN_DONT_FOLLOW);

    /// A gitlink: a submodule's entry in the index.
    const GITLINK: u32 = 0o160000;

    #[derive(Debug)]
    pub(super) struct Watch {
        inotify: Inotify,
        /// The worktree's directory.
        root: PathBuf,
        /// Every watched directory, relative to `root` (empty for the root itself).
        dirs: HashMap<WatchDescriptor, PathBuf>,
        /// Directories not watched because they are ignored: one that comes to hold
        /// tracked files (force-added, or merged) must be watched from then on.
        ignored: Vec<PathBuf>,
        /// The repository's `info/exclude` and when it was last modified, as at the start.
        exclude: (PathBuf, Option<SystemTime>),
    }

    impl Watch {
        pub(super) fn start(wt: &Repository) -> Option<Self> {
            let root: PathBuf = wt.workdir()?.components().collect();
            let index = wt.index().ok()?;
            if index.iter().any(|e| e.mode & 0o170000 == GITLINK) {
                return None;
            }
            let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
            let exclude = wt.commondir().join("info").join("exclude");
            let mut watch = Self {
                inotify,
                root,
                dirs: HashMap::new(),
                ignored: Vec::new(),
                exclude: (exclude.clone(), modified(&exclude)),
            };
            watch.add_tree(wt, &index, PathBuf::new())?;
            Some(watch)
        }

        pub(super) fn changes(&mut self, wt: &Repository) -> Option<BTreeSet<PathBuf>> {
            let mut changed = BTreeSet::new();
            let mut new_dirs = Vec::new();
            let mut known = true;
            loop {
                let events = match self.inotify.read_events() {
                    Ok(events) => events,
                    Err(Errno::EAGAIN) => break,
                    Err(Errno::EINTR) => continue,
                    Err(_) => return None,
                };
                for event in events {
                    let mask = event.mask;
                    if mask.intersects(F::IN_Q_OVERFLOW | F::IN_UNMOUNT) {
                        known = false;
                        continue;
                    }
                    if mask.contains(F::IN_IGNORED) {
                        // The directory is gone; its parent has said so.
                        self.dirs.remove(&event.wd);
                        continue;
                    }
                    let Some(dir) = self.dirs.get(&event.wd) else {
                        known = false;
                        continue;
                    };
                    let Some(name) = event.name else {
                        // About a watched directory itself: deleted (its parent names it)
                        // or moved (the paths of everything below it are out of date).
                        if mask.contains(F::IN_MOVE_SELF) || dir.as_os_str().is_empty() {
                            known = false;
                        }
                        continue;
                    };
                    let structural =
                        F::IN_CREATE | F::IN_DELETE | F::IN_MOVED_FROM | F::IN_MOVED_TO;
                    if mask.contains(F::IN_ISDIR) && !mask.intersects(structural) {
                        // A directory's own times or mode: nothing status sees.
                        continue;
                    }
                    let path = dir.join(&name);
                    if name == OsStr::new(".gitignore") || name == OsStr::new(".gitmodules") {
                        // What is ignored, or what is a submodule, may have changed anywhere.
                        known = false;
                    }
                    if mask.contains(F::IN_ISDIR) {
                        if mask.contains(F::IN_MOVED_FROM) && self.dirs.values().any(|d| *d == path)
                        {
                            known = false;
                        }
                        if mask.intersects(F::IN_CREATE | F::IN_MOVED_TO) {
                            new_dirs.push(path.clone());
                        }
                    }
                    changed.insert(path);
                }
            }
            if !known || modified(&self.exclude.0) != self.exclude.1 {
                return None;
            }
            if !self.ignored.is_empty() || !new_dirs.is_empty() {
                // Whatever HEAD tracks now must be watched, and submodules cannot be.
                let head = wt.head().ok()?.peel_to_tree().ok()?;
                let in_head = |dir: &Path| head.get_path(dir).ok().map(|e| e.kind());
                if self.ignored.iter().any(|d| in_head(d).is_some())
                    || new_dirs
                        .iter()
                        .any(|d| in_head(d) == Some(Some(git2::ObjectType::Commit)))
                {
                    return None;
                }
            }
            if !new_dirs.is_empty() {
                let index = wt.index().ok()?;
                for dir in new_dirs {
                    match self.looked_into(wt, &index, &dir) {
                        Dir::Looked => self.add_tree(wt, &index, dir)?,
                        Dir::Ignored => self.ignored.push(dir),
                        Dir::Repository => {}
                    }
                }
            }
            Some(changed)
        }

        /// Watches directory `rel` and every directory below it that status looks into.
        /// `None` if the kernel refuses a watch.
        fn add_tree(&mut self, wt: &Repository, index: &Index, rel: PathBuf) -> Option<()> {
            let mut todo = vec![rel];
            while let Some(dir) = todo.pop() {
                let full = self.root.join(&dir);
                match self.inotify.add_watch(&full, EVENTS) {
                    Ok(wd) => {
                        self.dirs.insert(wd, dir.clone());
                    }
                    // Gone already, or not a directory: its parent's event says so (the
                    // worktree itself must be there).
                    Err(Errno::ENOENT | Errno::ENOTDIR) if !dir.as_os_str().is_empty() => continue,
                    Err(_) => return None,
                }
                let entries = match fs::read_dir(&full) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(_) => return None,
                };
                for entry in entries {
                    let entry = entry.ok()?;
                    if !entry.file_type().ok()?.is_dir() || entry.file_name() == ".git" {
                        continue;
                    }
                    let child = dir.join(entry.file_name());
                    match self.looked_into(wt, index, &child) {
                        Dir::Looked => todo.push(child),
                        Dir::Ignored => self.ignored.push(child),
                        Dir::Repository => {}
                    }
                }
            }
            Some(())
        }

        /// Whether git's status looks into directory `rel`: it does if the directory holds
        /// tracked files, or is neither ignored nor a nested repository.
        fn looked_into(&self, wt: &Repository, index: &Index, rel: &Path) -> Dir {
            if holds_tracked(index, rel) {
                Dir::Looked
            } else if self.root.join(rel).join(".git").exists() {
                Dir::Repository
            } else if wt.is_path_ignored(rel).unwrap_or(false) {
                Dir::Ignored
            } else {
                Dir::Looked
            }
        }
    }

    /// What git's status does with a directory.
    enum Dir {
        /// Looked into: watched.
        Looked,
        /// Ignored, holding no tracked file: not looked into.
        Ignored,
        /// A nested repository: status names it, and does not look inside.
        Repository,
    }

    fn modified(path: &Path) -> Option<SystemTime> {
        fs::metadata(path).and_then(|m| m.modified()).ok()
    }
}

#[cfg(all(test, target_os = "linux"))]
#[path = "watch_tests.rs"]
mod tests;
