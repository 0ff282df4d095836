//! The config file (`retrace.toml`): the settings a newsroom would otherwise
//! repeat as flags in every script.
//!
//! Each key is the long name of a flag (`archive`, `crop-search`, `[limits]
//! max-file-bytes`, `[serve] bind`), and its value becomes that flag's
//! default before the command line is parsed. So a flag given for the run
//! wins, then the flag's environment variable (`RETRACE_ARCHIVE`), then the
//! file; every value goes through the flag's own parser (same ranges, same
//! messages), and a flag added later is a key at once, with nothing to keep
//! in step by hand. Only flags that take a value are keys: a switch such as
//! `--quiet` cannot be turned off again on the command line once a file
//! turned it on.
//!
//! Which file: `--config PATH` or `RETRACE_CONFIG` (it must exist), else
//! `retrace.toml` in the working folder, else `retrace/retrace.toml` in the
//! user's config folder (`$XDG_CONFIG_HOME`, `~/.config`); `--no-config`
//! reads none. Relative paths in the file are relative to the file's folder,
//! so the same file works from any working folder.

use std::any::TypeId;
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};
use toml::de::{DeTable, DeValue};

/// The file's name in the working folder and in the user's config folder.
pub const FILE_NAME: &str = "retrace.toml";

/// Largest config file read. A settings file is a few hundred bytes; the cap
/// keeps a wrong path (a picture, a device) from being read whole.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The command-line arguments that choose the file (never keys themselves).
const CONFIG_ID: &str = "config";
const NO_CONFIG_ID: &str = "no_config";

/// The flags of `watch` that are settings of a deployment rather than of one
/// run (the folder, the output, `--record` are the run's).
const WATCH_KEYS: &[&str] = &["settle_ms", "rescan"];

/// A part of the file: the top level holds the global flags other than the
/// limits, and each table one group of flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Top,
    Limits,
    Serve,
    Watch,
}

impl Table {
    const ALL: [Table; 4] = [Table::Top, Table::Limits, Table::Serve, Table::Watch];

    fn name(self) -> Option<&'static str> {
        match self {
            Table::Top => None,
            Table::Limits => Some("limits"),
            Table::Serve => Some("serve"),
            Table::Watch => Some("watch"),
        }
    }

    /// The subcommand whose own flags the table sets.
    fn subcommand(self) -> Option<&'static str> {
        match self {
            Table::Serve => Some("serve"),
            Table::Watch => Some("watch"),
            Table::Top | Table::Limits => None,
        }
    }

    fn shown(self, key: &str) -> String {
        match self.name() {
            Some(t) => format!("[{t}] {key}"),
            None => key.to_string(),
        }
    }
}

/// How the file was found.
#[derive(Clone, Copy, Debug)]
pub enum Found {
    Flag,
    Env,
    WorkingFolder,
    UserFolder,
}

impl Found {
    fn words(self) -> &'static str {
        match self {
            Found::Flag => "--config",
            Found::Env => "RETRACE_CONFIG",
            Found::WorkingFolder => "the working folder",
            Found::UserFolder => "the user's config folder",
        }
    }
}

/// One key the file set.
#[derive(Debug)]
struct Set {
    table: Table,
    /// The flag's id (its field name).
    id: String,
    line: usize,
}

/// The config file read and applied, for `retrace config`.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The file and how it was found; none when there is none or with `--no-config`.
    pub file: Option<(PathBuf, Found)>,
    /// Where a file was looked for when none was named.
    pub looked_in: Vec<PathBuf>,
    /// `--no-config` was given.
    pub disabled: bool,
    set: Vec<Set>,
    /// The ids of the flags that go in `[limits]`.
    limit_ids: Vec<String>,
}

/// The flags a table's keys name, in the order of `--help`.
fn keys<'c>(cmd: &'c Command, table: Table, limit_ids: &[String]) -> Vec<&'c Arg> {
    let takes_value = |a: &&Arg| a.get_long().is_some() && a.get_action().takes_values();
    match table.subcommand() {
        Some(sub) => cmd
            .find_subcommand(sub)
            .map(|s| {
                s.get_arguments()
                    .filter(takes_value)
                    .filter(|a| !a.is_global_set())
                    .filter(|a| table != Table::Watch || WATCH_KEYS.contains(&a.get_id().as_str()))
                    .collect()
            })
            .unwrap_or_default(),
        None => cmd
            .get_arguments()
            .filter(takes_value)
            .filter(|a| a.get_id() != CONFIG_ID)
            .filter(|a| {
                limit_ids.iter().any(|l| l == a.get_id().as_str()) == (table == Table::Limits)
            })
            .collect(),
    }
}

