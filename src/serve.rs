//! `retrace serve`: the HTTP intake (axum on tokio). It owns the protocol and
//! its limits only: every picture goes through the library's `Engine` on a
//! blocking thread, so the async runtime never decodes or hashes, and the
//! library itself never sees tokio. Described for clients in `openapi.yaml`.
//!
//! Every upload is hostile. Limits, all configurable: a body cap answered with
//! 413 from the Content-Length alone (before a byte of the body is read) or as
//! soon as a chunked body passes it; content sniffed from the bytes, anything
//! that is not an image is 415 whatever its Content-Type; a per-request
//! timeout (503); at most N pictures analysed at once (the rest wait inside
//! their timeout). Writes need a bearer token read from a file, never from the
//! command line (which `ps` shows to every user); without one the service is
//! read-only.
//!
//! With `--report-dir`, each check's report and page are also files named by
//! content SHA-256 (written atomically), so `GET /v1/report/{sha256}` answers
//! for pictures checked before a restart; memory stays bounded by the page
//! cache, and the folder is the only thing that grows.

use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Path as UrlPath, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tokio::sync::Semaphore;

use retrace::archive::{Recorded, Sighting};
use retrace::assess::{parse_date, parse_location, Claim};
use retrace::pipeline::{first_seen, Engine, FirstSeen};
use retrace::read::{Blob, Format};
use retrace::report::html;

/// Everything `serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Whole-request deadline: reading the body, waiting for a slot, analysing.
    pub timeout: Duration,
    /// Pictures analysed at once.
    pub concurrency: usize,
    /// Bearer token for writes; `None` makes the service read-only.
    pub token: Option<String>,
    /// HTML pages kept for `GET /v1/report/{sha256}` (most recent first).
    pub report_cache: usize,
    /// Where every check's `<sha256>.json` and `<sha256>.html` are written,
    /// and pages are read back from when not in memory.
    pub report_dir: Option<PathBuf>,
}

/// Largest page or report read back from `--report-dir`: the files are ours,
/// but the folder is not locked against others, so the read is bounded.
const MAX_STORED_FILE_BYTES: u64 = 64 * 1024 * 1024;

struct App {
    engine: Arc<Engine>,
    config: ServeConfig,
    slots: Arc<Semaphore>,
    // Recent pages, newest at the back; bounded by `report_cache`.
    pages: Mutex<VecDeque<(String, Arc<String>)>>,
}

type Shared = Arc<App>;

/// An error answered as JSON: `{"error": "...", "status": N}`.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.1, "status": self.0.as_u16()});
        json_response(self.0, &body)
    }
}

fn json_response(status: StatusCode, v: &impl serde::Serialize) -> Response {
    let mut bytes = serde_json::to_vec_pretty(v).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(bytes),
    )
        .into_response()
}

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError(status, msg.into())
}

/// Run the service until Ctrl-C; `ready` gets the bound address (the tests bind
/// port 0 and read it from stdout).
pub fn run(engine: Engine, config: ServeConfig) -> Result<()> {
    // Before listening: clients may ask for stored pages as soon as it does.
    if let Some(dir) = &config.report_dir {
        prepare_report_dir(dir)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // The last reference is dropped here, after the runtime: a PostgreSQL
    // archive closes its connection with blocking calls, which tokio refuses
    // inside its own threads.
    let engine = Arc::new(engine);
    let served = engine.clone();
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {}", config.bind))?;
        let addr = listener.local_addr()?;
        println!("retrace serve: listening on http://{addr}");
        if config.token.is_none() {
            println!(
                "retrace serve: no --token-file: read-only (record and archive writes refused)"
            );
        }
        use std::io::Write;
        std::io::stdout().flush()?;
        let app = Arc::new(App {
            engine: served,
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            pages: Mutex::new(VecDeque::new()),
            config,
        });
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")
    });
    drop(rt);
    drop(engine);
    result
}

fn router(app: Shared) -> Router {
    let cap = usize::try_from(app.config.max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/check", post(check))
        .route("/v1/archive", post(archive_add))
        .route("/v1/archive/stats", get(stats))
        .route("/v1/report/{sha256}", get(report_page))
        // Multipart reads through this limit too; raw bodies are capped in `body_bytes`.
        .layer(DefaultBodyLimit::max(cap))
        .with_state(app)
}

async fn health(State(app): State<Shared>) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "status": "ok",
            "generator": concat!("retrace ", env!("CARGO_PKG_VERSION")),
            "archive": app.engine.has_archive(),
            "images": app.engine.archive_images(),
            "writes": app.config.token.is_some(),
        }),
    )
}

