//! Which files to look at. Walks folders with an explicit policy (links not
//! followed, depth bounded by [`Limits::max_depth`], errors per entry) and
//! yields candidates in a stable order. Files named on the command line are
//! always candidates; inside folders, a file is a candidate when its extension
//! says image or, failing that, when its first bytes do (a renamed photo is
//! still a photo; a README is not).

use std::fs::File;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::input::read::{sniff, Format};
use crate::limits::Limits;

/// File name extensions treated as images without looking inside.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "tif", "tiff", "bmp", "heic", "heif",
    "avif", // Camera RAW files, hashed through their JPEG preview.
    "cr2", "cr3", "nef", "nrw", "arw", "srf", "sr2", "dng", "orf", "raf", "rw2", "pef", "srw",
];

/// One file to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The path as it can be opened.
    pub path: PathBuf,
    /// The path relative to the root it was found under (the file name for a
    /// file given directly); used to mirror the input tree in `--out`.
    pub relative: PathBuf,
}

impl Candidate {
    /// A file given on its own, as a walk lists a root that is a file: its
    /// `relative` path is its file name (`root` when the path has none).
    pub fn new(path: impl Into<PathBuf>) -> Candidate {
        let path = path.into();
        let relative = path
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("root"));
        Candidate { path, relative }
    }
}

/// A walk failure that is not tied to one file's content (unreadable folder, loop).
#[derive(Debug, Clone)]
pub struct WalkProblem {
    /// Where.
    pub path: PathBuf,
    /// What happened.
    pub message: String,
}

/// Walk policy, besides its depth: that is a cap on a tree from strangers,
/// so it is [`Limits::max_depth`], with the other caps.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Follow symbolic links (off: a link loop or a link out of the tree is a classic trap).
    pub follow_links: bool,
}

/// Whether a file would be analysed inside a folder: an image extension, or
/// first bytes that say image. Used by the watch folder for single files.
pub fn is_image_file(path: &Path) -> bool {
    has_image_extension(path) || looks_like_image(path)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
        .unwrap_or(false)
}

fn looks_like_image(path: &Path) -> bool {
    let mut head = [0u8; 32];
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    sniff(&head[..n]) != Format::Unknown
}

/// Expand roots into candidates (sorted by path within each root) and
/// problems, at most `limits.max_depth` levels below each root.
pub fn discover(
    roots: &[PathBuf],
    options: &WalkOptions,
    limits: &Limits,
) -> (Vec<Candidate>, Vec<WalkProblem>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    discover_each(
        roots,
        options,
        limits,
        |c| {
            found.push(c);
            ControlFlow::Continue(())
        },
        |p| problems.push(p),
    );
    (found, problems)
}

/// The walk of [`discover`], handing each candidate and problem over as it is
/// found, in the same order, so that a batch can start on the first pictures
/// while the rest of a large (or slow, networked) tree is still being listed.
/// `found` returning `Break` stops the walk.
pub fn discover_each(
    roots: &[PathBuf],
    options: &WalkOptions,
    limits: &Limits,
    mut found: impl FnMut(Candidate) -> ControlFlow<()>,
    mut problem: impl FnMut(WalkProblem),
) {
    let max_depth = limits.max_depth;
    let prefix_roots = roots.len() > 1;
    for root in roots {
        if root.is_file() || !root.exists() {
            // A missing file becomes a per-file error at read time, with its report.
            if found(Candidate::new(root.clone())).is_break() {
                return;
            }
            continue;
        }
        let root_name = Candidate::new(root.clone()).relative;
        let walker = WalkDir::new(root)
            .follow_links(options.follow_links)
            .max_depth(max_depth)
            .sort_by_file_name();
        for entry in walker {
            match entry {
                Ok(e) if e.file_type().is_file() => {
                    let p = e.path();
                    if has_image_extension(p) || looks_like_image(p) {
                        let rel = p.strip_prefix(root).unwrap_or(p).to_path_buf();
                        let relative = if prefix_roots {
                            root_name.join(rel)
                        } else {
                            rel
                        };
                        let candidate = Candidate {
                            path: p.to_path_buf(),
                            relative,
                        };
                        if found(candidate).is_break() {
                            return;
                        }
                    }
                }
                // The walk stops here; a folder with content below the cap
                // is said aloud, or its pictures would silently get no report.
                Ok(e)
                    if e.file_type().is_dir()
                        && e.depth() == max_depth
                        && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some()) =>
                {
                    problem(WalkProblem {
                        path: e.path().to_path_buf(),
                        message: format!(
                            "not walked: deeper than the depth limit ({} levels, --max-depth)",
                            max_depth
                        ),
                    });
                }
                Ok(_) => {}
                Err(err) => problem(WalkProblem {
                    path: err
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone()),
                    message: err.to_string(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_images_by_extension_or_magic_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/deeper")).unwrap();
        std::fs::write(d.join("a.JPG"), b"not really a jpeg").unwrap();
        std::fs::write(d.join("notes.txt"), b"hello").unwrap();
        std::fs::write(d.join("sub/renamed.dat"), b"\x89PNG\r\n\x1a\n....").unwrap();
        std::fs::write(d.join("sub/deeper/b.png"), b"x").unwrap();
        let (c, problems) = discover(
            &[d.to_path_buf()],
            &WalkOptions::default(),
            &Limits::default(),
        );
        let rel: Vec<_> = c.iter().map(|c| c.relative.clone()).collect();
        assert_eq!(
            rel,
            vec![
                PathBuf::from("a.JPG"),
                PathBuf::from("sub/deeper/b.png"),
                PathBuf::from("sub/renamed.dat")
            ]
        );
        assert!(problems.is_empty());
        let shallow = Limits {
            max_depth: 1,
            ..Limits::default()
        };
        let (c, problems) = discover(&[d.to_path_buf()], &WalkOptions::default(), &shallow);
        assert_eq!(c.len(), 1);
        // `sub` holds pictures the walk did not reach: said, not skipped silently.
        assert_eq!(problems.len(), 1);
        assert!(problems[0].path.ends_with("sub"));
        assert!(problems[0].message.contains("depth limit"));
    }

    #[test]
    fn a_walk_told_to_stop_lists_nothing_more() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for name in ["a.jpg", "b.jpg", "c.jpg"] {
            std::fs::write(d.join(name), b"x").unwrap();
        }
        let mut seen = Vec::new();
        discover_each(
            &[d.to_path_buf()],
            &WalkOptions::default(),
            &Limits::default(),
            |c| {
                seen.push(c.relative);
                if seen.len() == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
            |_| {},
        );
        assert_eq!(seen, vec![PathBuf::from("a.jpg"), PathBuf::from("b.jpg")]);
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loops_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("x.jpg"), b"x").unwrap();
        std::os::unix::fs::symlink(d, d.join("loop")).unwrap();
        let (c, _) = discover(
            &[d.to_path_buf()],
            &WalkOptions::default(),
            &Limits::default(),
        );
        assert_eq!(c.len(), 1);
    }
}
