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

#[test]
fn the_html_report_renders_in_a_real_browser() {
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
            "SKIPPED the_html_report_renders_in_a_real_browser: chromium and chromedriver are not \
             on PATH (Debian: apt-get install chromium chromium-driver; .ci/run does this)"
        );
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
        "return {rows: document.querySelectorAll('#index tr').length - 1,\
                 links: [...document.querySelectorAll('#index a')].map(a => a.getAttribute('href')),\
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
