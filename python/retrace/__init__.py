"""retrace: where did this picture come from?

Offline provenance for circulating pictures: metadata, perceptual hashes,
earlier copies in an archive of pictures seen before, and a report per
picture (``retrace.report/1``), the same as the ``retrace`` command's.

>>> import retrace
>>> report = retrace.check("storm_caption.jpg", archive="samples.db")
>>> report["earliest_copy"]["path"]
'samples/archive/Storm.jpg'

``check`` returns one report as a dict (``check_json``: the exact text of
``retrace check --json``), ``scan`` yields the reports of a folder tree as
they finish, ``Archive`` records pictures and says what it holds. The work
runs in Rust with the GIL released.
"""

from ._retrace import (
    SCHEMA,
    Archive,
    RetraceError,
    Scan,
    __version__,
    check,
    check_json,
    scan,
)

__all__ = [
    "SCHEMA",
    "Archive",
    "RetraceError",
    "Scan",
    "__version__",
    "check",
    "check_json",
    "scan",
]
