//! A batch: many pictures through one [`Engine`] on a pool of threads, from a
//! list of candidates or from folders walked while the first pictures are
//! processed. Owns the threads, the order in which results are handed back
//! (as they finish, on the caller's thread) and cancellation; what happens to
//! one picture is the engine's, and what is done with its report the
//! caller's.

use std::borrow::Borrow;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use rayon::prelude::*;

use super::{Engine, Examined};
use crate::error::{Error, Result};
use crate::input::discover::{discover_each, Candidate, WalkOptions, WalkProblem};

/// A batch of pictures run through an [`Engine`] in parallel: the builder
/// of `retrace scan` and `retrace archive add`.
///
/// Set what differs from the defaults, then run it over a list of files
/// ([`Scan::run`]) or over folders, walked as they are processed
/// ([`Scan::walk`]). Each finished picture is handed to a callback on the
/// calling thread as soon as it is done (completion order: sort when a stable
/// order matters). A picture that cannot be read or decoded is handed over
/// with its errors in its report, and the batch goes on.
///
/// ```
/// use std::path::PathBuf;
/// use std::sync::atomic::AtomicBool;
/// use retrace::{Config, Engine, Scan};
///
/// # fn main() -> Result<(), retrace::Error> {
/// let engine = Engine::new(Config::default(), None)?;
/// let stop = AtomicBool::new(false);
/// let mut hashed = 0;
/// let problems = Scan::new(&engine)
///     .threads(2)
///     .cancel(&stop)
///     .examine_only(true)
///     .walk(&[PathBuf::from("samples/incoming")], |progress, candidate, examined| {
///         assert!(progress.found >= 1, "{}", candidate.path.display());
///         hashed += usize::from(examined.hashes.is_some());
///     })?;
/// assert!(problems.is_empty());
/// // The 17 pictures of samples/incoming; its EXPECTED.tsv is not one.
/// assert_eq!(hashed, 17);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use = "a Scan does nothing until `run` or `walk`"]
pub struct Scan<'a> {
    engine: &'a Engine,
    threads: Option<usize>,
    cancel: Option<&'a AtomicBool>,
    examine_only: bool,
    walk: WalkOptions,
}

impl<'a> Scan<'a> {
    /// A scan with the engine's configuration and every default below.
    pub fn new(engine: &'a Engine) -> Scan<'a> {
        Scan {
            engine,
            threads: None,
            cancel: None,
            examine_only: false,
            walk: WalkOptions::default(),
        }
    }

    /// How many worker threads examine pictures; 0 counts as 1, `None` is
    /// the default: one per core (rayon's default, which the
    /// `RAYON_NUM_THREADS` environment variable overrides). Takes a count or
    /// an `Option`, so that a caller's optional setting (a flag, an
    /// argument) passes through as it is.
    pub fn threads(mut self, n: impl Into<Option<usize>>) -> Scan<'a> {
        self.threads = n.into();
        self
    }

    /// A flag that stops the scan once set, from any thread (a Ctrl-C
    /// handler, or the callback itself when the results cannot be kept): no
    /// new picture is started and the walk stops; pictures already being
    /// processed are finished and handed over. Default: none, the scan runs
    /// to the end.
    pub fn cancel(mut self, flag: &'a AtomicBool) -> Scan<'a> {
        self.cancel = Some(flag);
        self
    }

    /// Only read, decode, read the metadata of and hash each picture
    /// ([`Engine::examine_path`], what recording into the archive needs),
    /// without matching it against the archive or assessing it. Default:
    /// false, each picture is matched and assessed as
    /// [`Engine::process_path`] does.
    pub fn examine_only(mut self, yes: bool) -> Scan<'a> {
        self.examine_only = yes;
        self
    }

