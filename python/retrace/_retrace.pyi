"""Type stubs of retrace's native module (re-exported by ``retrace``).

The report dicts are ``retrace.report/1``: their fields are described in the
JSON Schema that ``retrace schema`` prints (the repository's
``src/report/retrace.report-1.schema.json``). The TypedDicts below name the
fields a caller reads most; every report has all of the top-level ones
(``None`` when unknown), and later versions only add fields.
"""

import datetime
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, TypedDict, Union

__version__: str
SCHEMA: str
"""``"retrace.report/1"``, the ``schema`` field of every report."""

StrPath = Union[str, "os.PathLike[str]"]
Picture = Union[StrPath, bytes, bytearray, memoryview]
Date = Union[str, datetime.date]
Location = Union[str, tuple[float, float], tuple[float, float, float]]
ArchiveLike = Union[StrPath, "Archive"]

class StageError(TypedDict):
    stage: str
    message: str

class Finding(TypedDict):
    code: str
    severity: str
    message: str

class Match(TypedDict):
    path: str
    sha256: str
    source: str
    url: Optional[str]
    first_seen: str
    first_seen_from: str
    distance: dict[str, int]
    exact: bool
    transform: str
    region: Optional[dict[str, Any]]
    confidence: str
    evidence: list[str]
    sightings: int
    format: str
    width: Optional[int]
    height: Optional[int]

class ArchiveSearch(TypedDict):
    searched: bool
    path: Optional[str]
    images: Optional[int]
    crop_search: Optional[dict[str, int]]

class Report(TypedDict):
    schema: str
    path: str
    sha256: Optional[str]
    bytes: Optional[int]
    format: Optional[str]
    width: Optional[int]
    height: Optional[int]
    metadata: Optional[dict[str, Any]]
    hashes: dict[str, Any]
    matches: list[Match]
    earliest_copy: Optional[Match]
    findings: list[Finding]
    errors: list[StageError]
    archive: ArchiveSearch
    claim_date: Optional[str]
    thumbnail_comparison: Optional[dict[str, Any]]
    preview_comparison: Optional[dict[str, Any]]
    claim_location: Optional[dict[str, float]]
    cluster: Optional[dict[str, Any]]
    decode: Optional[dict[str, Any]]
    generator: str

class ArchiveInfo(TypedDict):
    path: str
    schema_version: int
    images: int
    sightings: int
    first_seen_min: Optional[str]
    first_seen_max: Optional[str]
    hash_stamps: list[list[Union[str, int]]]
    """[stamp, count] pairs."""
    with_features: int
    """Pictures with local features; re-adding the others' files fills them in."""

class PathMessage(TypedDict):
    path: str
    message: str

class AddResult(TypedDict):
    added: int
    already_known: int
    failed: list[PathMessage]
    problems: list[PathMessage]

class ExportResult(TypedDict):
    written: int
    skipped: int

class RetraceError(Exception):
    """An archive that cannot be opened or written, a picture that cannot be
    read at all. The message is the one the ``retrace`` command prints.
    When raised by ``check`` for an unreadable picture, ``report`` holds the
    report the CLI prints for it."""

    report: Report

def check(
    path_or_bytes: Picture,
    archive: Optional[ArchiveLike] = None,
    claim_date: Optional[Date] = None,
    claim_location: Optional[Location] = None,
    *,
    name: Optional[str] = None,
    limits: Optional[Mapping[str, int]] = None,
    crop_search: Optional[int] = None,
) -> Report:
    """Analyse one picture; the report as ``retrace check --json`` prints it."""

def check_json(
    path_or_bytes: Picture,
    archive: Optional[ArchiveLike] = None,
    claim_date: Optional[Date] = None,
    claim_location: Optional[Location] = None,
    *,
    name: Optional[str] = None,
    limits: Optional[Mapping[str, int]] = None,
    crop_search: Optional[int] = None,
) -> str:
    """``check``, as the exact text of ``retrace check --json``."""

class Scan(Iterator[Report]):
    """The reports of a ``scan``, as they finish."""

    @property
    def problems(self) -> list[tuple[str, str]]:
        """What the walk could not read, as (path, message); complete once exhausted."""

    def close(self) -> None:
        """Stop taking new pictures; the iterator ends after those in progress."""

    def __iter__(self) -> "Scan": ...
    def __next__(self) -> Report: ...

def scan(
    paths: Union[StrPath, Iterable[StrPath]],
    archive: Optional[ArchiveLike] = None,
    threads: Optional[int] = None,
    *,
    claim_date: Optional[Date] = None,
    claim_location: Optional[Location] = None,
    limits: Optional[Mapping[str, int]] = None,
    crop_search: Optional[int] = None,
) -> Scan:
    """Analyse every picture under ``paths`` in parallel; yield reports as they finish."""

class Archive:
    """A SQLite archive file or a ``postgres://`` database of pictures seen before."""

    def __init__(self, path_or_url: StrPath, create: bool = True) -> None: ...
    @property
    def path(self) -> str:
        """The archive's file, or its URL without the password."""

    def info(self) -> ArchiveInfo:
        """What the archive holds, as ``retrace archive info --json``."""

    def export(self, file: StrPath, format: str = "retrace") -> ExportResult:
        """Write the archive's hashes as a list to share, as ``retrace archive export``."""

    def add(
        self,
        paths: Union[StrPath, Iterable[StrPath]],
        source: str = "",
        first_seen: Optional[Date] = None,
        *,
        manifest: Optional[StrPath] = None,
        threads: Optional[int] = None,
        limits: Optional[Mapping[str, int]] = None,
    ) -> AddResult:
        """Record every picture under ``paths``, as ``retrace archive add``."""
