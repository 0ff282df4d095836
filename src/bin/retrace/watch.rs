//! `retrace watch DIR --out DIR`: process every picture that lands in a folder,
//! once it is completely written, and write its report atomically.
//!
//! notify (inotify on Linux) only says *where to look*; whether a file is
//! ready is decided from the file itself: its size and modification time must
//! stay the same for `settle` (a close-after-write event shortens nothing, as
//! a copier may close and reopen). A full walk at start and every `rescan`
//! catches what events missed (a full inotify queue, files that arrived while
//! the watcher was down). The archive remembers each processed version (path,
//! size, mtime), after its report is written, so a restart skips what is done
//! and does what is not; a crash between the two redoes one file, and redoing
//! is harmless (the report is rewritten whole, a sighting is not duplicated).
//! A file that vanishes or changes while it is read is simply looked at again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::write_atomic;
use notify::{RecursiveMode, Watcher};

use retrace::internals::input::discover::{discover, is_image_file, WalkOptions};
use retrace::internals::pipeline::{first_seen, Engine, FirstSeen};
use retrace::internals::report::{self, escape_untrusted as esc, html};
use retrace::Sighting;

/// Everything `watch` can be told.
pub struct WatchConfig {
    /// The folder watched (recursively).
    pub dir: PathBuf,
    /// Where reports go, mirroring the watched tree.
    pub out: PathBuf,
    /// Also write an HTML page next to each JSON report.
    pub html: bool,
    /// Add each picture to the archive after matching.
    pub record: bool,
    /// Source label for recorded pictures.
    pub source: String,
    /// How long size and mtime must stay unchanged before a file is read.
    pub settle: Duration,
    /// Full walk interval, for events that were missed. Walks never follow
    /// links and go as deep as the engine's `Limits::max_depth`.
    pub rescan: Duration,
}

/// What was last seen of a file that is not processed yet.
struct Pending {
    size: u64,
    mtime_ns: i64,
    since: Instant,
}

fn stat(path: &Path) -> Option<(u64, i64)> {
    // symlink_metadata: a link dropped into the folder is not followed.
    let m = std::fs::symlink_metadata(path).ok()?;
    if !m.file_type().is_file() {
        return None;
    }
    let mtime = m.modified().ok()?;
    let ns = match mtime.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    };
    Some((m.len(), ns))
}

fn ignored(path: &Path, out: &Path) -> bool {
    // Hidden files are partial downloads and editor swap files by convention;
    // our own output must never be fed back in.
    path.starts_with(out)
        || path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.') || n.ends_with(".tmp") || n.ends_with(".part"))
}

