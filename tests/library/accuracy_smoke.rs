//! Runs the accuracy benchmark's quick mode (`examples/accuracy.rs`, included
//! here as a module so the transformations exist once) and checks what must
//! hold whatever the verifier does: the copies are made, the bytes-level
//! copies and plain re-encodes are found, nothing is confirmed wrongly.
//! Skips with a message when `../shared/ref` is absent.

#[path = "../../examples/accuracy.rs"]
#[allow(dead_code)]
mod accuracy;

use accuracy::{Options, Rng, TRANSFORMATIONS};

#[test]
fn quick_benchmark_finds_the_easy_copies_and_confirms_nothing_wrong() {
    let opts = Options {
        quick: true,
        threads: 2,
        ..Options::default()
    };
    if !opts.ref_dir.join("photos").is_dir() {
        eprintln!("skipped: {} not present", opts.ref_dir.display());
        return;
    }
    let summary = accuracy::run(&opts).expect("quick run");
    let archived = summary.photos.iter().filter(|p| p.archived).count();
    assert!(archived >= 4, "quick set archives {archived} photos");
    assert!(summary.photos.len() > archived, "quick set has distractors");
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
    assert_eq!(
        summary.outcomes.len(),
        summary.photos.len() * TRANSFORMATIONS.len()
    );
    for o in &summary.outcomes {
        assert!(o.error.is_none(), "{:?}", o.error);
    }
    let rows = summary.rows();
    for name in ["as_is", "metadata_strip", "png_resave", "jpeg_q50"] {
        let r = rows.iter().find(|r| r.name == name).unwrap();
        assert_eq!(r.any, r.n, "{name}: {r:?}\n{}", summary.render(true));
        assert_eq!(r.earliest, r.n, "{name}: {r:?}");
    }
    let f = summary.falses();
    assert_eq!(f.confirmed, 0, "{}", summary.render(true));
    let report = summary.render(false);
    assert!(report.contains("jpeg_q50") && report.contains("False matches over"));
    let json = summary.to_json();
    assert!(json.contains("\"transformations\"") && json.trim_end().ends_with('}'));
}

#[test]
fn copies_are_deterministic_and_well_formed() {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(300, 200, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    }));
    let bytes = accuracy::png(&img);
    let src = accuracy::Source {
        bytes: &bytes,
        image: &img,
    };
    for t in TRANSFORMATIONS {
        let a = (t.make)(&src, &mut Rng::keyed(&["p", t.name]));
        let b = (t.make)(&src, &mut Rng::keyed(&["p", t.name]));
        assert_eq!(a, b, "{} is not deterministic", t.name);
        let copy = image::load_from_memory(&a).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert!(copy.width() >= 16 && copy.height() >= 16, "{}", t.name);
    }
    let shot = image::load_from_memory(&accuracy::phone_screenshot(&img, &mut Rng::keyed(&["s"])))
        .unwrap();
    assert_eq!((shot.width(), shot.height()), (1080, 2340));
}

#[test]
fn metadata_strip_keeps_the_pixels() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/ref/exif/exif-samples/jpg/gps/DSCN0010.jpg");
    let Ok(bytes) = std::fs::read(&dir) else {
        eprintln!("skipped: {} not present", dir.display());
        return;
    };
    let stripped = accuracy::strip_metadata(&bytes);
    assert!(stripped.len() < bytes.len(), "nothing stripped");
    let a = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let b = image::load_from_memory(&stripped).unwrap().to_rgb8();
    assert_eq!(a, b);
    assert!(!stripped.windows(4).any(|w| w == b"Exif"));
}
