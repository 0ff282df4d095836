//! retrace for Python: `check`, `scan` and `Archive` over the same library
//! calls as the `retrace` command, so that a report is the same JSON bytes as
//! `retrace check --json` for the same file and archive.
//!
//! This crate only converts arguments and results and releases the GIL: the
//! work is the library's. Reports cross into Python as the library's JSON,
//! read by Python's `json` module, so the dict is exactly what a reader of the
//! CLI's output gets (keys in the report's order, numbers as `json` reads
//! them).

// A Python function's parameters are its keyword arguments: they are the API.
#![allow(clippy::too_many_arguments)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pyo3::exceptions::{PyException, PyRuntimeWarning, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyString};

// The embedder's API at the crate root, and the CLI's helpers from the
// (documentation-hidden) stage modules, as the `retrace` binary uses them.
use retrace::internals::archive::display_location;
use retrace::internals::archive::hashlist::{export, Exported, ListFormat};
use retrace::internals::assess::{parse_date, parse_location};
use retrace::internals::input::read::Blob;
use retrace::internals::pipeline::catalogue::read_catalogue;
use retrace::internals::pipeline::{
    default_index_cache, first_seen, match_params_with_crop_search,
};
// `Scan` is the Python iterator below.
use retrace::{
    Archive as Store, Claim, Config, Engine, Examined, FirstSeen, Limits, MatchParams, Recorded,
    Scan as BatchScan, Sighting, WalkProblem,
};

pyo3::create_exception!(
    retrace,
    RetraceError,
    PyException,
    "An error of retrace: an archive that cannot be opened or written, a picture that cannot \
     be read at all. The message is the one the `retrace` command prints."
);

/// The CLI's upper bound of `--crop-search`.
const MAX_CROP_SEARCH: u16 = 256;

/// How often a wait for the library checks for Ctrl-C (KeyboardInterrupt).
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Pictures recorded per transaction by `Archive.add`, as `retrace archive add`
/// does: an interruption loses little, SQLite's commit cost is amortised.
const RECORD_BATCH: usize = 64;

/// An error and its causes, outermost first, as the CLI prints them (anyhow's `{:#}`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn retrace_error(message: impl Into<String>) -> PyErr {
    RetraceError::new_err(message.into())
}

/// A report as the CLI's `--json` writes it (pretty, with a final newline).
fn report_json(r: &retrace::Report) -> PyResult<String> {
    let mut out = Vec::new();
    retrace::internals::report::write_json(&mut out, r)
        .map_err(|e| retrace_error(e.to_string()))?;
    String::from_utf8(out).map_err(|e| retrace_error(e.to_string()))
}

/// JSON text into Python objects, by Python's own `json` module.
fn loads(py: Python<'_>, json: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (json,))?.unbind())
}

fn warn(py: Python<'_>, message: &str) -> PyResult<()> {
    let text = std::ffi::CString::new(message.replace('\0', "\u{FFFD}"))
        .map_err(|e| retrace_error(e.to_string()))?;
    PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &text, 2)
}

/// A date given as text or as a `datetime.date`/`datetime.datetime`.
fn date_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return s.extract::<String>();
    }
    let datetime = value.py().import("datetime")?;
    if value.is_instance(&datetime.getattr("date")?)? {
        return value.call_method0("isoformat")?.extract();
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a str or a datetime.date, not {}",
        value.get_type().name()?
    )))
}

/// The claim, with the CLI's messages (naming the Python parameter instead of
/// the flag).
fn claim(date: Option<&Bound<'_, PyAny>>, location: Option<&Bound<'_, PyAny>>) -> PyResult<Claim> {
    let date = match date.filter(|d| !d.is_none()) {
        None => None,
        Some(d) => {
            let d = date_text(d, "claim_date")?;
            Some(parse_date(&d).ok_or_else(|| {
                PyValueError::new_err(format!("claim_date {d:?} is not a date (YYYY-MM-DD)"))
            })?)
        }
    };
    let location = match location.filter(|l| !l.is_none()) {
        None => None,
        Some(l) => {
            let l = location_text(l)?;
            Some(parse_location(&l).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "claim_location {l:?} is not LAT,LON[,RADIUS_KM] in decimal degrees and km"
                ))
            })?)
        }
    };
    Ok(Claim { date, location })
}

