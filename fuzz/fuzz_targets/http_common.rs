//! The `http` target's body, shared with `tests/library/hostile.rs` (which runs the
//! seeds in `fuzz/seeds/http/` and the committed crash inputs through it): raw
//! bytes as a client would send them on one connection (request lines,
//! headers, query strings, bodies raw, chunked or multipart, several requests
//! in a row) through hyper and the service's router, exactly as `retrace serve`
//! runs a TCP connection, against an in-memory archive with a write token.
//!
//! Beyond "no panic", every answer must be the documented kind: JSON whenever
//! it has a body and says JSON, every error with a body the JSON error object
//! (`{"error", "status"}` with its own status), and no 500.

use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use retrace::Archive;
use retrace::Limits;
use retrace::{Config, Engine};

// The service's own module, compiled here as in the binary.
#[path = "../../src/bin/retrace/serve.rs"]
#[allow(dead_code, unused_imports)]
mod serve;

/// `serve` stores reports through its parent's `write_atomic`; the harness
/// gives it no report folder, so this is never reached.
#[allow(dead_code)]
fn write_atomic(path: &Path, _bytes: &[u8]) -> anyhow::Result<()> {
    anyhow::bail!("no report folder in the fuzz harness ({})", path.display())
}

/// The bearer token the seeds carry, so that write requests reach the archive.
pub const TOKEN: &str = "fuzz-token-0123456789abcdef";

/// Inputs served by one archive before a fresh one replaces it, so that
/// memory stays flat over a long run.
const ARCHIVE_LIFETIME: u32 = 256;

struct Harness {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    served: u32,
}

fn new_router() -> axum::Router {
    let limits = Limits {
        max_pixels: 4_000_000,
        max_width: 8_000,
        max_height: 8_000,
        max_decoder_alloc: 256 * 1024 * 1024,
        max_metadata_bytes: 4 * 1024 * 1024,
        ..Limits::default()
    };
    let engine = Engine::new(
        Config {
            limits,
            ..Config::default()
        },
        Some(Archive::in_memory().expect("an in-memory archive")),
    )
    .expect("engine");
    let config = serve::ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        max_body_bytes: 1024 * 1024,
        timeout: Duration::from_secs(10),
        concurrency: 2,
        token: Some(TOKEN.to_string()),
        report_cache: 4,
        report_dir: None,
        idle_timeout: Duration::from_secs(10),
        max_connections: 1,
        upload_memory: 4 * 1024 * 1024,
    };
    serve::router(serve::App::new(std::sync::Arc::new(engine), config))
}

fn harness() -> &'static Mutex<Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| {
        Mutex::new(Harness {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            router: new_router(),
            served: 0,
        })
    })
}

/// Serve `data` as one connection's bytes; the client then closes its side.
/// Returns everything the service answered, after checking it.
pub fn serve_bytes(data: &[u8]) -> Vec<u8> {
    let mut h = harness().lock().unwrap_or_else(|p| p.into_inner());
    h.served += 1;
    if h.served % ARCHIVE_LIFETIME == 0 {
        h.router = new_router();
    }
    let router = h.router.clone();
    let out = h.rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(64 * 1024);
        let conn = tokio::spawn(serve::serve_connection(
            server,
            router,
            Duration::from_secs(10),
            std::future::pending(),
        ));
        let (mut rd, mut wr) = tokio::io::split(client);
        let write = async move {
            let _ = wr.write_all(data).await;
            let _ = wr.shutdown().await;
        };
        let read = async move {
            let mut out = Vec::new();
            let _ = (&mut rd).take(64 * 1024 * 1024).read_to_end(&mut out).await;
            out
        };
        let ((), out) = tokio::join!(write, read);
        if let Err(e) = conn.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        out
    });
    // An answer to HEAD has a length and no body, which the reading below
    // cannot tell apart from the next answer: then only the status lines.
    if data.windows(5).any(|w| w == b"HEAD ") {
        assert!(
            !out.windows(12)
                .any(|w| w == b"HTTP/1.1 500" || w == b"HTTP/1.0 500"),
            "an internal error: {:?}",
            String::from_utf8_lossy(&out)
        );
    } else {
        check_answers(&out);
    }
    out
}

/// The answers in `out`, one after another, each as documented.
fn check_answers(out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!(
                "an answer without a complete head: {:?}",
                String::from_utf8_lossy(rest)
            );
        };
        let head = std::str::from_utf8(&rest[..end]).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            // An HTTP/1.0 request is answered in HTTP/1.0.
            .and_then(|l| {
                l.strip_prefix("HTTP/1.1 ")
                    .or_else(|| l.strip_prefix("HTTP/1.0 "))
            })
            .and_then(|l| l.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("not a status line: {head:?}"));
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        assert_ne!(status, 500, "an internal error: {head}");
        rest = &rest[end + 4..];
        if status == 100 {
            continue;
        }
        let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) else {
            // Only hyper's own refusals come without a length (and with no body).
            return;
        };
        assert!(rest.len() >= len, "an answer cut short: {head}");
        let body = &rest[..len];
        rest = &rest[len..];
        let json = header("content-type").is_some_and(|t| t == "application/json");
        if status >= 400 && len > 0 {
            assert!(json, "a {status} that is not the JSON error: {head}");
        }
        if json {
            let v: serde_json::Value = serde_json::from_slice(body).expect("the JSON parses");
            if status >= 400 {
                assert!(v["error"].is_string(), "{v}");
                assert_eq!(v["status"], status, "{v}");
            }
        }
    }
}
