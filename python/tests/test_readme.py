"""The session in python/README.md, run as written (doctest), from a folder
where `samples` is the repository's samples/ and `samples.db` is new."""

import doctest
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def test_the_readme_session_prints_what_it_shows(tmp_path, monkeypatch):
    (tmp_path / "samples").symlink_to(PACKAGE.parent / "samples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    result = doctest.testfile(
        str(PACKAGE / "README.md"), module_relative=False, report=True, verbose=False
    )
    assert result.attempted >= 12
    assert result.failed == 0
    assert os.path.exists("samples.db")
