"""File-level stages of the study, each callable alone and all chained by :func:`run`.

Each submodule holds the stage functions of one area (``generate``, ``simulate``, ``images``,
``fit``, ``train`` ...): they read inputs, call the science functions of the lower layers and
write outputs atomically.  The command line calls exactly one of these functions per command.
"""

from __future__ import annotations

__all__: list[str] = []
