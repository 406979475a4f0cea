//! The watch against git itself: for every kind of change an agent can leave, inspecting a
//! watched worktree answers what `git status` says, and the watch is the one answering
//! (it does not fall back to checking every file) except where it must.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::tracker::TaskId;
use crate::worktree::test_git::{git, write};
use crate::worktree::{SlotOptions, Slots, TaskWorktree};

/// A repository whose slot 0 is on its second task, as after a task that left ignored
/// files behind (a `logs/` directory holding only ignored files among them) and a merge
/// that brought a new directory: the slot's watch has seen a checkout, an agent and a
/// switch. Returns the directory (keep it), the slots and the second task's worktree.
fn second_task() -> (tempfile::TempDir, Slots, TaskWorktree) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("repo");
    fs::create_dir(&root).unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    write(
        &root,
        ".gitignore",
        "target/\n*.log\ncache/*\n!cache/keep.txt\n",
    );
    for f in [
        "README",
        "src/a.rs",
        "src/b.rs",
        "src/deep/c.rs",
        "docs/x.md",
    ] {
        write(&root, f, &format!("{f}\n"));
    }
    write(&root, "target/tracked.txt", "forced\n");
    git(&root, &["add", "."]);
    git(&root, &["add", "-f", "target/tracked.txt"]);
    git(&root, &["commit", "-q", "-m", "first"]);
    let slots = Slots::new(
        &root,
        SlotOptions {
            dir: None,
            reuse: true,
            run_id: "20261122-052501-a1b2".into(),
        },
    )
    .unwrap();

    let first = slots.checkout(0, &task("t-1"), "main").unwrap();
    write(&first.path, "logs/run.log", "ignored\n");
    write(&first.path, "cache/blob", "ignored\n");
    write(&first.path, "target/debug/out", "ignored\n");
    write(&first.path, "done/t-1.txt", "done\n");
    git(&first.path, &["add", "done"]);
    git(&first.path, &["commit", "-q", "-m", "t-1"]);
    let left = slots.inspect(&first).unwrap();
    assert!(!left.dirty, "ignored files are not dirt");
    slots.release_clean(first).unwrap();

    // Merged meanwhile: a new directory, a changed file.
    write(&root, "merged/m.rs", "merged\n");
    write(&root, "src/a.rs", "a, changed on main\n");
    git(&root, &["add", "."]);
    git(&root, &["commit", "-q", "-m", "merged work"]);
    let wt = slots.checkout(0, &task("t-2"), "main").unwrap();
    (dir, slots, wt)
}

fn task(id: &str) -> TaskId {
    TaskId::parse(id).unwrap()
}

