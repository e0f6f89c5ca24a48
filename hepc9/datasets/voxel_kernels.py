"""Numba kernels of :func:`hepc9.datasets.voxelize.voxelize_batch` (two-pass, weighted Welford)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__: list[str] = []

#: Events per block of the two-pass kernel (slots of a block, then their accumulation); the
#: block's scratch stays in the L1/L2 cache.
_BLOCK = 2048


# --------------------------------------------------------------------------------------------
# numba path
# --------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _bin_closed(x: float, lo: float, width: float, n: int) -> np.int64:
    """Bin of ``x`` on a closed axis, -1 when dropped (boost-histogram ``Regular`` rule)."""
    z = (x - lo) / width
    i = np.int64(z * n) if (z >= 0.0 and z < 1.0) else np.int64(-1)
    i = np.int64(n - 1) if z == 1.0 else i
    return i if i < n else np.int64(-1)


@njit(cache=True, nogil=True, inline="always")
def _bin_periodic(x: float, lo: float, width: float, n: int) -> np.int64:
    """Bin of ``x`` on a periodic axis, -1 when dropped (boost-histogram circular rule)."""
    z = (x - lo) / width
    ok = math.isfinite(z)
    z = z - math.floor(z) if ok else 0.0
    i = np.int64(z * n)
    return i if (ok and i < n) else np.int64(-1)


@njit(cache=True, nogil=True, inline="always")
def _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width, nb,
                q2_off, q2_scale, nvox, idx, xs, ws, k0, periodic, simple):
    n0, n1, n2 = nb[0], nb[1], nb[2]
    l0, l1, l2 = lo[0], lo[1], lo[2]
    w0, w1, w2 = width[0], width[1], width[2]
    weighted = len(w) > 0
    for e in range(start, stop):
        # only the χ axis can be periodic (ImageSpec.periodic)
        i0 = _bin_closed(cl[e], l0, w0, n0)
        i1 = _bin_closed(ck[e], l1, w1, n1)
        i2 = _bin_periodic(chi[e], l2, w2, n2) if periodic else _bin_closed(chi[e], l2, w2, n2)
        bad = (i0 < 0) | (i1 < 0) | (i2 < 0)
        slot = slot0 + (i0 * n1 + i1) * n2 + i2
        k = k0 + e - start
        idx[k] = -1 if bad else slot
        xs[k] = (q2[e] - q2_off) / q2_scale
        if simple:
            ws[k] = scale
        else:
            if split and flav[e] < 0:
                idx[k] = -1 if bad else slot + nvox
            ws[k] = w[e] * scale if weighted else scale


@njit(cache=True, nogil=True)
def _slots(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width, nb, per,
           q2_off, q2_scale, nvox, idx, xs, ws, k0):
    """First pass (vectorisable): voxel slot, normalised q² and weight of events start:stop.

    Writes into ``idx[k0:]``, ``xs[k0:]``, ``ws[k0:]``; a dropped event gets slot -1.  The
    common cases (periodic χ or not; unweighted and pooled) get their own loop copies so
    that the compiler can vectorise them.
    """
    simple = not split and len(w) == 0
    if per[2]:
        if simple:
            _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                        nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, True, True)
        else:
            _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                        nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, True, False)
    elif simple:
        _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                    nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, False, True)
    else:
        _slots_body(cl, ck, chi, q2, w, flav, start, stop, scale, slot0, split, lo, width,
                    nb, q2_off, q2_scale, nvox, idx, xs, ws, k0, False, False)


@njit(cache=True, nogil=True)
def _accumulate(idx, xs, ws, n, acc, touched, nt):
    """Second pass: weighted Welford update per voxel, as boost-histogram's accumulators.

    Slots touched for the first time are appended to ``touched`` after the ``nt`` already
    there.  Returns the new number of touched slots and the number of dropped events.
    """
    dropped = 0
    for k in range(n):
        slot = idx[k]
        if slot < 0:
            dropped += 1
            continue
        x = xs[k]
        wt = ws[k]
        s = acc[slot, 0]
        if s == 0.0:
            touched[nt] = slot
            nt += 1
        s += wt
        acc[slot, 0] = s
        m = acc[slot, 1]
        d = x - m
        m += wt * d / s
        acc[slot, 1] = m
        acc[slot, 2] += wt * d * (x - m)
    return nt, dropped


@njit(cache=True, nogil=True)
def _one_image(b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
               lo, width, nb, per, q2_off, q2_scale, split, bkg_slot0, ch_group, ch_stat,
               ch_fill, uniform_fill, acc, touched, idx, xs, ws, out, zeroed):
    """Voxelise image ``b`` into ``out[b]`` using the scratch arrays; return dropped events.

    ``zeroed`` says that ``out`` was allocated zero-filled and every fill value is 0, so the
    initialising pass over the image is skipped.
    """
    nvox = nb[0] * nb[1] * nb[2]
    nch = len(ch_group)
    blk = len(idx)
    nt = 0
    nd = 0
    for start in range(off[b], off[b + 1], blk):
        stop = min(start + blk, off[b + 1])
        _slots(cl, ck, chi, q2, w, flav, start, stop, 1.0, 0, split,
               lo, width, nb, per, q2_off, q2_scale, nvox, idx, xs, ws, 0)
        nt, d = _accumulate(idx, xs, ws, stop - start, acc, touched, nt)
        nd += d
    if len(boff) > 0:
        for start in range(boff[b], boff[b + 1], blk):
            stop = min(start + blk, boff[b + 1])
            _slots(bcl, bck, bchi, bq2, bw, flav, start, stop, bscale[b], bkg_slot0, False,
                   lo, width, nb, per, q2_off, q2_scale, nvox, idx, xs, ws, 0)
            nt, d = _accumulate(idx, xs, ws, stop - start, acc, touched, nt)
            nd += d
    row = out[b]
    if zeroed:
        pass
    elif uniform_fill:
        row[:] = ch_fill[0]
    else:
        for v in range(nvox):
            for c in range(nch):
                row[v * nch + c] = ch_fill[c]
    for k in range(nt):
        slot = touched[k]
        g = slot // nvox
        v = slot - g * nvox
        s = acc[slot, 0]
        for c in range(nch):
            if ch_group[c] != g:
                continue
            st = ch_stat[c]
            if st == 0:
                val = acc[slot, 1]
            elif st == 1:
                val = s
            elif st == 2:
                val = 1.0
            else:
                val = math.sqrt(max(acc[slot, 2], 0.0) / s)
            row[v * nch + c] = val
        acc[slot, 0] = 0.0
        acc[slot, 1] = 0.0
        acc[slot, 2] = 0.0
    return nd


@njit(cache=True, nogil=True, parallel=True)
def _voxelize_kernel(cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
                     lo, width, nb, per, q2_off, q2_scale, split, n_groups,
                     ch_group, ch_stat, ch_fill, max_events, n_blocks, out, zeroed):
    """Voxelise every image, threads over ``n_blocks`` contiguous blocks of images."""
    n_img = len(off) - 1
    nvox = nb[0] * nb[1] * nb[2]
    uniform_fill = np.all(ch_fill == ch_fill[0])
    dropped = np.zeros(n_img, np.int64)
    for blk in prange(n_blocks):
        first = blk * n_img // n_blocks
        last = (blk + 1) * n_img // n_blocks
        acc = np.zeros((n_groups * nvox, 3))
        touched = np.empty(max_events, np.int64)
        idx = np.empty(_BLOCK, np.int64)
        xs = np.empty(_BLOCK)
        ws = np.empty(_BLOCK)
        for b in range(first, last):
            dropped[b] = _one_image(
                b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
                lo, width, nb, per, q2_off, q2_scale, split, (n_groups - 1) * nvox, ch_group,
                ch_stat, ch_fill, uniform_fill, acc, touched, idx, xs, ws, out, zeroed)
    return dropped


@njit(cache=True, nogil=True)
def _voxelize_kernel_serial(cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff,
                            bscale, lo, width, nb, per, q2_off, q2_scale, split, n_groups,
                            ch_group, ch_stat, ch_fill, max_events, n_blocks, out,
                            zeroed):
    """Single-threaded twin of :func:`_voxelize_kernel` (no thread start-up or barrier)."""
    n_img = len(off) - 1
    nvox = nb[0] * nb[1] * nb[2]
    uniform_fill = np.all(ch_fill == ch_fill[0])
    dropped = np.zeros(n_img, np.int64)
    acc = np.zeros((n_groups * nvox, 3))
    touched = np.empty(max_events, np.int64)
    idx = np.empty(_BLOCK, np.int64)
    xs = np.empty(_BLOCK)
    ws = np.empty(_BLOCK)
    for b in range(n_img):
        dropped[b] = _one_image(
            b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
            lo, width, nb, per, q2_off, q2_scale, split, (n_groups - 1) * nvox, ch_group,
            ch_stat, ch_fill, uniform_fill, acc, touched, idx, xs, ws, out, zeroed)
    return dropped
