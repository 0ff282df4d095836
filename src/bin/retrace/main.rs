//! The `retrace` command: parse flags, build a configuration, call the library,
//! render, and pick an exit code. No analysis happens here.
//!
//! Exit status: 0 every picture processed and none has an earlier copy; 1 at
//! least one picture has an earlier copy; 2 a usage error or at least one file
//! could not be processed; 130 interrupted.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

mod logs;
#[cfg(feature = "serve")]
mod serve;
mod settings;
#[cfg(feature = "watch")]
mod watch;

use retrace::internals::archive::{display_location, Archive, Recorded, Sighting};
use retrace::internals::assess::{parse_date, parse_location, Claim};
use retrace::internals::input::discover::WalkProblem;
use retrace::internals::limits::{Limits, MAX_NESTING};
use retrace::internals::pipeline::batch::{Batch, BatchRecord};
use retrace::internals::pipeline::catalogue::read_catalogue;
use retrace::internals::pipeline::cluster;
use retrace::internals::pipeline::{
    default_index_cache, first_seen, match_params_with_crop_search, Config, Engine, FirstSeen,
};
use retrace::internals::report::{self, html, text, Report};
use retrace::{MatchParams, Scan, WalkProgress};

/// Where did this picture come from? Offline provenance for circulating images.
#[derive(Parser, Debug)]
#[command(name = "retrace", version, about, long_about = None)]
struct Cli {
    /// Archive of known pictures: a SQLite file, or a shared PostgreSQL
    /// database as postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (the
    /// password may come from PGPASSWORD instead; it is never printed).
    #[arg(long, global = true, env = "RETRACE_ARCHIVE", value_name = "PATH|URL")]
    archive: Option<PathBuf>,
    /// How often, in milliseconds, a long run (serve, watch, scan) picks up the
    /// pictures other processes recorded in the archive meanwhile (0: before
    /// every picture).
    #[arg(long, global = true, value_name = "MS", default_value_t = 1000)]
    archive_refresh_ms: u64,
    /// The archive's hash index saved between runs, so that a large archive
    /// loads in one read instead of row by row (written once the archive holds
    /// 20 000 pictures, brought up to date as it grows). Default: the SQLite
    /// file's path with `.index` appended; none for PostgreSQL.
    #[arg(long, global = true, value_name = "PATH")]
    index_cache: Option<PathBuf>,
    /// Neither read nor write an index snapshot.
    #[arg(long, global = true, conflicts_with = "index_cache")]
    no_index_cache: bool,
    /// How many archived pictures that share the most local features with the
    /// incoming picture are verified as a crop, a captioned copy, a turned
    /// copy or a screenshot of it (default and most: 256). This search is
    /// most of what a picture never seen before costs beyond decoding; 0
    /// turns it off, and then crops and screenshots are found only when some
    /// hash points at them. Reports say how many were searched
    /// (`archive.crop_search`).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=256))]
    crop_search: Option<u16>,
    /// More log lines on stderr: -v says what each run does, -vv each picture,
    /// -vvv everything. Reports and tables on stdout are never mixed with them.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr: no warnings, no progress bar, no closing summary line.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Read settings from this TOML file instead of `retrace.toml` in the
    /// working folder or in the user's config folder (`retrace config` shows
    /// the settings in force; flags override the file).
    #[arg(long, global = true, env = "RETRACE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Read no config file, not even one --config or RETRACE_CONFIG names:
    /// flags, environment variables and built-in defaults only.
    #[arg(long, global = true)]
    no_config: bool,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct LimitArgs {
    /// Largest file read, in bytes.
    #[arg(long, global = true, value_name = "BYTES")]
    max_file_bytes: Option<u64>,
    /// Largest image (width × height) decoded.
    #[arg(long, global = true, value_name = "PIXELS")]
    max_pixels: Option<u64>,
    /// Largest image width decoded.
    #[arg(long, global = true, value_name = "PIXELS")]
    max_width: Option<u32>,
    /// Largest image height decoded.
    #[arg(long, global = true, value_name = "PIXELS")]
    max_height: Option<u32>,
    /// Largest allocation the image decoder may make, in bytes.
    #[arg(long, global = true, value_name = "BYTES")]
    max_decoder_alloc: Option<u64>,
    /// Largest metadata block parsed, in bytes.
    #[arg(long, global = true, value_name = "BYTES")]
    max_metadata_bytes: Option<u64>,
    /// Deepest folder level walked.
    #[arg(long, global = true, value_name = "N")]
    max_depth: Option<usize>,
    /// Most JUMBF boxes read from one Content Credentials (C2PA) store.
    #[arg(long, global = true, value_name = "N")]
    max_jumbf_boxes: Option<usize>,
    /// Deepest nesting of JUMBF superboxes followed (at most 256).
    #[arg(long, global = true, value_name = "N", value_parser = nesting())]
    max_jumbf_depth: Option<usize>,
    /// Most manifests read from one C2PA store.
    #[arg(long, global = true, value_name = "N")]
    max_c2pa_manifests: Option<usize>,
    /// Deepest nesting of CBOR arrays, maps and tags decoded (at most 256).
    #[arg(long, global = true, value_name = "N", value_parser = nesting())]
    max_cbor_depth: Option<usize>,
    /// Most certificates read from one signature's chain.
    #[arg(long, global = true, value_name = "N")]
    max_cert_chain: Option<usize>,
    /// Most ISO BMFF boxes walked to check a C2PA BMFF hash or list a HEIF
    /// file's items (HEIF, AVIF).
    #[arg(long, global = true, value_name = "N")]
    max_bmff_boxes: Option<usize>,
    /// Most tiles of a HEIF grid decoded (build with `--features heif`).
    #[arg(long, global = true, value_name = "N")]
    max_heif_tiles: Option<u64>,
    /// Most frames of an animation (GIF, WebP, APNG) decoded to count and
    /// compare them.
    #[arg(long, global = true, value_name = "N")]
    max_frames: Option<usize>,
}

/// Nesting caps bound recursion: past the stack a parser aborts the whole
/// process, which no per-file boundary can contain, so no flag lifts them.
fn nesting() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(0..=MAX_NESTING as u64)
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        let d = Limits::default();
        // Every field named, no `..d`: a new limit without a flag does not compile.
        Limits {
            max_file_bytes: self.max_file_bytes.unwrap_or(d.max_file_bytes),
            max_pixels: self.max_pixels.unwrap_or(d.max_pixels),
            max_width: self.max_width.unwrap_or(d.max_width),
            max_height: self.max_height.unwrap_or(d.max_height),
            max_decoder_alloc: self.max_decoder_alloc.unwrap_or(d.max_decoder_alloc),
            max_metadata_bytes: self.max_metadata_bytes.unwrap_or(d.max_metadata_bytes),
            max_depth: self.max_depth.unwrap_or(d.max_depth),
            max_jumbf_boxes: self.max_jumbf_boxes.unwrap_or(d.max_jumbf_boxes),
            max_jumbf_depth: self.max_jumbf_depth.unwrap_or(d.max_jumbf_depth),
            max_c2pa_manifests: self.max_c2pa_manifests.unwrap_or(d.max_c2pa_manifests),
            max_cbor_depth: self.max_cbor_depth.unwrap_or(d.max_cbor_depth),
            max_cert_chain: self.max_cert_chain.unwrap_or(d.max_cert_chain),
            max_bmff_boxes: self.max_bmff_boxes.unwrap_or(d.max_bmff_boxes),
            max_heif_tiles: self.max_heif_tiles.unwrap_or(d.max_heif_tiles),
            max_frames: self.max_frames.unwrap_or(d.max_frames),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Manage the archive of pictures seen before.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Analyse every picture under the given paths, in parallel.
    Scan(ScanArgs),
    /// Analyse one picture and explain the result.
    Check(CheckArgs),
    /// Answer checks over HTTP (see openapi.yaml).
    #[cfg(feature = "serve")]
    Serve(ServeArgs),
    /// Process every picture that lands in a folder, once it is completely written.
    #[cfg(feature = "watch")]
    Watch(WatchArgs),
    /// Print the JSON Schema (draft 2020-12) of the `retrace.report/1` report.
    Schema,
    /// Print the settings in force (archive, limits, serve and watch
    /// settings) as a config file, each with where it came from: a flag, an
    /// environment variable, the config file (and its line) or the default.
    Config,
    /// Print a shell completion script: e.g. `retrace completions bash >
    /// ~/.local/share/bash-completion/completions/retrace`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of retrace, or write one page per command
    /// into a folder (`retrace.1`, `retrace-scan.1`, ...).
    Man {
        /// Write every page into DIR instead of printing the main one.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[cfg(feature = "serve")]
#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on (loopback by default: put a reverse proxy with TLS in front).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    bind: std::net::SocketAddr,
    /// A file holding the bearer token that writes (record=true, POST /v1/archive)
    /// need. Without it the service is read-only. Never pass the token itself.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Largest request body, in bytes (answered 413 above it).
    #[arg(long, default_value_t = 50 * 1024 * 1024, value_name = "BYTES")]
    max_body_bytes: u64,
    /// Whole-request deadline in seconds (answered 503 after it).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    timeout: u64,
    /// Pictures analysed at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// HTML pages kept for GET /v1/report/{sha256}.
    #[arg(long, default_value_t = 256, value_name = "N")]
    report_cache: usize,
    /// Also write each check's report and page to DIR/<sha256>.json and
    /// DIR/<sha256>.html (atomically), and serve pages from there when they
    /// are no longer in memory, across restarts. The folder grows by two
    /// files per distinct picture checked; nothing is ever deleted from it.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Close a connection that sends no request for this many seconds, or
    /// takes longer than this to send a request's headers.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    idle_timeout: u64,
    /// Connections served at once; more wait in the system's queue until one
    /// closes. Each holds a file descriptor.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
    /// Bytes of uploads held in memory at once (never less than
    /// --max-body-bytes); a request waits, within its deadline, until its
    /// body fits.
    #[arg(long, default_value_t = 1024 * 1024 * 1024, value_name = "BYTES")]
    upload_memory: u64,
}

#[cfg(feature = "watch")]
#[derive(Args, Debug)]
struct WatchArgs {
    /// The folder to watch (recursively).
    dir: PathBuf,
    /// Where the reports go (DIR/<relative path>.json, written atomically).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write DIR/<relative path>.html.
    #[arg(long)]
    html: bool,
    /// After matching, add each picture to the archive, first seen now.
    #[arg(long)]
    record: bool,
    /// Source label for --record.
    #[arg(long, default_value = "")]
    source: String,
    #[command(flatten)]
    claim: ClaimArgs,
    /// Milliseconds a file's size and mtime must stay unchanged before it is read.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    settle_ms: u64,
    /// Seconds between full walks of the folder (catches missed events).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    rescan: u64,
}

/// What the pictures are claimed to show, on every command that analyses them
/// (`scan`, `check`, `watch`): one definition, so they parse alike.
#[derive(Args, Debug)]
struct ClaimArgs {
    /// The date the pictures are claimed to show (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    claim_date: Option<String>,
    /// The place the pictures are claimed to show: decimal degrees, radius in km (default 25).
    /// Negative values (south, west) are accepted as they are.
    #[arg(long, value_name = "LAT,LON[,RADIUS_KM]", allow_hyphen_values = true)]
    claim_location: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ArchiveCommand {
    /// Record every picture under the given paths.
    Add(AddArgs),
    /// Show what the archive holds.
    Info {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy every picture and sighting of another archive into this one, e.g.
    /// a laptop's SQLite file into the shared PostgreSQL archive. Each picture
    /// keeps its earliest first-seen; running it again adds nothing.
    Copy {
        /// The archive to read: a file or a postgres:// URL. Only read (its
        /// schema is brought up to date, as by any command).
        #[arg(long, value_name = "PATH|URL")]
        from: PathBuf,
        /// The archive to write, created if needed (default: --archive or
        /// RETRACE_ARCHIVE).
        #[arg(long, value_name = "PATH|URL")]
        to: Option<PathBuf>,
    },
    /// Write the archive's hashes as a list to share, without the pictures:
    /// every picture's hashes with its first-seen date, source and URL.
    Export {
        /// The list to write (replaced whole once complete).
        file: PathBuf,
        /// `retrace`: JSON Lines (`retrace.hashlist/1`), every hash retrace
        /// keeps, read back by `archive import` as it was. `threatexchange`:
        /// CSV of each picture's PDQ hash as ThreatExchange and
        /// Hasher-Matcher-Actioner read it (pdq_hex,id,added_on,labels).
        #[arg(long, value_enum, default_value_t = ListFormatArg::Retrace)]
        format: ListFormatArg,
    },
    /// Read a hash list (a `retrace archive export`, or a ThreatExchange PDQ
    /// CSV) into the archive as hash-only entries, matched on hashes alone.
    /// A list with any malformed line is refused whole, each problem named
    /// with its line number.
    Import {
        /// The list.
        file: PathBuf,
        /// Source label of every entry (default: each line's own source in a
        /// retrace list, `ThreatExchange list FILE` for a ThreatExchange CSV).
        #[arg(long, value_name = "TEXT")]
        source: Option<String>,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ListFormatArg {
    Retrace,
    Threatexchange,
}

#[derive(Args, Debug)]
struct AddArgs {
    /// Files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Who or what the pictures came from (a label kept with each sighting).
    #[arg(long, default_value = "")]
    source: String,
    /// First-seen date: an ISO 8601 date, `exif` (capture time) or `mtime`.
    /// Default: the EXIF capture time when present, else the file's mtime.
    #[arg(long, value_name = "DATE|exif|mtime")]
    first_seen: Option<String>,
    /// A TAB-separated catalogue (`file  source  first_seen  url`, paths relative
    /// to the catalogue) whose rows override --source and --first-seen per file.
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
struct ScanArgs {
    /// Files or folders.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// One JSON report per line on stdout.
    #[arg(long)]
    jsonl: bool,
    /// Write one JSON report per picture here, mirroring the input tree, plus summary.json.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Write one self-contained HTML page per picture here (named by content
    /// SHA-256) plus index.html.
    #[arg(long, value_name = "DIR")]
    html: Option<PathBuf>,
    /// Write one row per picture to FILE (RFC 4180 CSV, for spreadsheets):
    /// path, sha256, verdict, confidence, the earliest copy with its date,
    /// source and URL, transform, region, findings, errors, the verdict in words.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// After matching, add the scanned pictures to the archive, first seen now.
    #[arg(long)]
    record: bool,
    /// Source label for --record.
    #[arg(long, default_value = "")]
    source: String,
    #[command(flatten)]
    claim: ClaimArgs,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The picture.
    file: PathBuf,
    /// Print the JSON report instead of the readable page.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    claim: ClaimArgs,
}

const EXIT_CLEAN: u8 = 0;
const EXIT_FOUND: u8 = 1;
const EXIT_ERROR: u8 = 2;
const EXIT_INTERRUPTED: u8 = 130;

/// The ids of the flags that go in the config file's `[limits]`.
fn limit_ids() -> Vec<String> {
    let cmd = LimitArgs::augment_args(clap::Command::new("limits"));
    cmd.get_arguments()
        .map(|a| a.get_id().to_string())
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let limit_ids = limit_ids();
    // The config file's keys become the flags' defaults before the command
    // line is parsed (src/bin/retrace/settings.rs).
    let (mut cmd, loaded) = match settings::load(&args, Cli::command(), &limit_ids) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("retrace: {}", report::escape_untrusted(&format!("{e:#}")));
            return ExitCode::from(EXIT_ERROR);
        }
    };
    let parsed = cmd
        .try_get_matches_from_mut(&args)
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)))
        .map_err(|e| e.format(&mut cmd));
    let (cli, matches) = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_CLEAN
            });
        }
    };
    logs::init(cli.verbose, cli.quiet);
    if let Command::Config = cli.command {
        let shown = |id: &str, v: &str| match id {
            // A PostgreSQL URL's password is never printed.
            "archive" => display_location(Path::new(v)),
            _ => v.to_string(),
        };
        let builtin = |table, id: &str| match table {
            settings::Table::Limits => serde_json::to_value(Limits::default())
                .ok()
                .and_then(|l| l.get(id).map(|v| v.to_string())),
            _ => None,
        };
        let mut out = std::io::stdout().lock();
        return match settings::print(
            &mut out,
            &Cli::command(),
            &cmd,
            &matches,
            &loaded,
            shown,
            builtin,
        ) {
            Ok(()) => ExitCode::from(EXIT_CLEAN),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(EXIT_CLEAN),
            Err(e) => {
                eprintln!("retrace: writing the settings: {e}");
                ExitCode::from(EXIT_ERROR)
            }
        };
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(EXIT_CLEAN);
            }
            // Error chains name paths, and paths come from strangers.
            eprintln!("retrace: {}", report::escape_untrusted(&format!("{e:#}")));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn claim(args: &ClaimArgs) -> Result<Claim> {
    let (date, location) = (&args.claim_date, &args.claim_location);
    Ok(Claim {
        location: match location {
            Some(l) => Some(parse_location(l).with_context(|| {
                format!(
                    "--claim-location {l:?} is not LAT,LON[,RADIUS_KM] in decimal degrees and km"
                )
            })?),
            None => None,
        },
        date: match date {
            Some(d) => Some(
                parse_date(d)
                    .with_context(|| format!("--claim-date {d:?} is not a date (YYYY-MM-DD)"))?,
            ),
            None => None,
        },
    })
}