async fn stats(State(app): State<Shared>) -> Result<Response, ApiError> {
    let engine = app.engine.clone();
    let info = tokio::task::spawn_blocking(move || engine.archive_info())
        .await
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match info {
        None => Err(err(
            StatusCode::NOT_FOUND,
            "no archive: start the service with --archive PATH",
        )),
        Some(Err(e)) => Err(err(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}"))),
        Some(Ok(mut info)) => {
            // The server's file layout is none of the client's business.
            info.path = std::path::PathBuf::new();
            let mut v = serde_json::to_value(&info).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.remove("path");
            }
            Ok(json_response(StatusCode::OK, &v))
        }
    }
}

async fn report_page(
    State(app): State<Shared>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    // `{sha256}` is the page; `{sha256}.json` the report, from --report-dir.
    let (sha, json) = match name.strip_suffix(".json") {
        Some(sha) => (sha, true),
        None => (name.as_str(), false),
    };
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "expected a SHA-256 in hex (64 characters), optionally followed by .json",
        ));
    }
    let sha = sha.to_ascii_lowercase();
    let in_memory = if json {
        None
    } else {
        app.pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find(|(k, _)| *k == sha)
            .map(|(_, p)| p.as_bytes().to_vec())
    };
    let bytes = match (in_memory, &app.config.report_dir) {
        (Some(page), _) => Some(page),
        (None, Some(dir)) => {
            // The name is 64 hex digits: it cannot leave the folder.
            let path = dir.join(format!("{sha}.{}", if json { "json" } else { "html" }));
            tokio::task::spawn_blocking(move || read_stored(&path))
                .await
                .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
                .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e))?
        }
        (None, None) => None,
    };
    let Some(bytes) = bytes else {
        return Err(err(
            StatusCode::NOT_FOUND,
            if app.config.report_dir.is_some() {
                "no report for this SHA-256 (POST the picture to /v1/check first)"
            } else {
                "no report for this SHA-256 among the recent checks (POST it to /v1/check first)"
            },
        ));
    };
    if json {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            Body::from(bytes),
        )
            .into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
                ),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// Create the folder and remove temporary files a crash left behind (a
/// finished page or report is never a `.tmp`).
fn prepare_report_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ours = name.len() > 64 && name.as_bytes()[..64].iter().all(u8::is_ascii_hexdigit);
        if ours && name.ends_with(".tmp") && e.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// A stored page or report, `None` when there is none.
fn read_stored(path: &std::path::Path) -> Result<Option<Vec<u8>>, String> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("reading the stored report: {e}")),
    };
    let mut bytes = Vec::new();
    file.take(MAX_STORED_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the stored report: {e}"))?;
    if bytes.len() as u64 > MAX_STORED_FILE_BYTES {
        return Err(format!(
            "the stored report is larger than {MAX_STORED_FILE_BYTES} bytes"
        ));
    }
    Ok(Some(bytes))
}

/// Write a check's report and page into `--report-dir`. A failure is logged,
/// never answered: the check itself succeeded.
fn store(dir: &std::path::Path, sha: &str, report: &retrace::report::Report, page: &[u8]) {
    let mut json = Vec::new();
    let written = retrace::report::write_json(&mut json, report)
        .map_err(anyhow::Error::from)
        .and_then(|()| crate::write_atomic(&dir.join(format!("{sha}.json")), &json))
        .and_then(|()| crate::write_atomic(&dir.join(format!("{sha}.html")), page));
    if let Err(e) = written {
        eprintln!(
            "retrace serve: could not store the report of {sha} in {}: {e:#}",
            dir.display()
        );
    }
}

/// Query (or multipart form) parameters of the write and check endpoints.
#[derive(Debug, Default, Deserialize)]
struct Params {
    claim_date: Option<String>,
    claim_location: Option<String>,
    record: Option<bool>,
    source: Option<String>,
    first_seen: Option<String>,
    url: Option<String>,
    name: Option<String>,
}

