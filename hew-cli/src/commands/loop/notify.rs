//! `loop.notify.command`: tells someone a run ended. Run once at the end of `hew loop`
//! (finished, stopped or failed; never for a dry run) with `sh -c` in the repository, the
//! run's summary JSON on stdin (exactly what `hew loop summary --run-id ID --json` prints,
//! built by the same function) and `HEW_RUN_ID` set.
//!
//! A notification is a courtesy, not part of the work: whatever goes wrong with it (a
//! non-zero exit, no exit within `loop.notify.timeout`, a shell that cannot start) comes
//! back as a warning for the CLI to print, and the run's exit code stays what it was. The
//! command runs in its own process group, killed when it times out and once it has exited
//! (nothing it started outlives hew); its output is kept only to quote in the warning.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hew_core::config::NotifyConfig;
use hew_core::records::RunDir;

/// How much of the command's output a warning quotes.
const TAIL: usize = 600;
/// How long to wait for the output pipes to close once the command has gone.
const DRAIN: Duration = Duration::from_secs(2);
/// How often the command is looked at while it runs.
const POLL: Duration = Duration::from_millis(20);

/// Runs the notify command for run `run_id` of the repository at `root`, if one is set.
/// `Some(warning)` when it did not succeed.
pub fn notify(root: &Path, run_id: &str, config: &NotifyConfig) -> Option<String> {
    let command = config.command.as_deref().filter(|c| !c.trim().is_empty())?;
    let dir = RunDir::open(root, run_id);
    let json = match super::summary::summary_json(root, &dir, false) {
        Ok((json, _skipped)) => json,
        Err(e) => return Some(format!("loop.notify.command was not run: {e}")),
    };
    let stdin = format!("{:#}\n", crate::json::document(json)).into_bytes();
    run(command, root, run_id, stdin, config.timeout.get())
        .err()
        .map(|why| format!("loop.notify.command {why}"))
}

/// Runs `command` with `stdin`; `Err` says how it failed.
fn run(
    command: &str,
    root: &Path,
    run_id: &str,
    stdin: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = Command::new("sh")
        .args(["-c", command])
        .current_dir(root)
        .env("HEW_RUN_ID", run_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start `sh`: {e}"))?;
    // A command that does not read its stdin must not block hew: written on its own
    // thread, whose broken pipe is no one's concern.
    if let Some(mut pipe) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&stdin);
        });
    }
    let output = drain(&mut child);
    let status = wait(&mut child, timeout);
    // What it left running goes with it.
    kill_group(&child);
    let _ = child.wait();
    let tail = output
        .recv_timeout(DRAIN)
        .map(|bytes| tail_of(&bytes))
        .unwrap_or_default();
    let quoted = if tail.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::escape::escape(&tail))
    };
    match status {
        Some(status) if status.success() => Ok(()),
        Some(status) => Err(match status.code() {
            Some(code) => format!("exited with {code}{quoted}"),
            None => format!("was killed by a signal{quoted}"),
        }),
        None => Err(format!(
            "did not finish within loop.notify.timeout ({}s) and was killed{quoted}",
            timeout.as_secs()
        )),
    }
}

/// Reads stdout and stderr on their own threads (a full pipe never blocks the command);
/// both, stdout first, arrive on the channel once both are closed.
fn drain(child: &mut Child) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    let (out, err) = (child.stdout.take(), child.stderr.take());
    std::thread::spawn(move || {
        let read = |pipe: Option<Box<dyn Read + Send>>| {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        };
        let err = std::thread::spawn(move || read(err.map(|p| Box::new(p) as Box<_>)));
        let mut bytes = read(out.map(|p| Box::new(p) as Box<_>));
        bytes.extend(err.join().unwrap_or_default());
        let _ = tx.send(bytes);
    });
    rx
}

/// Waits for the command up to `timeout`: its status, or `None` when it had to be killed.
fn wait(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
            _ => return None,
        }
    }
}

fn kill_group(child: &Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The end of `bytes` as one line of text.
fn tail_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let start = text.char_indices().rev().nth(TAIL).map_or(0, |(i, _)| i);
    text[start..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_sh(command: &str, timeout: Duration) -> Result<(), String> {
        let dir = std::env::temp_dir();
        run(command, &dir, "r1", b"{\"a\": 1}\n".to_vec(), timeout)
    }

    #[test]
    fn the_command_reads_stdin_and_sees_the_run_id() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got");
        let command = format!(
            "cat > '{}' && echo \"$HEW_RUN_ID\" >> '{}'",
            out.display(),
            out.display()
        );
        assert_eq!(run_sh(&command, Duration::from_secs(20)), Ok(()));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"a\": 1}\nr1\n");
    }

    #[test]
    fn a_failure_names_the_exit_code_and_quotes_the_output() {
        let err = run_sh("echo 'curl: (22) 500'; exit 22", Duration::from_secs(20)).unwrap_err();
        assert_eq!(err, "exited with 22: curl: (22) 500");
        let missing = run_sh("no-such-notifier-program", Duration::from_secs(20)).unwrap_err();
        assert!(missing.starts_with("exited with 127: "), "{missing}");
        assert!(missing.contains("not found"), "{missing}");
    }

    #[test]
    fn a_command_past_its_timeout_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let command = format!("sleep 600 & echo $! > '{}'; wait", pid_file.display());
        let err = run_sh(&command, Duration::from_secs(2)).unwrap_err();
        assert!(err.starts_with("did not finish within"), "{err}");
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SIGKILL was sent to its group: it is gone (or a zombie) once the kernel has
        // delivered it.
        let dead = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .to_owned();
            state.is_empty() || state.starts_with('Z')
        };
        let until = Instant::now() + Duration::from_secs(10);
        while !dead() && Instant::now() < until {
            std::thread::sleep(POLL);
        }
        assert!(dead(), "the command's child outlived it");
    }

    #[test]
    fn a_command_that_ignores_stdin_does_not_block() {
        let big = vec![b'x'; 1 << 20];
        let dir = std::env::temp_dir();
        assert_eq!(
            run("true", &dir, "r1", big, Duration::from_secs(20)),
            Ok(())
        );
    }

    #[test]
    fn the_tail_is_the_end_on_one_line() {
        assert_eq!(tail_of(b"  a\nb  \n"), "a b");
        let long = format!("{}END", "y".repeat(5000));
        let t = tail_of(long.as_bytes());
        assert!(t.ends_with("END") && t.len() <= TAIL + 1, "{}", t.len());
    }
}
