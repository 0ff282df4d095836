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
//! their timeout); a memory budget for the bodies held at once (a request
//! waits, inside its timeout, before reading its body until the budget has
//! room for it); an idle timeout that closes connections which send no
//! request, or trickle one's headers; a cap on connections served at once.
//! Writes need a bearer token read from a file, never from the command line
//! (which `ps` shows to every user); without one the service is read-only.
//!
//! The connections are served here rather than by `axum::serve`, which has
//! neither a header timeout nor a connection cap: a client that opened a
//! connection and sent nothing held it, and its file descriptor, for ever.
//! SIGTERM and Ctrl-C stop accepting and let the requests in flight finish.
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
use axum::extract::{DefaultBodyLimit, FromRequest, Path as UrlPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::NaiveDate;
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use retrace::internals::assess::{parse_location, Claim};
use retrace::internals::input::read::{Blob, Format};
use retrace::internals::pipeline::{first_seen, Engine, FirstSeen};
use retrace::internals::report::html;
use retrace::{Recorded, Sighting};

/// Everything `serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Whole-request deadline: waiting for memory, reading the body, waiting
    /// for a slot, analysing.
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
    /// A connection that sends no request for this long, or has not sent a
    /// request's headers whole this long after it began, is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the system's listen queue.
    pub max_connections: usize,
    /// Bytes of request bodies held in memory at once, from the first byte
    /// read until the picture's analysis ends (at least `max_body_bytes`).
    pub upload_memory: u64,
}

/// Largest page or report read back from `--report-dir`: the files are ours,
/// but the folder is not locked against others, so the read is bounded.
const MAX_STORED_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// The upload budget is counted in KiB: a semaphore takes at most `u32` permits at once.
const BUDGET_UNIT: u64 = 1024;

/// How long a stop waits beyond the request deadline for the last responses
/// to be written, before the connections still open are dropped.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

pub(crate) struct App {
    engine: Arc<Engine>,
    config: ServeConfig,
    slots: Arc<Semaphore>,
    // Bodies held in memory, in BUDGET_UNITs.
    uploads: Arc<Semaphore>,
    upload_units: u32,
    // Recent pages, newest at the back; bounded by `report_cache`.
    pages: Mutex<VecDeque<(String, Arc<String>)>>,
}

type Shared = Arc<App>;

impl App {
    pub(crate) fn new(engine: Arc<Engine>, config: ServeConfig) -> Shared {
        let units = config
            .upload_memory
            .max(config.max_body_bytes)
            .div_ceil(BUDGET_UNIT)
            .clamp(1, u64::from(u32::MAX)) as u32;
        Arc::new(App {
            engine,
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            uploads: Arc::new(Semaphore::new(units as usize)),
            upload_units: units,
            pages: Mutex::new(VecDeque::new()),
            config,
        })
    }
}

/// An error answered as JSON: `{"error": "...", "status": N}`.
#[derive(Debug)]
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

/// Run the service until SIGTERM or Ctrl-C, then finish the requests in
/// flight; the bound address is printed first (the tests bind port 0 and read
/// it from stdout).
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
    let drain = config.timeout + DRAIN_GRACE;
    let result = rt.block_on(async move {
        let listener = listen(&config).with_context(|| format!("binding {}", config.bind))?;
        let addr = listener.local_addr()?;
        println!("retrace serve: listening on http://{addr}");
        if config.token.is_none() {
            println!(
                "retrace serve: no --token-file: read-only (record and archive writes refused)"
            );
        }
        use std::io::Write;
        std::io::stdout().flush()?;
        let app = App::new(served, config);
        serve_until(listener, app, stop_signal()).await;
        Ok(())
    });
    // Analyses that outlived their request (answered 503) may still run on
    // the blocking pool; they are waited for as long as a request may last.
    rt.shutdown_timeout(drain);
    drop(engine);
    result
}

