//! Wires the stages together for one file (`Engine`) and for a batch
//! ([`scan`]). The only module that uses threads: every stage function handles
//! one item and is called from here, in parallel with rayon (in `scan`) or one
//! by one. A file that fails at any stage still yields a report with its
//! `errors`, and the batch goes on.

pub mod batch;
pub mod catalogue;
pub mod cluster;
pub mod scan;

pub use scan::{Scan, WalkProgress};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, TryLockError};
use std::time::{Duration, Instant, SystemTime};

use image::DynamicImage;

use crate::archive::{Archive, NewImage, Recorded, Sighting, StoredHash};
use crate::assess::{self, Claim};
use crate::decode;
use crate::error::{Error, Result};
use crate::evidence::{FindingCode, FirstSeenFrom, Stage, StageError};
use crate::features::{FeatureParams, Features};
use crate::hash::{self, variants, Hashes};
use crate::index::MemoryIndex;
use crate::input::layout::Layout;
use crate::input::read::{self, Blob, Format};
use crate::limits::Limits;
use crate::matching::align::Thumb;
use crate::matching::{self, MatchParams, Query};
use crate::metadata::{self, Metadata};
use crate::report::{ArchiveSearch, CropSearch, Report};

/// Everything that shapes a run. [`Config::default`] is what the CLI runs
/// with when no flag says otherwise.
#[derive(Debug, Clone)]
pub struct Config {
    /// Size caps.
    pub limits: Limits,
    /// What the pictures are claimed to show.
    pub claim: Claim,
    /// Matching thresholds.
    pub matching: MatchParams,
    /// When the embedded thumbnail counts as another picture.
    pub thumbnail: crate::hash::thumbnail::Thresholds,
    /// How stale the in-memory index may get before matching first reads the
    /// pictures other processes recorded since; `None` is
    /// [`DEFAULT_ARCHIVE_REFRESH`], zero reads before every picture.
    pub archive_refresh: Option<Duration>,
    /// Where the archive's index is saved between runs (see
    /// [`crate::index::SnapshotOf`]); `None`: loaded from the archive every
    /// time. A snapshot that does not fit the archive is ignored and replaced.
    pub index_cache: Option<PathBuf>,
    /// Below this many images the index is not saved: loading from the
    /// database is quick there (default [`DEFAULT_INDEX_CACHE_MIN_IMAGES`]).
    pub index_cache_min_images: u64,
    /// Look up by scanning the stored hashes only, never building the
    /// index's substring tables. Otherwise they are built once lookups they
    /// would answer more cheaply have together saved what building them costs
    /// (matching's own lookups, at the default radii, never do: see
    /// `src/index/mih.rs`); this rules them out for a process that matches a
    /// picture or two (`check`) whatever its settings.
    pub index_scan_only: bool,
}

/// The default [`Config::index_cache_min_images`]: an archive of this many
/// images loads from SQLite in about a second.
pub const DEFAULT_INDEX_CACHE_MIN_IMAGES: u64 = 20_000;

/// [`Config::index_cache`] of the CLI when none is given: beside a SQLite
/// archive, its path with `.index` appended; `None` for a PostgreSQL URL
/// (there is no file to put it beside). Shared with the Python package so
/// that both use the same snapshot.
pub fn default_index_cache(archive: &Path) -> Option<PathBuf> {
    if crate::archive::is_postgres_url(archive) {
        return None;
    }
    let mut name = archive.as_os_str().to_os_string();
    name.push(".index");
    Some(PathBuf::from(name))
}

/// The matching settings of the CLI's `--crop-search N`: how many archived
/// pictures the local-feature index points at are verified (the search for
/// crops, screenshots, captioned and turned copies); `None` keeps the
/// default. Shared with the Python package so that both mean the same by it.
pub fn match_params_with_crop_search(crop_search: Option<u16>) -> MatchParams {
    let mut p = MatchParams::default();
    if let Some(n) = crop_search {
        p.feature_candidates = usize::from(n);
    }
    p
}

impl Default for Config {
    // By hand, so that the defaults are the library's and not each caller's:
    // a derived one left `index_cache_min_images` at 0.
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            claim: Claim::default(),
            matching: MatchParams::default(),
            thumbnail: Default::default(),
            archive_refresh: None,
            index_cache: None,
            index_cache_min_images: DEFAULT_INDEX_CACHE_MIN_IMAGES,
            index_scan_only: false,
        }
    }
}

/// How the engine's index was loaded.
#[derive(Debug, Default)]
pub struct IndexLoad {
    /// From the snapshot at [`Config::index_cache`].
    pub from_snapshot: bool,
    /// Why a snapshot that was there was not used.
    pub snapshot_refused: Option<SnapshotError>,
    /// Images read from the archive after the snapshot's.
    pub caught_up: u64,
    /// A snapshot written by this engine: its size, or why writing failed.
    pub saved: Option<std::result::Result<u64, SnapshotError>>,
}

/// Why an index snapshot ([`Config::index_cache`]) was not used or not
/// written. Either way the engine works from the archive: this is a warning.
/// The `Display` leaves the cause to `source()`;
/// [`error_chain`](crate::error::error_chain) writes both.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The file could not be read or written, or is not a snapshot this
    /// version reads.
    #[error("{}", path.display())]
    File {
        /// The snapshot.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The snapshot was taken from another archive: its last image is not
    /// this archive's.
    #[error("{}: taken from another archive (image {last_id} differs)", path.display())]
    OtherArchive {
        /// The snapshot.
        path: PathBuf,
        /// The snapshot's last image id.
        last_id: i64,
    },
    /// Pictures got local features since the snapshot was taken.
    #[error(
        "{}: the archive's local features changed since it was taken ({} pictures with features then, {} now)",
        path.display(),
        count(.then),
        count(.now)
    )]
    FeaturesChanged {
        /// The snapshot.
        path: PathBuf,
        /// Pictures with features when it was taken, when known.
        then: Option<u64>,
        /// Pictures with features now, when the archive could tell.
        now: Option<u64>,
    },
    /// Another thread panicked while it held the archive.
    #[error("archive lock poisoned")]
    LockPoisoned,
    /// The snapshot's last image left the archive before it was written.
    #[error("image {0} is gone")]
    ImageGone(i64),
    /// The archive failed while the snapshot was written.
    #[error(transparent)]
    Archive(Box<Error>),
}