/// Read the config file the command line, the environment or the default
/// places name, and set each of its keys as its flag's default in `cmd`.
/// `limit_ids` are the ids of the flags that belong in `[limits]`.
pub fn load(args: &[OsString], cmd: Command, limit_ids: &[String]) -> Result<(Command, Loaded)> {
    // What --config and --no-config say, parsed as the real parse will. A
    // command line that asks for --help or --version fails this parse: then
    // no file is read, and help shows the built-in defaults.
    let mut loaded = Loaded {
        limit_ids: limit_ids.to_vec(),
        ..Loaded::default()
    };
    let Ok(pre) = cmd.clone().ignore_errors(true).try_get_matches_from(args) else {
        return Ok((cmd, loaded));
    };
    if pre.get_flag(NO_CONFIG_ID) {
        loaded.disabled = true;
        return Ok((cmd, loaded));
    }
    let named = pre.get_one::<PathBuf>(CONFIG_ID).map(|p| {
        let how = match pre.value_source(CONFIG_ID) {
            Some(ValueSource::EnvVariable) => Found::Env,
            _ => Found::Flag,
        };
        (p.clone(), how)
    });
    let file = match named {
        Some(f) => Some(f),
        None => {
            let mut places = vec![(PathBuf::from(FILE_NAME), Found::WorkingFolder)];
            if let Some(dir) = dirs::config_dir() {
                places.push((dir.join("retrace").join(FILE_NAME), Found::UserFolder));
            }
            loaded.looked_in = places.iter().map(|(p, _)| p.clone()).collect();
            places.into_iter().find(|(p, _)| p.is_file())
        }
    };
    let Some((path, found)) = file else {
        return Ok((cmd, loaded));
    };
    // Shown in full by `retrace config`, and the base of relative paths.
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let text = read_capped(&path).with_context(|| match found {
        Found::Env => format!("reading config file {} (RETRACE_CONFIG)", path.display()),
        _ => format!("reading config file {}", path.display()),
    })?;
    let (cmd, set) = apply(cmd, &path, &text, limit_ids)
        .with_context(|| format!("config file {}", path.display()))?;
    loaded.set = set;
    loaded.file = Some((path, found));
    Ok((cmd, loaded))
}

fn read_capped(path: &Path) -> Result<String> {
    let f = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    f.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        bail!("larger than {MAX_CONFIG_BYTES} bytes: not a config file");
    }
    String::from_utf8(bytes).map_err(|_| anyhow!("not UTF-8 text (TOML is UTF-8)"))
}

/// Line (from 1) of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.as_bytes().get(..offset).unwrap_or_default();
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