/// Where the index snapshot lives, from the flags and the archive's location.
struct IndexOpts {
    cache: Option<PathBuf>,
}

impl IndexOpts {
    fn from_cli(cli: &Cli) -> IndexOpts {
        let cache = if cli.no_index_cache {
            None
        } else if let Some(p) = &cli.index_cache {
            Some(p.clone())
        } else {
            cli.archive.as_deref().and_then(default_index_cache)
        };
        IndexOpts { cache }
    }
}

/// [`Engine::new`] with the index snapshot settings; a snapshot that could not
/// be used or written is worth a line on stderr, not a failure.
fn new_engine(idx: &IndexOpts, mut config: Config, archive: Option<Archive>) -> Result<Engine> {
    config.index_cache = idx.cache.clone();
    let started = std::time::Instant::now();
    let engine = Engine::new(config, archive)?;
    let load = engine.index_load();
    tracing::info!(
        "archive index ready in {:.2} s ({}{} pictures read from the archive)",
        started.elapsed().as_secs_f64(),
        if load.from_snapshot {
            "from the snapshot, "
        } else {
            ""
        },
        load.caught_up
    );
    if let Some(why) = &load.snapshot_refused {
        let why = retrace::error_chain(why);
        tracing::warn!("index snapshot not used ({why}); loaded from the archive");
    }
    if let Some(Err(why)) = &load.saved {
        let why = retrace::error_chain(why);
        tracing::warn!("could not save the index snapshot: {why}");
    }
    Ok(engine)
}

