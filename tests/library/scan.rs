//! The batch builder, `retrace::Scan`, as an embedder reaches it (the crate
//! root only): how many pictures it hands over, what `examine_only` leaves
//! out, that a cancelled scan stops early, and that the walk's depth is the
//! engine's `Limits::max_depth`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use retrace::{Archive, Candidate, Config, Engine, FirstSeenFrom, Limits, Scan, Sighting};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// The pictures of samples/incoming by their names, listed without retrace.
fn incoming_pictures() -> BTreeSet<PathBuf> {
    std::fs::read_dir(samples().join("incoming"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jpg") || e.eq_ignore_ascii_case("png"))
        })
        .collect()
}

#[test]
fn a_walk_hands_over_every_picture_once_and_examine_only_leaves_matching_out() {
    let engine = Engine::new(Config::default(), None).unwrap();
    let want = incoming_pictures();
    assert_eq!(want.len(), 17, "samples/incoming changed: {want:?}");
    let mut seen = Vec::new();
    let mut last = None;
    let problems = Scan::new(&engine)
        .threads(2)
        .examine_only(true)
        .walk(&[samples().join("incoming")], |progress, candidate, ex| {
            assert_eq!(ex.report.path, candidate.path.to_string_lossy());
            assert!(
                ex.hashes.is_some(),
                "{}: {:?}",
                ex.report.path,
                ex.report.errors
            );
            // Examined only: nothing matched, nothing assessed.
            assert!(!ex.report.archive.searched);
            assert!(ex.report.findings.is_empty(), "{:?}", ex.report.findings);
            seen.push(candidate.path.clone());
            last = Some(progress);
        })
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let last = last.expect("pictures were handed over");
    assert!(last.walked, "the walk ended before the last picture");
    assert_eq!(last.found, want.len());
    assert_eq!(seen.len(), want.len(), "each picture once");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), want);
}

#[test]
fn a_list_is_matched_against_the_archive_unless_examine_only() {
    let engine = Engine::new(Config::default(), Some(Archive::in_memory().unwrap())).unwrap();
    let original = engine.process_path(&samples().join("archive/Dune.jpg"));
    let entry = engine.archive_entry(&original).expect("decoded and hashed");
    let seen = Sighting {
        location: "samples/archive/Dune.jpg".into(),
        source: "photo desk".into(),
        url: None,
        first_seen: "2019-06-01T12:00:00Z".into(),
        first_seen_from: FirstSeenFrom::Given,
    };
    engine.record(&[(entry, seen)]).unwrap();
    let list = [
        Candidate::new(samples().join("incoming/dune_crop_centre.jpg")),
        Candidate::new(samples().join("not-in-archive/flower.jpg")),
    ];
    assert_eq!(list[0].relative, Path::new("dune_crop_centre.jpg"));

    let mut earliest = Vec::new();
    Scan::new(&engine)
        .threads(2)
        .run(&list, |c, ex| {
            assert!(ex.report.archive.searched);
            earliest.push((c.relative.clone(), ex.report.earliest_copy.map(|m| m.path)))
        })
        .unwrap();
    earliest.sort();
    assert_eq!(
        earliest,
        [
            (
                PathBuf::from("dune_crop_centre.jpg"),
                Some("samples/archive/Dune.jpg".to_string())
            ),
            (PathBuf::from("flower.jpg"), None),
        ]
    );

    let mut handed = 0;
    Scan::new(&engine)
        .examine_only(true)
        .run(&list, |_, ex| {
            handed += 1;
            assert!(ex.report.earliest_copy.is_none());
            assert!(ex.report.matches.is_empty());
        })
        .unwrap();
    assert_eq!(handed, 2);
}

#[test]
fn a_cancelled_scan_stops_taking_pictures() {
    let engine = Engine::new(Config::default(), None).unwrap();
    let total = incoming_pictures().len();
    // Set from the callback, as `archive add` does when the archive fails:
    // one worker finishes what it holds, and takes nothing new.
    let stop = AtomicBool::new(false);
    let mut handed = 0;
    Scan::new(&engine)
        .threads(1)
        .cancel(&stop)
        .examine_only(true)
        .walk(&[samples().join("incoming")], |_, _, _| {
            handed += 1;
            stop.store(true, Ordering::SeqCst);
        })
        .unwrap();
    assert!(handed >= 1);
    assert!(
        handed < total,
        "{handed} of {total} handed over after the stop"
    );

    // Set before the start: nothing at all.
    let stopped = AtomicBool::new(true);
    let list: Vec<Candidate> = incoming_pictures()
        .into_iter()
        .map(Candidate::new)
        .collect();
    let mut handed = 0;
    Scan::new(&engine)
        .cancel(&stopped)
        .run(&list, |_, _| handed += 1)
        .unwrap();
    assert_eq!(handed, 0);
}

#[test]
fn the_walk_goes_as_deep_as_the_engines_max_depth() {
    let walk = |max_depth| {
        let config = Config {
            limits: Limits {
                max_depth,
                ..Limits::default()
            },
            ..Config::default()
        };
        let engine = Engine::new(config, None).unwrap();
        let mut handed = 0;
        let problems = Scan::new(&engine)
            .examine_only(true)
            .walk(&[samples()], |_, _, _| handed += 1)
            .unwrap();
        let unwalked: BTreeSet<PathBuf> = problems
            .iter()
            .inspect(|p| assert!(p.message.contains("depth limit"), "{p:?}"))
            .map(|p| p.path.strip_prefix(samples()).unwrap().to_path_buf())
            .collect();
        (handed, unwalked)
    };
    // samples/ holds only folders of pictures (and a README and a script):
    // one level down nothing is a picture, and each folder is said unwalked.
    let (handed, unwalked) = walk(1);
    assert_eq!(handed, 0);
    assert_eq!(
        unwalked,
        BTreeSet::from(["archive", "incoming", "not-in-archive"].map(PathBuf::from))
    );
    let (handed, unwalked) = walk(2);
    assert!(unwalked.is_empty(), "{unwalked:?}");
    assert!(handed > incoming_pictures().len(), "{handed}");
}