/// `"LAT,LON[,RADIUS_KM]"`, or a tuple of two or three numbers.
fn location_text(l: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = l.cast::<PyString>() {
        return s.extract::<String>();
    }
    match l.extract::<Vec<f64>>() {
        Ok(v) => Ok(v
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")),
        Err(_) => Err(PyTypeError::new_err(format!(
            "claim_location must be \"LAT,LON[,RADIUS_KM]\" or a tuple (lat, lon[, radius_km]), not {}",
            l.get_type().name()?
        ))),
    }
}

/// The limits: the defaults, with the given fields replaced. Every name must
/// be one of `Limits`' fields (the CLI's `--max-*` flags without `--`).
fn limits(given: Option<&Bound<'_, PyDict>>) -> PyResult<Limits> {
    let Some(given) = given else {
        return Ok(Limits::default());
    };
    let mut fields =
        serde_json::to_value(Limits::default()).map_err(|e| retrace_error(e.to_string()))?;
    let map = fields
        .as_object_mut()
        .ok_or_else(|| retrace_error("limits are not an object"))?;
    for (k, v) in given.iter() {
        let k: String = k.extract()?;
        if !map.contains_key(&k) {
            let mut known: Vec<_> = map.keys().cloned().collect();
            known.sort();
            return Err(PyValueError::new_err(format!(
                "unknown limit {k:?}; the limits are {}",
                known.join(", ")
            )));
        }
        let n: u64 = v.extract().map_err(|_| {
            PyValueError::new_err(format!("limit {k:?} must be a non-negative integer"))
        })?;
        map.insert(k, n.into());
    }
    serde_json::from_value(fields).map_err(|e| PyValueError::new_err(format!("limits: {e}")))
}

/// The CLI's `--crop-search`, with its range.
fn matching(crop_search: Option<u16>) -> PyResult<MatchParams> {
    if let Some(n) = crop_search.filter(|&n| n > MAX_CROP_SEARCH) {
        return Err(PyValueError::new_err(format!(
            "crop_search {n} is not in 0..={MAX_CROP_SEARCH}"
        )));
    }
    Ok(match_params_with_crop_search(crop_search))
}

/// Where an archive is: a path, a `postgres://` URL, or an [`Archive`].
fn archive_location(a: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    if let Ok(a) = a.cast::<Archive>() {
        return Ok(a.get().location.clone());
    }
    a.extract::<PathBuf>().map_err(|_| {
        PyTypeError::new_err(format!(
            "archive must be a path, a postgres:// URL or a retrace.Archive, not {}",
            a.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// Open an archive as the CLI does, with its message on failure.
fn open_store(location: &Path, create: bool) -> Result<Store, String> {
    let opened = if create {
        Store::open(location)
    } else {
        Store::open_existing(location)
    };
    opened.map_err(|e| {
        format!(
            "opening archive {}: {}",
            display_location(location),
            chain(&e)
        )
    })
}

/// What loading the index left to say: the CLI prints these on stderr.
fn index_notes(engine: &Engine) -> Vec<String> {
    let load = engine.index_load();
    let mut notes = Vec::new();
    if let Some(why) = &load.snapshot_refused {
        let why = retrace::error_chain(why);
        notes.push(format!(
            "index snapshot not used ({why}); loaded from the archive"
        ));
    }
    if let Some(Err(why)) = &load.saved {
        let why = retrace::error_chain(why);
        notes.push(format!("could not save the index snapshot: {why}"));
    }
    notes
}

/// `Engine::new` with the CLI's index snapshot settings (beside a SQLite
/// archive, written from `Config::default()`'s 20 000 pictures on).
fn new_engine(
    mut config: Config,
    location: Option<&Path>,
    store: Option<Store>,
) -> Result<Engine, String> {
    config.index_cache = location.and_then(default_index_cache);
    Engine::new(config, store).map_err(|e| chain(&e))
}

/// What `check` was given.
enum Input {
    Path(PathBuf),
    Bytes {
        name: Option<String>,
        bytes: Vec<u8>,
    },
}

fn input(obj: &Bound<'_, PyAny>, name: Option<String>, limits: &Limits) -> PyResult<Input> {
    let bytes = if let Ok(b) = obj.cast::<PyBytes>() {
        Some(b.clone())
    } else if obj.is_instance_of::<PyByteArray>()
        || obj.is_instance(&obj.py().import("builtins")?.getattr("memoryview")?)?
    {
        Some(
            obj.py()
                .import("builtins")?
                .getattr("bytes")?
                .call1((obj,))?
                .cast_into::<PyBytes>()?,
        )
    } else {
        None
    };
    if let Some(b) = bytes {
        let data = b.as_bytes();
        // As a file read would: checked before anything is copied.
        if data.len() as u64 > limits.max_file_bytes {
            return Err(retrace_error(
                retrace::Error::Limit {
                    what: "file size in bytes",
                    actual: data.len() as u64,
                    limit: limits.max_file_bytes,
                }
                .to_string(),
            ));
        }
        return Ok(Input::Bytes {
            name,
            bytes: data.to_vec(),
        });
    }
    if name.is_some() {
        return Err(PyTypeError::new_err(
            "name is for bytes: a file's report is named by its path",
        ));
    }
    obj.extract::<PathBuf>().map(Input::Path).map_err(|_| {
        PyTypeError::new_err(format!(
            "expected a path (str or os.PathLike) or the picture's bytes, not {}",
            obj.get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })
}

/// One picture through the same calls as `retrace check`: the picture is
/// examined while the archive's index loads on another thread.
fn check_report(
    input: Input,
    location: Option<PathBuf>,
    config: Config,
) -> Result<(Examined, Vec<String>), String> {
    let store = match &location {
        Some(l) => Some(open_store(l, false)?),
        None => None,
    };
    match input {
        Input::Path(path) => {
            let examiner = Engine::new(config.clone(), None).map_err(|e| chain(&e))?;
            let (engine, ex) = std::thread::scope(|s| {
                let loading = s.spawn(|| new_engine(config, location.as_deref(), store));
                let ex = examiner.examine_path_contained(&path);
                let engine = loading
                    .join()
                    .map_err(|_| "loading the archive's index panicked".to_string())??;
                Ok::<_, String>((engine, ex))
            })?;
            let notes = index_notes(&engine);
            Ok((engine.analyze_contained(ex), notes))
        }
        Input::Bytes { name, bytes } => {
            let engine = new_engine(config, location.as_deref(), store)?;
            let blob = Blob::from_bytes(bytes);
            // Named as the service names an upload without a name.
            let name = name.unwrap_or_else(|| format!("upload:{}", &blob.sha256[..16]));
            let claim = engine.config().claim.clone();
            let notes = index_notes(&engine);
            Ok((engine.process_blob(&name, &blob, &claim), notes))
        }
    }
}

fn check_inner(
    py: Python<'_>,
    path_or_bytes: &Bound<'_, PyAny>,
    archive: Option<&Bound<'_, PyAny>>,
    claim_date: Option<&Bound<'_, PyAny>>,
    claim_location: Option<&Bound<'_, PyAny>>,
    name: Option<String>,
    limits_given: Option<&Bound<'_, PyDict>>,
    crop_search: Option<u16>,
) -> PyResult<String> {
    let limits = limits(limits_given)?;
    let config = Config {
        claim: claim(claim_date, claim_location)?,
        limits: limits.clone(),
        matching: matching(crop_search)?,
        // One picture: scanning the stored hashes once costs less than
        // building the index's tables for them (as `retrace check`).
        index_scan_only: true,
        ..Config::default()
    };
    let input = input(path_or_bytes, name, &limits)?;
    let location = match archive.filter(|a| !a.is_none()) {
        Some(a) => Some(archive_location(a)?),
        None => None,
    };
    let (ex, notes) = py
        .detach(|| check_report(input, location, config))
        .map_err(retrace_error)?;
    for n in notes {
        warn(py, &n)?;
    }
    let json = report_json(&ex.report)?;
    // Nothing was read at all: there is no picture to report on.
    if ex.report.sha256.is_none() {
        let message = ex
            .report
            .errors
            .first()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "the picture could not be read".into());
        let err = retrace_error(message);
        err.value(py).setattr("report", loads(py, &json)?)?;
        return Err(err);
    }
    Ok(json)
}

/// check(path_or_bytes, archive=None, claim_date=None, claim_location=None, *, name=None, limits=None, crop_search=None)
/// --
///
/// Analyse one picture and return its report (`retrace.report/1`) as a dict:
/// the same as `retrace check --json` prints for the same file and archive.
///
/// `path_or_bytes` is a path (str or os.PathLike) or the picture's bytes
/// (bytes, bytearray, memoryview); a report of bytes is named `name`, or
/// `upload:` and the start of its SHA-256. `archive` is a SQLite file, a
/// `postgres://` URL or an `Archive`; it must exist. `claim_date`
/// (`"YYYY-MM-DD"` or a `datetime.date`) and `claim_location`
/// (`"LAT,LON[,RADIUS_KM]"` or a tuple) are what the picture is said to show.
/// `limits` replaces some of the caps (`{"max_pixels": 50_000_000}`; the
/// names are the CLI's `--max-*` flags with underscores). `crop_search` is
/// the CLI's `--crop-search` (default and most 256, 0 turns it off): how
/// many archived pictures sharing the most local features are verified as
/// a crop, a captioned copy or a screenshot.
///
/// A picture that could be read but not decoded still gets a report, with
/// its `errors`, as in the CLI. Raises `RetraceError` when the file cannot be
/// read at all (its `report` attribute holds the CLI's report) or the archive
/// cannot be opened; `ValueError` for a malformed claim; `TypeError` for an
/// argument of the wrong type. The GIL is released while the picture is
/// analysed.
#[pyfunction]
#[pyo3(signature = (path_or_bytes, archive=None, claim_date=None, claim_location=None, *, name=None, limits=None, crop_search=None))]
fn check(
    py: Python<'_>,
    path_or_bytes: &Bound<'_, PyAny>,
    archive: Option<&Bound<'_, PyAny>>,
    claim_date: Option<&Bound<'_, PyAny>>,
    claim_location: Option<&Bound<'_, PyAny>>,
    name: Option<String>,
    limits: Option<&Bound<'_, PyDict>>,
    crop_search: Option<u16>,
) -> PyResult<Py<PyAny>> {
    let json = check_inner(
        py,
        path_or_bytes,
        archive,
        claim_date,
        claim_location,
        name,
        limits,
        crop_search,
    )?;
    loads(py, &json)
}

/// check_json(path_or_bytes, archive=None, claim_date=None, claim_location=None, *, name=None, limits=None, crop_search=None)
/// --
///
/// `check`, returning the report as text: exactly the bytes `retrace check
/// --json` prints (pretty JSON, final newline), for storing or forwarding.
#[pyfunction]
#[pyo3(signature = (path_or_bytes, archive=None, claim_date=None, claim_location=None, *, name=None, limits=None, crop_search=None))]
fn check_json(
    py: Python<'_>,
    path_or_bytes: &Bound<'_, PyAny>,
    archive: Option<&Bound<'_, PyAny>>,
    claim_date: Option<&Bound<'_, PyAny>>,
    claim_location: Option<&Bound<'_, PyAny>>,
    name: Option<String>,
    limits: Option<&Bound<'_, PyDict>>,
    crop_search: Option<u16>,
) -> PyResult<String> {
    check_inner(
        py,
        path_or_bytes,
        archive,
        claim_date,
        claim_location,
        name,
        limits,
        crop_search,
    )
}

/// One path or several.
fn paths(obj: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        return Ok(vec![obj.extract()?]);
    }
    let mut out = Vec::new();
    for p in obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err("paths must be a path or an iterable of paths"))?
    {
        let p = p?;
        out.push(p.extract::<PathBuf>().map_err(|_| {
            PyTypeError::new_err(format!(
                "paths must hold str or os.PathLike, not {}",
                p.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?);
    }
    if out.is_empty() {
        return Err(PyValueError::new_err("no paths given"));
    }
    Ok(out)
}

fn threads(n: Option<usize>) -> PyResult<Option<usize>> {
    match n {
        Some(0) => Err(PyValueError::new_err("threads must be at least 1")),
        n => Ok(n),
    }
}

/// What a background run sends its caller.
enum Message {
    Report(String),
    /// The run ended: its walk problems, or why it stopped.
    Done(Result<Vec<WalkProblem>, String>),
}

/// The reports of a `scan`, as they finish (an iterator).
///
/// The pictures are analysed by a pool of worker threads while the iterator
/// is consumed; at most 64 finished reports wait for the consumer. Dropping
/// the iterator (or a Ctrl-C while it waits) stops the scan after the
/// pictures in progress. Folders that could not be walked are in `problems`
/// once the iterator is exhausted, and each is also warned about
/// (RuntimeWarning), as the CLI prints them.
#[pyclass(module = "retrace", frozen)]
struct Scan {
    rx: Mutex<mpsc::Receiver<Message>>,
    cancel: Arc<AtomicBool>,
    worker: Mutex<Option<JoinHandle<()>>>,
    problems: Mutex<Vec<(String, String)>>,
    finished: AtomicBool,
}

#[pymethods]
impl Scan {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if self.finished.load(Ordering::Acquire) {
            return Ok(None);
        }
        loop {
            let got = py.detach(|| {
                let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
                rx.recv_timeout(SIGNAL_POLL)
            });
            match got {
                Ok(Message::Report(json)) => return loads(py, &json).map(Some),
                Ok(Message::Done(result)) => {
                    self.finished.store(true, Ordering::Release);
                    if let Some(h) = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        let _ = py.detach(|| h.join());
                    }
                    let problems = result.map_err(retrace_error)?;
                    let mut kept = self.problems.lock().unwrap_or_else(|p| p.into_inner());
                    for p in problems {
                        let path = p.path.to_string_lossy().into_owned();
                        warn(py, &format!("{path}: {}", p.message))?;
                        kept.push((path, p.message));
                    }
                    return Ok(None);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals() {
                        self.stop();
                        return Err(e);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.finished.store(true, Ordering::Release);
                    return Err(retrace_error("the scan stopped on an internal error"));
                }
            }
        }
    }

    /// Folders and files the walk could not read, as (path, message) pairs;
    /// complete once the iterator is exhausted.
    #[getter]
    fn problems(&self) -> Vec<(String, String)> {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stop taking new pictures; the iterator ends after those in progress.
    fn close(&self) {
        self.stop();
    }
}

impl Scan {
    fn stop(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        // The worker ends by itself once its sends fail; nothing waits for it.
        self.cancel.store(true, Ordering::SeqCst);
    }
}

/// scan(paths, archive=None, threads=None, *, claim_date=None, claim_location=None, limits=None, crop_search=None)
/// --
///
/// Analyse every picture under `paths` (a path or an iterable of paths: files
/// and folders, walked as `retrace scan` walks them) in parallel and yield
/// each report, as a dict, as soon as it is finished: the same reports as
/// `retrace scan --jsonl`, in the order they finish. `threads` is the number
/// of worker threads (default: all cores). The other parameters are those
/// of `check`.
///
/// A picture that cannot be read or decoded is a report with `errors`, and
/// the scan goes on. Raises (at the call, before anything is scanned)
/// `RetraceError` when the archive cannot be opened, `ValueError` for a
/// malformed claim or limit.
#[pyfunction]
#[pyo3(signature = (paths, archive=None, threads=None, *, claim_date=None, claim_location=None, limits=None, crop_search=None))]
fn scan(
    py: Python<'_>,
    paths: &Bound<'_, PyAny>,
    archive: Option<&Bound<'_, PyAny>>,
    threads: Option<usize>,
    claim_date: Option<&Bound<'_, PyAny>>,
    claim_location: Option<&Bound<'_, PyAny>>,
    limits: Option<&Bound<'_, PyDict>>,
    crop_search: Option<u16>,
) -> PyResult<Scan> {
    let roots = self::paths(paths)?;
    let threads = self::threads(threads)?;
    let limits = self::limits(limits)?;
    let config = Config {
        limits,
        claim: claim(claim_date, claim_location)?,
        matching: matching(crop_search)?,
        archive_refresh: Some(retrace::internals::pipeline::DEFAULT_ARCHIVE_REFRESH),
        ..Config::default()
    };
    let location = match archive.filter(|a| !a.is_none()) {
        Some(a) => Some(archive_location(a)?),
        None => None,
    };
    // Opened and loaded here, so that a bad archive raises at the call.
    let engine = py
        .detach(|| {
            let store = match &location {
                Some(l) => Some(open_store(l, false)?),
                None => None,
            };
            new_engine(config, location.as_deref(), store)
        })
        .map_err(retrace_error)?;
    for n in index_notes(&engine) {
        warn(py, &n)?;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel::<Message>(64);
    let stop = cancel.clone();
    let worker = std::thread::Builder::new()
        .name("retrace-scan".into())
        .spawn(move || {
            let result =
                BatchScan::new(&engine)
                    .threads(threads)
                    .cancel(&stop)
                    .walk(&roots, |_, _, ex| {
                        let msg = match report_json_text(&ex.report) {
                            Ok(json) => Message::Report(json),
                            Err(e) => Message::Done(Err(e)),
                        };
                        if tx.send(msg).is_err() {
                            // Nobody reads any more: take no new pictures.
                            stop.store(true, Ordering::SeqCst);
                        }
                    });
            let _ = tx.send(Message::Done(result.map_err(|e| chain(&e))));
        })
        .map_err(|e| retrace_error(format!("starting the scan: {e}")))?;
    Ok(Scan {
        rx: Mutex::new(rx),
        cancel,
        worker: Mutex::new(Some(worker)),
        problems: Mutex::new(Vec::new()),
        finished: AtomicBool::new(false),
    })
}

fn report_json_text(r: &retrace::Report) -> Result<String, String> {
    serde_json::to_string(r).map_err(|e| e.to_string())
}

/// An archive of pictures seen before: a SQLite file or a shared PostgreSQL
/// database (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`).
///
/// `Archive(path_or_url)` creates the archive when it does not exist yet
/// (`create=False` refuses instead, as `retrace archive info` does) and
/// brings its schema up to date. Each call opens its own connection, so an
/// `Archive` may be shared between threads and processes; every write is a
/// transaction. Pass it (or its path) as `archive=` to `check` and `scan`.
#[pyclass(module = "retrace", frozen)]
struct Archive {
    location: PathBuf,
}

#[pymethods]
impl Archive {
    #[new]
    #[pyo3(signature = (path_or_url, create=true))]
    fn new(py: Python<'_>, path_or_url: &Bound<'_, PyAny>, create: bool) -> PyResult<Archive> {
        let location = archive_location(path_or_url)?;
        py.detach(|| open_store(&location, create).map(drop))
            .map_err(retrace_error)?;
        Ok(Archive { location })
    }

    /// The archive's file, or its URL without the password.
    #[getter]
    fn path(&self) -> String {
        display_location(&self.location)
    }

    fn __repr__(&self) -> String {
        format!("retrace.Archive({:?})", display_location(&self.location))
    }

    /// info()
    /// --
    ///
    /// What the archive holds, as a dict: the same as `retrace archive info
    /// --json` (images, sightings, first-seen range, schema version, hash
    /// stamps and their counts).
    fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let json = py
            .detach(|| {
                let store = open_store(&self.location, false)?;
                let info = store.info().map_err(|e| chain(&e))?;
                serde_json::to_string_pretty(&info).map_err(|e| e.to_string())
            })
            .map_err(retrace_error)?;
        loads(py, &json)
    }

    /// export(file, format="retrace")
    /// --
    ///
    /// Write the archive's hashes as a list to share, without the pictures,
    /// as `retrace archive export` does: every picture's hashes with its
    /// first-seen date, source and URL. `format` is `"retrace"` (JSON Lines,
    /// `retrace.hashlist/1`, every hash retrace keeps) or `"threatexchange"`
    /// (CSV of each picture's PDQ hash, `pdq_hex,id,added_on,labels`). The
    /// file is replaced whole once complete: a reader never sees half a list.
    /// Returns `{"written": N, "skipped": N}` (skipped: pictures without a
    /// whole-frame PDQ hash, left out of a ThreatExchange list).
    #[pyo3(signature = (file, format="retrace"))]
    fn export(&self, py: Python<'_>, file: PathBuf, format: &str) -> PyResult<Py<PyAny>> {
        let format = match format {
            "retrace" => ListFormat::Retrace,
            "threatexchange" => ListFormat::ThreatExchange,
            other => {
                return Err(PyValueError::new_err(format!(
                    "format {other:?} is not \"retrace\" or \"threatexchange\""
                )))
            }
        };
        let done = py
            .detach(|| {
                let store = open_store(&self.location, false)?;
                export_list(&store, &file, format)
                    .map_err(|e| format!("exporting into {}: {e}", file.display()))
            })
            .map_err(retrace_error)?;
        let d = PyDict::new(py);
        d.set_item("written", done.written)?;
        d.set_item("skipped", done.skipped)?;
        Ok(d.into_any().unbind())
    }

    /// add(paths, source="", first_seen=None, *, manifest=None, threads=None, limits=None)
    /// --
    ///
    /// Record every picture under `paths` (a path or an iterable of paths),
    /// as `retrace archive add` does: `source` is who or what the pictures
    /// came from; `first_seen` is a date (`"YYYY-MM-DD"`, ISO 8601 or a
    /// `datetime.date`), `"exif"` (the capture time) or `"mtime"`; by default
    /// the EXIF capture time when present, else the file's mtime.
    /// `manifest` is a TAB-separated catalogue (`file  source  first_seen
    /// url`, paths relative to it) whose rows set source, first-seen and URL
    /// per file, as `--manifest` does.
    ///
    /// Returns a dict: `added` and `already_known` (counts), `failed` (the
    /// pictures that could not be added, each `{"path", "message"}`) and
    /// `problems` (what the walk could not read). Pictures are recorded 64 per
    /// transaction; a Ctrl-C stops after the batch in progress, whose
    /// pictures are then complete in the archive, and raises
    /// KeyboardInterrupt.
    #[pyo3(signature = (paths, source="", first_seen=None, *, manifest=None, threads=None, limits=None))]
    fn add(
        &self,
        py: Python<'_>,
        paths: &Bound<'_, PyAny>,
        source: &str,
        first_seen: Option<&Bound<'_, PyAny>>,
        manifest: Option<PathBuf>,
        threads: Option<usize>,
        limits: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let roots = self::paths(paths)?;
        let threads = self::threads(threads)?;
        let limits = self::limits(limits)?;
        let policy = match first_seen.filter(|f| !f.is_none()) {
            None => FirstSeen::Auto,
            Some(f) => {
                let f = date_text(f, "first_seen")?;
                match f.as_str() {
                    "exif" => FirstSeen::Exif,
                    "mtime" => FirstSeen::Mtime,
                    d if parse_date(d).is_some() => FirstSeen::Given(d.to_string()),
                    d => {
                        return Err(PyValueError::new_err(format!(
                            "first_seen {d:?}: expected a date, exif or mtime"
                        )))
                    }
                }
            }
        };
        let config = Config {
            limits,
            ..Config::default()
        };
        let job = AddJob {
            location: self.location.clone(),
            roots,
            threads,
            policy,
            source: source.to_string(),
            manifest,
        };
        let cancel = AtomicBool::new(false);
        let outcome = interruptible(py, &cancel, || job.run(config, &cancel))?;
        let outcome = outcome.map_err(retrace_error)?;
        for n in &outcome.notes {
            warn(py, n)?;
        }
        let d = PyDict::new(py);
        d.set_item("added", outcome.added)?;
        d.set_item("already_known", outcome.known)?;
        let item = |(path, message): &(String, String)| -> PyResult<Bound<'_, PyDict>> {
            let e = PyDict::new(py);
            e.set_item("path", path)?;
            e.set_item("message", message)?;
            Ok(e)
        };
        d.set_item(
            "failed",
            outcome
                .failed
                .iter()
                .map(item)
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        d.set_item(
            "problems",
            outcome
                .problems
                .iter()
                .map(item)
                .collect::<PyResult<Vec<_>>>()?,
        )?;
        Ok(d.into_any().unbind())
    }
}

/// The list streamed into a temporary file beside `file` and renamed over
/// it at the end, as the CLI writes it: a reader never sees half a list, and
/// a failed export leaves the previous one.
fn export_list(store: &Store, file: &Path, format: ListFormat) -> Result<Exported, String> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| -> Result<Exported, String> {
        let f =
            std::fs::File::create(&tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(f);
        let done = export(store, format, &mut w).map_err(|e| chain(&e))?;
        let f = w.into_inner().map_err(|e| e.into_error().to_string())?;
        f.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, file)
            .map_err(|e| format!("renaming into {}: {e}", file.display()))?;
        Ok(done)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Run `work` on another thread while this one, attached to Python, watches
/// for Ctrl-C: on KeyboardInterrupt `cancel` is set, the work is let finish
/// what it started (a transaction is never cut), and the interrupt raised.
fn interruptible<T: Send>(
    py: Python<'_>,
    cancel: &AtomicBool,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    std::thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let handle = s.spawn(move || {
            let out = work();
            let _ = done_tx.send(());
            out
        });
        let mut interrupted = None;
        let mut done_rx = done_rx;
        loop {
            // The receiver goes into the detached closure and back: it may
            // be moved across threads but not shared.
            let (got, rx) = py.detach(move || (done_rx.recv_timeout(SIGNAL_POLL), done_rx));
            done_rx = rx;
            match got {
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if interrupted.is_none() {
                        if let Err(e) = py.check_signals() {
                            cancel.store(true, Ordering::SeqCst);
                            interrupted = Some(e);
                        }
                    }
                }
                // Sent, or the sender dropped by a panic: either way it ended.
                _ => break,
            }
        }
        let out = py
            .detach(|| handle.join())
            .map_err(|_| retrace_error("the work panicked (a bug)"))?;
        match interrupted {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

/// An `Archive.add`, everything it needs owned, to run off the Python thread.
struct AddJob {
    location: PathBuf,
    roots: Vec<PathBuf>,
    threads: Option<usize>,
    policy: FirstSeen,
    source: String,
    manifest: Option<PathBuf>,
}

#[derive(Default)]
struct AddOutcome {
    added: usize,
    known: usize,
    failed: Vec<(String, String)>,
    problems: Vec<(String, String)>,
    notes: Vec<String>,
}

impl AddJob {
    /// `retrace archive add` without its progress bar: walk, examine,
    /// record in transactions of [`RECORD_BATCH`].
    fn run(&self, config: Config, cancel: &AtomicBool) -> Result<AddOutcome, String> {
        let manifest = match &self.manifest {
            Some(m) => read_catalogue(m).map_err(|e| chain(&e))?,
            None => HashMap::new(),
        };
        let store = open_store(&self.location, true)?;
        let engine = new_engine(config, Some(&self.location), Some(store))?;
        let mut out = AddOutcome {
            notes: index_notes(&engine),
            ..AddOutcome::default()
        };
        let mut batch = Vec::new();
        let mut record_error = None;
        let flush = |batch: &mut Vec<_>, out: &mut AddOutcome| -> Result<(), String> {
            if batch.is_empty() {
                return Ok(());
            }
            for r in engine.record(batch).map_err(|e| chain(&e))? {
                match r {
                    Recorded::Added => out.added += 1,
                    Recorded::AlreadyKnown => out.known += 1,
                }
            }
            batch.clear();
            Ok(())
        };
        let problems = BatchScan::new(&engine)
            .threads(self.threads)
            .cancel(cancel)
            .examine_only(true)
            .walk(&self.roots, |_, c, ex| {
                let Some(entry) = engine.archive_entry(&ex) else {
                    let why = ex
                        .report
                        .errors
                        .first()
                        .map(|e| format!("{}: {}", e.stage, e.message))
                        .unwrap_or_default();
                    out.failed.push((ex.report.path.clone(), why));
                    return;
                };
                let row = std::fs::canonicalize(&c.path)
                    .ok()
                    .and_then(|p| manifest.get(&p));
                let (first, from) = match row.and_then(|r| r.first_seen.clone()) {
                    Some(d) => (d, retrace::FirstSeenFrom::Manifest),
                    None => first_seen(&ex, &self.policy),
                };
                batch.push((
                    entry,
                    Sighting {
                        location: c.path.to_string_lossy().into_owned(),
                        source: row
                            .map(|r| r.source.clone())
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| self.source.clone()),
                        url: row.and_then(|r| r.url.clone()),
                        first_seen: first,
                        first_seen_from: from,
                    },
                ));
                if batch.len() >= RECORD_BATCH && record_error.is_none() {
                    if let Err(e) = flush(&mut batch, &mut out) {
                        record_error = Some(e);
                        // Nothing more can be recorded: stop reading pictures.
                        cancel.store(true, Ordering::SeqCst);
                    }
                }
            })
            .map_err(|e| chain(&e))?;
        out.problems = problems
            .into_iter()
            .map(|p| (p.path.to_string_lossy().into_owned(), p.message))
            .collect();
        // As the CLI says it: what is in the archive now, so that nobody has
        // to guess how much to send again.
        let before_failing = |e: String, out: &AddOutcome| {
            let n = out.added + out.known;
            format!(
                "recording into the archive; recorded {n} picture{} ({} new, {} already known) \
                 before this error (every batch recorded is complete; the same call again \
                 records the rest): {e}",
                if n == 1 { "" } else { "s" },
                out.added,
                out.known
            )
        };
        if let Some(e) = record_error {
            return Err(before_failing(e, &out));
        }
        if let Err(e) = flush(&mut batch, &mut out) {
            return Err(before_failing(e, &out));
        }
        Ok(out)
    }
}

/// retrace: where did this picture come from? Offline provenance for
/// circulating pictures: metadata, perceptual hashes, earlier copies in an
/// archive, and a report per picture (`retrace.report/1`), the same as the
/// `retrace` command's.
#[pymodule]
fn _retrace(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(check_json, m)?)?;
    m.add_function(wrap_pyfunction!(scan, m)?)?;
    m.add_class::<Archive>()?;
    m.add_class::<Scan>()?;
    m.add("RetraceError", m.py().get_type::<RetraceError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA", retrace::internals::report::SCHEMA)?;
    Ok(())
}