fn open_archive(path: &Option<PathBuf>, create: bool) -> Result<Option<Archive>> {
    // Messages name the archive without a PostgreSQL URL's password.
    let shown = |p: &Path| format!("opening archive {}", display_location(p));
    match path {
        None => Ok(None),
        Some(p) if create => Ok(Some(Archive::open(p).with_context(|| shown(p))?)),
        Some(p) => Ok(Some(Archive::open_existing(p).with_context(|| shown(p))?)),
    }
}

fn cancel_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // A second Ctrl-C is not caught twice: the first asks for a clean stop.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    flag
}

fn progress(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() || logs::quiet() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total as u64);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {pos}/{len} [{bar:30}] {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

fn run(cli: Cli) -> Result<u8> {
    let limits = cli.limits.limits();
    let refresh = Some(std::time::Duration::from_millis(cli.archive_refresh_ms));
    let matching = match_params_with_crop_search(cli.crop_search);
    let idx = IndexOpts::from_cli(&cli);
    match cli.command {
        Command::Archive(ArchiveCommand::Info { json }) => {
            let Some(archive) = open_archive(&cli.archive, false)? else {
                bail!("no archive given: use --archive PATH or set RETRACE_ARCHIVE");
            };
            let info = archive.info()?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &info)?;
                writeln!(out)?;
            } else {
                writeln!(out, "archive       {}", info.path.display())?;
                writeln!(out, "schema        {}", info.schema_version)?;
                writeln!(out, "images        {}", info.images)?;
                writeln!(out, "sightings     {}", info.sightings)?;
                writeln!(
                    out,
                    "first seen    {} … {}",
                    info.first_seen_min.as_deref().unwrap_or("-"),
                    info.first_seen_max.as_deref().unwrap_or("-")
                )?;
                writeln!(out, "hashes")?;
                for (stamp, n) in &info.hash_stamps {
                    writeln!(out, "  {stamp}  ({n})")?;
                }
                writeln!(
                    out,
                    "features      {} of {} images",
                    info.with_features, info.images
                )?;
                if info.with_features < info.images {
                    writeln!(
                        out,
                        "              partial copies of the others are found by their hashes only; \
                         adding their files again (retrace archive add) fills their features in \
                         (hash-only entries from hash lists have none)"
                    )?;
                }
            }
            Ok(EXIT_CLEAN)
        }
        Command::Archive(ArchiveCommand::Copy { from, to }) => {
            let Some(to) = to.or(cli.archive) else {
                bail!("no archive to copy into: use --to PATH|URL, --archive or RETRACE_ARCHIVE");
            };
            archive_copy(&from, &to)
        }
        Command::Archive(ArchiveCommand::Export { file, format }) => {
            let Some(archive) = open_archive(&cli.archive, false)? else {
                bail!("no archive given: use --archive PATH or set RETRACE_ARCHIVE");
            };
            archive_export(&archive, &file, format)
        }
        Command::Archive(ArchiveCommand::Import { file, source }) => {
            let Some(path) = &cli.archive else {
                bail!("no archive given: use --archive PATH or set RETRACE_ARCHIVE");
            };
            archive_import(path, &file, source, &limits)
        }
        Command::Archive(ArchiveCommand::Add(args)) => {
            let Some(path) = &cli.archive else {
                bail!("no archive given: use --archive PATH or set RETRACE_ARCHIVE");
            };
            archive_add(path, args, limits, &idx)
        }
        Command::Scan(args) => scan_cmd(&cli.archive, args, limits, matching, refresh, &idx),
        #[cfg(feature = "serve")]
        Command::Serve(args) => {
            let token = match &args.token_file {
                None => None,
                Some(p) => {
                    let meta = std::fs::metadata(p)
                        .with_context(|| format!("reading token file {}", p.display()))?;
                    if meta.len() > 4096 {
                        bail!("token file {} is larger than 4096 bytes", p.display());
                    }
                    let t = std::fs::read_to_string(p)
                        .with_context(|| format!("reading token file {}", p.display()))?;
                    let t = t.trim().to_string();
                    if t.len() < 16 {
                        bail!("the token in {} is shorter than 16 characters", p.display());
                    }
                    Some(t)
                }
            };
            // An upload is a file: the file cap bounds the body cap too.
            let max_body_bytes = args.max_body_bytes.min(limits.max_file_bytes);
            let engine = new_engine(
                &idx,
                Config {
                    limits,
                    matching,
                    archive_refresh: refresh,
                    ..Config::default()
                },
                open_archive(&cli.archive, true)?,
            )?;
            let concurrency = args
                .concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            serve::run(
                engine,
                serve::ServeConfig {
                    bind: args.bind,
                    max_body_bytes,
                    timeout: std::time::Duration::from_secs(args.timeout.max(1)),
                    concurrency,
                    token,
                    report_cache: args.report_cache,
                    report_dir: args.report_dir,
                    idle_timeout: std::time::Duration::from_secs(args.idle_timeout.max(1)),
                    max_connections: args.max_connections.max(1),
                    upload_memory: args.upload_memory,
                },
            )?;
            Ok(EXIT_CLEAN)
        }
        #[cfg(feature = "watch")]
        Command::Watch(args) => {
            if cli.archive.is_none() {
                bail!("watch needs an archive to remember what it processed: use --archive PATH or set RETRACE_ARCHIVE");
            }
            let engine = new_engine(
                &idx,
                Config {
                    limits,
                    claim: claim(&args.claim)?,
                    matching,
                    archive_refresh: refresh,
                    ..Config::default()
                },
                open_archive(&cli.archive, true)?,
            )?;
            let cancel = cancel_flag();
            let config = watch::WatchConfig {
                dir: args.dir,
                out: args.out,
                html: args.html,
                record: args.record,
                source: args.source,
                settle: std::time::Duration::from_millis(args.settle_ms),
                rescan: std::time::Duration::from_secs(args.rescan.max(1)),
            };
            let n = watch::run(&engine, &config, &cancel)?;
            eprintln!("retrace watch: stopped after processing {n} files");
            Ok(EXIT_CLEAN)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "retrace", &mut std::io::stdout().lock());
            Ok(EXIT_CLEAN)
        }
        Command::Man { dir } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match dir {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    clap_mangen::generate_to(cmd, &dir)
                        .with_context(|| format!("writing man pages into {}", dir.display()))?;
                }
                None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout().lock())?,
            }
            Ok(EXIT_CLEAN)
        }
        // Printed by main, which holds the parsed command line.
        Command::Config => Ok(EXIT_CLEAN),
        Command::Schema => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &report::json_schema())?;
            writeln!(out)?;
            Ok(EXIT_CLEAN)
        }
        Command::Check(args) => {
            // One picture: scanning the stored hashes once costs less than
            // building the index's tables for them.
            let config = Config {
                limits,
                claim: claim(&args.claim)?,
                matching,
                index_scan_only: true,
                ..Config::default()
            };
            // The picture is read, decoded and hashed while the archive's
            // index loads on another thread (at a million pictures each is
            // about a tenth of a second).
            let archive = open_archive(&cli.archive, false)?;
            let examiner = Engine::new(config.clone(), None)?;
            let (engine, ex) = std::thread::scope(|s| {
                let loading = s.spawn(|| new_engine(&idx, config, archive));
                let ex = examiner.examine_path_contained(&args.file);
                let engine = loading
                    .join()
                    .map_err(|_| anyhow!("loading the archive's index panicked"))??;
                anyhow::Ok((engine, ex))
            })?;
            let ex = engine.analyze_contained(ex);
            let r = &ex.report;
            let mut out = std::io::stdout().lock();
            if args.json {
                report::write_json(&mut out, r)?;
            } else {
                text::write_check(&mut out, r)?;
            }
            Ok(exit_for(r.has_errors(), r.has_earlier_copy()))
        }
    }
}

