use super::*;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

#[test]
fn a_walking_scan_processes_what_the_walk_lists_once_each() {
    let engine = Engine::new(Config::default(), None).unwrap();
    let roots = [samples().join("incoming"), samples().join("archive")];
    let walk = WalkOptions::default();
    let (listed, _) = crate::input::discover::discover(&roots, &walk);
    assert!(listed.len() > 10);
    let mut seen = Vec::new();
    let mut last_found = 0;
    let cancel = AtomicBool::new(false);
    let problems = scan_walk(
        &engine,
        &roots,
        &walk,
        Some(2),
        &cancel,
        false,
        |p, c, ex| {
            assert!(p.found >= last_found, "the count only grows");
            last_found = p.found;
            seen.push(c.clone());
            assert!(p.found >= seen.len(), "never more handed over than found");
            assert_eq!(ex.report.path, c.path.to_string_lossy());
        },
    )
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
    let engine = Engine::new(Config::default(), None).unwrap();
    let shallow = WalkOptions {
        max_depth: 0,
        ..WalkOptions::default()
    };
    let problems = scan_walk(
        &engine,
        &[samples()],
        &shallow,
        Some(2),
        &AtomicBool::new(false),
        false,
        |_, c, _| panic!("nothing at depth 0 is a picture: {c:?}"),
    )
    .unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].message.contains("depth limit"));

    let mut handed = 0;
    scan_walk(
        &engine,
        &[samples()],
        &WalkOptions::default(),
        Some(2),
        &AtomicBool::new(true),
        false,
        |_, _, _| handed += 1,
    )
    .unwrap();
    assert_eq!(handed, 0);
}

#[test]
fn only_embedded_copies_that_differ_or_were_not_compared_are_searched() {
    let comparison = |same_picture| crate::metadata::thumbnail::ThumbnailComparison {
        width: 160,
        height: 120,
        trimmed: false,
        aspect_main: 4.0 / 3.0,
        aspect_thumbnail: 4.0 / 3.0,
        distance: Default::default(),
        pdq_reliable: true,
        same_picture,
        heif_item: None,
    };
    assert!(!worth_searching(Some(&comparison(true))));
    assert!(worth_searching(Some(&comparison(false))));
    assert!(worth_searching(None));
}
