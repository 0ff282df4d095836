//! The front door: what a newcomer reads and runs first. README.md's command
//! table must name every command and flag the binary accepts (the CLI is a
//! public contract, and the README is where users learn it), and
//! `samples/demo.sh` must say what the scan's exit status means and exit 0
//! when the demo worked, non-zero when it did not.

use crate::common::*;
use std::collections::BTreeSet;
use std::process::Command;

/// `retrace [path...] --help`, as text.
fn help(path: &[&str]) -> String {
    let out = run(retrace(None).args(path).arg("--help"));
    assert_eq!(out.status.code(), Some(0), "retrace {path:?} --help");
    String::from_utf8(out.stdout).expect("utf-8 help")
}

/// The subcommands listed under "Commands:" (without clap's `help`).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // A name sits two spaces in; deeper lines continue a description.
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// The long flags of the option lines (`  -x, --flag <V>  text`), without
/// clap's own `--help` and `--version`.
fn flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|l| {
            let l = l.trim_start();
            // `-x, --flag`: the long form after the short one.
            let l = match l.split_once(", --") {
                Some((short, rest)) if short.len() == 2 && short.starts_with('-') => rest,
                _ => l.strip_prefix("--")?,
            };
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            Some(format!("--{name}"))
        })
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

/// Every command path (`["archive", "add"]`, `["scan"]`, …) with its flags.
fn commands() -> Vec<(Vec<String>, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        let subs = subcommands(&text);
        out.push((path.clone(), flags(&text)));
        for s in subs {
            let mut p = path.clone();
            p.push(s);
            todo.push(p);
        }
    }
    out
}

#[test]
fn the_readme_names_every_command_and_flag() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let commands = commands();
    // The parse itself must have found something, or this test checks nothing.
    let leaves: Vec<_> = commands.iter().filter(|(p, _)| !p.is_empty()).collect();
    assert!(
        leaves.iter().any(|(p, _)| p == &["scan"])
            && leaves.iter().any(|(p, _)| p == &["archive", "add"]),
        "did not find scan and archive add in the help: {leaves:?}"
    );
    assert!(
        commands.iter().any(|(_, f)| f.contains("--max-file-bytes")),
        "did not find the global flags in the help"
    );
    let mut missing = Vec::new();
    for (path, flags) in &commands {
        if !path.is_empty() && path != &["archive"] {
            let name = format!("retrace {}", path.join(" "));
            if !readme.contains(&format!("`{name}")) {
                missing.push(name);
            }
        }
        for flag in flags {
            // A flag followed by anything but another letter of a longer name.
            let named = readme.match_indices(flag.as_str()).any(|(i, _)| {
                !readme[i + flag.len()..]
                    .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            });
            if !named {
                missing.push(format!("{} {flag}", path.join(" ")));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README.md does not name these commands or flags: {missing:?}"
    );
}

/// The demo with this build's binary instead of a release build of its own.
#[cfg(unix)]
fn demo(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("bash")
        .arg(samples().join("demo.sh"))
        .args(args)
        .env("RETRACE_DEMO_BIN", env!("CARGO_BIN_EXE_retrace"))
        .env("RETRACE_DEMO_ARCHIVE", dir.join("demo.db"))
        .env_remove("RETRACE_ARCHIVE")
        .output()
        .expect("run samples/demo.sh");
    eprintln!("demo stderr: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[cfg(unix)]
#[test]
fn the_demo_explains_the_scan_status_and_exits_0_when_it_worked() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("17 images: 13 with an earlier copy"),
        "the scan's summary: {stdout}"
    );
    assert!(
        stderr.contains("exited with status 1") && stderr.contains("the demo worked"),
        "the closing explanation: {stderr}"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[cfg(unix)]
#[test]
fn the_demo_fails_when_the_scan_fails() {
    let dir = tempfile::tempdir().unwrap();
    // A usage error: retrace exits 2 before scanning.
    let out = demo(dir.path(), &["--no-such-flag"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("The demo failed"), "{stderr}");
    assert_eq!(out.status.code(), Some(2));
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and
/// `_` dropped, spaces as `-`; a repeated heading gets `-1`, `-2`, ….
fn anchors(markdown: &str) -> BTreeSet<String> {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let mut out = BTreeSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = heading.take().unwrap_or_default();
                let slug: String = text
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                let mut anchor = slug.clone();
                let mut n = 0;
                while !out.insert(anchor.clone()) {
                    n += 1;
                    anchor = format!("{slug}-{n}");
                }
            }
            _ => {}
        }
    }
    out
}

/// Every link target of a Markdown text (links and images, not code).
fn link_targets(markdown: &str) -> Vec<String> {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    Parser::new_ext(markdown, Options::ENABLE_TABLES)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some(dest_url.to_string())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn links_between_the_readme_and_docs_resolve() {
    let root = repo();
    let mut pages = vec![root.join("README.md"), root.join("CHANGELOG.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    let mut checked = 0;
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let name = page.strip_prefix(&root).unwrap().display().to_string();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let linked = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !linked.exists() {
                broken.push(format!("{name}: {target} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let linked_text = std::fs::read_to_string(&linked).unwrap_or_default();
                if !anchors(&linked_text).contains(anchor) {
                    broken.push(format!("{name}: {target} (no such heading)"));
                }
            }
        }
    }
    // README.md alone links every page of docs/; finding none means the parse
    // failed, not that the links are fine.
    assert!(
        checked >= pages.len(),
        "only {checked} links found in {pages:?}"
    );
    assert!(broken.is_empty(), "broken links: {broken:#?}");
}

#[test]
fn github_anchors_are_computed_as_github_does() {
    // Headings from docs/ and the anchors GitHub gives them.
    let md = "## The contract: openapi.yaml\n\n### The baseline: the matcher before issue 21's rework\n\n\
              ## `check` at a million pictures\n\n## Tests\n\n## Tests\n\n```sh\n# not a heading\n```\n";
    let got = anchors(md);
    let want: BTreeSet<String> = [
        "the-contract-openapiyaml",
        "the-baseline-the-matcher-before-issue-21s-rework",
        "check-at-a-million-pictures",
        "tests",
        "tests-1",
    ]
    .map(String::from)
    .into();
    assert_eq!(got, want);
}