    /// Whether [`Scan::walk`] follows symbolic links. Default: false (a link
    /// loop, or a link out of the tree, is a classic trap with folders from
    /// strangers). How deep it goes is the engine's
    /// [`Limits::max_depth`](crate::Limits::max_depth).
    pub fn follow_links(mut self, yes: bool) -> Scan<'a> {
        self.walk.follow_links = yes;
        self
    }

    /// Process `candidates` and hand each finished picture to `each`, on the
    /// calling thread, in completion order.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] when the pool of worker threads cannot be started;
    /// nothing is processed then. Problems with the pictures themselves are
    /// in their reports.
    pub fn run(
        &self,
        candidates: &[Candidate],
        each: impl FnMut(&Candidate, Examined),
    ) -> Result<()> {
        let pool = pool(self.threads)?;
        let batch: Vec<&Candidate> = candidates.iter().collect();
        let never = AtomicBool::new(false);
        let cancel = self.cancel.unwrap_or(&never);
        run_batches(
            self.engine,
            &pool,
            std::iter::once(batch),
            cancel,
            !self.examine_only,
            each,
        );
        Ok(())
    }

    /// [`Scan::run`] over the files under `roots`, walked while the first
    /// pictures are processed (a tree of 100 000 files, or one on a slow
    /// network share, takes seconds to minutes to list, and the list need
    /// not be held). A root that is a file is a candidate whatever its name;
    /// inside folders a file is one when its extension or its first bytes
    /// say image. Folders are walked in file-name order, at most the engine's
    /// [`Limits::max_depth`](crate::Limits::max_depth) levels deep. `each`
    /// also gets how far the walk has got, for a progress bar.
    ///
    /// Returns what could not be walked (an unreadable folder, a folder below
    /// the depth limit that holds files), in walk order, once the batch is
    /// done.
    ///
    /// # Errors
    ///
    /// As [`Scan::run`].
    pub fn walk(
        &self,
        roots: &[PathBuf],
        mut each: impl FnMut(WalkProgress, &Candidate, Examined),
    ) -> Result<Vec<WalkProblem>> {
        let pool = pool(self.threads)?;
        let never = AtomicBool::new(false);
        let cancel = self.cancel.unwrap_or(&never);
        let limits = &self.engine.config().limits;
        let walk = &self.walk;
        let found = AtomicUsize::new(0);
        let walked = AtomicBool::new(false);
        let (candidate_tx, candidate_rx) = mpsc::sync_channel::<Candidate>(WALK_AHEAD);
        let problems = std::thread::scope(|s| {
            let (found, walked) = (&found, &walked);
            let walker = s.spawn(move || {
                let mut problems = Vec::new();
                discover_each(
                    roots,
                    walk,
                    limits,
                    |c| {
                        // Counted before it is sent: a picture handed over is
                        // never more than the count says was found.
                        found.fetch_add(1, Ordering::AcqRel);
                        if cancel.load(Ordering::Relaxed) || candidate_tx.send(c).is_err() {
                            return ControlFlow::Break(());
                        }
                        ControlFlow::Continue(())
                    },
                    |p| problems.push(p),
                );
                walked.store(true, Ordering::Release);
                // Dropping the sender here ends the batches below.
                drop(candidate_tx);
                problems
            });
            // Owned by the batches: when the workers stop early (cancelled), the
            // receiver goes with them and the walk's next send fails and ends it.
            let batches = std::iter::from_fn(move || {
                let first = candidate_rx.recv().ok()?;
                let mut batch = vec![first];
                while batch.len() < WALK_BATCH {
                    match candidate_rx.try_recv() {
                        Ok(c) => batch.push(c),
                        Err(_) => break,
                    }
                }
                Some(batch)
            });
            run_batches(
                self.engine,
                &pool,
                batches,
                cancel,
                !self.examine_only,
                |c, ex| {
                    // `walked` first: once it is set, `found` is final.
                    let walked = walked.load(Ordering::Acquire);
                    let progress = WalkProgress {
                        found: found.load(Ordering::Acquire),
                        walked,
                    };
                    each(progress, c, ex)
                },
            );
            walker.join().unwrap_or_else(|_| {
                vec![WalkProblem {
                    path: PathBuf::new(),
                    message: "the walk of the folders stopped on an internal error".into(),
                }]
            })
        });
        Ok(problems)
    }
}

/// How far the walk of [`Scan::walk`] has got when a picture is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkProgress {
    /// Candidates found so far (at least the pictures handed over so far).
    pub found: usize,
    /// Whether the walk has finished, so that `found` is the total.
    pub walked: bool,
}

