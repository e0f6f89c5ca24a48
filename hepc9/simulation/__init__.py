"""The one event chain: generator-level blocks, detector reconstruction, background, items.

Training data (:mod:`hepc9.datasets.build`, :mod:`hepc9.datasets.stream`), the evaluation
pseudo-experiments (:mod:`hepc9.pipeline.pseudo`, :mod:`hepc9.pipeline.detector_sets`) and
``hepc9 simulate`` (:mod:`hepc9.pipeline.simulate`) all draw and select their events here,
so a change of a cut is one edit and the samples cannot drift apart.

Modules (one job each):

* :mod:`~hepc9.simulation.inputs` — frozen, picklable inputs built from the config once:
  :class:`SampleInputs` (the keyword arguments of ``sample_events``), :class:`ChainInputs`
  (plus detector, background, selection, events per item), :func:`generate_shifts`
  (``WilsonShifts`` of ``[generate]`` with a δC9 override), :func:`q2_window`.
* :mod:`~hepc9.simulation.reconstruction` — detector response with the float32 and selection
  rules (:func:`reconstruct`, :func:`as_stored`, :func:`regions`).
* :mod:`~hepc9.simulation.background_blocks` — background candidates after the track
  acceptance (:func:`background_block`).
* :mod:`~hepc9.simulation.topup` — the one retry/top-up loop (:func:`top_up`; :func:`top_up_each`
  for several streams at once).
* :mod:`~hepc9.simulation.factory` — :class:`EventFactory`, items at a δC9 point.
* :mod:`~hepc9.simulation.streams` — sub-streams of a chunk's seed sequence.
* :mod:`~hepc9.simulation.columns` — item column sets; column-wise take and concatenate.

The rules, the same for every user:

1. **q² window.** ``[generate] q2_min/q2_max`` (a missing edge is the kinematic limit) bounds
   the *true* q² of every generated signal event: in generator-level files and items, in
   detector-level training data and in detector-level pseudo-experiments alike.  The
   reconstructed q² may leave the window by its resolution (the fit drops or keeps such
   candidates by its own window).
2. **float32 before cuts.** Mbc, ΔE and m(Kπ) are rounded to float32 — the precision of the
   stored files — before any selection, and the rounded values are the ones kept.  A
   candidate whose float64 Mbc lies just below a cut but rounds onto it is treated alike in
   memory, in an item, in a pseudo-experiment and in a written file.
3. **Selection.** K* window ``|m(Kπ) − m_K*| ≤ w``; inside it the signal region
   (``Mbc > mbc_signal_min``, ``|ΔE| < delta_e_max``) and the Mbc sideband
   (:mod:`hepc9.selection`).  Signal items and pseudo-experiments keep signal-region events.
4. **Background.** Candidates are generated over the whole region of ``[background]``; those
   in the K* window and in signal region ∪ sideband are tested by the detector's track
   selection (:func:`hepc9.detector.accept_background`) *before* they count in a region;
   the stream stops right after the last wanted accepted signal-region candidate.  An item
   of M events holds ``round(f · M)`` background and ``M − round(f · M)`` signal events.
5. **Top-up.** Signal and background are drawn in rounds until enough selected events are
   in hand (:func:`top_up`); round ``j`` is a spawn key of its block's streams, so the
   events of a chunk depend only on its stream and on what it asks for.
"""

from __future__ import annotations

from hepc9.simulation.background_blocks import BackgroundBlock, background_block
from hepc9.simulation.columns import DETECTOR_COLUMNS, GENERATOR_COLUMNS, concat, take
from hepc9.simulation.factory import (
    ChunkEvents,
    EventFactory,
    detector_signal,
    item_sets,
    signal_region_background,
)
from hepc9.simulation.inputs import (
    ChainInputs,
    SampleInputs,
    background_split,
    generate_shifts,
    q2_window,
)
from hepc9.simulation.reconstruction import (
    SELECTION_COLUMNS,
    Regions,
    as_stored,
    has_four_vectors,
    reconstruct,
    regions,
)
from hepc9.simulation.streams import child, generator
from hepc9.simulation.topup import stop_after, top_up, top_up_each

__all__ = [
    "DETECTOR_COLUMNS",
    "GENERATOR_COLUMNS",
    "SELECTION_COLUMNS",
    "BackgroundBlock",
    "ChainInputs",
    "ChunkEvents",
    "EventFactory",
    "Regions",
    "SampleInputs",
    "as_stored",
    "background_block",
    "background_split",
    "child",
    "concat",
    "detector_signal",
    "generate_shifts",
    "generator",
    "has_four_vectors",
    "item_sets",
    "q2_window",
    "reconstruct",
    "regions",
    "signal_region_background",
    "stop_after",
    "take",
    "top_up",
    "top_up_each",
]
