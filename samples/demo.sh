#!/usr/bin/env bash
# The main job on the samples: build an archive from samples/archive (with its
# catalogue of sources and dates), then scan the circulating copies against it
# as if they were claimed to show events of 2024-03-01.
set -euo pipefail
cd "$(dirname "$0")/.."
db="${RETRACE_DEMO_ARCHIVE:-$(mktemp -d)/samples-archive.db}"
cargo build --release --quiet
./target/release/retrace --archive "$db" archive add samples/archive --manifest samples/archive/sources.tsv
./target/release/retrace --archive "$db" scan samples/incoming --claim-date 2024-03-01 "$@"