/// Candidates the walk lists ahead of the workers at most. The channel holds
/// its slots from the start (56 bytes each, the paths aside), so this is kept
/// small: a tree larger than this has its progress bar grow as it is walked.
pub const WALK_AHEAD: usize = 8192;

/// Candidates the workers take from the walk at once. Each batch is shared by
/// the workers as [`Scan::run`] shares its list; between batches a worker
/// waits for the batch's last picture, so a batch is large enough that this
/// is rare, and takes only what the walk has found already, so the first
/// pictures start while the walk goes on.
const WALK_BATCH: usize = 256;

fn pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n.max(1));
    }
    builder.build().map_err(|e| Error::Invalid {
        what: "thread count",
        message: e.to_string(),
    })
}

/// Process batches of candidates one after the other, each shared by the pool's
/// workers, and hand the results to `each` on the calling thread as they finish.
/// Candidates are owned (from a walk) or borrowed (from a caller's list).
fn run_batches<C: Borrow<Candidate> + Send>(
    engine: &Engine,
    pool: &rayon::ThreadPool,
    batches: impl Iterator<Item = Vec<C>> + Send,
    cancel: &AtomicBool,
    analyze: bool,
    mut each: impl FnMut(&Candidate, Examined),
) {
    // A bounded channel keeps memory flat when the consumer (disk, archive) is slower.
    let (tx, rx) = mpsc::sync_channel::<(C, Examined)>(64);
    std::thread::scope(|s| {
        s.spawn(move || {
            pool.install(|| {
                for batch in batches {
                    if cancel.load(Ordering::Relaxed) {
                        break;
                    }
                    batch.into_par_iter().for_each_with(tx.clone(), |tx, c| {
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let path = &c.borrow().path;
                        let ex = if analyze {
                            engine.process_path(path)
                        } else {
                            engine.examine_path_contained(path)
                        };
                        let _ = tx.send((c, ex));
                    });
                }
            });
        });
        for (c, ex) in rx {
            each(c.borrow(), ex);
        }
    });
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::limits::Limits;
    use crate::pipeline::Config;

    fn samples() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
    }

    #[test]
    fn a_walking_scan_processes_what_the_walk_lists_once_each() {
        let engine = Engine::new(Config::default(), None).unwrap();
        let roots = [samples().join("incoming"), samples().join("archive")];
        let (listed, _) =
            crate::input::discover::discover(&roots, &WalkOptions::default(), &Limits::default());
        assert!(listed.len() > 10);
        let mut seen = Vec::new();
        let mut last_found = 0;
        let cancel = AtomicBool::new(false);
        let problems = Scan::new(&engine)
            .threads(2)
            .cancel(&cancel)
            .examine_only(true)
            .walk(&roots, |p, c, ex| {
                assert!(p.found >= last_found, "the count only grows");
                last_found = p.found;
                seen.push(c.clone());
                assert!(p.found >= seen.len(), "never more handed over than found");
                assert_eq!(ex.report.path, c.path.to_string_lossy());
            })
            .unwrap();
        assert!(problems.is_empty());
        assert_eq!(last_found, listed.len());
        seen.sort_by(|a, b| a.path.cmp(&b.path));
        let mut listed = listed;
        listed.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(seen, listed);
    }

    #[test]
    fn a_walking_scan_cancelled_processes_nothing_and_says_what_it_could_not_walk() {
        let shallow = Config {
            limits: Limits {
                max_depth: 0,
                ..Limits::default()
            },
            ..Config::default()
        };
        let engine = Engine::new(shallow, None).unwrap();
        let problems = Scan::new(&engine)
            .threads(2)
            .examine_only(true)
            .walk(&[samples()], |_, c, _| {
                panic!("nothing at depth 0 is a picture: {c:?}")
            })
            .unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("depth limit"));

        let engine = Engine::new(Config::default(), None).unwrap();
        let mut handed = 0;
        Scan::new(&engine)
            .threads(2)
            .cancel(&AtomicBool::new(true))
            .examine_only(true)
            .walk(&[samples()], |_, _, _| handed += 1)
            .unwrap();
        assert_eq!(handed, 0);
    }
}