/// The listening socket, with a queue of at least 4096 connections (or the
/// connection cap, if larger; the system may shorten it to
/// net.core.somaxconn). With tokio's default of 1024, a thousand clients
/// connecting within a few milliseconds overflowed it, and the system reset
/// some of them before the service saw them.
fn listen(config: &ServeConfig) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match config.bind {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(config.bind)?;
    let backlog = config.max_connections.clamp(4096, 65535) as u32;
    socket.listen(backlog)
}

/// SIGTERM (a service manager's stop) or SIGINT (Ctrl-C); its name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("retrace serve: cannot handle SIGTERM ({e}); Ctrl-C still stops cleanly");
                let _ = tokio::signal::ctrl_c().await;
                return "SIGINT";
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Accept connections until `stop` resolves, at most `max_connections` at
/// once; then stop accepting, let every connection finish the request it is
/// in (new ones on it are refused), and return once all are closed or the
/// longest a request may take has passed.
async fn serve_until(
    listener: tokio::net::TcpListener,
    app: Shared,
    stop: impl std::future::Future<Output = &'static str>,
) {
    let router = router(app.clone());
    let config = &app.config;
    let open = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    let why = loop {
        // At the cap, new connections wait in the listen queue until one closes.
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break "closed",
            },
            why = &mut stop => break why,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // The peer gave up before accept: nothing to do.
                    if !matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        // Out of file descriptors, most likely: wait for some to close.
                        eprintln!("retrace serve: accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            why = &mut stop => break why,
        };
        let _ = stream.set_nodelay(true);
        let (router, idle) = (router.clone(), config.idle_timeout);
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _permit: OwnedSemaphorePermit = permit;
            let stop = async move {
                let _ = stopping.wait_for(|s| *s).await;
            };
            let _ = serve_connection(stream, router, idle, stop).await;
        });
        // Reap finished connections, so the set holds only open ones.
        while connections.try_join_next().is_some() {}
    };
    drop(listener);
    let open_now = connections.len();
    let limit = config.timeout + DRAIN_GRACE;
    eprintln!(
        "retrace serve: {why}: no new connections; finishing the requests in flight on {open_now} open connection{} (at most {} s)",
        if open_now == 1 { "" } else { "s" },
        limit.as_secs()
    );
    let _ = stopping_tx.send(true);
    let drained = tokio::time::timeout(limit, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "retrace serve: {} connection{} still open after {} s, closed",
            connections.len(),
            if connections.len() == 1 { "" } else { "s" },
            limit.as_secs()
        );
        connections.abort_all();
    }
    eprintln!("retrace serve: stopped");
}