fn apply(
    mut cmd: Command,
    path: &Path,
    text: &str,
    limit_ids: &[String],
) -> Result<(Command, Vec<Set>)> {
    // One line, like every other message (toml's Display draws a snippet).
    let doc = DeTable::parse(text).map_err(|e| match e.span() {
        Some(at) => anyhow!("line {}: {}", line_of(text, at.start), e.message().trim()),
        None => anyhow!("{}", e.message().trim()),
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut entries = Vec::new();
    for (key, value) in doc.get_ref() {
        let line = line_of(text, key.span().start);
        let table = Table::ALL
            .into_iter()
            .find(|t| t.name() == Some(key.get_ref().as_ref()));
        match (table, value.get_ref()) {
            (Some(t), DeValue::Table(inner)) => {
                for (k, v) in inner {
                    entries.push((t, k.get_ref().to_string(), line_of(text, k.span().start), v));
                }
            }
            (Some(t), _) => bail!(
                "line {line}: `{}` is a table of settings ([{}]), not a value",
                key.get_ref(),
                t.name().unwrap_or_default()
            ),
            (None, _) => entries.push((Table::Top, key.get_ref().to_string(), line, value)),
        }
    }
    let mut set = Vec::new();
    for (table, key, line, value) in entries {
        let shown = table.shown(&key);
        let args = keys(&cmd, table, limit_ids);
        let Some(arg) = args.iter().find(|a| a.get_long() == Some(key.as_str())) else {
            let known: Vec<&str> = args.iter().filter_map(|a| a.get_long()).collect();
            let tables = || {
                Table::ALL
                    .iter()
                    .filter_map(|t| t.name().map(|n| format!("[{n}]")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            bail!(
                "line {line}: unknown key `{shown}`; {} {}",
                match table.name() {
                    Some(t) => format!("[{t}] has"),
                    None => format!("the tables are {} and the top level has", tables()),
                },
                known.join(", ")
            );
        };
        let raw = scalar(value.get_ref()).ok_or_else(|| {
            anyhow!("line {line}: `{shown}` takes one value (a string or a number)")
        })?;
        let mut raw = raw;
        // Relative to the file, not to wherever the command runs; a
        // PostgreSQL URL is not a path.
        if arg.get_value_parser().type_id() == TypeId::of::<PathBuf>()
            && !retrace::internals::archive::is_postgres_url(Path::new(&raw))
            && Path::new(&raw).is_relative()
        {
            raw = base.join(&raw).to_string_lossy().into_owned();
        }
        check_value(arg, &raw)
            .map_err(|why| anyhow!("line {line}: `{shown} = {}`: {why}", toml_value(&raw)))?;
        let id = arg.get_id().to_string();
        let as_default = |a: Arg| a.default_value(raw.clone()).hide_default_value(true);
        cmd = match table.subcommand() {
            Some(sub) => cmd.mut_subcommand(sub, |s| s.mut_arg(&id, as_default)),
            None => cmd.mut_arg(&id, as_default),
        };
        set.push(Set { table, id, line });
    }
    Ok((cmd, set))
}

/// A TOML scalar as the flag would be given it on the command line.
fn scalar(v: &DeValue) -> Option<String> {
    match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|n| n.to_string()),
        DeValue::Float(f) => Some(f.as_str().to_string()),
        DeValue::Boolean(b) => Some(b.to_string()),
        DeValue::Datetime(_) | DeValue::Array(_) | DeValue::Table(_) => None,
    }
}

/// Parse `value` with the flag's own parser, alone: the message is the
/// parser's (a range, a number, an address), without clap's usage text.
fn check_value(arg: &Arg, value: &str) -> Result<(), String> {
    let probe = Arg::new("value")
        .long("value")
        .value_parser(arg.get_value_parser().clone())
        .allow_hyphen_values(true);
    let cmd = Command::new("retrace").no_binary_name(true).arg(probe);
    match cmd.try_get_matches_from(["--value", value]) {
        Ok(_) => Ok(()),
        Err(e) => Err(std::error::Error::source(&e).map_or_else(
            || {
                let text = e.kind().to_string();
                format!("{text}: {value:?}")
            },
            |s| s.to_string(),
        )),
    }
}

/// Where a setting's value came from, in words.
fn origin(loaded: &Loaded, arg: &Arg, table: Table, source: Option<ValueSource>) -> String {
    match source {
        Some(ValueSource::CommandLine) => format!("--{}", arg.get_long().unwrap_or_default()),
        Some(ValueSource::EnvVariable) => format!(
            "environment {}",
            arg.get_env()
                .map(|e| e.to_string_lossy())
                .unwrap_or_default()
        ),
        _ => match (
            loaded
                .set
                .iter()
                .find(|s| s.table == table && s.id == arg.get_id().as_str()),
            &loaded.file,
        ) {
            (Some(s), Some((path, _))) => format!("{}, line {}", path.display(), s.line),
            _ => "default".to_string(),
        },
    }
}

/// A value as TOML: a bare integer when it is one, else a quoted string.
fn toml_value(v: &str) -> String {
    if v.parse::<i128>().is_ok() {
        v.to_string()
    } else {
        toml::Value::String(v.to_string()).to_string()
    }
}

/// `retrace config`: every setting in force as a config file, each line
/// saying where its value came from. `show` redacts a value before it is
/// printed (a PostgreSQL URL's password). `builtin` gives the built-in
/// default of a setting whose flag has none written in its definition.
pub fn print(
    out: &mut impl std::io::Write,
    declared: &Command,
    parsed: &Command,
    matches: &ArgMatches,
    loaded: &Loaded,
    show: impl Fn(&str, &str) -> String,
    builtin: impl Fn(Table, &str) -> Option<String>,
) -> std::io::Result<()> {
    writeln!(
        out,
        "# The settings in force and where each came from: a flag, then its environment\n\
         # variable, then the config file, then the built-in default. This is itself a\n\
         # config file (keys without a value are commented out)."
    )?;
    match (&loaded.file, loaded.disabled) {
        (_, true) => writeln!(out, "# Config file: none (--no-config)")?,
        (Some((path, found)), _) => writeln!(
            out,
            "# Config file: {} (from {})",
            retrace::internals::report::escape_untrusted(&path.display().to_string()),
            found.words()
        )?,
        (None, _) => writeln!(
            out,
            "# Config file: none (looked for {})",
            loaded
                .looked_in
                .iter()
                .map(|p| retrace::internals::report::escape_untrusted(&p.display().to_string()))
                .collect::<Vec<_>>()
                .join(" and ")
        )?,
    }
    for table in Table::ALL {
        // In the order of --help: setting a default moves a flag last.
        let args = keys(declared, table, &loaded.limit_ids);
        if args.is_empty() {
            continue;
        }
        if let Some(name) = table.name() {
            writeln!(out, "\n[{name}]")?;
        } else {
            writeln!(out)?;
        }
        for arg in args {
            let id = arg.get_id().as_str();
            let key = arg.get_long().unwrap_or(id);
            // A subcommand's own flags are not parsed in this run (it is
            // `config`): their values are their defaults, which the file
            // may have set.
            let (value, source) = if let Some(sub) = table.subcommand() {
                let v = parsed
                    .find_subcommand(sub)
                    .and_then(|s| s.get_arguments().find(|a| a.get_id() == id))
                    .and_then(|a| a.get_default_values().first());
                (v.map(|v| v.to_string_lossy().into_owned()), None)
            } else {
                let v = matches.get_raw(id).and_then(|mut v| v.next());
                (
                    v.map(|v| v.to_string_lossy().into_owned()),
                    matches.value_source(id),
                )
            };
            let from = origin(loaded, arg, table, source);
            match value.or_else(|| builtin(table, id)) {
                Some(v) => writeln!(out, "{key} = {}  # {from}", toml_value(&show(id, &v)))?,
                None => writeln!(out, "# {key} = (not set)  # {from}")?,
            }
        }
    }
    Ok(())
}
