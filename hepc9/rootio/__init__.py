"""ROOT ntuple input and output.

=================  ==========================================================================
``native``         hepc9 event files: tree ``events`` + ``hepc9_meta`` JSON (formats.md §1)
``_common``        opening files with clear errors, tree/branch lookups, atomic output
``ingest``         any layout → native columns: detection, globs, chunks, provenance
``basf2``          Belle II ``variablesToNtuple`` trees ``gen``/``det`` (formats.md §3a)
``evtgen_ntp``     standalone-EvtGen TNtuple ``ntp`` (formats.md §3b)
``flat``           flat tables with a column mapping (formats.md §3c)
``_foreign``       steps shared by the foreign readers (units, non-finite rows, candidates)
=================  ==========================================================================

The native API is re-exported here: :func:`write_events`, :func:`read_events`,
:func:`iterate_events`, :func:`read_meta`, :func:`make_meta`, :func:`file_summary` and
:data:`NATIVE_DTYPES`; and the readers of any layout: :func:`load_events`,
:func:`iterate_any` and :func:`detect_layout`.
"""

from __future__ import annotations

from hepc9.rootio.ingest import detect_layout, iterate_any, load_events
from hepc9.rootio.native import (
    NATIVE_DTYPES,
    file_summary,
    iterate_events,
    make_meta,
    read_events,
    read_meta,
    write_events,
)

__all__ = [
    "NATIVE_DTYPES",
    "detect_layout",
    "file_summary",
    "iterate_any",
    "iterate_events",
    "load_events",
    "make_meta",
    "read_events",
    "read_meta",
    "write_events",
]
