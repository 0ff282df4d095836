//! `scan --html` checked in a real browser: headless Chromium driven through
//! chromedriver's WebDriver protocol (plain HTTP + JSON, so no client crate).
//! The page must show the verdict, render both inlined pictures, run no script
//! even when the file name carries one, and a screenshot is kept for a person.
//! Skips, saying so, when chromium or chromedriver is not installed
//! (`.ci/run` installs both).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

// No '/' (a file name cannot hold one), so the closing tag is an img onerror.
const HOSTILE_NAME: &str = "<script>alert(1)<img src=x onerror=alert(2)>\u{202E}gpj.jpg";

struct Driver {
    child: Child,
    addr: String,
    session: String,
}

impl Driver {
    fn start(chromium: &Path, chromedriver: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http(&addr, "GET", "/status", &[], b"") {
                if r.json()["value"]["ready"] == true {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut d = Driver {
            child,
            addr,
            session: String::new(),
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                // Root in a container needs --no-sandbox; the window size fixes the screenshot.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1600"]
            }
        }}});
        let v = d.call("POST", "/session", Some(caps));
        d.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        d
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let r = http(
            &self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .expect("WebDriver request");
        let v = r.json();
        assert_eq!(r.status, 200, "{method} {path}: {v}");
        v["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn open(&self, file: &Path) {
        let url = format!("file://{}", file.display());
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Click the first element the CSS selector finds, as a person would.
    fn click(&self, css: &str) {
        let found = self.session_call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = found["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn eval(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = http(
                &self.addr,
                "DELETE",
                &format!("/session/{}", self.session),
                &[],
                b"",
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !b"=\r\n".contains(c)).collect();
    let mut out = Vec::new();
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(val(c)) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn screenshot(d: &Driver, name: &str) -> PathBuf {
    let b64 = d.session_call("GET", "/screenshot", None);
    let png = base64_decode(b64.as_str().expect("screenshot is base64"));
    assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}

/// Chromium and chromedriver, or `None` after saying why the test is skipped.
fn browser(test: &str) -> Option<(PathBuf, PathBuf)> {
    let (Some(chromium), Some(chromedriver)) = (
        which(&["chromium", "chromium-browser", "google-chrome"]),
        which(&["chromedriver"]),
    ) else {
        // CI installs both (.ci/run): there, a missing browser is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver must be installed under CI (.ci/run installs them)"
        );
        eprintln!(
            "SKIPPED {test}: chromium and chromedriver are not on PATH (Debian: apt-get install \
             chromium chromium-driver; .ci/run does this)"
        );
        return None;
    };
    Some((chromium, chromedriver))
}

#[test]
fn the_html_report_renders_in_a_real_browser() {
    let Some((chromium, chromedriver)) = browser("the_html_report_renders_in_a_real_browser")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let incoming = dir.path().join("incoming");
    std::fs::create_dir(&incoming).unwrap();
    // A hostile name: a script tag and a right-to-left override.
    std::fs::copy(
        samples().join("incoming/storm_caption.jpg"),
        incoming.join(HOSTILE_NAME),
    )
    .unwrap();
    std::fs::copy(
        samples().join("incoming/new_coffee.jpg"),
        incoming.join("new_coffee.jpg"),
    )
    .unwrap();
    let html = dir.path().join("html");
    let out = run(retrace(Some(&db))
        .arg("scan")
        .arg(&incoming)
        .arg("--claim-date")
        .arg("2024-03-01")
        .arg("--html")
        .arg(&html));
    assert_eq!(
        out.status.code(),
        Some(1),
        "one picture has an earlier copy"
    );

    let storm = std::fs::read(incoming.join(HOSTILE_NAME)).unwrap();
    let sha = sha256_hex(&storm);
    let page = html.join(format!("{sha}.html"));
    let source = std::fs::read_to_string(&page).expect("a page named by content SHA-256");
    assert!(
        !source.contains("<script")
            && !source.contains("<img src=x")
            && !source.contains('\u{202E}')
    );

    let d = Driver::start(&chromium, &chromedriver);
    d.open(&page);
    let v = d.eval(
        "const q = document.getElementById('query'), e = document.getElementById('earliest');\
         return {verdict: document.getElementById('verdict').textContent,\
                 cls: document.getElementById('verdict').className,\
                 q: [q.complete, q.naturalWidth], e: [e.complete, e.naturalWidth],\
                 h1: document.querySelector('h1').textContent,\
                 scripts: document.scripts.length,\
                 imgs: document.images.length,\
                 high: document.querySelectorAll('ul.findings li.high').length};",
    );
    let verdict = v["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("This picture was first seen on 2008-04-20 at mate-backgrounds")
            && verdict.ends_with("15 years before the claimed date."),
        "verdict: {verdict}"
    );
    assert_eq!(v["cls"], "verdict high");
    assert_eq!(v["q"][0], true);
    assert!(v["q"][1].as_u64().unwrap() > 0, "query preview rendered");
    assert_eq!(v["e"][0], true);
    assert!(
        v["e"][1].as_u64().unwrap() > 0,
        "archived thumbnail rendered"
    );
    assert_eq!(v["scripts"], 0, "no script element made it onto the page");
    assert!(
        v["high"].as_u64().unwrap() >= 1,
        "a high finding is coloured"
    );
    // The name is shown as text, the override made visible.
    let h1 = v["h1"].as_str().unwrap();
    assert!(
        h1.contains("<script>alert(1)<img src=x onerror=alert(2)>\\u{202e}gpj.jpg"),
        "{h1}"
    );
    assert_eq!(v["imgs"], 2, "only the two pictures are images");
    let shot = screenshot(&d, "html-report.png");
    assert!(std::fs::metadata(shot).unwrap().len() > 10_000);

    d.open(&html.join("index.html"));
    let v = d.eval(
        "return {rows: document.querySelectorAll('#index .member').length,\
                 links: [...document.querySelectorAll('#index .member a')].map(a => a.getAttribute('href')),\
                 totals: document.getElementById('totals').textContent,\
                 scripts: document.scripts.length};",
    );
    assert_eq!(v["rows"], 2);
    assert_eq!(v["scripts"], 0);
    assert!(v["totals"]
        .as_str()
        .unwrap()
        .starts_with("2 pictures: 1 with an earlier copy"));
    assert!(v["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l == &json!(format!("{sha}.html"))));
    screenshot(&d, "html-index.png");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the index shows, top to bottom: each visible group's earliest-copy
/// date (null when none), its visible members' file names, and whether every
/// picture in it rendered.
const SHOWN: &str = "const shown = [...document.querySelectorAll('#index > .group')]\
    .filter(g => g.offsetParent !== null)\
    .map(g => ({top: g.getBoundingClientRect().top,\
               date: g.querySelector('.date') ? g.querySelector('.date').textContent : null,\
               before: g.classList.contains('before'),\
               names: [...g.querySelectorAll('.member')].filter(m => m.offsetParent !== null)\
                      .map(m => m.querySelector('a').textContent.split('/').pop()),\
               rendered: [...g.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0),\
               imgs: g.querySelectorAll('img').length}));\
    shown.sort((a, b) => a.top - b.top);\
    return {shown, scripts: document.scripts.length};";

#[test]
fn the_batch_index_groups_sorts_and_filters_in_a_real_browser() {
    let Some((chromium, chromedriver)) =
        browser("the_batch_index_groups_sorts_and_filters_in_a_real_browser")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let (html, out) = (dir.path().join("html"), dir.path().join("out"));
    run(retrace(Some(&db))
        .arg("scan")
        .arg(samples().join("incoming"))
        .args(["--claim-date", "2010-01-01", "--html"])
        .arg(&html)
        .arg("--out")
        .arg(&out));
    // What the index must show, from the reports of the same scan and the
    // archive's catalogue: file name -> (earliest copy's SHA-256, its date).
    let catalogue: std::collections::HashMap<String, String> =
        std::fs::read_to_string(samples().join("archive/sources.tsv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                (c[0].to_string(), c[2][..10].to_string())
            })
            .collect();
    let mut expected = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(&out).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "summary.json" {
            continue;
        }
        let r: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
        let name = r["path"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let copy = &r["earliest_copy"];
        let original = copy["path"].as_str().map(|p| {
            let file = p.rsplit('/').next().unwrap();
            (
                copy["sha256"].as_str().unwrap().to_string(),
                catalogue[file].clone(),
            )
        });
        expected.insert(name, original);
    }
    assert_eq!(expected.len(), 17);
    let found = expected.values().filter(|o| o.is_some()).count();
    assert!(
        found >= 8,
        "the matcher found only {found} copies: {expected:?}"
    );

    let d = Driver::start(&chromium, &chromedriver);
    d.open(&html.join("index.html"));
    let groups = |v: &Value| v["shown"].as_array().unwrap().clone();
    let names = |g: &Value| -> Vec<String> {
        g["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    };

    // Grouped by the earliest copy the reports name, its date the
    // catalogue's; every picture rendered, and no script ran.
    let v = d.eval(SHOWN);
    assert_eq!(v["scripts"], 0);
    let shown = groups(&v);
    let members: usize = shown.iter().map(|g| names(g).len()).sum();
    assert_eq!(members, 17, "every picture once");
    for g in &shown {
        let ns = names(g);
        let originals: std::collections::BTreeSet<_> = ns.iter().map(|n| &expected[n]).collect();
        assert_eq!(originals.len(), 1, "one earliest copy per group: {g}");
        let original = originals.into_iter().next().unwrap();
        match original {
            Some((sha, date)) => {
                assert_eq!(g["date"], json!(date), "{g}");
                let sharing = expected
                    .values()
                    .filter(|o| o.as_ref().is_some_and(|(s, _)| s == sha))
                    .count();
                assert_eq!(
                    ns.len(),
                    sharing,
                    "all the copies of one original together: {g}"
                );
                assert_eq!(
                    g["imgs"],
                    json!(ns.len() + 1),
                    "each thumbnail beside its earliest copy's"
                );
            }
            None => {
                assert!(g["date"].is_null());
                assert_eq!(
                    ns.len(),
                    1,
                    "a picture without an earlier copy stands alone"
                );
            }
        }
        assert_eq!(g["rendered"], true, "{g}");
    }
    // By verdict (the default): earlier copies before the claimed date
    // first, pictures without an earlier copy last.
    let before: Vec<bool> = shown.iter().map(|g| g["before"] == true).collect();
    assert!(before.windows(2).all(|w| w[0] >= w[1]), "{before:?}");
    let dated: Vec<bool> = shown.iter().map(|g| !g["date"].is_null()).collect();
    assert!(dated.windows(2).all(|w| w[0] >= w[1]), "{dated:?}");

    // By the earliest copy's date: oldest first, undated last.
    d.click("label[for=by-date]");
    let by_date = groups(&d.eval(SHOWN));
    let dates: Vec<&str> = by_date.iter().filter_map(|g| g["date"].as_str()).collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]), "{dates:?}");
    assert_eq!(
        dates.first(),
        Some(&"1984-01-20"),
        "Grace Hopper's portrait is the oldest"
    );
    assert!(by_date
        .iter()
        .skip(dates.len())
        .all(|g| g["date"].is_null()));

    // By file name.
    d.click("label[for=by-name]");
    let by_name = groups(&d.eval(SHOWN));
    let firsts: Vec<String> = by_name.iter().map(|g| names(g)[0].clone()).collect();
    let mut sorted = firsts.clone();
    sorted.sort();
    assert_eq!(firsts, sorted);
    assert_ne!(by_name, by_date, "the orders differ on these pictures");

    // Only earlier copies seen before the claimed date (2010-01-01).
    d.click("label[for=before-claim]");
    let filtered = groups(&d.eval(SHOWN));
    let want: usize = expected
        .values()
        .filter(|o| o.as_ref().is_some_and(|(_, d)| d.as_str() < "2010-01-01"))
        .count();
    let got: usize = filtered.iter().map(|g| names(g).len()).sum();
    assert_eq!(got, want);
    assert!(
        filtered
            .iter()
            .all(|g| g["date"].as_str().is_some_and(|d| d < "2010-01-01")),
        "{filtered:?}"
    );
    assert!(filtered.len() < shown.len());
    let shot = screenshot(&d, "html-index-triage.png");
    assert!(std::fs::metadata(shot).unwrap().len() > 10_000);
    // And back: the filter off shows everything again.
    d.click("label[for=before-claim]");
    assert_eq!(
        groups(&d.eval(SHOWN))
            .iter()
            .map(|g| names(g).len())
            .sum::<usize>(),
        17
    );
}
