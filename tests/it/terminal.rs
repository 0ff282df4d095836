//! Terminal manners: shell completions that a real bash completes with, a man
//! page that man(1) formats without a warning, -v/-vv/-q on stderr only, and
//! NO_COLOR.

use std::process::Command;

use crate::common::*;

/// What bash's completion offers for the words typed so far, through the
/// script `retrace completions bash` printed: the same call bash makes on TAB.
fn bash_completes(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source {script}\n\
         COMP_WORDS=({line})\n\
         COMP_CWORD={cword}\n\
         COMP_LINE='{line}'\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _retrace retrace \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        cword = words.len() - 1,
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_commands_and_flags_from_the_generated_script() {
    if which(&["bash"]).is_none() {
        eprintln!("SKIPPED bash_completes_commands_and_flags_from_the_generated_script: no bash");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(retrace(None).args(["completions", "bash"]));
    assert_eq!(out.status.code(), Some(0));
    let script = dir.path().join("retrace.bash");
    std::fs::write(&script, &out.stdout).unwrap();

    let commands = bash_completes(&script, &["retrace", ""]);
    for c in ["archive", "scan", "check", "completions", "man", "schema"] {
        assert!(
            commands.iter().any(|w| w == c),
            "{c} not offered: {commands:?}"
        );
    }
    let archive = bash_completes(&script, &["retrace", "archive", ""]);
    for c in ["add", "info", "copy"] {
        assert!(archive.iter().any(|w| w == c), "{c}: {archive:?}");
    }
    let flags = bash_completes(&script, &["retrace", "scan", "--cs"]);
    assert_eq!(flags, vec!["--csv".to_string()]);
    // Every shell clap_complete knows gets a script.
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = run(retrace(None).args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("retrace"),
            "{shell}"
        );
    }
    let out = run(retrace(None).args(["completions", "tcsh"]));
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_man_page_formats_cleanly_and_names_every_command() {
    let out = run(retrace(None).arg("man"));
    assert_eq!(out.status.code(), Some(0));
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(roff.contains(".TH retrace 1"), "{roff}");
    let dir = tempfile::tempdir().unwrap();
    let out = run(retrace(None).arg("man").arg("--dir").arg(dir.path()));
    assert_eq!(out.status.code(), Some(0));
    for page in [
        "retrace.1",
        "retrace-scan.1",
        "retrace-archive-add.1",
        "retrace-man.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} not written");
    }
    let Some(_) = which(&["groff"]) else {
        eprintln!("SKIPPED formatting the man page: no groff (Debian: apt-get install groff-base)");
        return;
    };
    // groff with warnings on, through preconv (-k) as man(1) runs it: every complaint.
    for page in ["retrace.1", "retrace-scan.1"] {
        let out = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(dir.path().join(page))
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "groff warns about {page}"
        );
    }
    let out = Command::new("groff")
        .args(["-k", "-man", "-Tutf8"])
        .arg(dir.path().join("retrace-scan.1"))
        .output()
        .unwrap();
    // Bold and underline are overstruck (c BACKSPACE c), and a flag's
    // hyphens printed as U+2010 in UTF-8: read it as a person sees it.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        match c {
            '\u{8}' => {
                text.pop();
            }
            '\u{2010}' => text.push('-'),
            c => text.push(c),
        }
    }
    assert!(text.contains("--csv"), "{text}");
    assert!(text.contains("--claim-date"));
}

#[test]
fn verbosity_goes_to_stderr_only_and_quiet_leaves_nothing_but_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let pic = samples().join("incoming/storm_caption.jpg");
    let scan = |flags: &[&str]| {
        run(retrace(Some(&db))
            .arg("scan")
            .arg(&pic)
            .arg("--jsonl")
            .args(flags))
    };
    let plain = scan(&[]);
    let v = scan(&["-v"]);
    let vv = scan(&["-vv"]);
    let q = scan(&["-q"]);
    for o in [&plain, &v, &vv, &q] {
        assert_eq!(o.status.code(), Some(1));
        // stdout is the report and nothing else, whatever the verbosity.
        assert_eq!(jsonl(o).len(), 1);
    }
    let err = |o: &std::process::Output| String::from_utf8(o.stderr.clone()).unwrap();
    // The closing summary line, by default and with -v, never with -q.
    assert!(
        err(&plain).contains("retrace: scanned 1 pictures in ")
            && err(&plain).contains("1 with an earlier copy"),
        "{}",
        err(&plain)
    );
    assert_eq!(err(&q), "", "-q: nothing on stderr");
    assert!(!err(&plain).contains("info:"));
    assert!(err(&v).contains("retrace: info: archive index ready"));
    assert!(!err(&v).contains("debug:"));
    assert!(
        err(&vv).contains("retrace: debug: ") && err(&vv).contains("storm_caption.jpg"),
        "{}",
        err(&vv)
    );
    // No colour escapes when stderr is not a terminal.
    assert!(!err(&vv).contains('\u{1b}'));
    let out = run(retrace(None).args(["-q", "-v", "schema"]));
    assert_eq!(out.status.code(), Some(2), "-q and -v contradict");
}

/// On a terminal (a pseudo-terminal from util-linux's `script`) the level word
/// is coloured, unless NO_COLOR is set.
#[test]
fn colour_on_a_terminal_only_without_no_color() {
    if which(&["script"]).is_none() {
        eprintln!("SKIPPED colour_on_a_terminal_only_without_no_color: no script(1) (util-linux)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = sample_archive(dir.path());
    let line = format!(
        "{} --archive {} -v check {}",
        env!("CARGO_BIN_EXE_retrace"),
        db.display(),
        samples().join("incoming/new_coffee.jpg").display()
    );
    let on_tty = |no_color: Option<&str>| {
        let mut c = Command::new("script");
        c.args(["-qec", &line, "/dev/null"]).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_tty(None);
    assert!(coloured.contains("\u{1b}[32minfo\u{1b}[0m"), "{coloured:?}");
    let plain = on_tty(Some("1"));
    assert!(plain.contains("retrace: info: "), "{plain:?}");
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
}