fn count(n: &Option<u64>) -> String {
    n.map_or("?".into(), |n| n.to_string())
}

/// How often a long-running engine (`serve`, `watch`, a long `scan`) picks up
/// what other workers recorded: a picture recorded anywhere matches here about
/// this long after it was committed. One indexed query when nothing is new.
pub const DEFAULT_ARCHIVE_REFRESH: Duration = Duration::from_secs(1);

/// Images read per step when following the archive: bounds the memory and the
/// time the index is write-locked when another worker has just added many.
const FOLLOW_STEP: u32 = 10_000;

/// Where the in-memory index stands against the archive.
struct Follow {
    /// The highest image id in the index; newer rows are above it.
    last_id: i64,
    /// When the archive was last read for new rows.
    at: Instant,
}

/// A picture read, decoded and hashed, before matching.
pub struct Examined {
    /// The report so far.
    pub report: Report,
    /// Metadata, when the file could be read.
    pub metadata: Option<Metadata>,
    /// The working copy with EXIF orientation applied, when decoded.
    pub working: Option<DynamicImage>,
    /// Hashes of the whole picture.
    pub hashes: Option<Hashes>,
    /// The working copy grey (as `to_luma8` makes it), kept from hashing
    /// for the stages that read luma only.
    pub grey: Option<image::GrayImage>,
    /// File modification time, when read from disk.
    pub mtime: Option<SystemTime>,
    /// The embedded EXIF thumbnail, decoded and oriented, with its hashes;
    /// for a HEIF file without one, the primary image's thumbnail item.
    pub thumbnail: Option<(DynamicImage, Hashes)>,
    /// The HEIF item id of `thumbnail` when it is a HEIF thumbnail item.
    pub thumbnail_heif_item: Option<u32>,
    /// The MPF preview, decoded and oriented, with its hashes.
    pub preview: Option<(DynamicImage, Hashes)>,
    /// Local features of the working copy as an incoming picture
    /// ([`FeatureParams::query`]), once computed (by matching or recording).
    pub features: Option<Features>,
}

/// The stages with their configuration and, optionally, an archive.
pub struct Engine {
    config: Config,
    archive: Option<Mutex<Archive>>,
    // Matching reads it from every worker; recording during a scan adds to it.
    index: RwLock<MemoryIndex>,
    archive_images: AtomicU64,
    follow: Mutex<Follow>,
    index_load: IndexLoad,
}

fn stage_error(stage: Stage, e: &Error) -> StageError {
    StageError {
        stage,
        message: crate::error::error_chain(e),
    }
}

/// The smaller copies a file carries of its own picture, matched against the
/// archive besides the main picture.
#[derive(Debug, Clone, Copy)]
enum Embedded {
    /// The EXIF (IFD1) thumbnail.
    Thumbnail,
    /// A HEIF file's thumbnail item, looked up as an EXIF thumbnail is.
    HeifThumbnail,
    /// The MPF preview.
    Preview,
}

impl Embedded {
    fn name(self) -> &'static str {
        match self {
            Embedded::Thumbnail => "the embedded EXIF thumbnail",
            Embedded::HeifThumbnail => "the HEIF thumbnail",
            Embedded::Preview => "the MPF preview",
        }
    }
}

/// Longest side each frame of an animation is shrunk to before it is
/// compared with the first: well above what the hashes read (PDQ 64 px), and
/// small enough that a long animation costs little more than its decoding.
const FRAME_SIDE: u32 = 128;

/// Longest side of the incoming picture's thumbnail handed to the aligner. The
/// accuracy benchmark's figures were measured at this side; the aligner's own
/// evaluation recommends [`crate::matching::align::QUERY_SIDE`] (320), which is not yet
/// measured end to end.
pub const QUERY_THUMB_SIDE: u32 = 256;

/// The snapshot at `path` when it was taken from this archive: its last image
/// is still there with the same content. `Ok(None)` when there is no file.
fn load_snapshot(
    archive: &Archive,
    path: &Path,
) -> std::result::Result<Option<(MemoryIndex, crate::index::SnapshotOf)>, SnapshotError> {
    if !path.exists() {
        return Ok(None);
    }
    let (index, of) = MemoryIndex::load_snapshot(path).map_err(|source| SnapshotError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let same = of.last_id > 0
        && archive
            .sha256_of(of.last_id)
            .ok()
            .flatten()
            .is_some_and(|sha| sha == of.last_sha256);
    if !same {
        return Err(SnapshotError::OtherArchive {
            path: path.to_path_buf(),
            last_id: of.last_id,
        });
    }
    let features = archive.feature_count(of.last_id).ok();
    if features.is_none() || of.features != features {
        return Err(SnapshotError::FeaturesChanged {
            path: path.to_path_buf(),
            then: of.features,
            now: features,
        });
    }
    Ok(Some((index, of)))
}

/// The working copy grey: the plane kept from hashing, or made now for an
/// [`Examined`] built without it. Fields, not `&Examined`, so that callers
/// can still write the others while holding it.
fn grey_of<'a>(
    grey: &'a Option<image::GrayImage>,
    working: &Option<DynamicImage>,
) -> Option<std::borrow::Cow<'a, image::GrayImage>> {
    match (grey, working) {
        (Some(g), _) => Some(std::borrow::Cow::Borrowed(g)),
        (None, Some(img)) => Some(std::borrow::Cow::Owned(img.to_luma8())),
        (None, None) => None,
    }
}

/// The local features of a working copy as an incoming picture.
fn query_features_of(grey: &image::GrayImage) -> Features {
    Features::of_luma(
        grey.as_raw(),
        grey.width(),
        grey.height(),
        &FeatureParams::query(),
    )
}

/// Index the stored visual words of every image up to `up_to`; rows that do
/// not parse (a damaged or foreign database) are skipped, not trusted.
fn load_words(archive: &Archive, index: &mut MemoryIndex, up_to: i64) -> Result<u64> {
    archive.load_current_words(up_to, |id, bytes| {
        if let Some(words) = crate::index::features::words_from_bytes(bytes) {
            index.insert_words(id, &words);
        }
    })
}

