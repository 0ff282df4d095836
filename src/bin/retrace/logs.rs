//! The binary's log lines: `tracing` events (the library's and the binary's)
//! written to stderr only, one line each, `retrace: LEVEL: message`, so that
//! stdout carries nothing but reports and tables. `-v`/`-vv`/`-vvv` lower the
//! level from warnings to info, debug and trace; `-q` leaves errors only and
//! also hides the progress bar and the closing summary line.
//!
//! The level word is coloured only when stderr is a terminal and `NO_COLOR`
//! is unset or empty (<https://no-color.org>). Messages name files and
//! archive entries, which come from strangers: every line goes through
//! [`retrace::internals::report::escape_untrusted`] before it reaches the terminal.

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether `-q` was given: no progress bar, no summary line, no warnings.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Whether colour may be used on stderr.
pub fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Install the stderr subscriber for this verbosity.
pub fn init(verbose: u8, quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
    let level = match (quiet, verbose) {
        (true, _) => Level::ERROR,
        (false, 0) => Level::WARN,
        (false, 1) => Level::INFO,
        (false, 2) => Level::DEBUG,
        (false, _) => Level::TRACE,
    };
    // Another subscriber already installed (never, in the binary) is not worth failing for.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(colour())
        .event_format(Line)
        .try_init();
}

/// A closing summary line on stderr, unless `-q`.
pub fn summary(line: &str) {
    if !quiet() {
        eprintln!(
            "retrace: {}",
            retrace::internals::report::escape_untrusted(line)
        );
    }
}

/// `retrace: warning: message key=value`, escaped.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut text = String::new();
        ctx.format_fields(Writer::new(&mut text), event)?;
        let (word, ansi) = match *event.metadata().level() {
            Level::ERROR => ("error", "31"),
            Level::WARN => ("warning", "33"),
            Level::INFO => ("info", "32"),
            Level::DEBUG => ("debug", "34"),
            Level::TRACE => ("trace", "35"),
        };
        let text = retrace::internals::report::escape_untrusted(&text);
        if w.has_ansi_escapes() {
            writeln!(w, "retrace: \x1b[{ansi}m{word}\x1b[0m: {text}")
        } else {
            writeln!(w, "retrace: {word}: {text}")
        }
    }
}