/// The exit status from whether any picture had errors, and any an earlier copy.
fn exit_for(errors: bool, copies: bool) -> u8 {
    if errors {
        EXIT_ERROR
    } else if copies {
        EXIT_FOUND
    } else {
        EXIT_CLEAN
    }
}

/// Pictures recorded per transaction: small enough that an interruption loses
/// little, large enough that SQLite's commit cost is amortised.
const RECORD_BATCH: usize = 64;

fn archive_add(path: &Path, args: AddArgs, limits: Limits, idx: &IndexOpts) -> Result<u8> {
    let policy = match args.first_seen.as_deref() {
        None => FirstSeen::Auto,
        Some("exif") => FirstSeen::Exif,
        Some("mtime") => FirstSeen::Mtime,
        Some(d) => {
            parse_date(d)
                .with_context(|| format!("--first-seen {d:?}: expected a date, exif or mtime"))?;
            FirstSeen::Given(d.to_string())
        }
    };
    let started = std::time::Instant::now();
    let manifest = match &args.manifest {
        Some(m) => read_catalogue(m)?,
        None => HashMap::new(),
    };
    let archive = Archive::open(path)
        .with_context(|| format!("opening archive {}", display_location(path)))?;
    let engine = new_engine(
        idx,
        Config {
            limits,
            ..Config::default()
        },
        Some(archive),
    )?;
    let cancel = cancel_flag();
    let pb = progress(0);
    let (mut added, mut known, mut failed) = (0usize, 0usize, 0usize);
    let mut batch = Vec::new();
    let mut record_error = None;
    let flush = |batch: &mut Vec<_>, added: &mut usize, known: &mut usize| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for r in engine.record(batch)? {
            match r {
                Recorded::Added => *added += 1,
                Recorded::AlreadyKnown => *known += 1,
            }
        }
        batch.clear();
        Ok(())
    };
    let problems = Scan::new(&engine)
        .threads(args.threads)
        .cancel(&cancel)
        .examine_only(true)
        .walk(&args.paths, |walked, c, ex| {
            tick(&pb, walked);
            let Some(entry) = engine.archive_entry(&ex) else {
                failed += 1;
                let why = ex
                    .report
                    .errors
                    .first()
                    .map(|e| format!("{}: {}", e.stage, e.message))
                    .unwrap_or_default();
                pb.suspend(|| {
                    eprintln!(
                        "retrace: not added: {}: {}",
                        report::escape_untrusted(&ex.report.path),
                        report::escape_untrusted(&why)
                    )
                });
                return;
            };
            let row = std::fs::canonicalize(&c.path)
                .ok()
                .and_then(|p| manifest.get(&p));
            let (first, from) = match row.and_then(|r| r.first_seen.clone()) {
                Some(d) => (d, retrace::FirstSeenFrom::Manifest),
                None => first_seen(&ex, &policy),
            };
            let sighting = Sighting {
                location: c.path.to_string_lossy().into_owned(),
                source: row
                    .map(|r| r.source.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| args.source.clone()),
                url: row.and_then(|r| r.url.clone()),
                first_seen: first,
                first_seen_from: from,
            };
            batch.push((entry, sighting));
            if batch.len() >= RECORD_BATCH && record_error.is_none() {
                if let Err(e) = flush(&mut batch, &mut added, &mut known) {
                    record_error = Some(e);
                    // Nothing more can be recorded: stop reading pictures.
                    cancel.store(true, Ordering::SeqCst);
                }
            }
        })?;
    pb.finish_and_clear();
    say_walk_problems(&problems);
    // A full disk or a lost database: say what is in the archive now, so
    // that nobody has to guess how much of the batch to send again.
    let before_failing = |e: anyhow::Error, added: usize, known: usize| {
        e.context(format!(
            "recording into the archive; {} before this error (every batch recorded \
             is complete; the same command again records the rest)",
            recorded_so_far(added, known)
        ))
    };
    if let Some(e) = record_error {
        return Err(before_failing(e, added, known));
    }
    if let Err(e) = flush(&mut batch, &mut added, &mut known) {
        return Err(before_failing(e, added, known));
    }
    println!("added {added}, already known {known}, failed {failed}");
    logs::summary(&format!(
        "recorded {} pictures in {:.1} s into {}",
        added + known,
        started.elapsed().as_secs_f64(),
        display_location(path)
    ));
    if cancel.load(Ordering::SeqCst) {
        eprintln!("retrace: interrupted; every batch recorded so far is complete");
        return Ok(EXIT_INTERRUPTED);
    }
    Ok(if failed > 0 || !problems.is_empty() {
        EXIT_ERROR
    } else {
        EXIT_CLEAN
    })
}

