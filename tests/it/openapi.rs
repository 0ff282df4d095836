//! `openapi.yaml` against outside tools: it must validate as OpenAPI 3.1
//! (`openapi-spec-validator`), and schemathesis, generating requests from it
//! (valid ones, and ones that break one rule each), must find no answer of
//! the running service that disagrees with it. Both come from PyPI; `.ci/run`
//! installs them in a virtual environment and puts it on PATH. Without them the
//! tests say they skipped, unless `CI` or `RETRACE_REQUIRE_PYTOOLS=1` (set by
//! `.ci/run`) is set, where that is a failure.

use std::process::Command;
use std::time::Duration;

use crate::common::*;

/// The tool on PATH, or `None` after saying why the test is skipped.
fn tool(name: &str, test: &str) -> Option<std::path::PathBuf> {
    let found = which(&[name]);
    if found.is_none() {
        let required = std::env::var_os("CI").is_some()
            || std::env::var_os("RETRACE_REQUIRE_PYTOOLS").is_some_and(|v| v == "1");
        assert!(
            !required,
            "{name} is not on PATH (pip install {name}; .ci/run does)"
        );
        eprintln!("{test}: skipped: {name} is not on PATH");
    }
    found
}

#[test]
fn openapi_yaml_is_valid_openapi_3_1() {
    let Some(validator) = tool(
        "openapi-spec-validator",
        "openapi_yaml_is_valid_openapi_3_1",
    ) else {
        return;
    };
    let out = Command::new(validator)
        .arg(repo().join("openapi.yaml"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("OK"), "{text}");
}

/// Test cases per operation and phase (schemathesis's default): about 1,100
/// requests, 10 s here. Each run draws a new seed (printed with the summary,
/// to rerun a failure with `--seed`), so CI runs add up to many more.
const EXAMPLES: &str = "100";

#[test]
fn schemathesis_finds_no_disagreement_between_the_service_and_openapi_yaml() {
    let test = "schemathesis_finds_no_disagreement";
    let Some(st) = tool("schemathesis", test) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let token = dir.path().join("token");
    std::fs::write(&token, "schemathesis-token-0123456789").unwrap();
    // Write endpoints are exercised too: the token is given, the archive is a copy.
    let s = Served::spawn(
        retrace(Some(&db))
            .args(["serve", "--bind", "127.0.0.1:0", "--token-file"])
            .arg(&token)
            .args(["--max-body-bytes", "2000000", "--timeout", "30"]),
    );
    let mut cmd = Command::new(st);
    // Its cache goes into the working directory: a temporary one.
    cmd.current_dir(dir.path())
        .arg("--config-file")
        .arg(repo().join("tests/schemathesis.toml"))
        .arg("run")
        .arg(repo().join("openapi.yaml"))
        .arg("--url")
        .arg(format!("http://{}", s.addr))
        .args([
            "--header",
            "Authorization: Bearer schemathesis-token-0123456789",
            "--checks",
            "all",
            "--max-examples",
            EXAMPLES,
            "--generation-database",
            "none",
            "--no-color",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = output_bounded(cmd.spawn().unwrap(), Duration::from_secs(600));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // The summary: phases, counts, the seed that reproduces the run.
    let summary: String = text
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("{summary}");
    assert!(
        out.status.success(),
        "schemathesis found disagreements:\n{text}"
    );
    assert!(
        text.contains("No issues found"),
        "schemathesis did not say it found nothing:\n{text}"
    );
    let generated: u64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" generated"))
        .and_then(|(n, _)| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        generated >= 500,
        "only {generated} requests were generated:\n{text}"
    );
    // The service is still up and answering after all of it.
    assert_eq!(
        http(&s.addr, "GET", "/v1/health", &[], b"").unwrap().status,
        200
    );
}