fn save_snapshot(
    archive: &Archive,
    index: &MemoryIndex,
    path: &Path,
    loaded: &crate::archive::Loaded,
    features: u64,
) -> std::result::Result<u64, SnapshotError> {
    let sha = archive
        .sha256_of(loaded.last_id)
        .map_err(|e| SnapshotError::Archive(Box::new(e)))?
        .ok_or(SnapshotError::ImageGone(loaded.last_id))?;
    let of = crate::index::SnapshotOf {
        last_id: loaded.last_id,
        images: loaded.images,
        last_sha256: sha,
        features: Some(features),
    };
    index
        .save_snapshot(path, &of)
        .map_err(|source| SnapshotError::File {
            path: path.to_path_buf(),
            source,
        })
}

impl Engine {
    /// Build an engine; with an archive, load its hashes into the in-memory
    /// index once. From then on the index follows the archive: see
    /// [`Engine::follow_archive`].
    pub fn new(config: Config, archive: Option<Archive>) -> Result<Engine> {
        let mut index = MemoryIndex::new();
        let mut loaded = crate::archive::Loaded::default();
        let mut load = IndexLoad::default();
        if let Some(a) = &archive {
            match config.index_cache.as_deref().map(|p| load_snapshot(a, p)) {
                Some(Ok(Some((idx, of)))) => {
                    index = idx;
                    loaded = crate::archive::Loaded {
                        last_id: of.last_id,
                        images: of.images,
                    };
                    load.from_snapshot = true;
                    if index.features().is_empty() {
                        load_words(a, &mut index, of.last_id)?;
                    }
                }
                Some(Err(why)) => load.snapshot_refused = Some(why),
                Some(Ok(None)) | None => {}
            }
            if !load.from_snapshot {
                index.start_bulk();
                loaded = a.load_current_hashes(|id, region, bits, _quality| {
                    if matching::searched(region, bits.kind) {
                        index.insert(id, region, bits);
                    }
                })?;
                // The rows read, so that the snapshot counts what it holds
                // even when another process fills features in meanwhile.
                let features = load_words(a, &mut index, loaded.last_id)?;
                if let Some(path) = &config.index_cache {
                    if loaded.images >= config.index_cache_min_images.max(1) {
                        load.saved = Some(save_snapshot(a, &index, path, &loaded, features));
                    }
                }
            }
            if !config.index_scan_only {
                index.finish_bulk();
            }
        }
        let mut engine = Engine {
            config,
            archive: archive.map(Mutex::new),
            index: RwLock::new(index),
            archive_images: AtomicU64::new(loaded.images),
            follow: Mutex::new(Follow {
                last_id: loaded.last_id,
                at: Instant::now(),
            }),
            index_load: load,
        };
        if engine.index_load.from_snapshot {
            // What was recorded since the snapshot, before the first picture
            // (the refresh interval would let a one-off `check` skip it). When
            // that is a tenth of the archive, the snapshot is brought up to date.
            let added = engine.catch_up(true)?;
            engine.index_load.caught_up = added;
            if added > 0 && added >= (loaded.images / 10).max(engine.config.index_cache_min_images)
            {
                engine.index_load.saved = engine.save_index_snapshot();
            }
        }
        Ok(engine)
    }

    /// Save the index as it stands now to [`Config::index_cache`]; `None`
    /// without an archive or a snapshot path.
    fn save_index_snapshot(&self) -> Option<std::result::Result<u64, SnapshotError>> {
        let (a, path) = (self.archive.as_ref()?, self.config.index_cache.as_ref()?);
        // The follow lock first, as `catch_up` takes it: the mark and the
        // index cannot move apart meanwhile.
        let follow = self.follow.lock().unwrap_or_else(|p| p.into_inner());
        let now = crate::archive::Loaded {
            last_id: follow.last_id,
            images: self.archive_images(),
        };
        // The index before the archive, in matching's order.
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        let Ok(a) = a.lock() else {
            return Some(Err(SnapshotError::LockPoisoned));
        };
        // Counted here, so features another process filled in for an older
        // picture since this index was loaded are counted without being in
        // it: such a snapshot misses them until the count changes again. That
        // takes a re-add during this process's life; their hashes still match.
        let features = match a.feature_count(now.last_id) {
            Ok(n) => n,
            Err(e) => return Some(Err(SnapshotError::Archive(Box::new(e)))),
        };
        Some(save_snapshot(&a, &index, path, &now, features))
    }

    /// How the index was loaded (from a snapshot or the archive, and whether
    /// a snapshot was written).
    pub fn index_load(&self) -> &IndexLoad {
        &self.index_load
    }

    /// Add to the index the pictures recorded since it was last brought up to
    /// date, by this process or any other on the same archive, when that was
    /// longer ago than [`Config::archive_refresh`]. Returns how many images it
    /// added. Never rebuilds: only rows above the highest image id already
    /// indexed are read. Matching calls this before every picture; a thread
    /// that finds another one already refreshing goes on without waiting.
    pub fn follow_archive(&self) -> Result<u64> {
        self.catch_up(false)
    }

