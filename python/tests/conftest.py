"""Shared fixtures: the repository's samples, the `retrace` command beside the
package, and the sample archive built by that command (with the samples'
catalogue), so that every test compares the Python package with the CLI on
the same archive file."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"


def _cli_path():
    given = os.environ.get("RETRACE_BIN")
    if given:
        return Path(given)
    for profile in ("debug", "release"):
        p = REPO / "target" / profile / "retrace"
        if p.exists():
            return p
    found = shutil.which("retrace")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def cli():
    """Run the `retrace` command; returns the CompletedProcess (bytes)."""
    path = _cli_path()
    if path is None or not path.exists():
        if os.environ.get("RETRACE_BIN"):
            pytest.fail(f"RETRACE_BIN={os.environ['RETRACE_BIN']} does not exist")
        pytest.skip("no retrace binary: run `cargo build` or set RETRACE_BIN")

    def run(*args, check=True):
        out = subprocess.run(
            # No config file: the package reads none, and every setting is
            # given to both.
            [str(path), "--no-config", *map(str, args)],
            capture_output=True,
            cwd=REPO,
            env={
                k: v
                for k, v in os.environ.items()
                if k not in ("RETRACE_ARCHIVE", "RETRACE_CONFIG")
            },
        )
        if check and out.returncode not in (0, 1):
            raise AssertionError(
                f"retrace {' '.join(map(str, args))} exited {out.returncode}: "
                f"{out.stderr.decode(errors='replace')}"
            )
        return out

    return run


@pytest.fixture(scope="session")
def archive(cli, tmp_path_factory):
    """The sample archive, built by the CLI as samples/demo.sh builds it."""
    db = tmp_path_factory.mktemp("cli-archive") / "samples.db"
    cli(
        "--archive",
        db,
        "archive",
        "add",
        SAMPLES / "archive",
        "--manifest",
        SAMPLES / "archive" / "sources.tsv",
    )
    return db


@pytest.fixture(scope="session")
def incoming():
    files = sorted(
        p for p in (SAMPLES / "incoming").iterdir() if p.suffix in (".jpg", ".png")
    )
    assert len(files) == 17, files
    return files