/// Serve one HTTP/1.1 connection (a TCP stream, or the fuzz target's pipe)
/// with the service's router until the peer closes it, the idle timeout
/// passes, or `stop` resolves and the request in progress is answered.
pub(crate) async fn serve_connection<I>(
    io: I,
    router: Router,
    idle_timeout: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tower = hyper_util::service::TowerToHyperService::new(router);
    // Boxed, so that the connection can be polled without shutting its socket
    // down (which needs an `Unpin` future), for the lingering close below.
    let service =
        hyper::service::service_fn(move |req| Box::pin(hyper::service::Service::call(&tower, req)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    // hyper's header timeout runs whenever the connection waits for a request
    // head: between requests (idle keep-alive) and while one trickles in.
    // A client may shut its sending side once its request is out (curl with
    // some options, the fuzz target): the answer still goes back.
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle_timeout)
        .half_close(true)
        .keep_alive(true);
    let mut conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    let mut stop = std::pin::pin!(stop);
    let mut stopping = false;
    let done = loop {
        tokio::select! {
            done = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => break done,
            _ = &mut stop, if !stopping => {
                stopping = true;
                std::pin::Pin::new(&mut conn).graceful_shutdown();
            }
        }
    };
    linger(conn.into_parts().io.into_inner()).await;
    done
}

/// How long, and for how many bytes, a closing connection keeps reading.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1024 * 1024;

/// Close a connection without losing the last answer: a socket closed with
/// unread bytes in it (the rest of a body the answer refused: 413, 503 past
/// the deadline) sends a reset, and the client's system may throw the answer
/// away unread. So the writing side is shut first, and what still arrives is
/// read and dropped until the client closes too, for a bounded time and number
/// of bytes ("lingering close", as web servers do it).
async fn linger<T: AsyncRead + AsyncWrite + Unpin>(mut io: T) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if io.shutdown().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; 16 * 1024];
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER, async {
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

pub(crate) fn router(app: Shared) -> Router {
    let cap = usize::try_from(app.config.max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/check", post(check))
        .route("/v1/archive", post(archive_add))
        .route("/v1/archive/stats", get(stats))
        .route("/v1/report/{sha256}", get(report_page))
        // Every answer is the documented JSON error, these too.
        .fallback(|| async { err(StatusCode::NOT_FOUND, "no such endpoint (see openapi.yaml)") })
        .method_not_allowed_fallback(|| async {
            err(
                StatusCode::METHOD_NOT_ALLOWED,
                "this endpoint does not take that method (see openapi.yaml)",
            )
        })
        // Multipart reads through this limit too; raw bodies are capped in `upload`.
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
    name: Result<UrlPath<String>, axum::extract::rejection::PathRejection>,
) -> Result<Response, ApiError> {
    // A segment whose percent-encoding is not UTF-8 is refused as JSON too
    // (axum's own refusal is plain text); found by the http fuzz target.
    let UrlPath(name) = name.map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
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
fn store(dir: &std::path::Path, sha: &str, report: &retrace::Report, page: &[u8]) {
    let mut json = Vec::new();
    let written = retrace::internals::report::write_json(&mut json, report)
        .map_err(anyhow::Error::from)
        .and_then(|()| super::write_atomic(&dir.join(format!("{sha}.json")), &json))
        .and_then(|()| super::write_atomic(&dir.join(format!("{sha}.html")), page));
    if let Err(e) = written {
        eprintln!(
            "retrace serve: could not store the report of {sha} in {}: {e:#}",
            dir.display()
        );
    }
}

/// Query (or multipart form) parameters of the write and check endpoints, as
/// sent; [`Params::parse`] reads the query string, `upload` the form.
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

/// Longest `name` (characters), as `openapi.yaml` says; a multipart file
/// name is cut to it instead, since browsers send whatever the file is called.
const MAX_NAME_CHARS: usize = 255;

/// Longest form field other than the file.
const MAX_FIELD_BYTES: usize = 4096;

impl Params {
    /// The query string; one that does not parse (`record=maybe`, a
    /// parameter given twice) is a JSON 400 like every other refusal.
    fn parse(query: Option<&str>) -> Result<Params, ApiError> {
        let params: Params = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|e| err(StatusCode::BAD_REQUEST, format!("query string: {e}")))?;
        if params
            .name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
        {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("name is longer than {MAX_NAME_CHARS} characters"),
            ));
        }
        Ok(params)
    }

    /// The claim to check against; empty values mean "not given" (what an
    /// HTML form sends for a blank field).
    fn claim(&self) -> Result<Claim, ApiError> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Ok(Claim {
            location: match given(&self.claim_location) {
                Some(l) => Some(
                    strict_location(&l)
                        .then(|| parse_location(&l))
                        .flatten()
                        .ok_or_else(|| {
                            err(
                                StatusCode::BAD_REQUEST,
                                "claim_location is not LAT,LON[,RADIUS_KM]: decimal degrees \
                                 (latitude -90 to 90, longitude -180 to 180, up to 15 decimals) \
                                 and a radius from 0.001 to 99999.999 km",
                            )
                        })?,
                ),
                None => None,
            },
            date: match given(&self.claim_date) {
                Some(d) => Some(strict_date(&d).ok_or_else(|| {
                    err(
                        StatusCode::BAD_REQUEST,
                        "claim_date is not a date (YYYY-MM-DD) or an RFC 3339 date-time",
                    )
                })?),
                None => None,
            },
        })
    }
}