/// "recorded 64 pictures (60 new, 4 already known)", for messages after an error.
fn recorded_so_far(added: usize, known: usize) -> String {
    let n = added + known;
    format!(
        "recorded {n} picture{} ({added} new, {known} already known)",
        if n == 1 { "" } else { "s" }
    )
}

fn archive_copy(from: &Path, to: &Path) -> Result<u8> {
    let source = Archive::open_existing(from)
        .with_context(|| format!("opening archive {}", display_location(from)))?;
    let mut dest =
        Archive::open(to).with_context(|| format!("opening archive {}", display_location(to)))?;
    let pb = progress(source.image_count()? as usize);
    let mut so_far = retrace::internals::archive::Copied::default();
    let done = source
        .copy_into(&mut dest, |c| {
            pb.set_position(c.images);
            so_far = *c;
        })
        .with_context(|| {
            format!(
                "copying {} into {}; {} images ({} new) and their {} sightings were copied before \
                 this error (every step recorded so far is complete; run it again to finish)",
                display_location(from),
                display_location(to),
                so_far.images,
                so_far.added,
                so_far.sightings
            )
        })?;
    pb.finish_and_clear();
    println!(
        "copied {} images ({} new, {} already known) and {} sightings from {} into {}",
        done.images,
        done.added,
        done.images - done.added - done.without_sighting,
        done.sightings,
        display_location(from),
        display_location(to)
    );
    if done.without_sighting > 0 {
        eprintln!(
            "retrace: {} images of {} have no sighting (a damaged archive) and were not copied",
            done.without_sighting,
            display_location(from)
        );
        return Ok(EXIT_ERROR);
    }
    Ok(EXIT_CLEAN)
}