    fn catch_up(&self, now: bool) -> Result<u64> {
        let Some(archive) = &self.archive else {
            return Ok(0);
        };
        let mut state = if now {
            self.follow.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match self.follow.try_lock() {
                Ok(s) => s,
                Err(TryLockError::WouldBlock) => return Ok(0),
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
            }
        };
        let interval = self
            .config
            .archive_refresh
            .unwrap_or(DEFAULT_ARCHIVE_REFRESH);
        if !now && state.at.elapsed() < interval {
            return Ok(0);
        }
        let mut added = 0;
        loop {
            // The archive lock is released before the index is locked for
            // writing: matching holds the index and then asks the archive.
            let since = archive
                .lock()
                .map_err(|_| Error::Archive("archive lock poisoned".into()))?
                .hashes_since(state.last_id, FOLLOW_STEP)?;
            if since.images == 0 {
                break;
            }
            {
                let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
                for (id, region, bits, _) in since
                    .rows
                    .iter()
                    .filter(|(_, region, bits, _)| matching::searched(region, bits.kind))
                {
                    index.insert(*id, region, *bits);
                }
                for (id, bytes) in &since.words {
                    if let Some(words) = crate::index::features::words_from_bytes(bytes) {
                        index.insert_words(*id, &words);
                    }
                }
            }
            self.archive_images
                .fetch_add(since.images, Ordering::Relaxed);
            state.last_id = since.last_id;
            added += since.images;
            if since.images < u64::from(FOLLOW_STEP) {
                break;
            }
        }
        state.at = Instant::now();
        Ok(added)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether an archive is attached.
    pub fn has_archive(&self) -> bool {
        self.archive.is_some()
    }

    /// Counts and ranges of the attached archive; `None` without one.
    pub fn archive_info(&self) -> Option<Result<crate::archive::ArchiveInfo>> {
        let a = self.archive.as_ref()?;
        Some(match a.lock() {
            Ok(a) => a.info(),
            Err(_) => Err(Error::Archive("archive lock poisoned".into())),
        })
    }

    /// How many distinct images the matching index covers.
    pub fn archive_images(&self) -> u64 {
        self.archive_images.load(Ordering::Relaxed)
    }

    /// Run `f` on the attached archive (the watch folder keeps its memory of
    /// processed files there); `None` without one.
    pub fn with_archive<T>(&self, f: impl FnOnce(&mut Archive) -> T) -> Option<T> {
        let a = self.archive.as_ref()?;
        let mut guard = a.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&mut guard))
    }

    /// Read, decode, read metadata and hash one file on disk.
    pub fn examine_path(&self, path: &Path) -> Examined {
        let name = path.to_string_lossy().into_owned();
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        match read::read_file(path, &self.config.limits) {
            Ok(blob) => {
                let mut ex = self.examine_blob(name, &blob);
                ex.mtime = mtime;
                ex
            }
            Err(e) => {
                let mut report = Report::new(name);
                report.errors.push(stage_error(Stage::Read, &e));
                Examined {
                    report,
                    metadata: None,
                    working: None,
                    hashes: None,
                    grey: None,
                    mtime,
                    thumbnail: None,
                    thumbnail_heif_item: None,
                    preview: None,
                    features: None,
                }
            }
        }
    }

    /// Decode, read metadata and hash bytes already in memory.
    pub fn examine_blob(&self, name: String, blob: &Blob) -> Examined {
        let mut report = Report::new(name);
        report.sha256 = Some(blob.sha256.clone());
        report.bytes = Some(blob.bytes.len() as u64);
        report.format = Some(blob.format.name().to_string());
        let limits = &self.config.limits;
        // The container's structure, read once: the metadata readers, the
        // completeness check and the decoders all take it.
        let layout =
            decode::contain(|| Layout::read(&blob.bytes, blob.format)).unwrap_or_else(|e| {
                report.errors.push(stage_error(Stage::Read, &e));
                Layout::Other
            });
        let meta = decode::contain(|| {
            metadata::read_metadata_with(&blob.bytes, blob.format, &layout, limits)
        })
        .unwrap_or_else(|e| {
            report.errors.push(stage_error(Stage::Metadata, &e));
            Metadata::default()
        });
        let mut working = None;
        let mut hashes = None;
        let mut grey = None;
        if blob.format == Format::Unknown {
            report.errors.push(StageError {
                stage: Stage::Format,
                message: "not a recognised image format (content sniffed, file name ignored)"
                    .into(),
            });
        } else {
            let complete = || match layout.jpeg() {
                Some(j) => j.complete(),
                None => decode::jpeg_is_complete(&blob.bytes),
            };
            if blob.format == Format::Jpeg && !complete() {
                report.errors.push(StageError {
                    stage: Stage::Decode,
                    message: "truncated or damaged JPEG: no end-of-image marker; the hashes describe only the part that could be decoded".into(),
                });
            }
            let heif = meta.container.as_ref().and_then(|c| c.heif.as_ref());
            match self.decode_picture(blob, &layout, heif) {
                Ok((d, info)) => {
                    report.width = Some(d.width);
                    report.height = Some(d.height);
                    report.decode = Some(info);
                    let oriented = if d.oriented {
                        d.working
                    } else {
                        decode::orient(d.working, meta.orientation)
                    };
                    match decode::contain(|| hash::compute_with_grey(&oriented)) {
                        Ok((h, g)) => {
                            if let Some(info) = report.decode.as_mut() {
                                info.animation = self.animation(blob, &h, &mut report.errors);
                                if info.animation.is_some() {
                                    info.source = decode::DecodeSource::FirstFrame;
                                }
                            }
                            report.hashes = hashes_json(&h);
                            hashes = Some(h);
                            grey = Some(g);
                            working = Some(oriented);
                        }
                        Err(e) => report.errors.push(stage_error(Stage::Hash, &e)),
                    }
                }
                Err(e) => report.errors.push(stage_error(Stage::Decode, &e)),
            }
        }
        let (thumbnail, thumbnail_heif_item) = match self.examine_thumbnail(blob, &meta) {
            Some(t) => (Some(t), None),
            None => match self.examine_heif_thumbnail(blob, &meta) {
                Some((id, img, h)) => (Some((img, h)), Some(id)),
                None => (None, None),
            },
        };
        if let Some((timg, h)) = &thumbnail {
            for (k, v) in hashes_json(h) {
                report.hashes.insert(format!("thumbnail_{k}"), v);
            }
            if let (Some(main), Some(mh)) = (&working, &hashes) {
                let size = (main.width(), main.height());
                let t = &self.config.thumbnail;
                report.thumbnail_comparison = decode::contain(|| {
                    let mut c = crate::hash::thumbnail::compare(mh, size, timg, t);
                    c.heif_item = thumbnail_heif_item;
                    c
                })
                .ok();
            }
        }
        let preview = self.examine_preview(blob, &meta);
        if let Some((entry, pimg, h)) = &preview {
            for (k, v) in hashes_json(h) {
                report.hashes.insert(format!("preview_{k}"), v);
            }
            if let (Some(main), Some(mh)) = (&working, &hashes) {
                let size = (main.width(), main.height());
                let t = &self.config.thumbnail;
                report.preview_comparison =
                    decode::contain(|| crate::hash::thumbnail::PreviewComparison {
                        mpf_entry: entry.number,
                        type_code: entry.type_code,
                        comparison: crate::hash::thumbnail::compare(mh, size, pimg, t),
                    })
                    .ok();
            }
        }
        report.metadata = Some(meta.clone());
        Examined {
            report,
            metadata: Some(meta),
            working,
            hashes,
            grey,
            mtime: None,
            thumbnail,
            thumbnail_heif_item,
            preview: preview.map(|(_, img, h)| (img, h)),
            features: None,
        }
    }

    /// Decode and hash a HEIF file's thumbnail item (the largest of the
    /// primary image's), which cameras and phones write with the picture and
    /// which, like an EXIF thumbnail, may outlive an edit of it. It comes out
    /// of libheif already turned as the file says. Needs the `heif` feature;
    /// any failure just means no thumbnail.
    fn examine_heif_thumbnail(
        &self,
        blob: &Blob,
        meta: &Metadata,
    ) -> Option<(u32, DynamicImage, Hashes)> {
        if blob.format != Format::Heif || !decode::HEIF_PIXELS {
            return None;
        }
        let structure = meta.container.as_ref()?.heif.as_ref()?;
        let item = crate::input::heif::primary_thumbnail(structure)?;
        let d = decode::decode_heif(
            &blob.bytes,
            Some(item.id),
            Some(structure),
            &self.config.limits,
        )
        .ok()?;
        let img = d.working;
        if img.width().min(img.height()) < 32 {
            return None;
        }
        let h = decode::contain(|| hash::compute(&img)).ok()?;
        Some((item.id, img, h))
    }

    /// The picture that stands for the file, decoded: a RAW file's largest
    /// JPEG preview (the sensor data is not demosaiced), else the file's own
    /// picture (a HEIF's primary image, an animation's first frame).
    /// `heif` is a HEIF's item structure as the metadata stage read it.
    fn decode_picture(
        &self,
        blob: &Blob,
        layout: &Layout,
        heif: Option<&crate::input::heif::HeifStructure>,
    ) -> Result<(decode::Decoded, decode::DecodeInfo)> {
        let limits = &self.config.limits;
        let kind = match blob.format {
            Format::Raw => crate::input::raw::sniff(&blob.bytes),
            Format::Tiff if crate::input::raw::is_tiff_raw(&blob.bytes) => {
                Some(crate::input::raw::RawKind::Tiff)
            }
            _ => None,
        };
        let Some(kind) = kind else {
            let d = match blob.format {
                Format::Heif => decode::decode_heif(&blob.bytes, None, heif, limits)?,
                _ => decode::decode_with(blob, layout, limits)?,
            };
            let info = decode::DecodeInfo::of(&d);
            return Ok((d, info));
        };
        let (preview, jpeg) =
            crate::input::raw::largest_preview(&blob.bytes, kind).ok_or_else(|| {
                Error::Format(
                    "RAW file without a readable JPEG preview (its sensor data is not decoded)"
                        .into(),
                )
            })?;
        let d = decode::decode(&Blob::from_bytes(jpeg.to_vec()), limits)?;
        let mut info = decode::DecodeInfo::of(&d);
        info.source = decode::DecodeSource::RawPreview;
        info.raw_preview = Some(preview);
        Ok((d, info))
    }

    /// Count an animation's frames and compare each later frame with the
    /// first (already hashed as the picture), by the thresholds that tell an
    /// edited picture's thumbnail from the picture; `None` for a still.
    /// A frame that fails to decode ends the count with an error in the
    /// report; the first frame's hashes stand.
    fn animation(
        &self,
        blob: &Blob,
        first: &Hashes,
        errors: &mut Vec<StageError>,
    ) -> Option<decode::Animation> {
        if !matches!(blob.format, Format::Gif | Format::Webp | Format::Png) {
            return None;
        }
        let mut a = decode::Animation::default();
        let mut at_ms = 0u64;
        let mut worst: Option<(u32, decode::DifferingFrame)> = None;
        let t = &self.config.thumbnail;
        let outcome = decode::frames(blob, &self.config.limits, FRAME_SIDE, |i, ms, img| {
            if i > 0 {
                a.frames_compared += 1;
                let c =
                    crate::hash::thumbnail::compare(first, (img.width(), img.height()), &img, t);
                if !c.same_picture {
                    // The most different: PDQ when both hashes are reliable, else pHash.
                    let score = c
                        .distance
                        .get(if c.pdq_reliable { "pdq" } else { "phash" })
                        .copied()
                        .unwrap_or(0);
                    if worst.as_ref().is_none_or(|(s, _)| score > *s) {
                        worst = Some((
                            score,
                            decode::DifferingFrame {
                                index: i,
                                at_ms,
                                distance: c.distance.clone(),
                            },
                        ));
                    }
                }
            }
            at_ms = at_ms.saturating_add(ms);
            std::ops::ControlFlow::Continue(())
        });
        match outcome {
            Ok(Some((frames, more))) => {
                a.frames = frames;
                a.frames_truncated = more;
                a.duration_ms = at_ms;
                a.differing_frame = worst.map(|(_, f)| f);
                Some(a)
            }
            Ok(None) => None,
            Err(e) => {
                errors.push(stage_error(Stage::Animation, &e));
                None
            }
        }
    }

    /// Decode and hash the embedded EXIF thumbnail: it often still shows the
    /// picture before a crop or an edit. Any failure just means no thumbnail.
    fn examine_thumbnail(&self, blob: &Blob, meta: &Metadata) -> Option<(DynamicImage, Hashes)> {
        let bytes = metadata::exif_thumbnail(&blob.bytes, meta)?;
        self.examine_embedded(&Blob::from_bytes(bytes.to_vec()), None, meta.orientation)
    }

    /// Decode and hash the MPF preview, the larger copy cameras and phones
    /// append after the picture: like the EXIF thumbnail it often survives an
    /// edit of the picture. Any failure just means no preview.
    fn examine_preview(
        &self,
        blob: &Blob,
        meta: &Metadata,
    ) -> Option<(crate::metadata::mpf::MpfImage, DynamicImage, Hashes)> {
        let (entry, bytes) = metadata::mpf_preview(&blob.bytes, meta)?;
        let preview = Blob::from_bytes(bytes.to_vec());
        // The preview is a file of its own, read once for its EXIF and its
        // decoding.
        let layout =
            decode::contain(|| Layout::read(&preview.bytes, preview.format)).unwrap_or_default();
        // Each picture of a multi-picture file is a complete Exif JPEG, and
        // cameras give the preview an APP1 of its own (ExifTool's -ee reads it
        // as a document of its own): its Orientation says how its pixels are
        // stored. Without one, it was stored as the main picture was.
        let own = decode::contain(|| {
            metadata::read_exif(&preview.bytes, Format::Jpeg, &layout, &self.config.limits)
                .orientation
        })
        .ok()
        .flatten();
        let (img, h) = self.examine_embedded(&preview, Some(&layout), own.or(meta.orientation))?;
        Some((entry.clone(), img, h))
    }

    /// An embedded copy (thumbnail, preview) decoded under the limits, turned
    /// upright and hashed; `None` when it fails or is too small to say
    /// anything reliable about a picture.
    fn examine_embedded(
        &self,
        blob: &Blob,
        layout: Option<&Layout>,
        orientation: Option<u16>,
    ) -> Option<(DynamicImage, Hashes)> {
        let limits = &self.config.limits;
        let d = match layout {
            Some(layout) => decode::decode_with(blob, layout, limits),
            None => decode::decode(blob, limits),
        }
        .ok()?;
        if d.width.min(d.height) < 32 {
            return None;
        }
        let img = decode::orient(d.working, orientation);
        let h = decode::contain(|| hash::compute(&img)).ok()?;
        Some((img, h))
    }

    /// Match against the archive and assess: the finished report.
    pub fn analyze(&self, ex: &mut Examined) {
        self.analyze_with_claim(ex, &self.config.claim);
    }

    /// [`Engine::analyze`] against a claim of its own (the service gets one per
    /// request; the engine and its index are shared).
    pub fn analyze_with_claim(&self, ex: &mut Examined, claim: &Claim) {
        let follow_error = self.follow_archive().err();
        let report = &mut ex.report;
        report.claim_date = claim.date.map(|d| d.to_string());
        report.claim_location = claim.location;
        report.archive = ArchiveSearch {
            searched: self.archive.is_some(),
            path: self
                .archive
                .as_ref()
                .and_then(|a| a.lock().ok().map(|a| a.path().display().to_string())),
            images: self
                .archive
                .as_ref()
                .map(|_| self.archive_images.load(Ordering::Relaxed)),
            crop_search: None,
        };
        if let Some(e) = follow_error {
            // Matching goes on with the index as it is; the report says so.
            report.errors.push(stage_error(Stage::Match, &e));
        }
        let mut unmatchable = None;
        let mut embedded_only = Vec::new();
        if let (Some(archive), Some(sha)) = (&self.archive, report.sha256.clone()) {
            // Grey once for the features, the thumbnail, the inner view and
            // the overlap check: each would otherwise convert the colour
            // working copy again (~1 ms each at 512 px).
            let grey = grey_of(&ex.grey, &ex.working);
            let grey = grey.as_deref();
            if ex.features.is_none() && self.config.matching.feature_candidates > 0 {
                if let Some(grey) = &grey {
                    match decode::contain(|| query_features_of(grey)) {
                        Ok(f) => ex.features = Some(f),
                        Err(e) => report.errors.push(stage_error(Stage::Hash, &e)),
                    }
                }
            }
            let (variants, thumb) = match (&ex.working, &ex.hashes) {
                (Some(img), Some(h)) => {
                    let v = decode::contain(|| variants::query_variants(img, h));
                    let t = grey.as_ref().and_then(|g| {
                        decode::contain(|| Thumb::from_luma_with_side(g, QUERY_THUMB_SIDE)).ok()
                    });
                    (v.unwrap_or_default(), t)
                }
                _ => (Vec::new(), None),
            };
            let inner = match (&grey, &ex.features) {
                (Some(g), Some(_)) => decode::contain(|| matching::inner_view(g, &variants))
                    .unwrap_or_else(|e| {
                        report.errors.push(stage_error(Stage::Hash, &e));
                        None
                    }),
                _ => None,
            };
            if let Some(q) = ex.hashes.as_ref().and_then(|h| h.pdq_quality) {
                if q < self.config.matching.pdq_min_quality {
                    unmatchable = Some(format!(
                        "PDQ quality {q} is below {}: the picture is too flat or too small for reliable perceptual matching; only exact copies and strong pHash/dHash agreement count.",
                        self.config.matching.pdq_min_quality
                    ));
                }
            }
            let query = Query {
                sha256: &sha,
                variants: &variants,
                thumb: thumb.as_ref(),
                features: ex.features.as_ref(),
                inner: inner.as_ref(),
                image: grey,
                archive_images: self.archive_images(),
            };
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            match matching::find_matches_counted(&query, &index, archive, &self.config.matching) {
                Ok(found) => {
                    report.matches = found.matches;
                    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                    report.archive.crop_search = Some(CropSearch {
                        limit: count(
                            self.config.matching.align_unsupported
                                + self.config.matching.feature_candidates,
                        ),
                        searched: count(found.unsupported_searched),
                    });
                }
                Err(e) => report.errors.push(stage_error(Stage::Match, &e)),
            }
            // The embedded copies often keep the picture as it was before a
            // crop or an edit: what they match and the main picture does not
            // is reported as theirs.
            for (copy, via, comparison) in [
                (
                    &ex.thumbnail,
                    if ex.thumbnail_heif_item.is_some() {
                        Embedded::HeifThumbnail
                    } else {
                        Embedded::Thumbnail
                    },
                    report.thumbnail_comparison.as_ref(),
                ),
                (
                    &ex.preview,
                    Embedded::Preview,
                    report.preview_comparison.as_ref().map(|p| &p.comparison),
                ),
            ] {
                let Some((timg, th)) = copy else { continue };
                if !worth_searching(comparison) {
                    continue;
                }
                let tv = decode::contain(|| variants::query_variants(timg, th)).unwrap_or_default();
                let tt = decode::contain(|| Thumb::from_image(timg)).ok();
                let tq = Query {
                    sha256: "",
                    variants: &tv,
                    thumb: tt.as_ref(),
                    features: None,
                    inner: None,
                    image: None,
                    archive_images: self.archive_images(),
                };
                match matching::find_matches(&tq, &index, archive, &self.config.matching) {
                    Ok(found) => {
                        for mut m in found {
                            if report.matches.iter().any(|x| x.sha256 == m.sha256) {
                                continue;
                            }
                            m.evidence.insert(
                                0,
                                format!("found through {}, not the main picture", via.name()),
                            );
                            embedded_only.push((via, m.clone()));
                            report.matches.push(m);
                        }
                        report.matches.sort_by(|a, b| {
                            a.first_seen
                                .cmp(&b.first_seen)
                                .then(b.confidence.cmp(&a.confidence))
                                .then(a.sha256.cmp(&b.sha256))
                        });
                    }
                    Err(e) => report.errors.push(stage_error(Stage::Match, &e)),
                }
            }
        }
        report.earliest_copy = report.matches.first().cloned();
        report.findings = assess::assess(&assess::Inputs {
            metadata: ex.metadata.as_ref(),
            matches: &report.matches,
            archive_searched: self.archive.is_some(),
            claim,
            unmatchable,
            thumbnail: report.thumbnail_comparison.as_ref(),
            preview: report.preview_comparison.as_ref(),
            animation: report.decode.as_ref().and_then(|d| d.animation.as_ref()),
        });
        // Without the main picture's pixels nothing says whether it shows what
        // the embedded copy shows: the finding must not claim that it differs.
        let main_decoded = ex.hashes.is_some();
        for (via, m) in &embedded_only {
            let (code, what, short) = match via {
                Embedded::Thumbnail => (
                    FindingCode::ThumbnailEarlierCopy,
                    "The embedded EXIF thumbnail",
                    "thumbnail",
                ),
                Embedded::HeifThumbnail => (
                    FindingCode::ThumbnailEarlierCopy,
                    "The HEIF thumbnail",
                    "thumbnail",
                ),
                Embedded::Preview => (
                    FindingCode::PreviewEarlierCopy,
                    "The MPF preview",
                    "preview",
                ),
            };
            let message = if main_decoded {
                format!(
                    "{what} matches an archived picture that the main picture does not: first seen {} ({}). The {short} often keeps the picture as it was before a crop or an edit.",
                    m.first_seen, m.path
                )
            } else {
                format!(
                    "{what} matches an archived picture first seen {} ({}). The main picture could not be decoded (see errors), so it was not compared with the archive or with the {short}: the file probably shows that picture, but only the {short} was seen to.",
                    m.first_seen, m.path
                )
            };
            report.findings.insert(
                0,
                crate::evidence::Finding::new(code, crate::evidence::Severity::High, message),
            );
        }
    }

    /// Examine and analyse one file, containing any panic as an error in its report.
    pub fn process_path(&self, path: &Path) -> Examined {
        contained(path, || {
            let mut ex = self.examine_path(path);
            self.analyze(&mut ex);
            ex
        })
    }

    /// Examine and analyse bytes already in memory (an upload) against a claim
    /// of their own, containing any panic as an error in the report.
    pub fn process_blob(&self, name: &str, blob: &Blob, claim: &Claim) -> Examined {
        contained(Path::new(name), || {
            let mut ex = self.examine_blob(name.to_string(), blob);
            self.analyze_with_claim(&mut ex, claim);
            ex
        })
    }

    /// Match and assess an examined picture, containing any panic as an error
    /// in its report (as [`Engine::process_path`] does). With
    /// [`Engine::examine_path_contained`] on another engine of the same
    /// [`Config`], the picture can be examined while this one is still being
    /// built: a one-off `check` of a large archive overlaps the index's load
    /// with reading, decoding and hashing the picture, which need no index.
    pub fn analyze_contained(&self, ex: Examined) -> Examined {
        let path = PathBuf::from(&ex.report.path);
        contained(&path, || {
            let mut ex = ex;
            self.analyze(&mut ex);
            ex
        })
    }

    /// Examine one file without matching, containing any panic.
    pub fn examine_path_contained(&self, path: &Path) -> Examined {
        contained(path, || self.examine_path(path))
    }

    /// What the archive stores for an examined picture; `None` when it could not be decoded.
    pub fn archive_entry(&self, ex: &Examined) -> Option<NewImage> {
        let img = ex.working.as_ref()?;
        let region_hashes = decode::contain(|| variants::archive_hashes(img)).ok()?;
        let mut hashes = Vec::new();
        for (region, h) in region_hashes {
            for bits in h.iter() {
                hashes.push(StoredHash {
                    region: region.clone(),
                    bits,
                    quality: (bits.kind == hash::HashKind::Pdq)
                        .then_some(h.pdq_quality)
                        .flatten(),
                });
            }
        }
        let grey = grey_of(&ex.grey, &ex.working)?;
        let grey = &*grey;
        let thumb = decode::contain(|| {
            Thumb::from_luma_with_side(grey, crate::matching::align::THUMB_SIDE)
        })
        .ok()?;
        // The stored set is a subset of the query set, so a picture recorded
        // after it was matched costs no second extraction.
        let features = decode::contain(|| {
            let computed;
            let query = match &ex.features {
                Some(f) => f,
                None => {
                    computed = query_features_of(grey);
                    &computed
                }
            };
            let stored = query.for_archive(&FeatureParams::archive());
            (!stored.is_empty()).then(|| crate::archive::StoredFeatures {
                data: stored.to_bytes(),
                words: crate::index::features::words_to_bytes(&crate::index::features::words(
                    crate::features::vocabulary::Vocabulary::builtin(),
                    &stored,
                )),
            })
        })
        .ok()
        .flatten();
        let meta = ex.metadata.clone().unwrap_or_default();
        let summary = serde_json::json!({
            "make": meta.make, "model": meta.model, "software": meta.software,
            "datetime_original": meta.datetime_original, "gps": meta.gps,
        });
        Some(NewImage {
            sha256: ex.report.sha256.clone()?,
            format: ex.report.format.clone().unwrap_or_default(),
            width: ex.report.width,
            height: ex.report.height,
            bytes: ex.report.bytes.unwrap_or(0),
            metadata_json: summary.to_string(),
            thumb: Some(thumb.to_bytes()),
            hashes,
            features,
        })
    }

    /// Record pictures in the archive in one transaction, and make them
    /// matchable for the rest of this run (together with whatever other
    /// processes recorded meanwhile: the index follows the archive's ids, so
    /// nothing is indexed twice).
    pub fn record(&self, items: &[(NewImage, Sighting)]) -> Result<Vec<Recorded>> {
        let archive = self
            .archive
            .as_ref()
            .ok_or_else(|| Error::Archive("no archive to record into".into()))?;
        let out = archive
            .lock()
            .map_err(|_| Error::Archive("archive lock poisoned".into()))?
            .record_batch(items)?;
        // The batch is committed whatever happens next. Should reading it back
        // fail, the next picture's refresh tries again and its report says so.
        let _ = self.catch_up(true);
        Ok(out)
    }
}