/// A date as `openapi.yaml` describes one: `YYYY-MM-DD` (JSON Schema's
/// `date`) or an RFC 3339 date-time with its offset (`date-time`). Stricter
/// than the command line's `parse_date`, which takes any text after the date:
/// what is given here is stored as given, and compared as text.
fn strict_date(s: &str) -> Option<NaiveDate> {
    if s.len() == 10 {
        return NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    }
    // chrono also takes a space for the `T` (RFC 3339 allows it in prose),
    // which JSON Schema's `date-time` does not.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    // The date as written, in its own offset.
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d")
        .ok()
        .filter(|d| *d == t.date_naive())
}

/// `LAT,LON[,RADIUS_KM]` exactly as `openapi.yaml`'s pattern writes it: plain
/// decimals (a `-` the only sign, no exponent, no spaces), the latitude
/// within ±90 and the longitude within ±180 (up to 15 decimals), the radius
/// from 0.001 to below 100 000 km (up to 3 decimals, no leading zeros).
/// Decided on the digits, never on a rounded float, so that it agrees with the
/// pattern to the last digit; `parse_location` then reads the numbers.
fn strict_location(s: &str) -> bool {
    fn digits(s: &str, max: usize) -> bool {
        (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    }
    fn coordinate(s: &str, bound: u32, int_digits: usize) -> bool {
        let s = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = s.split_once('.').map_or((s, None), |(i, f)| (i, Some(f)));
        if !digits(int, int_digits) || frac.is_some_and(|f| !digits(f, 15)) {
            return false;
        }
        let whole: u32 = int.parse().unwrap_or(u32::MAX);
        whole < bound || (whole == bound && frac.is_none_or(|f| f.bytes().all(|b| b == b'0')))
    }
    fn radius(s: &str) -> bool {
        let (int, frac) = s.split_once('.').map_or((s, None), |(i, f)| (i, Some(f)));
        if !digits(int, 5) || frac.is_some_and(|f| !digits(f, 3)) {
            return false;
        }
        match int {
            "0" => frac.is_some_and(|f| f.bytes().any(|b| b != b'0')),
            _ => !int.starts_with('0'),
        }
    }
    match s.split(',').collect::<Vec<_>>().as_slice() {
        [lat, lon] => coordinate(lat, 90, 2) && coordinate(lon, 180, 3),
        [lat, lon, r] => coordinate(lat, 90, 2) && coordinate(lon, 180, 3) && radius(r),
        _ => false,
    }
}

/// A value with at least one character that is not white space.
fn not_blank(s: &str) -> bool {
    s.chars().any(|c| !c.is_whitespace())
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

/// An upload read whole: the bytes, the parameters that came with it, and its
/// share of the upload memory budget, which must live as long as the bytes
/// (it goes into the analysis with them).
struct Upload {
    bytes: Vec<u8>,
    params: Params,
    memory: OwnedSemaphorePermit,
}

/// Which form fields an endpoint takes besides `file` (exactly those
/// `openapi.yaml` lists; any other is a 400): `/v1/check` takes its
/// parameters from the query or the form, `/v1/archive` from the query only.
#[derive(Clone, Copy, PartialEq)]
enum Form {
    Parameters,
    FileOnly,
}

/// The upload's bytes and the parameters that came with it: the raw body, or
/// the `file` part of a multipart form whose other parts are parameters.
/// Nothing of the body is read before the upload memory budget has room for
/// it (the Content-Length, or the body cap when none is given); the wait is
/// inside the request's deadline.
async fn upload(
    app: &App,
    req: Request,
    mut params: Params,
    form_fields: Form,
) -> Result<Upload, ApiError> {
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
    let units = declared
        .unwrap_or(cap)
        .div_ceil(BUDGET_UNIT)
        .clamp(1, u64::from(app.upload_units)) as u32;
    let memory = app
        .uploads
        .clone()
        .acquire_many_owned(units)
        .await
        .map_err(|_| err(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    // A body that stops half-way (the client went away, or sent less than its
    // Content-Length) is not a picture: 400, nothing kept.
    let cut_short = |e: &dyn std::fmt::Display| {
        err(
            StatusCode::BAD_REQUEST,
            format!("the body was not received whole: {e}"),
        )
    };
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !is_multipart {
        let limit = usize::try_from(cap).unwrap_or(usize::MAX);
        let limited = http_body_util::Limited::new(req.into_body(), limit);
        let bytes = match http_body_util::BodyExt::collect(limited).await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Err(e) => return Err(cut_short(&e)),
        };
        return Ok(Upload {
            bytes: Vec::from(bytes),
            params,
            memory,
        });
    }
    let mut form = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
    let mut file: Option<Bytes> = None;
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
                params.name = field
                    .file_name()
                    .map(|n| n.chars().take(MAX_NAME_CHARS).collect());
            }
            let bytes = field.bytes().await.map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    err(StatusCode::BAD_REQUEST, e.body_text())
                }
            })?;
            file = Some(bytes);
            continue;
        }
        // Parameters are short; anything longer than this is not one.
        let text = field
            .text()
            .await
            .map_err(|e| err(StatusCode::BAD_REQUEST, e.body_text()))?;
        if text.len() > MAX_FIELD_BYTES {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("form field {name:?} is longer than {MAX_FIELD_BYTES} bytes"),
            ));
        }
        let unknown = || {
            err(
                StatusCode::BAD_REQUEST,
                format!(
                    "form field {:?} is not one this endpoint takes (see openapi.yaml)",
                    name.chars().take(64).collect::<String>()
                ),
            )
        };
        if form_fields == Form::FileOnly {
            return Err(unknown());
        }
        match name.as_str() {
            "claim_date" => params.claim_date = Some(text),
            "claim_location" => params.claim_location = Some(text),
            "record" => {
                params.record = Some(match text.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(err(
                            StatusCode::BAD_REQUEST,
                            "form field \"record\" is neither true nor false",
                        ))
                    }
                })
            }
            "source" => params.source = Some(text),
            _ => return Err(unknown()),
        }
    }
    let file = file.ok_or_else(|| {
        err(
            StatusCode::BAD_REQUEST,
            "multipart upload without a `file` part",
        )
    })?;
    Ok(Upload {
        bytes: Vec::from(file),
        params,
        memory,
    })
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
        Some(n) if !n.is_empty() => n.chars().take(MAX_NAME_CHARS).collect(),
        _ => format!("upload:{}", &sha[..16.min(sha.len())]),
    }
}