fn archive_export(archive: &Archive, file: &Path, format: ListFormatArg) -> Result<u8> {
    let format = match format {
        ListFormatArg::Retrace => retrace::internals::archive::hashlist::ListFormat::Retrace,
        ListFormatArg::Threatexchange => {
            retrace::internals::archive::hashlist::ListFormat::ThreatExchange
        }
    };
    // Streamed into a temporary file beside the list and renamed over it at
    // the end: a reader never sees half a list, and a failed export leaves
    // the previous one.
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| -> Result<retrace::internals::archive::hashlist::Exported> {
        let f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(f);
        let done = retrace::internals::archive::hashlist::export(archive, format, &mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, file).with_context(|| format!("renaming into {}", file.display()))?;
        Ok(done)
    })();
    let done = match written {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("exporting into {}", file.display())));
        }
    };
    println!(
        "exported {} pictures' hashes into {}{}",
        done.written,
        report::escape_untrusted(&file.display().to_string()),
        if done.skipped > 0 {
            format!(" ({} without a PDQ hash left out)", done.skipped)
        } else {
            String::new()
        }
    );
    Ok(EXIT_CLEAN)
}

/// Problems printed before the rest are only counted.
const LIST_ERRORS_SHOWN: usize = 50;

fn archive_import(
    archive: &Path,
    file: &Path,
    source: Option<String>,
    limits: &Limits,
) -> Result<u8> {
    use std::io::Read;
    let shown = report::escape_untrusted(&file.display().to_string());
    let f = std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > limits.max_file_bytes {
        bail!(
            "{shown} is {len} bytes, more than --max-file-bytes {}; nothing was imported",
            limits.max_file_bytes
        );
    }
    let opts = retrace::internals::archive::hashlist::ImportOptions {
        list_name: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source,
        now: retrace::internals::archive::now_iso(),
    };
    let input = std::io::BufReader::new(f.take(limits.max_file_bytes));
    // Every line is checked before the archive is even opened: a refused
    // list leaves no trace, not even an empty archive file.
    let entries = match retrace::internals::archive::hashlist::read(input, &opts) {
        Ok(e) => e,
        Err(problems) => {
            for p in problems.iter().take(LIST_ERRORS_SHOWN) {
                eprintln!(
                    "retrace: {shown}:{}: {}",
                    p.line,
                    report::escape_untrusted(&p.message)
                );
            }
            if problems.len() > LIST_ERRORS_SHOWN {
                eprintln!(
                    "retrace: {shown}: and {} more lines with problems",
                    problems.len() - LIST_ERRORS_SHOWN
                );
            }
            bail!(
                "{shown}: {} line{} with problems; the list was refused and nothing was imported",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            );
        }
    };
    let mut dest = Archive::open(archive)
        .with_context(|| format!("opening archive {}", display_location(archive)))?;
    // One transaction: the whole list or nothing.
    let recorded = dest
        .record_batch(&entries)
        .with_context(|| format!("importing {shown}; nothing was imported"))?;
    let (mut pictures, mut new) = (std::collections::HashSet::new(), 0);
    for (r, (image, _)) in recorded.iter().zip(&entries) {
        if pictures.insert(&image.sha256) && *r == Recorded::Added {
            new += 1;
        }
    }
    println!(
        "imported {} entries from {shown} as hash-only entries: {new} new pictures, {} already known",
        entries.len(),
        pictures.len() - new
    );
    Ok(EXIT_CLEAN)
}