/// Watch until `cancel` is set. Returns how many files were processed.
pub fn run(engine: &Engine, config: &WatchConfig, cancel: &AtomicBool) -> Result<u64> {
    if !engine.has_archive() {
        anyhow::bail!("watch needs an archive to remember what it processed: use --archive PATH");
    }
    let dir = std::fs::canonicalize(&config.dir)
        .with_context(|| format!("watching {}", config.dir.display()))?;
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("creating {}", config.out.display()))?;
    let out = std::fs::canonicalize(&config.out)?;
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // The receiver only goes away when the watch ends.
        let _ = tx.send(ev);
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    println!(
        "retrace watch: watching {} → {}",
        esc(&dir.to_string_lossy()),
        esc(&out.to_string_lossy())
    );
    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    let mut processed = 0u64;
    let mut next_walk = Instant::now();
    // Short enough that a settled file is picked up promptly.
    let tick = (config.settle / 4).clamp(Duration::from_millis(50), Duration::from_millis(500));
    while !cancel.load(Ordering::SeqCst) {
        if Instant::now() >= next_walk {
            let (found, _problems) = discover(
                std::slice::from_ref(&dir),
                &WalkOptions::default(),
                &engine.config().limits,
            );
            for c in found {
                if !ignored(&c.path, &out) {
                    note(&mut pending, c.path);
                }
            }
            next_walk = Instant::now() + config.rescan;
        }
        match rx.recv_timeout(tick) {
            Ok(ev) => {
                for ev in std::iter::once(ev).chain(rx.try_iter()) {
                    match ev {
                        Ok(ev) => {
                            for p in ev.paths {
                                if !ignored(&p, &out) {
                                    note(&mut pending, p);
                                }
                            }
                        }
                        // Overflow or a watch error: walk everything again now.
                        Err(e) => {
                            eprintln!("retrace watch: {}", esc(&e.to_string()));
                            next_walk = Instant::now();
                        }
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the file watcher stopped")
            }
        }
        let ready = settled(&mut pending, config.settle);
        for path in ready {
            if cancel.load(Ordering::SeqCst) {
                break;
            }
            match process_one(engine, config, &dir, &out, &path) {
                Ok(Outcome::Done) => processed += 1,
                Ok(Outcome::AlreadyDone | Outcome::NotAnImage | Outcome::Vanished) => {}
                // Changed while it was read: look again once it settles.
                Ok(Outcome::Changed) => note(&mut pending, path),
                Err(e) => {
                    // Writing the report or the archive failed (disk full, ...):
                    // say so and try again later rather than give up on the file.
                    eprintln!(
                        "retrace watch: {}: {}",
                        esc(&path.to_string_lossy()),
                        esc(&format!("{e:#}"))
                    );
                    note(&mut pending, path);
                }
            }
        }
    }
    Ok(processed)
}

fn note(pending: &mut HashMap<PathBuf, Pending>, path: PathBuf) {
    pending.entry(path).or_insert(Pending {
        size: u64::MAX,
        mtime_ns: i64::MIN,
        since: Instant::now(),
    });
}

/// Files whose size and mtime have not changed for `settle`; vanished files
/// and folders are forgotten.
fn settled(pending: &mut HashMap<PathBuf, Pending>, settle: Duration) -> Vec<PathBuf> {
    let now = Instant::now();
    let mut ready = Vec::new();
    pending.retain(|path, p| match stat(path) {
        None => false,
        Some((size, mtime_ns)) => {
            if size != p.size || mtime_ns != p.mtime_ns {
                *p = Pending {
                    size,
                    mtime_ns,
                    since: now,
                };
                true
            } else if now.duration_since(p.since) >= settle {
                ready.push(path.clone());
                false
            } else {
                true
            }
        }
    });
    ready.sort();
    ready
}

enum Outcome {
    Done,
    AlreadyDone,
    NotAnImage,
    Vanished,
    Changed,
}

fn process_one(
    engine: &Engine,
    config: &WatchConfig,
    dir: &Path,
    out: &Path,
    path: &Path,
) -> Result<Outcome> {
    let Some((size, mtime_ns)) = stat(path) else {
        return Ok(Outcome::Vanished);
    };
    let key = path.as_os_str().as_encoded_bytes().to_vec();
    let done = engine
        .with_archive(|a| a.watched(&key))
        .transpose()?
        .flatten();
    if done == Some((size, mtime_ns)) {
        return Ok(Outcome::AlreadyDone);
    }
    if size == 0 || !is_image_file(path) {
        return Ok(Outcome::NotAnImage);
    }
    let ex = engine.process_path(path);
    // The bytes analysed must be the settled ones, or the report describes a
    // file that no longer exists.
    match stat(path) {
        None => return Ok(Outcome::Vanished),
        Some(now) if now != (size, mtime_ns) => return Ok(Outcome::Changed),
        Some(_) => {}
    }
    let relative = path.strip_prefix(dir).unwrap_or(path);
    // The page first, the JSON report last: a pipeline that picks up the
    // report when it appears finds the page already there.
    if config.html {
        let mut page = Vec::new();
        html::write_page(&mut page, &ex.report, &engine.pictures(&ex, 640))?;
        let mut name = relative.as_os_str().to_owned();
        name.push(".html");
        write_atomic(&out.join(name), &page)?;
    }
    let mut name = relative.as_os_str().to_owned();
    name.push(".json");
    let target = out.join(name);
    let mut bytes = serde_json::to_vec_pretty(&ex.report)?;
    bytes.push(b'\n');
    write_atomic(&target, &bytes)?;
    if config.record {
        if let Some(entry) = engine.archive_entry(&ex) {
            let (first, from) = first_seen(&ex, &FirstSeen::Now);
            engine.record(&[(
                entry,
                Sighting {
                    location: path.to_string_lossy().into_owned(),
                    source: config.source.clone(),
                    url: None,
                    first_seen: first,
                    first_seen_from: from,
                },
            )])?;
        }
    }
    engine
        .with_archive(|a| {
            a.mark_watched(
                &key,
                size,
                mtime_ns,
                ex.report.sha256.as_deref(),
                &target.to_string_lossy(),
            )
        })
        .transpose()?;
    println!("{}", report::text::summary_line(&ex.report));
    Ok(Outcome::Done)
}