/// 403 or 401 unless the request may write, 409 without an archive.
fn may_record(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    authorized(app, headers)?;
    if !app.engine.has_archive() {
        return Err(err(
            StatusCode::CONFLICT,
            "recording needs an archive: start the service with --archive PATH",
        ));
    }
    Ok(())
}

async fn check(State(app): State<Shared>, req: Request) -> Response {
    let a = app.clone();
    within_deadline(&app, async move {
        // Everything the query says is checked before the body is read.
        let params = Params::parse(req.uri().query())?;
        params.claim()?;
        let headers = req.headers().clone();
        if params.record == Some(true) {
            may_record(&a, &headers)?;
        }
        let up = upload(&a, req, params, Form::Parameters).await?;
        let params = up.params;
        // The form may have asked for more than the query did.
        let wants_record = params.record.unwrap_or(false);
        if wants_record {
            may_record(&a, &headers)?;
        }
        let claim = params.claim()?;
        let blob = sniffed(up.bytes)?;
        let name = display_name(&params, &blob.sha256);
        let source = params.source.clone().unwrap_or_default();
        let report_dir = a.config.report_dir.clone();
        let memory = up.memory;
        let (report, page, record_error) = analyse(&a, move |engine| {
            let ex = engine.process_blob(&name, &blob, &claim);
            // The upload's bytes are not needed past this point.
            drop(blob);
            drop(memory);
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
    report: &'a retrace::Report,
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

async fn archive_add(State(app): State<Shared>, req: Request) -> Response {
    let a = app.clone();
    within_deadline(&app, async move {
        may_record(&a, req.headers())?;
        // The parameters come from the query alone, and are checked before
        // the body is read.
        let params = Params::parse(req.uri().query())?;
        let source = params
            .source
            .clone()
            .ok_or_else(|| err(StatusCode::BAD_REQUEST, "source is required"))?;
        if !not_blank(&source) {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "source is blank: say who or what the picture came from",
            ));
        }
        let first = params
            .first_seen
            .clone()
            .ok_or_else(|| err(StatusCode::BAD_REQUEST, "first_seen is required"))?;
        if strict_date(&first).is_none() {
            return Err(err(
                StatusCode::BAD_REQUEST,
                "first_seen is not a date (YYYY-MM-DD) or an RFC 3339 date-time",
            ));
        }
        let url = params.url.clone().filter(|u| !u.is_empty());
        let up = upload(&a, req, params, Form::FileOnly).await?;
        let blob = sniffed(up.bytes)?;
        let name = display_name(&up.params, &blob.sha256);
        let sha = blob.sha256.clone();
        let memory = up.memory;
        let outcome = analyse(&a, move |engine| {
            let ex = engine.examine_blob(name.clone(), &blob);
            drop(blob);
            drop(memory);
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

// Run by tests/library/hostile.rs, which includes this file (through the http fuzz
// target's harness); the binary itself has `test = false` (Cargo.toml).
#[cfg(test)]
mod tests {
    use super::*;

    /// The schema `openapi.yaml` gives a component, read from the file itself
    /// (YAML flow mappings and the one pattern line, not a YAML parser).
    fn spec_pattern() -> String {
        let spec = include_str!("../../../openapi.yaml");
        let at = spec
            .find("# The server checks exactly this (src/bin/retrace/serve.rs, strict_location).")
            .expect("the marked pattern in openapi.yaml");
        let line = spec[at..].lines().nth(1).unwrap().trim();
        let quoted = line.strip_prefix("pattern: ").expect("a pattern line");
        // A YAML double-quoted string is JSON-compatible here.
        serde_json::from_str(quoted).expect("the pattern as a string")
    }

    fn validator(schema: serde_json::Value) -> jsonschema::Validator {
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    }

    /// A seeded xorshift: the same strings on every run.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn claim_location_is_exactly_the_spec_pattern() {
        let spec = validator(serde_json::json!({"type": "string", "pattern": spec_pattern()}));
        let mut cases: Vec<String> = [
            "50.45,30.52",
            "50.45,30.52,10",
            "-90,-180",
            "90,180",
            "90.000,180.0",
            "90.0001,0",
            "0,180.0000001",
            "91,0",
            "0,181",
            "-0,-0",
            "09.5,099.5",
            "0,0,0",
            "0,0,0.0",
            "0,0,0.001",
            "0,0,0.0001",
            "0,0,00.5",
            "0,0,01",
            "0,0,99999.999",
            "0,0,100000",
            "0,0,1e3",
            "1e1,2",
            "+1,2",
            " 1,2",
            "1, 2",
            "1,2,",
            ",1,2",
            "1..2,3",
            "1.,2",
            ".5,2",
            "1,2,3,4",
            "",
            "50.450000000000001,30",
            "50.4500000000000001,30",
            "1,2\n",
            "١,٢",
            "90.,0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Strings from the characters the grammar is made of, and numbers of
        // every shape around its bounds.
        let mut state = 0x5EED_0023_u64;
        let alphabet = b"0123456789-.,";
        for _ in 0..60_000 {
            let len = 1 + rng(&mut state) % 14;
            cases.push(
                (0..len)
                    .map(|_| alphabet[(rng(&mut state) % alphabet.len() as u64) as usize] as char)
                    .collect(),
            );
            let num = |state: &mut u64, max_int: u64| {
                let neg = if rng(state) % 3 == 0 { "-" } else { "" };
                let int = rng(state) % (max_int + 12);
                let int = if rng(state) % 5 == 0 {
                    format!("0{int}")
                } else {
                    int.to_string()
                };
                match rng(state) % 4 {
                    0 => format!("{neg}{int}"),
                    1 => format!("{neg}{int}.0"),
                    2 => format!("{neg}{int}.{}", rng(state) % 10_000),
                    _ => format!("{neg}{int}.{:0>16}", rng(state) % 1000),
                }
            };
            let (lat, lon) = (num(&mut state, 90), num(&mut state, 180));
            let r = num(&mut state, 100_010).trim_start_matches('-').to_string();
            cases.push(format!("{lat},{lon}"));
            cases.push(format!("{lat},{lon},{r}"));
        }
        let mut accepted = 0;
        for c in &cases {
            let ours = strict_location(c);
            assert_eq!(
                ours,
                spec.is_valid(&serde_json::json!(c)),
                "{c:?}: the server says {ours}, openapi.yaml the opposite"
            );
            if ours {
                accepted += 1;
                assert!(
                    parse_location(c).is_some(),
                    "{c:?} passes the pattern but not the parser"
                );
            }
        }
        assert!(
            accepted > 1000,
            "only {accepted} of {} accepted",
            cases.len()
        );
    }

    #[test]
    fn dates_are_exactly_the_spec_formats() {
        let spec = validator(serde_json::json!({"anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
        ]}));
        for c in [
            "2024-03-01",
            "2024-02-29",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-1-01",
            "x2024-01-31",
            "2024-01-31x",
            "2024-01-31 ",
            "0001-01-01",
            "2024-03-01T10:00:00Z",
            "2024-03-01T10:00:00+02:00",
            "2024-03-01T10:00:00.123456-11:30",
            "2024-03-01t10:00:00z",
            "2024-03-01T10:00:00",
            "2024-03-01T25:00:00Z",
            "2024-01-01T12:99:00Z",
            "2024-03-01T10:00Z",
            "2024-03-01T10:00:00+24:00",
            "2024-03-01 10:00:00Z",
            "20240301",
            "",
            "2024-03-01T10:00:00.Z",
        ] {
            let ours = strict_date(c).is_some();
            assert_eq!(
                ours,
                spec.is_valid(&serde_json::json!(c)),
                "{c:?}: the server says {ours}, openapi.yaml's formats the opposite"
            );
        }
    }

    #[test]
    fn query_strings_that_do_not_parse_are_400() {
        for q in ["record=null", "record=1", "record=", "source=a&source=b"] {
            let e = Params::parse(Some(q)).expect_err(q);
            assert_eq!(e.0, StatusCode::BAD_REQUEST, "{q}");
            assert!(e.1.starts_with("query string: "), "{q}: {}", e.1);
        }
        // Bytes that are not UTF-8 become U+FFFD, as in every form decoder.
        let p = Params::parse(Some("name=%FF%FE&source=%")).unwrap();
        assert_eq!(p.name.as_deref(), Some("\u{FFFD}\u{FFFD}"));
        assert_eq!(p.source.as_deref(), Some("%"));
        let long = format!("name={}", "é".repeat(MAX_NAME_CHARS + 1));
        assert!(Params::parse(Some(&long)).is_err());
        let fits = format!("name={}", "é".repeat(MAX_NAME_CHARS));
        assert!(Params::parse(Some(&fits)).is_ok());
    }
}