/// Tell the user, escaped, about what could not be walked (after the batch:
/// the walk runs beside it).
fn say_walk_problems(problems: &[WalkProblem]) {
    for p in problems {
        eprintln!(
            "retrace: {}: {}",
            report::escape_untrusted(&p.path.to_string_lossy()),
            report::escape_untrusted(&p.message)
        );
    }
}

/// One more picture done; the bar's length follows the walk until it ends.
fn tick(pb: &ProgressBar, walked: WalkProgress) {
    pb.set_length(walked.found as u64);
    pb.set_message(if walked.walked {
        ""
    } else {
        "(still listing files)"
    });
    pb.inc(1);
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // Unique per process and call: two service requests may write the same
    // page at once, and a shared temporary name would interleave their bytes.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))
}

/// Longest side of the preview inlined in HTML pages: enough to recognise the
/// picture next to its earlier copy, small enough to keep a page near 100 KB.
const HTML_PREVIEW_SIDE: u32 = 640;

/// Longest side of a picture's thumbnail in the batch index (about 5 KB as
/// JPEG, held in memory until the batch ends): the size of the archive's own
/// thumbnails shown beside them.
const INDEX_THUMB_SIDE: u32 = 128;

/// A page name made only of hex digits and digits (never of the hostile file
/// name): the content SHA-256, numbered when the batch holds the same content
/// twice, or `unreadable-N` for a file that could not be read.
fn html_page_name(r: &Report, taken: &std::collections::HashSet<String>) -> String {
    let stem = r.sha256.clone().unwrap_or_else(|| "unreadable".into());
    let used = |n: &str| taken.contains(n);
    let first = format!("{stem}.html");
    if r.sha256.is_some() && !used(&first) {
        return first;
    }
    (1..)
        .map(|n| format!("{stem}-{n}.html"))
        .find(|n| !used(n))
        .unwrap_or(first)
}

