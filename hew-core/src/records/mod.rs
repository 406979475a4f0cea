//! On-disk records of a run: `.hew/loop/<run-id>/run.json`, one
//! `.hew/loop/<run-id>/iters/<n>.json` per iteration, and the agent's raw output beside it.
//!
//! Records outlive the hew that wrote them: every one carries `schema_version`, every field
//! added after the first schema has `#[serde(default)]`, unknown fields are ignored, and
//! every write is a temp file renamed into place, so a crash at any instant leaves the last
//! complete version readable. Readers report a corrupt file and move on.
//!
//! Earlier hew (0.9–0.12) wrote run directories in the same place in another format; they
//! are read too, converted ([`RunKind::Earlier`], see `earlier.rs`), and never rewritten.

mod earlier;
mod liveness;
mod record;
mod store;

pub use earlier::SCHEMA_EARLIER;
pub use liveness::{Liveness, liveness, this_host};
pub use record::{
    IterRecord, Outcome, RunKind, RunRecord, RunStatus, SCHEMA_VERSION, SetupResult, StopReason,
    Timings, VerifyResult,
};
pub use store::{RecordError, RunDir, RunLock, list_runs, loop_dir, new_run_id, write_json_atomic};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::UsageSource;
    use crate::model::Rule;

    const ITER_V1_MINIMAL: &str =
        include_str!("../../../tests/fixtures/records/v1/iter-minimal.json");
    const RUN_V1_MINIMAL: &str =
        include_str!("../../../tests/fixtures/records/v1/run-minimal.json");

    #[test]
    fn the_smallest_v1_records_still_parse() {
        let it: IterRecord = serde_json::from_str(ITER_V1_MINIMAL).unwrap();
        assert_eq!(
            (it.number, it.outcome, it.attempt, it.rule),
            (3, Outcome::NoChange, 1, Rule::None)
        );
        assert_eq!(
            it.usage.source,
            UsageSource::Unknown,
            "missing usage is unknown, not zero"
        );
        assert_eq!(it.timings, Timings::default(), "no timings: all zero");
        let run: RunRecord = serde_json::from_str(RUN_V1_MINIMAL).unwrap();
        assert_eq!((run.status, run.stop_reason), (RunStatus::Finished, None));
    }

    /// Every record fixture, of every schema, parses forever: `iter-*.json` as an
    /// [`IterRecord`], `run-*.json` as a [`RunRecord`].
    #[test]
    fn every_record_fixture_keeps_parsing() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/records");
        let mut seen = 0;
        for schema in std::fs::read_dir(&root).unwrap() {
            for file in std::fs::read_dir(schema.unwrap().path()).unwrap() {
                let path = file.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let text = std::fs::read_to_string(&path).unwrap();
                if name.starts_with("iter-") {
                    let it: Result<IterRecord, _> = serde_json::from_str(&text);
                    assert!(it.is_ok(), "{}: {:?}", path.display(), it.err());
                } else if name.starts_with("run-") {
                    let run: Result<RunRecord, _> = serde_json::from_str(&text);
                    assert!(run.is_ok(), "{}: {:?}", path.display(), run.err());
                } else {
                    panic!("{}: fixtures are named iter-* or run-*", path.display());
                }
                seen += 1;
            }
        }
        assert!(
            seen >= 6,
            "only {seen} fixtures found under {}",
            root.display()
        );
    }

    /// A record written before cache write durations were recorded prices exactly as it
    /// did then: every write at the 5-minute rate.
    #[test]
    fn a_record_without_write_durations_prices_as_it_did() {
        let text = include_str!("../../../tests/fixtures/records/v1/iter-priced-5m-only.json");
        let it: IterRecord = serde_json::from_str(text).unwrap();
        let t = it.usage.total;
        assert_eq!(
            (t.cache_create, t.cache_create_1h, t.cache_create_unsplit),
            (7165, 0, 0)
        );
        let cost = crate::prices::Prices::default().cost(&it.usage);
        assert_eq!(cost.total, it.cost_usd);
        assert_eq!(cost.per_model, it.cost_per_model);
    }

    #[test]
    fn unknown_fields_from_newer_versions_are_ignored() {
        let mut v: serde_json::Value = serde_json::from_str(ITER_V1_MINIMAL).unwrap();
        v["field_from_the_future"] = serde_json::json!({"x": 1});
        let it: IterRecord = serde_json::from_value(v).unwrap();
        assert_eq!(it.task_id, "demo-a1");
    }

    #[test]
    fn records_round_trip_and_corrupt_files_are_reported_not_fatal() {
        let repo = tempfile::tempdir().unwrap();
        let dir = RunDir::create(repo.path(), "20261122-000000-0000").unwrap();
        let mut first = IterRecord::started(1, "demo-1", "one", 1, 1);
        first.outcome = Outcome::Closed;
        first.timings.agent_ms = 1234;
        first.timings.merge_ms = 5;
        dir.write_iter(&first).unwrap();
        let mut second = first.clone();
        second.number = 2;
        dir.write_iter(&second).unwrap();
        std::fs::write(dir.iter_file(3), "{\"schema_version\": 1, \"numb").unwrap();
        std::fs::write(dir.agent_stdout(1), "not a record").unwrap();

        let (iters, errors) = dir.read_iters();
        assert_eq!(iters, vec![first, second]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("3.json"), "{}", errors[0]);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("iters"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "temp files left behind");
        let ignore = std::fs::read_to_string(repo.path().join(".hew/.gitignore")).unwrap();
        assert!(ignore.contains("loop/"));
    }

    #[test]
    fn a_run_is_live_while_its_lock_is_held() {
        let repo = tempfile::tempdir().unwrap();
        let dir = RunDir::create(repo.path(), "20261122-000000-0001").unwrap();
        assert!(!dir.is_live(), "no lock file yet");
        let lock = dir.lock().unwrap();
        assert!(dir.is_live());
        assert!(dir.lock().is_err(), "a second holder is refused");
        drop(lock);
        assert!(!dir.is_live());
    }

    #[test]
    fn run_ids_are_distinct_and_safe_as_ref_names() {
        let a = new_run_id();
        let b = new_run_id();
        assert_ne!(a, b);
        assert!(git2::Reference::is_valid_name(&format!(
            "refs/heads/hew/run/{a}"
        )));
        assert_eq!(a.len(), "20261122-052501-a1b2".len());
    }
}
