"""Numba kernels of :func:`hepc9.datasets.voxelize.voxelize_batch` (bucketed, weighted Welford)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__: list[str] = []

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
def _keys_body(cl, ck, chi, flav, start, stop, g0, split, lo, width, nb, n_groups, bkt, loc, k0,
               periodic, simple):
    n0, n1, n2 = nb[0], nb[1], nb[2]
    l0, l1, l2 = lo[0], lo[1], lo[2]
    w0, w1, w2 = width[0], width[1], width[2]
    for e in range(start, stop):
        # only the χ axis can be periodic (ImageSpec.periodic)
        i0 = _bin_closed(cl[e], l0, w0, n0)
        i1 = _bin_closed(ck[e], l1, w1, n1)
        i2 = _bin_periodic(chi[e], l2, w2, n2) if periodic else _bin_closed(chi[e], l2, w2, n2)
        bad = (i0 < 0) | (i1 < 0) | (i2 < 0)
        k = k0 + e - start
        bkt[k] = np.int32(-1) if bad else np.int32(i0 * n1 + i1)
        if simple:
            loc[k] = np.int32(g0 * n2 + i2)
        else:
            g = g0 + 1 if (split and flav[e] < 0) else g0
            loc[k] = np.int32(g * n2 + i2)


@njit(cache=True, nogil=True)
def _keys(cl, ck, chi, flav, start, stop, g0, split, lo, width, nb, per, n_groups, bkt, loc,
          k0):
    """First pass (vectorisable): bucket ``i0·n1 + i1`` and local key ``group·n2 + i2``.

    Writes into ``bkt[k0:]`` and ``loc[k0:]`` for the events start:stop; a dropped event gets
    bucket -1.  The common cases (periodic χ or not; flavours pooled) get their own loop
    copies so that the compiler can vectorise them.
    """
    if per[2]:
        if split:
            _keys_body(cl, ck, chi, flav, start, stop, g0, split, lo, width, nb, n_groups,
                       bkt, loc, k0, True, False)
        else:
            _keys_body(cl, ck, chi, flav, start, stop, g0, split, lo, width, nb, n_groups,
                       bkt, loc, k0, True, True)
    elif split:
        _keys_body(cl, ck, chi, flav, start, stop, g0, split, lo, width, nb, n_groups,
                   bkt, loc, k0, False, False)
    else:
        _keys_body(cl, ck, chi, flav, start, stop, g0, split, lo, width, nb, n_groups,
                   bkt, loc, k0, False, True)


@njit(cache=True, nogil=True)
def _scatter(q2, w, start, stop, scale, q2_off, q2_scale, bkt, loc, k0, cnt, sloc, sx, sw,
             any_weights):
    """Stable counting-sort scatter of events start:stop into bucket order.

    ``cnt[r]`` holds the next free position of bucket ``r`` and is advanced; the sorted
    arrays get the local key, the normalised q² and (when any source has per-event weights)
    the weight.  Returns dropped events.
    """
    weighted = len(w) > 0
    dropped = 0
    for e in range(start, stop):
        k = k0 + e - start
        r = bkt[k]
        if r < 0:
            dropped += 1
            continue
        p = cnt[r]
        cnt[r] = p + 1
        sloc[p] = loc[k]
        sx[p] = (q2[e] - q2_off) / q2_scale
        if any_weights:
            sw[p] = w[e] * scale if weighted else scale
    return dropped


@njit(cache=True, nogil=True)
def _bucket(a, z, sloc, sx, sw, la, lt, any_weights, bg0, bsc):
    """Weighted Welford update of one bucket's events (input order kept per voxel).

    ``la`` is the bucket's ``(G·n2, 3)`` accumulator (sum of weights, mean, Σ w δ (x − mean)),
    as boost-histogram's accumulators; local keys touched for the first time go to ``lt``.
    Without per-event weights the weight is 1, or ``bsc`` for the background keys
    ``>= bg0``.  Returns the number of touched keys.
    """
    nt = 0
    for p in range(a, z):
        slot = sloc[p]
        x = sx[p]
        wt = sw[p] if any_weights else (bsc if slot >= bg0 else 1.0)
        s = la[slot, 0]
        # branch-free append of a first touch (most events open a new voxel)
        lt[nt] = slot
        nt += 1 if s == 0.0 else 0
        s += wt
        la[slot, 0] = s
        m = la[slot, 1]
        d = x - m
        m += wt * d / s
        la[slot, 1] = m
        la[slot, 2] += wt * d * (x - m)
    return nt


@njit(cache=True, nogil=True)
def _one_image(b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
               lo, width, nb, per, q2_off, q2_scale, split, n_groups, ch_group, ch_stat,
               ch_fill, scratch, out, zeroed):
    """Voxelise image ``b`` into ``out[b]`` using the scratch arrays; return dropped events.

    The events are first sorted (stable counting sort) into buckets of the ``n2`` voxels
    that share ``(i0, i1)``; each bucket is then accumulated in a small accumulator that stays
    in the L1 cache and written into its contiguous piece of the image.  The per-voxel order
    of the updates is the input order, so the results are those of boost-histogram bit for
    bit.  Each bucket's piece of the image is filled with the fill values just before its
    voxels are written, unless ``zeroed`` says that ``out`` was allocated zero-filled and
    every fill value is 0.
    """
    bkt, loc, cnt, sloc, sx, sw, la, lt = scratch
    n1, n2 = nb[1], nb[2]
    nbkt = nb[0] * n1
    nch = len(ch_group)
    bg0 = (n_groups - 1) * n2
    ns = off[b + 1] - off[b]
    _keys(cl, ck, chi, flav, off[b], off[b + 1], 0, split, lo, width, nb, per, n_groups,
          bkt, loc, 0)
    nbg = 0
    if len(boff) > 0:
        nbg = boff[b + 1] - boff[b]
        _keys(bcl, bck, bchi, flav, boff[b], boff[b + 1], n_groups - 1, False, lo, width, nb,
              per, n_groups, bkt, loc, ns)
    cnt[:] = 0
    for k in range(ns + nbg):
        r = bkt[k]
        if r >= 0:
            cnt[r + 1] += 1
    for r in range(nbkt):
        cnt[r + 1] += cnt[r]
    any_weights = len(w) > 0 or len(bw) > 0
    bsc = bscale[b] if nbg > 0 else 1.0
    nd = _scatter(q2, w, off[b], off[b + 1], 1.0, q2_off, q2_scale, bkt, loc, 0, cnt,
                  sloc, sx, sw, any_weights)
    if nbg > 0:
        nd += _scatter(bq2, bw, boff[b], boff[b + 1], bsc, q2_off, q2_scale, bkt, loc,
                       ns, cnt, sloc, sx, sw, any_weights)
    # cnt[r] is now the end of bucket r (the start of bucket r + 1)
    row = out[b]
    seg = n2 * nch
    fill = np.empty(seg, row.dtype)
    for j in range(seg):
        fill[j] = ch_fill[j % nch]
    a = 0
    for r in range(nbkt):
        z = cnt[r]
        if not zeroed:
            # fill the bucket's contiguous piece of the image just before its voxels land
            o = r * seg
            for j in range(seg):
                row[o + j] = fill[j]
        if z == a:
            continue
        nt = _bucket(a, z, sloc, sx, sw, la, lt, any_weights, bg0, bsc)
        a = z
        base = r * n2
        for k in range(nt):
            slot = lt[k]
            g = 0
            i2 = slot
            while i2 >= n2:
                i2 -= n2
                g += 1
            v = base + i2
            s = la[slot, 0]
            for c in range(nch):
                if ch_group[c] != g:
                    continue
                st = ch_stat[c]
                if st == 0:
                    val = la[slot, 1]
                elif st == 1:
                    val = s
                elif st == 2:
                    val = 1.0
                else:
                    val = math.sqrt(max(la[slot, 2], 0.0) / s)
                row[v * nch + c] = val
            la[slot, 0] = 0.0
            la[slot, 1] = 0.0
            la[slot, 2] = 0.0
    return nd


@njit(cache=True, nogil=True)
def _scratch(nb, n_groups, max_events):
    """Per-thread scratch arrays of :func:`_one_image`."""
    nbkt = nb[0] * nb[1]
    nloc = nb[2] * n_groups
    return (np.empty(max_events, np.int32), np.empty(max_events, np.int32),
            np.zeros(nbkt + 1, np.int64), np.empty(max_events, np.int32),
            np.empty(max_events), np.empty(max_events), np.zeros((nloc, 3)),
            np.empty(nloc + 1, np.int32))


@njit(cache=True, nogil=True, parallel=True)
def _voxelize_kernel(cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
                     lo, width, nb, per, q2_off, q2_scale, split, n_groups,
                     ch_group, ch_stat, ch_fill, max_events, n_blocks, out, zeroed):
    """Voxelise every image, threads over ``n_blocks`` contiguous blocks of images."""
    n_img = len(off) - 1
    dropped = np.zeros(n_img, np.int64)
    for blk in prange(n_blocks):
        first = blk * n_img // n_blocks
        last = (blk + 1) * n_img // n_blocks
        scratch = _scratch(nb, n_groups, max_events)
        for b in range(first, last):
            dropped[b] = _one_image(
                b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
                lo, width, nb, per, q2_off, q2_scale, split, n_groups, ch_group, ch_stat,
                ch_fill, scratch, out, zeroed)
    return dropped


@njit(cache=True, nogil=True)
def _voxelize_kernel_serial(cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff,
                            bscale, lo, width, nb, per, q2_off, q2_scale, split, n_groups,
                            ch_group, ch_stat, ch_fill, max_events, n_blocks, out,
                            zeroed):
    """Single-threaded twin of :func:`_voxelize_kernel` (no thread start-up or barrier)."""
    n_img = len(off) - 1
    dropped = np.zeros(n_img, np.int64)
    scratch = _scratch(nb, n_groups, max_events)
    for b in range(n_img):
        dropped[b] = _one_image(
            b, cl, ck, chi, q2, w, flav, off, bcl, bck, bchi, bq2, bw, boff, bscale,
            lo, width, nb, per, q2_off, q2_scale, split, n_groups, ch_group, ch_stat,
            ch_fill, scratch, out, zeroed)
    return dropped