impl Engine {
    /// The pictures for the HTML page: a downscaled JPEG preview of the
    /// examined picture (longest side `side` px) and the archive's verification
    /// thumbnail of the earliest copy as PNG. Either is `None` when it cannot be
    /// made; the page then says so. Encoding failures are not report errors: the
    /// JSON report is complete without them.
    pub fn pictures(&self, ex: &Examined, side: u32) -> crate::report::html::Pictures {
        let query = self.preview(ex, side);
        let earliest = ex
            .report
            .earliest_copy
            .as_ref()
            .and_then(|m| self.archived_thumb_png(&m.sha256));
        crate::report::html::Pictures { query, earliest }
    }

    /// A JPEG preview of the picture with longest side `side` (never
    /// upscaled), when it was decoded: the batch index's thumbnails.
    pub fn preview(&self, ex: &Examined, side: u32) -> Option<crate::report::html::Inline> {
        ex.working
            .as_ref()
            .and_then(|img| decode::contain(|| preview_jpeg(img, side)).ok().flatten())
    }

    /// The archive's verification thumbnail of one content hash, as PNG.
    pub fn archived_thumb_png(&self, sha256: &str) -> Option<crate::report::html::Inline> {
        let archive = self.archive.as_ref()?.lock().ok()?;
        let id = archive.lookup_sha256(sha256).ok()??;
        let bytes = archive.thumb(id).ok()??;
        drop(archive);
        let t = Thumb::from_bytes(&bytes)?;
        let gray = image::GrayImage::from_raw(u32::from(t.width), u32::from(t.height), t.pixels)?;
        let mut png = Vec::new();
        image::DynamicImage::ImageLuma8(gray)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .ok()?;
        Some(crate::report::html::Inline {
            mime: "image/png",
            bytes: png,
        })
    }
}

