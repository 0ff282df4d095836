//! The config file: found where the docs say, read key by key into the
//! settings of a real run, overridden by flags and environment variables,
//! refused with the key and line when wrong, and printed by `retrace config`
//! with where each value came from.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::{free_port, http, retrace, run, sample_archive, samples, Served};

/// `retrace config`'s lines as key (with its table) → (value, origin).
fn settings(out: &std::process::Output) -> BTreeMap<String, (String, String)> {
    assert_eq!(out.status.code(), Some(0), "retrace config failed");
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let mut table = String::new();
    let mut map = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('[') {
            table = format!("[{t} ");
        } else if let Some((kv, origin)) = line.split_once("  # ") {
            let (k, v) = kv.split_once(" = ").unwrap_or_else(|| panic!("{line}"));
            let k = k.trim_start_matches("# ");
            map.insert(format!("{table}{k}"), (v.to_string(), origin.to_string()));
        }
    }
    map
}

fn config_cmd(cwd: &Path) -> Command {
    let mut c = retrace(None);
    c.current_dir(cwd).arg("config");
    c
}

fn report(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn the_file_in_the_working_folder_sets_a_real_run_and_flags_and_environment_win() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    // The picture is 100,914 bytes: the file's limit refuses it.
    std::fs::write(
        dir.path().join("retrace.toml"),
        "archive = \"archive.db\"\ncrop-search = 5\n\n[limits]\nmax-file-bytes = 50_000\n",
    )
    .unwrap();
    let picture = samples().join("incoming/storm_recompressed_q65.jpg");

    let mut check = retrace(None);
    check
        .current_dir(dir.path())
        .args(["check", "--json"])
        .arg(&picture);
    let out = run(&mut check);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the file's size limit is an error"
    );
    let r = report(&out);
    assert_eq!(r["errors"][0]["stage"], "read", "{r}");
    assert_eq!(
        Path::new(r["archive"]["path"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        db.canonicalize().unwrap(),
        "the relative archive path is the file's folder's"
    );

    // A flag wins over the file's key, and leaves its other keys alone: the
    // picture is read and its original found, searched as the file says.
    let out = run(retrace(None)
        .current_dir(dir.path())
        .args(["check", "--json", "--max-file-bytes", "10000000"])
        .arg(&picture));
    assert_eq!(out.status.code(), Some(1), "an earlier copy");
    assert_eq!(report(&out)["archive"]["crop_search"]["limit"], 5);

    let out = run(retrace(None)
        .current_dir(dir.path())
        .args([
            "check",
            "--json",
            "--max-file-bytes",
            "10000000",
            "--crop-search",
            "9",
        ])
        .arg(&picture));
    assert_eq!(out.status.code(), Some(1), "an earlier copy");
    let r = report(&out);
    assert_eq!(r["archive"]["crop_search"]["limit"], 9);
    assert!(r["earliest_copy"]["path"]
        .as_str()
        .unwrap()
        .ends_with("Storm.jpg"));

    // The environment wins over the file: the archive the file names does
    // not exist, RETRACE_ARCHIVE's does.
    std::fs::write(
        dir.path().join("retrace.toml"),
        "archive = \"missing.db\"\n",
    )
    .unwrap();
    let out = run(retrace(None)
        .current_dir(dir.path())
        .env("RETRACE_ARCHIVE", &db)
        .args(["check", "--json"])
        .arg(&picture));
    assert_eq!(out.status.code(), Some(1));
    assert!(!dir.path().join("missing.db").exists());
    let out = run(retrace(None)
        .current_dir(dir.path())
        .args(["check", "--json"])
        .arg(&picture));
    assert_eq!(out.status.code(), Some(2), "the file's archive is opened");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.db"));

    // --no-config reads nothing.
    let out = run(retrace(None)
        .current_dir(dir.path())
        .args(["--no-config", "check", "--json"])
        .arg(&picture));
    assert_eq!(out.status.code(), Some(0), "no archive, no earlier copy");
    assert_eq!(report(&out)["archive"]["searched"], false);
}

#[test]
fn retrace_config_says_where_each_setting_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let (work, xdg) = (dir.path().join("work"), dir.path().join("xdg"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(xdg.join("retrace")).unwrap();
    std::fs::write(
        xdg.join("retrace/retrace.toml"),
        "# the newsroom's settings\narchive = \"/srv/retrace/archive.db\"\n\n[serve]\nreport-cache = 64\n\n[watch]\nrescan = 5\n",
    )
    .unwrap();
    let user_file = xdg.join("retrace/retrace.toml").canonicalize().unwrap();
    let at = |line: usize| format!("{}, line {line}", user_file.display());

    let out = run(config_cmd(&work).env("XDG_CONFIG_HOME", &xdg));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "# Config file: {} (from the user's config folder)",
            user_file.display()
        )),
        "{text}"
    );
    let s = settings(&out);
    assert_eq!(s["archive"], ("\"/srv/retrace/archive.db\"".into(), at(2)));
    assert_eq!(s["[serve] report-cache"], ("64".into(), at(5)));
    assert_eq!(s["[watch] rescan"], ("5".into(), at(8)));
    // The built-in defaults, as --help states them.
    assert_eq!(
        s["[serve] bind"],
        ("\"127.0.0.1:8080\"".into(), "default".into())
    );
    assert_eq!(s["[watch] settle-ms"], ("2000".into(), "default".into()));
    assert_eq!(s["crop-search"], ("(not set)".into(), "default".into()));
    for key in ["max-file-bytes", "max-pixels", "max-frames"] {
        let (v, from) = &s[&format!("[limits] {key}")];
        assert!(
            v.parse::<u64>().is_ok() && from == "default",
            "{key}: {v} {from}"
        );
    }

    // A flag, then the environment, then the file.
    let out = run(config_cmd(&work)
        .env("XDG_CONFIG_HOME", &xdg)
        .env("RETRACE_ARCHIVE", "/elsewhere.db")
        .args(["--crop-search", "3", "--max-frames", "7"]));
    let s = settings(&out);
    assert_eq!(s["crop-search"], ("3".into(), "--crop-search".into()));
    assert_eq!(
        s["[limits] max-frames"],
        ("7".into(), "--max-frames".into())
    );
    assert_eq!(
        s["archive"],
        (
            "\"/elsewhere.db\"".into(),
            "environment RETRACE_ARCHIVE".into()
        )
    );
    assert_eq!(s["[serve] report-cache"], ("64".into(), at(5)));

    // A retrace.toml in the working folder is taken before the user's.
    std::fs::write(work.join("retrace.toml"), "crop-search = 12\n").unwrap();
    let out = run(config_cmd(&work).env("XDG_CONFIG_HOME", &xdg));
    let s = settings(&out);
    let local = work.join("retrace.toml").canonicalize().unwrap();
    assert_eq!(
        s["crop-search"],
        ("12".into(), format!("{}, line 1", local.display()))
    );
    assert_eq!(s["archive"].0, "(not set)", "one file is read, not both");

    // RETRACE_CONFIG and --config name a file anywhere; --config wins.
    let out = run(config_cmd(&work)
        .env("XDG_CONFIG_HOME", &xdg)
        .env("RETRACE_CONFIG", &user_file));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(from RETRACE_CONFIG)"));
    assert_eq!(settings(&out)["[watch] rescan"].0, "5");
    let out = run(config_cmd(&work)
        .env("RETRACE_CONFIG", &user_file)
        .arg("--config")
        .arg(&local));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(from --config)"));
    assert_eq!(settings(&out)["crop-search"].0, "12");
}

