#!/usr/bin/env bash
# The main job on the samples: build an archive from samples/archive (with its
# catalogue of sources and dates), then scan the circulating copies against it
# as if they were claimed to show events of 2024-03-01. Extra arguments go to
# `retrace scan` (e.g. --jsonl, --html DIR).
#
# `retrace scan` exits 1 when it finds earlier copies, which is what the demo is
# for, so this script says what the scan's status means and exits 0 when the
# demo worked (scan status 0 or 1), and with the scan's status otherwise (2: a
# usage error or a file that could not be processed; 130: interrupted). A failed
# build or `archive add` stops it with their own status.
#
# RETRACE_DEMO_ARCHIVE: where to write the archive (default: a temporary file,
# removed at the end). RETRACE_DEMO_BIN: a retrace binary to run instead of
# building one (the test suite runs the demo with its own).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${RETRACE_DEMO_ARCHIVE:-}" ]; then
  db=$RETRACE_DEMO_ARCHIVE
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  db=$tmp/samples-archive.db
fi
if [ -n "${RETRACE_DEMO_BIN:-}" ]; then
  retrace=$RETRACE_DEMO_BIN
else
  cargo build --release --quiet
  retrace=./target/release/retrace
fi
# On stderr too: its one line would break `samples/demo.sh --jsonl`.
"$retrace" --archive "$db" archive add samples/archive --manifest samples/archive/sources.tsv >&2
status=0
"$retrace" --archive "$db" scan samples/incoming --claim-date 2024-03-01 "$@" || status=$?

# On stderr, so that `samples/demo.sh --jsonl` stays JSON Lines on stdout.
case $status in
  1)
    echo "
demo: retrace scan exited with status 1: at least one picture has an earlier copy in the
archive. That is the expected result here (13 of the 17 incoming samples are copies of
archived pictures; samples/incoming/EXPECTED.tsv lists which). retrace reports findings
with status 1 so that scripts can act on them; the demo worked." >&2
    exit 0
    ;;
  0)
    echo "
demo: retrace scan exited with status 0: every picture was processed and none has an
earlier copy in the archive. The demo worked." >&2
    exit 0
    ;;
  130)
    echo "demo: interrupted." >&2
    ;;
  *)
    echo "
demo: retrace scan exited with status $status: a usage error, or a file that could not
be processed (its report says why, above). The demo failed." >&2
    ;;
esac
exit "$status"