/// A JPEG preview (quality 82) with longest side `side`, never upscaled.
fn preview_jpeg(img: &DynamicImage, side: u32) -> Option<crate::report::html::Inline> {
    let small = if img.width().max(img.height()) > side {
        img.thumbnail(side, side)
    } else {
        img.clone()
    };
    let rgb = small.to_rgb8();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 82)
        .encode_image(&rgb)
        .ok()?;
    Some(crate::report::html::Inline {
        mime: "image/jpeg",
        bytes: jpeg,
    })
}

/// Whether an embedded copy is matched against the archive on its own. A copy
/// that shows the main picture (by the comparison's measured thresholds,
/// docs/metadata.md "Thumbnail vs image") keeps nothing the main picture does not, and at a
/// million archived pictures its search cost as much as the main picture's
/// (a third of a second): only a copy that differs, or that could not be
/// compared, is searched.
fn worth_searching(comparison: Option<&crate::hash::thumbnail::ThumbnailComparison>) -> bool {
    comparison.is_none_or(|c| !c.same_picture)
}

/// Run per-file work so that a panic (a bug here or in a decoder) costs this
/// file only: it becomes an `internal` error in the file's report.
fn contained(path: &Path, work: impl FnOnce() -> Examined) -> Examined {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let mut report = Report::new(path.to_string_lossy().into_owned());
        report.errors.push(StageError {
            stage: Stage::Internal,
            message: format!("processing panicked (a bug; the batch went on): {msg}"),
        });
        Examined {
            report,
            metadata: None,
            working: None,
            hashes: None,
            grey: None,
            mtime: None,
            thumbnail: None,
            thumbnail_heif_item: None,
            preview: None,
            features: None,
        }
    })
}