/// What an agent may leave, whether that is dirt, and whether the watch can tell.
type Case = (&'static str, fn(&Path), bool, bool);

const CASES: &[Case] = &[
    ("nothing", |_| {}, false, true),
    (
        "a commit of a new file",
        |p| {
            write(p, "done/t-2.txt", "done\n");
            git(p, &["add", "done"]);
            git(p, &["commit", "-q", "-m", "t-2"]);
        },
        false,
        true,
    ),
    (
        "a changed tracked file",
        |p| write(p, "src/b.rs", "changed\n"),
        true,
        true,
    ),
    (
        "a file changed and changed back",
        |p| {
            write(p, "src/b.rs", "changed\n");
            write(p, "src/b.rs", "src/b.rs\n");
        },
        false,
        true,
    ),
    (
        "an untracked file at the root",
        |p| write(p, "new.txt", "x"),
        true,
        true,
    ),
    (
        "an untracked file in a tracked directory",
        |p| write(p, "src/new.rs", "x"),
        true,
        true,
    ),
    (
        "an untracked file deep in new directories",
        |p| write(p, "n/a/b/c.txt", "x"),
        true,
        true,
    ),
    (
        "an untracked file in a directory the last switch made",
        |p| write(p, "merged/new.rs", "x"),
        true,
        true,
    ),
    (
        "an ignored file",
        |p| write(p, "src/x.log", "x"),
        false,
        true,
    ),
    (
        "a file in an ignored directory",
        |p| write(p, "target/y", "x"),
        false,
        true,
    ),
    (
        "a changed tracked file in an ignored directory",
        |p| write(p, "target/tracked.txt", "changed\n"),
        true,
        true,
    ),
    (
        "an untracked file beside ignored ones in an untracked directory",
        |p| write(p, "logs/notes.txt", "x"),
        true,
        true,
    ),
    (
        "a file an exception un-ignores",
        |p| write(p, "cache/keep.txt", "x"),
        true,
        true,
    ),
    (
        "a deleted tracked file",
        |p| fs::remove_file(p.join("src/b.rs")).unwrap(),
        true,
        true,
    ),
    (
        "a deleted tracked directory",
        |p| fs::remove_dir_all(p.join("src/deep")).unwrap(),
        true,
        true,
    ),
    (
        "a file untracked by a commit",
        |p| {
            git(p, &["rm", "-q", "--cached", "src/b.rs"]);
            git(p, &["commit", "-q", "-m", "untrack"]);
        },
        true,
        true,
    ),
    (
        "a file deleted by a commit",
        |p| {
            git(p, &["rm", "-q", "src/b.rs"]);
            git(p, &["commit", "-q", "-m", "delete"]);
        },
        false,
        true,
    ),
    (
        "a staged change",
        |p| {
            write(p, "src/b.rs", "staged\n");
            git(p, &["add", "src/b.rs"]);
        },
        true,
        true,
    ),
    (
        "a mode change",
        |p| {
            let file = p.join("src/b.rs");
            fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        },
        true,
        true,
    ),
    (
        "an empty new directory",
        |p| fs::create_dir(p.join("empty")).unwrap(),
        false,
        true,
    ),
    (
        "a tracked file replaced by a directory",
        |p| {
            fs::remove_file(p.join("src/b.rs")).unwrap();
            write(p, "src/b.rs/inner", "x");
        },
        true,
        true,
    ),
    (
        "a tracked directory replaced by a file",
        |p| {
            fs::remove_dir_all(p.join("src/deep")).unwrap();
            write(p, "src/deep", "x");
        },
        true,
        true,
    ),
    (
        "a new symlink",
        |p| std::os::unix::fs::symlink("a.rs", p.join("src/link")).unwrap(),
        true,
        true,
    ),
    (
        "a new nested repository",
        |p| {
            fs::create_dir(p.join("nested")).unwrap();
            git(&p.join("nested"), &["init", "-q"]);
        },
        true,
        true,
    ),
    (
        "a directory's mode and times changed",
        |p| {
            let dir = p.join("src");
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
            fs::File::open(&dir)
                .unwrap()
                .set_modified(std::time::SystemTime::UNIX_EPOCH)
                .unwrap();
        },
        false,
        true,
    ),
    (
        "more ignored files than are worth looking at one by one",
        |p| {
            for n in 0..40 {
                write(p, &format!("src/{n}.log"), "x");
            }
        },
        false,
        true,
    ),
    (
        "more untracked files than are worth looking at one by one",
        |p| {
            for n in 0..40 {
                write(p, &format!("src/{n}.txt"), "x");
            }
        },
        true,
        true,
    ),
    (
        "a changed .gitignore",
        |p| write(p, ".gitignore", "target/\ncache/*\n"),
        true,
        false,
    ),
    (
        "a changed info/exclude",
        |p| {
            let common = git(p, &["rev-parse", "--git-common-dir"]);
            write(&p.join(common.trim()), "info/exclude", "# nothing\n");
        },
        false,
        false,
    ),
    (
        "a moved tracked directory",
        |p| fs::rename(p.join("src/deep"), p.join("src/deeper")).unwrap(),
        true,
        false,
    ),
];

#[test]
fn a_watched_inspection_answers_as_git_status_does() {
    for (name, act, dirty, known) in CASES {
        let (_dir, slots, wt) = second_task();
        act(&wt.path);
        let by_git = !git(&wt.path, &["status", "--porcelain"]).is_empty();
        assert_eq!(by_git, *dirty, "{name}: the case itself is wrong");
        let repo = git2::Repository::open(&wt.path).unwrap();
        let watched = slots.watched_changes(wt.slot, &repo);
        assert_eq!(watched.is_some(), *known, "{name}: {watched:?}");
        let objects = git(&wt.path, &["count-objects"]);
        assert_eq!(slots.inspect(&wt).unwrap().dirty, *dirty, "{name}");
        assert_eq!(
            git(&wt.path, &["count-objects"]),
            objects,
            "{name}: inspecting wrote"
        );
        // Asking again changes nothing.
        assert_eq!(slots.inspect(&wt).unwrap().dirty, *dirty, "{name}, again");
    }
}

#[test]
fn a_checkout_own_changes_are_not_the_agents() {
    let (_dir, slots, wt) = second_task();
    let repo = git2::Repository::open(&wt.path).unwrap();
    assert_eq!(
        slots.watched_changes(wt.slot, &repo),
        Some(Default::default()),
        "the switch rewrote src/a.rs and made merged/, before the agent"
    );
}

#[test]
fn a_file_written_between_a_clean_inspection_and_the_next_checkout_is_not_lost() {
    let (_dir, slots, wt) = second_task();
    // What a process the agent left behind writes after its task was seen clean.
    assert!(!slots.inspect(&wt).unwrap().dirty);
    slots.release_clean(wt.clone()).unwrap();
    write(&wt.path, "late.txt", "written after the inspection\n");
    let third = slots.checkout(0, &task("t-3"), "main").unwrap();
    assert!(!git(&third.path, &["status", "--porcelain"]).is_empty());
    assert!(slots.inspect(&third).unwrap().dirty);
}

#[test]
fn a_file_tracked_in_an_ignored_directory_by_a_merge_is_watched_from_then_on() {
    let (_dir, slots, wt) = second_task();
    assert!(!slots.inspect(&wt).unwrap().dirty);
    slots.release_clean(wt.clone()).unwrap();
    // `target/debug/` is ignored, and already in the slot's worktree (left by t-1).
    let root = slots.repo_root.clone();
    write(&root, "target/debug/gen.h", "generated\n");
    git(&root, &["add", "-f", "target/debug/gen.h"]);
    git(&root, &["commit", "-q", "-m", "track a generated header"]);
    let third = slots.checkout(0, &task("t-3"), "main").unwrap();
    write(&third.path, "target/debug/gen.h", "rebuilt\n");
    assert!(!git(&third.path, &["status", "--porcelain"]).is_empty());
    let repo = git2::Repository::open(&third.path).unwrap();
    assert!(slots.watched_changes(third.slot, &repo).is_some());
    assert!(slots.inspect(&third).unwrap().dirty);
}

#[test]
fn a_submodule_brought_by_a_merge_turns_the_watch_off() {
    let (dir, slots, wt) = second_task();
    assert!(!slots.inspect(&wt).unwrap().dirty);
    slots.release_clean(wt.clone()).unwrap();
    let lib = dir.path().canonicalize().unwrap().join("lib");
    fs::create_dir(&lib).unwrap();
    git(&lib, &["init", "-q", "-b", "main"]);
    write(&lib, "lib.rs", "lib\n");
    git(&lib, &["add", "."]);
    git(&lib, &["commit", "-q", "-m", "lib"]);
    let root = slots.repo_root.clone();
    let lib = lib.to_str().unwrap();
    let allow = ["-c", "protocol.file.allow=always"];
    git(
        &root,
        &[&allow[..], &["submodule", "add", "-q", lib, "sub"]].concat(),
    );
    git(&root, &["commit", "-q", "-m", "add a submodule"]);
    let third = slots.checkout(0, &task("t-3"), "main").unwrap();
    git(
        &third.path,
        &[&allow[..], &["submodule", "update", "-q", "--init"]].concat(),
    );
    write(&third.path, "sub/lib.rs", "changed inside\n");
    git(&third.path.join("sub"), &["commit", "-q", "-am", "inside"]);
    assert!(!git(&third.path, &["status", "--porcelain"]).is_empty());
    let repo = git2::Repository::open(&third.path).unwrap();
    assert!(slots.watched_changes(third.slot, &repo).is_none());
    assert!(slots.inspect(&third).unwrap().dirty);
}
