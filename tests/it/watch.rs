//! `retrace watch`: the real binary on a temp folder. Pictures are dropped in
//! whole, copied slowly in chunks, deleted half-way, put in a subfolder; the
//! watcher is killed (SIGKILL, no clean shutdown) and restarted, and must then
//! do what arrived while it was down and nothing it had already done.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::common::*;

struct Watcher {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    fn start(db: &Path, dir: &Path, out: &Path) -> Watcher {
        let mut child = retrace(Some(db))
            .arg("watch")
            .arg(dir)
            .arg("--out")
            .arg(out)
            .args(["--settle-ms", "1500", "--rescan", "2", "--html"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start retrace watch");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        let w = Watcher { child, lines };
        w.wait_for("watch started", || {
            w.lines
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("watching"))
        });
        w
    }

    fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; output: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn processed(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !l.contains("retrace watch:"))
            .cloned()
            .collect()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn report(out: &Path, rel: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(out.join(format!("{rel}.json"))).ok()?;
    Some(serde_json::from_str(&text).expect("a report is never seen half-written"))
}

fn mtime(p: PathBuf) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn watch_processes_complete_files_once_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    complete_files_once_across_restarts(&db, dir.path());
}

/// What `watch` does with an archive holding the samples (any backend), which
/// also keeps its memory of the files it processed; `dir` gets the inbox and
/// the reports.
pub(crate) fn complete_files_once_across_restarts(db: &Path, dir: &Path) {
    let inbox = dir.join("inbox");
    let out = dir.join("reports");
    std::fs::create_dir_all(inbox.join("sub")).unwrap();
    // Already there before the watcher starts.
    std::fs::copy(
        samples().join("incoming/storm_caption.jpg"),
        inbox.join("early.jpg"),
    )
    .unwrap();
    let w = Watcher::start(db, &inbox, &out);

    std::fs::copy(
        samples().join("incoming/china_resave.png"),
        inbox.join("sub/china.png"),
    )
    .unwrap();
    std::fs::write(inbox.join("notes.txt"), "not a picture").unwrap();
    // One picture copied slowly, in chunks with pauses much shorter than the settle time.
    let slow = std::fs::read(samples().join("incoming/new_coffee.jpg")).unwrap();
    {
        let mut f = std::fs::File::create(inbox.join("slow.jpg")).unwrap();
        for chunk in slow.chunks(slow.len().div_ceil(8)) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    // One that vanishes half-way through its copy.
    let doomed = std::fs::read(samples().join("incoming/rocket_caption.jpg")).unwrap();
    std::fs::write(inbox.join("doomed.jpg"), &doomed[..doomed.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    std::fs::remove_file(inbox.join("doomed.jpg")).unwrap();

    w.wait_for("three reports", || {
        ["early.jpg", "sub/china.png", "slow.jpg"]
            .iter()
            .all(|r| out.join(format!("{r}.json")).exists())
    });
    let early = report(&out, "early.jpg").unwrap();
    assert_eq!(early["earliest_copy"]["first_seen"], "2008-04-20T19:12:06");
    let china = report(&out, "sub/china.png").unwrap();
    assert_eq!(china["earliest_copy"]["first_seen"], "2011-08-21");
    let s = report(&out, "slow.jpg").unwrap();
    assert_eq!(
        s["errors"].as_array().unwrap().len(),
        0,
        "the slow copy was read only once complete: {}",
        s["errors"]
    );
    assert_eq!(s["bytes"], slow.len() as u64);
    assert!(out.join("slow.jpg.html").exists());
    // Give the watcher time to (wrongly) report the others.
    std::thread::sleep(Duration::from_secs(2));
    assert!(report(&out, "doomed.jpg").is_none());
    assert!(!out.join("notes.txt.json").exists());
    assert_eq!(w.processed().len(), 3, "{:?}", w.processed());
    // No temporary files are left behind.
    let leftovers: Vec<_> = walkdir::WalkDir::new(&out)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let before = mtime(out.join("early.jpg.json"));
    drop(w); // SIGKILL: no chance to tidy up

    // Arrives while nobody watches.
    std::fs::copy(
        samples().join("incoming/wood_messenger_640.jpg"),
        inbox.join("while_down.jpg"),
    )
    .unwrap();
    let w = Watcher::start(db, &inbox, &out);
    w.wait_for("the picture that arrived while down", || {
        out.join("while_down.jpg.json").exists()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        report(&out, "while_down.jpg").unwrap()["earliest_copy"]["first_seen"],
        "2008-04-19T13:43:16"
    );
    let again = w.processed();
    assert_eq!(again.len(), 1, "only the new file is processed: {again:?}");
    assert!(again[0].contains("while_down.jpg"));
    assert_eq!(mtime(out.join("early.jpg.json")), before, "not redone");
}
