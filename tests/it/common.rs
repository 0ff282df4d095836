//! Helpers shared by the integration tests: a temp dir per test and a command
//! builder for the real `retrace` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn samples() -> PathBuf {
    repo().join("samples")
}

pub fn retrace(archive: Option<&Path>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_retrace"));
    c.env_remove("RETRACE_ARCHIVE");
    // No config file but the test's own: not the developer's
    // (~/.config/retrace/retrace.toml), not one a shell exported.
    c.env_remove("RETRACE_CONFIG");
    c.env("XDG_CONFIG_HOME", no_user_config());
    if let Some(a) = archive {
        c.arg("--archive").arg(a);
    }
    c
}

/// A user config folder that holds nothing (never created).
pub fn no_user_config() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-user-config")
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run retrace");
    if !out.stderr.is_empty() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    out
}

pub fn jsonl(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 stdout")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// An archive built from `samples/archive` with its catalogue, in a temp dir.
pub fn sample_archive(dir: &Path) -> PathBuf {
    let db = dir.join("archive.db");
    let out = run(retrace(Some(&db))
        .arg("archive")
        .arg("add")
        .arg(samples().join("archive"))
        .arg("--manifest")
        .arg(samples().join("archive/sources.tsv")));
    assert_eq!(out.status.code(), Some(0), "archive add failed");
    db
}

/// A plain HTTP/1.1 exchange over std's TcpStream (`Connection: close`), so
/// the tests need no HTTP client crate. Returns status, headers (lower-case
/// names) and the body, chunked transfer decoded.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // A server that answers early (413) may close before the body is sent.
    let _ = s.write_all(body);
    read_response(&mut s)
}

pub fn read_response(s: &mut impl std::io::Read) -> std::io::Result<HttpResponse> {
    // Read until the message is complete, not until the peer closes: some
    // servers (chromedriver) keep the connection open despite `Connection: close`.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
            let body = &raw[split + 4..];
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| body.len() >= n)
                || (head.contains("transfer-encoding: chunked") && body.ends_with(b"0\r\n\r\n"))
            {
                break;
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP header in {} bytes", raw.len())))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let n = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16)
                .unwrap_or(0);
            if n == 0 || rest.len() < eol + 2 + n {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + n]);
            rest = &rest[(eol + 4 + n).min(rest.len())..];
        }
        body = out;
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A free loopback port (bound, then released: good enough for a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first of `names` found on PATH.
pub fn which(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A seeded xorshift, so a failing trial can be reproduced from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A small JPEG whose content is unique to `seed`: a few random blocks on a
/// random gradient, so every file has its own SHA-256 and decodes fine.
pub fn small_jpeg(seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (w, h) = (80u32, 64u32);
    let base = [rng.next() as u8, rng.next() as u8, rng.next() as u8];
    let mut img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            base[0].wrapping_add((x * 2) as u8),
            base[1].wrapping_add((y * 3) as u8),
            base[2].wrapping_add(((x + y) / 2) as u8),
        ])
    });
    for _ in 0..6 {
        let (x0, y0) = (
            rng.below(u64::from(w)) as u32,
            rng.below(u64::from(h)) as u32,
        );
        let c = image::Rgb([rng.next() as u8, rng.next() as u8, rng.next() as u8]);
        for y in y0..(y0 + 16).min(h) {
            for x in x0..(x0 + 16).min(w) {
                img.put_pixel(x, y, c);
            }
        }
    }
    encode_jpeg(&image::DynamicImage::ImageRgb8(img), 85)
}

/// `img` as a baseline JPEG at `quality` (the `image` crate's encoder).
pub fn encode_jpeg(img: &image::DynamicImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&img.to_rgb8())
        .expect("encode JPEG");
    out
}

/// Write `small_jpeg(seed)` for each seed into `dir` as `p<seed>.jpg`.
pub fn jpeg_folder(dir: &Path, seeds: impl IntoIterator<Item = u64>) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for s in seeds {
        std::fs::write(dir.join(format!("p{s:04}.jpg")), small_jpeg(s)).unwrap();
    }
    dir.to_path_buf()
}

/// Wait for a child at most `limit`; on timeout kill it and fail the test,
/// so a hang is a failure and not a stuck CI job.
pub fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("retrace did not finish within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A running `retrace serve` on an ephemeral loopback port, killed when dropped.
pub struct Served {
    child: Child,
    pub addr: String,
    // Kept open: serve may print more lines, and a closed pipe would fail them.
    _stdout: BufReader<ChildStdout>,
    // Everything it wrote to stderr (also passed on to the test's stderr).
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Served {
    /// Spawn `cmd` (a `retrace … serve --bind 127.0.0.1:0 …` command) and wait
    /// for the line that names the address it listens on.
    pub fn spawn(cmd: &mut Command) -> Served {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start retrace serve");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (pipe, kept) = (child.stderr.take().expect("piped stderr"), stderr.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("serve: {line}");
                let mut k = kept.lock().unwrap();
                k.push_str(&line);
                k.push('\n');
            }
        });
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .filter(|a| a.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Served {
            child,
            addr,
            _stdout: stdout,
            stderr,
        }
    }
}

impl Served {
    /// The server's process id (for signals and /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send `signal` to the server.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
        assert_eq!(unsafe { libc::kill(self.pid() as libc::pid_t, signal) }, 0);
    }

    /// Wait for the server to exit, at most `limit` (a hang fails the test).
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        wait_bounded(&mut self.child, limit)
    }

    /// What the server has written to stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start every command at the same instant. Spawning a process takes
/// milliseconds, longer than the races the callers look for, so each one is
/// started behind `sh`, which waits for a line on its stdin and then `exec`s
/// the command (same process, same pipes); once all are waiting, the lines go
/// out together. Stdout and stderr are piped for `wait_with_output`.
pub fn spawn_together(cmds: Vec<Command>) -> Vec<Child> {
    use std::io::Write;
    let mut children: Vec<Child> = cmds
        .iter()
        .map(|cmd| {
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(r#"read _ && exec "$0" "$@""#)
                .arg(cmd.get_program())
                .args(cmd.get_args());
            for (k, v) in cmd.get_envs() {
                match v {
                    Some(v) => sh.env(k, v),
                    None => sh.env_remove(k),
                };
            }
            if let Some(d) = cmd.get_current_dir() {
                sh.current_dir(d);
            }
            sh.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start sh")
        })
        .collect();
    // Give every shell time to reach its `read`.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut stdins: Vec<_> = children
        .iter_mut()
        .map(|c| c.stdin.take().expect("piped stdin"))
        .collect();
    for s in &mut stdins {
        let _ = s.write_all(b"go\n");
    }
    drop(stdins);
    children
}

/// [`wait_bounded`], then the output, for a child spawned with piped stdout
/// and stderr. Reading them while waiting keeps a chatty child from blocking
/// on a full pipe.
pub fn output_bounded(child: Child, limit: std::time::Duration) -> Output {
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for retrace"),
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            panic!("retrace (pid {pid}) did not finish within {limit:?}");
        }
    }
}