fn authorized(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = &app.config.token else {
        return Err(err(
            StatusCode::FORBIDDEN,
            "this service is read-only: start it with --token-file to allow writes",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compare in constant time, so the token cannot be guessed byte by byte.
    let same = given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(err(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        ))
    }
}

/// The upload's bytes and the parameters that came with it: the raw body, or
/// the `file` part of a multipart form whose other parts are parameters.
async fn upload(
    app: &App,
    req: Request,
    mut params: Params,
) -> Result<(Vec<u8>, Params), ApiError> {
    let cap = app.config.max_body_bytes;
    let too_large = || {
        err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {cap} bytes"),
        )
    };
    // Decided from the header alone: the body is never read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap) {
        return Err(too_large());
    }
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        let limit = usize::try_from(cap).unwrap_or(usize::MAX);
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| too_large())?;
        return Ok((bytes.to_vec(), params));
    }
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
    let mut file = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_large()),
            Err(e) => return Err(err(StatusCode::BAD_REQUEST, e.body_text())),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if params.name.is_none() {
                params.name = field.file_name().map(str::to_string);
            }
            let bytes = field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    err(StatusCode::BAD_REQUEST, e.body_text())
                }
            })?;
            file = Some(bytes.to_vec());
            continue;
        }
        // Parameters are short; anything longer than this is not one.
        let text = field
            .text()
            .await
            .map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
        if text.len() > 4096 {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("form field {name:?} is longer than 4096 bytes"),
            ));
        }
        match name.as_str() {
            "claim_date" => params.claim_date = Some(text),
            "claim_location" => params.claim_location = Some(text),
            "record" => params.record = Some(text == "true" || text == "1"),
            "source" => params.source = Some(text),
            "first_seen" => params.first_seen = Some(text),
            "url" => params.url = Some(text),
            _ => {}
        }
    }
    let file = file.ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            "multipart upload without a `file` part",
        )
    })?;
    Ok((file, params))
}

/// 415 unless the bytes themselves say image.
fn sniffed(bytes: Vec<u8>) -> Result<Blob, ApiError> {
    if bytes.is_empty() {
        return Err(err(StatusCode::BAD_REQUEST, "empty body: send the image"));
    }
    let blob = Blob::from_bytes(bytes);
    if blob.format == Format::Unknown {
        return Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body is not an image this service reads (the content was sniffed; the Content-Type header is not trusted)",
        ));
    }
    Ok(blob)
}