#[test]
fn what_retrace_config_prints_is_a_config_file_that_gives_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("first.toml"),
        "archive = \"a.db\"\narchive-refresh-ms = 250\n[limits]\nmax-pixels = 0x100000\n[serve]\nbind = \"127.0.0.1:9000\"\nreport-dir = \"pages\"\n",
    )
    .unwrap();
    let first = run(config_cmd(dir.path()).args(["--config", "first.toml"]));
    let printed = String::from_utf8(first.stdout.clone()).unwrap();
    std::fs::write(dir.path().join("second.toml"), &printed).unwrap();
    let second = run(config_cmd(dir.path()).args(["--config", "second.toml"]));
    let (a, b) = (settings(&first), settings(&second));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (key, (value, _)) in &a {
        assert_eq!(&b[key].0, value, "{key}");
    }
    let base = dir.path().canonicalize().unwrap();
    assert_eq!(
        a["[limits] max-pixels"].0, "1048576",
        "hex read as the number it is"
    );
    assert_eq!(
        a["[serve] report-dir"].0,
        format!("{:?}", base.join("pages").display().to_string())
    );
    assert!(b["archive-refresh-ms"].1.contains("second.toml, line"));
}

#[test]
fn a_wrong_file_is_refused_with_the_key_and_line_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[&str])] = &[
        (
            "archive = \"a.db\"\n[limits]\nmax-pixel = 5\n",
            &["line 3", "`[limits] max-pixel`", "max-pixels"],
        ),
        (
            "crop-serch = 5\n",
            &["line 1", "unknown key `crop-serch`", "crop-search"],
        ),
        (
            "[server]\nbind = \"127.0.0.1:1\"\n",
            &["line 1", "unknown key `server`", "[serve]"],
        ),
        (
            "crop-search = 999\n",
            &["line 1", "`crop-search = 999`", "0..=256"],
        ),
        (
            "\n\n[serve]\nbind = \"anywhere\"\n",
            &["line 4", "`[serve] bind = \"anywhere\"`"],
        ),
        (
            "[watch]\nout = \"reports\"\n",
            &["line 2", "unknown key `[watch] out`", "settle-ms, rescan"],
        ),
        ("quiet = true\n", &["unknown key `quiet`"]),
        (
            "archive = [\"a.db\", \"b.db\"]\n",
            &["line 1", "`archive` takes one value"],
        ),
        ("limits = 5\n", &["line 1", "`limits` is a table"]),
        ("crop-search = = 5\n", &["line 1"]),
    ];
    for (text, expected) in cases {
        std::fs::write(dir.path().join("retrace.toml"), text).unwrap();
        let out = run(retrace(None)
            .current_dir(dir.path())
            .args(["archive", "add", "--source", "x"])
            .arg(samples().join("archive")));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(out.stdout.is_empty(), "{text:?}");
        assert!(err.starts_with("retrace: config file "), "{err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        for e in *expected {
            assert!(err.contains(e), "{text:?}: {e:?} not in {err}");
        }
        assert!(!dir.path().join("a.db").exists(), "nothing ran");
    }

    // A named file must exist; a default one need not.
    let out =
        run(retrace(None)
            .current_dir(dir.path())
            .args(["--config", "nowhere.toml", "config"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere.toml"));
    std::fs::remove_file(dir.path().join("retrace.toml")).unwrap();
    let out = run(&mut config_cmd(dir.path()));
    assert!(String::from_utf8_lossy(&out.stdout).contains("# Config file: none (looked for"));

    // Not a config file at all: a picture given by mistake, a huge file.
    let out = run(retrace(None)
        .current_dir(dir.path())
        .arg("--config")
        .arg(samples().join("incoming/new_coffee.jpg"))
        .arg("config"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "# padding\n".repeat(200_000)).unwrap();
    let out = run(retrace(None).arg("--config").arg(&big).arg("config"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than 1048576 bytes"));
}

#[test]
fn a_database_password_in_the_file_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("retrace.toml"),
        "archive = \"postgres://newsroom:s3cret-pw@db.example/retrace\"\n",
    )
    .unwrap();
    let out = run(&mut config_cmd(dir.path()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(
        text.contains("postgres://newsroom:***@db.example/retrace"),
        "{text}"
    );
    // Nor in --help, which shows the built-in defaults only.
    let out = run(retrace(None)
        .current_dir(dir.path())
        .args(["scan", "--help"]));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret-pw"));
}

#[test]
fn serve_takes_its_address_and_body_cap_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let port = free_port();
    std::fs::write(
        dir.path().join("retrace.toml"),
        format!("archive = \"archive.db\"\n[serve]\nbind = \"127.0.0.1:{port}\"\nmax-body-bytes = 2000\n"),
    )
    .unwrap();
    let server = Served::spawn(retrace(None).current_dir(dir.path()).arg("serve"));
    assert_eq!(server.addr, format!("127.0.0.1:{port}"));
    let health = http(&server.addr, "GET", "/v1/health", &[], b"").unwrap();
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["images"], 7, "the file's archive");
    assert!(db.exists());
    let picture = std::fs::read(samples().join("incoming/new_coffee.jpg")).unwrap();
    let r = http(
        &server.addr,
        "POST",
        "/v1/check",
        &[("Content-Type", "image/jpeg")],
        &picture,
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.text());
}