fn scan_cmd(
    archive: &Option<PathBuf>,
    args: ScanArgs,
    limits: Limits,
    matching: MatchParams,
    refresh: Option<std::time::Duration>,
    idx: &IndexOpts,
) -> Result<u8> {
    if args.record && archive.is_none() {
        bail!("--record needs an archive: use --archive PATH or set RETRACE_ARCHIVE");
    }
    let config = Config {
        limits,
        claim: claim(&args.claim)?,
        matching,
        archive_refresh: refresh,
        ..Config::default()
    };
    let started = std::time::Instant::now();
    let engine = new_engine(idx, config, open_archive(archive, args.record)?)?;
    let cancel = cancel_flag();
    let pb = progress(0);
    let mut batch = Batch::new();
    let mut html_used = std::collections::HashSet::new();
    let mut index_thumbs: HashMap<Box<str>, html::Inline> = HashMap::new();
    let mut originals: HashMap<String, html::Inline> = HashMap::new();
    let mut to_record = Vec::new();
    let (mut recorded, mut written_reports) = (0usize, 0usize);
    let mut failure: Option<anyhow::Error> = None;
    let stdout = std::io::stdout();
    let problems = Scan::new(&engine)
        .threads(args.threads)
        .cancel(&cancel)
        .walk(&args.paths, |walked, c, ex| {
            tick(&pb, walked);
            if failure.is_some() {
                return;
            }
            let r = &ex.report;
            tracing::debug!("{}", text::outcome_line(&r.outcome()));
            let mut written = None;
            let mut page_name = None;
            let result = (|| -> Result<()> {
                if args.jsonl {
                    let mut out = stdout.lock();
                    report::write_jsonl(&mut out, r)?;
                    out.flush()?;
                }
                if let Some(dir) = &args.out {
                    let mut name = c.relative.as_os_str().to_owned();
                    name.push(".json");
                    let target = dir.join(name);
                    let mut bytes = serde_json::to_vec_pretty(r)?;
                    bytes.push(b'\n');
                    write_atomic(&target, &bytes)?;
                    written_reports += 1;
                    written = Some(target.into_boxed_path());
                }
                if let Some(dir) = &args.html {
                    let page = html_page_name(r, &html_used);
                    html_used.insert(page.clone());
                    let mut bytes = Vec::new();
                    let pictures = engine.pictures(&ex, HTML_PREVIEW_SIDE);
                    html::write_page(&mut bytes, r, &pictures)?;
                    write_atomic(&dir.join(&page), &bytes)?;
                    // The index's thumbnails, kept until the batch ends: the
                    // picture small, and each earliest copy's once.
                    if let Some(t) = engine.preview(&ex, INDEX_THUMB_SIDE) {
                        index_thumbs.insert(page.clone().into_boxed_str(), t);
                    }
                    if let (Some(m), Some(t)) = (&r.earliest_copy, pictures.earliest) {
                        originals.entry(m.sha256.clone()).or_insert(t);
                    }
                    page_name = Some(page.into_boxed_str());
                }
                if args.record {
                    if let Some(entry) = engine.archive_entry(&ex) {
                        let (first, from) = first_seen(&ex, &FirstSeen::Now);
                        to_record.push((
                            entry,
                            Sighting {
                                location: c.path.to_string_lossy().into_owned(),
                                source: args.source.clone(),
                                url: None,
                                first_seen: first,
                                first_seen_from: from,
                            },
                        ));
                        if to_record.len() >= RECORD_BATCH {
                            engine.record(&to_record)?;
                            recorded += to_record.len();
                            to_record.clear();
                        }
                    }
                }
                Ok(())
            })();
            if let Err(e) = result {
                failure = Some(e);
                cancel.store(true, Ordering::SeqCst);
            }
            // The full report has been streamed or written; the batch keeps only
            // what the table, the summary, the groups and the index read.
            let kept = batch.keep(&ex.report);
            kept.written = written;
            kept.page = page_name;
        })?;
    pb.finish_and_clear();
    say_walk_problems(&problems);
    // What is on disk and in the archive now, so that nobody has to guess
    // what to run again after a full disk or a lost database.
    let done_before = |e: anyhow::Error, recorded: usize| {
        let mut done = Vec::new();
        if args.out.is_some() {
            done.push(format!("{written_reports} reports written"));
        }
        if args.record {
            done.push(format!("{recorded} pictures recorded"));
        }
        if done.is_empty() {
            e
        } else {
            e.context(format!("{} before this error", done.join(", ")))
        }
    };
    if let Some(e) = failure {
        return Err(done_before(e, recorded));
    }
    if !to_record.is_empty() {
        if let Err(e) = engine.record(&to_record) {
            return Err(done_before(e.into(), recorded).context("recording into the archive"));
        }
    }
    batch.sort();
    let records = batch.records();
    let (refs, clusters) = cluster::cluster(records, &engine.config().matching);
    for (r, c) in records.iter().zip(refs) {
        // Reports written while the batch ran did not know their group yet:
        // the written file is read back and only its `cluster` field set.
        if let (Some(c), Some(target)) = (c, &r.written) {
            let text = std::fs::read(target)
                .with_context(|| format!("reading back {}", target.display()))?;
            let mut full: Report = serde_json::from_slice(&text)
                .with_context(|| format!("reading back {}", target.display()))?;
            full.cluster = Some(c);
            let mut bytes = serde_json::to_vec_pretty(&full)?;
            bytes.push(b'\n');
            write_atomic(target, &bytes)?;
        }
    }
    let copies = records.iter().filter(|r| r.has_earlier_copy()).count();
    let errors = records.iter().filter(|r| r.has_errors()).count();
    if let Some(dir) = &args.out {
        let summary = serde_json::json!({
            "schema": "retrace.summary/1",
            "generator": concat!("retrace ", env!("CARGO_PKG_VERSION")),
            "images": records.len(),
            "with_earlier_copy": copies,
            "with_errors": errors,
            "interrupted": cancel.load(Ordering::SeqCst),
            "clusters": clusters,
            "reports": records.iter().map(|r| serde_json::json!({
                "path": r.path(),
                "sha256": r.sha256(),
                "earliest_copy": r.earliest_copy().map(|m| serde_json::json!({
                    "path": m.path, "source": m.source, "first_seen": m.first_seen,
                    "confidence": m.confidence, "transform": m.transform,
                })),
                "findings": r.finding_codes().collect::<Vec<_>>(),
                "errors": r.errors(),
            })).collect::<Vec<_>>(),
        });
        let mut bytes = serde_json::to_vec_pretty(&summary)?;
        bytes.push(b'\n');
        write_atomic(&dir.join("summary.json"), &bytes)?;
    }
    if let Some(dir) = &args.html {
        let paged = || records.iter().filter(|r| r.page.is_some());
        let totals = (
            paged().count(),
            paged().filter(|r| r.has_earlier_copy()).count(),
            paged().filter(|r| r.has_errors()).count(),
        );
        let entries = paged().filter_map(|r| {
            r.page.as_deref().map(|page| html::IndexEntry {
                report: r.outcome(),
                page,
                thumb: index_thumbs.get(page),
                original: r.earliest_copy_sha256(),
            })
        });
        let mut bytes = Vec::new();
        html::write_index(&mut bytes, totals, entries, &|sha| originals.get(sha))?;
        write_atomic(&dir.join("index.html"), &bytes)?;
    }
    if let Some(file) = &args.csv {
        let mut w = report::csv::CsvWriter::new(Vec::new())?;
        for r in records {
            w.row(r.sha256().as_deref(), &r.outcome())?;
        }
        write_atomic(file, &w.finish()?)
            .with_context(|| format!("writing --csv {}", file.display()))?;
    }
    if !args.jsonl {
        let mut out = stdout.lock();
        text::write_summary(&mut out, records.iter().map(BatchRecord::outcome))?;
        for c in &clusters {
            writeln!(
                out,
                "near-duplicates #{}: {} copies; closest to the original: {} ({})",
                c.id,
                c.members.len(),
                report::escape_untrusted(&c.representative),
                c.reason
            )?;
        }
    }
    logs::summary(&format!(
        "scanned {} pictures in {:.1} s: {copies} with an earlier copy, {} without, {errors} with errors",
        records.len(),
        started.elapsed().as_secs_f64(),
        records.len() - copies
    ));
    if cancel.load(Ordering::SeqCst) {
        eprintln!("retrace: interrupted; reports written so far are complete files");
        return Ok(EXIT_INTERRUPTED);
    }
    let code = exit_for(errors > 0, copies > 0);
    Ok(if problems.is_empty() {
        code
    } else {
        EXIT_ERROR
    })
}
