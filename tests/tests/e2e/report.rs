//! `hew loop report`: a real run with failures on two workers, written as one HTML page
//! and loaded in headless Chromium: the page runs its script without error, loads
//! nothing, draws one bar per iteration and shows the totals `hew loop summary --json`
//! gives; a hostile title stays text.

use crate::fake_agent;
use hew_tests::{NewTask, TestRepo, chromium, render_page, require_tracker};
use serde_json::{Value, json};

const HOSTILE: &str = "</script><img src=x onerror=alert(1)>";

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

/// The text of the element with `id` in `dom` (the first `>` after it, to the next `<`).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page"));
    let rest = &dom[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = start + rest[start..].find('<').unwrap();
    &rest[start..end]
}

fn cents(usd: f64) -> i64 {
    (usd * 100.0).round() as i64
}

/// `$0.1234` → 12 cents.
fn shown_cents(text: &str) -> i64 {
    cents(
        text.trim_start_matches('$')
            .replace(',', "")
            .parse::<f64>()
            .unwrap(),
    )
}

#[test]
fn a_real_runs_report_renders_in_a_browser_with_the_summarys_totals() {
    require_tracker!();
    let Some(browser) = chromium() else {
        return;
    };
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "[loop.retry]\nmax = 1\n");
    let ok = [
        repo.create_task(NewTask::new("Add the parser").labels(&["model:opus"])),
        repo.create_task(NewTask::new(HOSTILE)),
        repo.create_task(NewTask::new("Write the docs").labels(&["model:haiku"])),
        repo.create_task(NewTask::new("Tidy the tests").labels(&["model:haiku"])),
    ];
    let failing = repo.create_task(NewTask::new("Flaky import"));
    let idle = repo.create_task(NewTask::new("Nothing to do"));
    repo.scenario(&json!({
        "default": { "sleep_ms": 200 },
        "tasks": {
            failing.clone(): { "exit": 1, "commit": false },
            idle.clone(): { "commit": false },
        }
    }));
    repo.hew().args(["loop", "-j", "2"]).assert().success();
    let iters = repo.iterations();
    assert!(iters.len() >= ok.len() + 2, "{}", iters.len());
    assert!(
        iters.iter().any(|i| i["slot"] != iters[0]["slot"]),
        "two workers ran"
    );

    let page = repo.path().join("report.html");
    let said = stdout(
        &repo
            .hew()
            .args(["loop", "report", "-o", "report.html"])
            .assert()
            .success(),
    );
    assert_eq!(said.trim(), page.display().to_string());
    let html = std::fs::read_to_string(&page).unwrap();
    for external in [
        "http://", "https://", "//cdn", "url(", "@import", "<img", "<link",
    ] {
        assert!(!html.contains(external), "`{external}` in the page");
    }
    let json: Value = serde_json::from_str(&stdout(
        &repo
            .hew()
            .args(["loop", "summary", "--json"])
            .assert()
            .success(),
    ))
    .unwrap();

    let shown = render_page(&browser, &page, None);
    let dom = &shown.dom;
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script ran to its end"
    );
    assert!(!dom.contains("data-error="), "a script error");
    assert!(!dom.contains("data-blocked="), "a load was blocked");
    assert!(
        dom.contains("data-resources=\"0\""),
        "the page loaded something"
    );
    let console: Vec<&str> = shown
        .log
        .lines()
        .filter(|l| l.contains("CONSOLE"))
        .collect();
    assert!(console.is_empty(), "the page logged: {console:?}");
    assert!(!dom.contains("<img"), "a title became an element");
    assert!(dom.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));

    // One bar per iteration, in as many lanes as slots.
    assert_eq!(dom.matches("<g class=\"o-").count(), iters.len());
    for i in &iters {
        let outcome = i["outcome"].as_str().unwrap();
        let bar = format!(
            "<g class=\"o-{outcome}\"><title>#{} {} ",
            i["number"],
            i["task_id"].as_str().unwrap()
        );
        assert!(dom.contains(&bar), "{bar}");
    }
    // The totals are the summary's, to the token and the cent.
    let totals = &json["totals"];
    assert_eq!(
        text_of(dom, "total-tokens").replace(',', ""),
        totals["total"].to_string()
    );
    assert_eq!(
        shown_cents(text_of(dom, "total-cost")),
        cents(totals["cost_usd"].as_f64().unwrap())
    );
    assert_eq!(
        text_of(dom, "total-iterations"),
        iters.len().to_string().as_str()
    );
    for row in json["per_model"].as_array().unwrap() {
        let model = row["model"].as_str().unwrap();
        assert!(
            dom.contains(&format!("<td class=\"m\">{model}</td>")),
            "{model}"
        );
    }
    assert_eq!(
        dom.matches("<tr class=\"o-").count(),
        iters.len(),
        "one table row per iteration"
    );

    // The failing tasks need attention, with the command that addresses each.
    let attention = &dom[dom.find("id=\"attention-list\"").expect("a list")..];
    for id in [&failing, &idle] {
        let remove = format!("br label remove {id} hew:exhausted");
        assert!(attention.contains(&remove), "{remove}");
    }
    for id in &ok {
        assert!(!attention.contains(&format!("<b>{id}</b>")), "{id} closed");
    }
}

#[test]
fn report_writes_a_file_or_standard_output_and_opens_it_on_request() {
    require_tracker!();
    let repo = TestRepo::with_tracker();
    repo.use_agent("claude", fake_agent(), "");
    repo.create_task(NewTask::new("one"));
    repo.hew().arg("loop").assert().success();
    let run_id = repo.run_record()["run_id"].as_str().unwrap().to_owned();
    let page = stdout(
        &repo
            .hew()
            .args(["loop", "report", "--run-id", &run_id, "-o", "-"])
            .assert()
            .success(),
    );
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    let default = stdout(&repo.hew().args(["loop", "report"]).assert().success());
    let written = repo
        .path()
        .join(".hew/loop")
        .join(&run_id)
        .join("report.html");
    assert_eq!(default.trim(), written.display().to_string());
    assert!(written.is_file());
    // --open hands the page to the desktop's opener; when that fails, a warning.
    let bin = tempfile::tempdir().unwrap();
    let opened = bin.path().join("opened");
    hew_tests::write_script(
        &bin.path().join("xdg-open"),
        &format!("#!/bin/sh\necho \"$1\" > '{}'\n", opened.display()),
    );
    repo.hew()
        .args(["loop", "report", "--open"])
        .env("PATH", bin.path())
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap().trim(),
        written.display().to_string()
    );
    hew_tests::write_script(&bin.path().join("xdg-open"), "#!/bin/sh\nexit 3\n");
    let failed = repo
        .hew()
        .args(["loop", "report", "--open"])
        .env("PATH", bin.path())
        .assert()
        .success();
    let err = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert!(
        err.contains("warning: `xdg-open` could not open the report")
            && err.contains("report.html"),
        "{err}"
    );
    let refused = repo
        .hew()
        .args(["loop", "report", "-o", "-", "--open"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&refused.get_output().stderr).into_owned();
    assert!(err.contains("--open needs a file"), "{err}");
    let missing = repo
        .hew()
        .args(["loop", "report", "--run-id", "20990101-000000-0000"])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&missing.get_output().stderr).into_owned();
    assert!(err.contains("no run `20990101-000000-0000`"), "{err}");
}