/// Run CPU work on the blocking pool once a slot is free. The slot travels
/// with the work: a request that timed out still holds it until its analysis
/// really ends, so the bound on concurrent analyses holds.
async fn analyse<T: Send + 'static>(
    app: &App,
    work: impl FnOnce(&Engine) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = app
        .slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    let engine = app.engine.clone();
    tokio::task::spawn_blocking(move || {
        let out = work(&engine);
        drop(permit);
        out
    })
    .await
    .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn within_deadline(
    app: &App,
    fut: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Response {
    match tokio::time::timeout(app.config.timeout, fut).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => e.into_response(),
        Err(_) => err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request took longer than the limit of {} s",
                app.config.timeout.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

fn display_name(params: &Params, sha: &str) -> String {
    // Kept as given (escaped wherever it is shown), but bounded.
    match &params.name {
        Some(n) if !n.is_empty() => n.chars().take(255).collect(),
        _ => format!("upload:{}", &sha[..16.min(sha.len())]),
    }
}

async fn check(State(app): State<Shared>, Query(params): Query<Params>, req: Request) -> Response {
    let a = app.clone();
    within_deadline(&app, async move {
        let wants_record = params.record.unwrap_or(false);
        if wants_record {
            authorized(&a, req.headers())?;
            if !a.engine.has_archive() {
                return Err(err(
                    StatusCode::CONFLICT,
                    "record=true needs an archive: start the service with --archive PATH",
                ));
            }
        }
        let (bytes, params) = upload(&a, req, params).await?;
        let claim = Claim {
            location: match params.claim_location.as_deref().filter(|l| !l.is_empty()) {
                Some(l) => Some(parse_location(l).ok_or_else(|| {
                    err(
                        StatusCode::BAD_REQUEST,
                        "claim_location is not LAT,LON[,RADIUS_KM] in decimal degrees and km",
                    )
                })?),
                None => None,
            },
            date: match params.claim_date.as_deref().filter(|d| !d.is_empty()) {
                Some(d) => Some(parse_date(d).ok_or_else(|| {
                    err(
                        StatusCode::BAD_REQUEST,
                        "claim_date is not a date (YYYY-MM-DD)",
                    )
                })?),
                None => None,
            },
        };
        let blob = sniffed(bytes)?;
        let name = display_name(&params, &blob.sha256);
        let source = params.source.clone().unwrap_or_default();
        let report_dir = a.config.report_dir.clone();
        let (report, page, record_error) = analyse(&a, move |engine| {
            let ex = engine.process_blob(&name, &blob, &claim);
            let mut page = Vec::new();
            let _ = html::write_page(&mut page, &ex.report, &engine.pictures(&ex, 640));
            let mut record_error = None;
            if wants_record {
                match engine.archive_entry(&ex) {
                    Some(entry) => {
                        let (first, from) = first_seen(&ex, &FirstSeen::Now);
                        let sighting = Sighting {
                            location: name.clone(),
                            source,
                            url: None,
                            first_seen: first,
                            first_seen_from: from,
                        };
                        if let Err(e) = engine.record(&[(entry, sighting)]) {
                            record_error = Some(e.to_string());
                        }
                    }
                    None => record_error = Some("the picture could not be decoded".into()),
                }
            }
            if let (Some(dir), Some(sha)) = (&report_dir, &ex.report.sha256) {
                store(dir, sha, &ex.report, &page);
            }
            (ex.report, page, record_error)
        })
        .await?;
        if let Some(sha) = &report.sha256 {
            remember(&a, sha.clone(), String::from_utf8_lossy(&page).into_owned());
        }
        // Additive: whether recording worked, which the report schema has no field for.
        let answer = CheckAnswer {
            report: &report,
            recorded: wants_record
                .then(|| serde_json::json!({"ok": record_error.is_none(), "error": record_error})),
        };
        Ok(json_response(StatusCode::OK, &answer))
    })
    .await
}

/// The answer of `/v1/check`: the report, serialised directly (a detour
/// through `serde_json::Value` would widen its f32 fields, so that 0.85 came
/// out as 0.8500000238418579, unlike the command line and the stored report).
#[derive(serde::Serialize)]
struct CheckAnswer<'a> {
    #[serde(flatten)]
    report: &'a retrace::report::Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    recorded: Option<serde_json::Value>,
}

fn remember(app: &App, sha: String, page: String) {
    let mut pages = app.pages.lock().unwrap_or_else(|p| p.into_inner());
    pages.retain(|(k, _)| *k != sha);
    pages.push_back((sha, Arc::new(page)));
    while pages.len() > app.config.report_cache {
        pages.pop_front();
    }
}

async fn archive_add(
    State(app): State<Shared>,
    Query(params): Query<Params>,
    req: Request,
) -> Response {
    let a = app.clone();
    within_deadline(&app, async move {
        authorized(&a, req.headers())?;
        if !a.engine.has_archive() {
            return Err(err(
                StatusCode::CONFLICT,
                "no archive: start the service with --archive PATH",
            ));
        }
        let (bytes, params) = upload(&a, req, params).await?;
        let source = params
            .source
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| err(StatusCode::BAD_REQUEST, "source is required"))?;
        let first = params
            .first_seen
            .clone()
            .ok_or_else(|| err(StatusCode::BAD_REQUEST, "first_seen is required"))?;
        if parse_date(&first).is_none() {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "first_seen is not an ISO 8601 date",
            ));
        }
        let blob = sniffed(bytes)?;
        let name = display_name(&params, &blob.sha256);
        let url = params.url.clone().filter(|u| !u.is_empty());
        let sha = blob.sha256.clone();
        let outcome = analyse(&a, move |engine| {
            let ex = engine.examine_blob(name.clone(), &blob);
            let entry = engine.archive_entry(&ex).ok_or_else(|| {
                let why = ex
                    .report
                    .errors
                    .first()
                    .map(|e| format!("{}: {}", e.stage, e.message))
                    .unwrap_or_else(|| "could not be decoded".into());
                err(StatusCode::UNPROCESSABLE_ENTITY, why)
            })?;
            let sighting = Sighting {
                location: name,
                source,
                url,
                first_seen: first,
                first_seen_from: "given".into(),
            };
            engine
                .record(&[(entry, sighting)])
                .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
        })
        .await??;
        let added = outcome.first() == Some(&Recorded::Added);
        Ok(json_response(
            if added {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &serde_json::json!({
                "sha256": sha,
                "recorded": if added { "added" } else { "already_known" },
                "images": a.engine.archive_images(),
            }),
        ))
    })
    .await
}