fn hashes_json(h: &Hashes) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut m = std::collections::BTreeMap::new();
    for bits in h.iter() {
        m.insert(bits.kind.name().to_string(), bits.to_hex().into());
    }
    if let Some(q) = h.pdq_quality {
        m.insert("pdq_quality".to_string(), q.into());
    }
    m
}

/// Which first-seen date a sighting gets when a picture is added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstSeen {
    /// EXIF capture time when present, else the file's modification time.
    Auto,
    /// EXIF capture time (falls back to mtime, and says so).
    Exif,
    /// The file's modification time.
    Mtime,
    /// A date given by the user.
    Given(String),
    /// Now (pictures recorded at intake).
    Now,
}

/// The first-seen date and where it came from, for an examined picture.
pub fn first_seen(ex: &Examined, policy: &FirstSeen) -> (String, FirstSeenFrom) {
    let exif = ex
        .metadata
        .as_ref()
        .and_then(|m| m.datetime_original.clone())
        .filter(|d| assess::date_of(d).is_some());
    let mtime = ex.mtime.map(|t| {
        chrono::DateTime::<chrono::Utc>::from(t)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    });
    let now = || crate::archive::now_iso();
    match policy {
        FirstSeen::Given(d) => (d.clone(), FirstSeenFrom::Given),
        FirstSeen::Now => (now(), FirstSeenFrom::Recorded),
        FirstSeen::Mtime => (mtime.unwrap_or_else(now), FirstSeenFrom::Mtime),
        FirstSeen::Auto | FirstSeen::Exif => match exif {
            Some(d) => (d, FirstSeenFrom::Exif),
            None => (mtime.unwrap_or_else(now), FirstSeenFrom::Mtime),
        },
    }
}

#[cfg(test)]
mod tests;
