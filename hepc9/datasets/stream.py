"""Numpy batch sources for training: fresh images from the sampler, or a stored dataset.

Both sources are indexable by ``(epoch, batch)`` and deterministic in it, which is what a
``keras.utils.PyDataset`` wrapper (in :mod:`hepc9.train`) needs; neither imports Keras.

* :class:`ImageStream` draws every batch from the sampler on the fly, so training data need
  not be stored (paper scale is ≈ 2×10⁹ events).  Batch ``b`` of epoch ``e`` uses the stream
  ``SeedSequence(seed, spawn_key=(stage "stream", 0, e, b))``: child 0 draws the labels (from
  the grid, or uniformly on an interval — on its ``prior_step`` lattice — for continuous
  labels, by default the ``[datasets] prior``) and then, with ``[datasets]
  background_fraction_range``, each item's background fraction; child 1 the events of the
  batch (:meth:`~hepc9.simulation.EventFactory.draw_items`), or child ``1 + i`` those of
  image ``i`` when fractions vary.  Images never share events, and batches of different
  keys (training epochs, the two validation splits) are independent.
* :class:`DatasetBatches` reads shuffled batches from memory-mapped chunks (float16 on disk,
  float32 per batch); the permutation of epoch ``e`` comes from the keys ``(1, e)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from hepc9.datasets.labels import label_grid
from hepc9.datasets.sets import SetSpec, make_sets
from hepc9.datasets.store import Dataset
from hepc9.datasets.voxelize import AXES, ImageSpec, voxelize_batch
from hepc9.errors import ConfigError
from hepc9.seeding import seed_sequence
from hepc9.simulation import EventFactory, child

__all__ = ["DatasetBatches", "ImageStream"]



def _voxelize_parts(parts: Sequence[Any], spec: ImageSpec, threads: int) -> np.ndarray:
    """Voxelise one image per drawn part in a single :func:`voxelize_batch` call.

    The parts' events are concatenated and cut by offsets, so the images of a batch are
    made in parallel (images are independent: the result is that of one call per part).
    """
    names = [c for c in (*AXES, "q2", "flavour") if c in parts[0].signal]
    sig = {c: np.concatenate([p.signal[c] for p in parts]) for c in names}
    off = np.cumsum([0] + [len(p.signal[AXES[0]]) for p in parts])
    kw: dict[str, Any] = {}
    if spec.uses_background and all(p.background is not None for p in parts):
        bnames = [c for c in (*AXES, "q2") if c in parts[0].background]
        cuts = [slice(int(p.background_offsets[0]), int(p.background_offsets[-1])) for p in parts]
        kw = {
            "background": {c: np.concatenate([p.background[c][cut]
                                              for p, cut in zip(parts, cuts, strict=True)])
                           for c in bnames},
            "background_offsets": np.cumsum(
                [0] + [int(p.background_offsets[-1] - p.background_offsets[0]) for p in parts]),
            "background_scale": np.concatenate([p.background_scale for p in parts]),
        }
    out = voxelize_batch(sig, spec, offsets=off, threads=threads, **kw)
    assert isinstance(out, np.ndarray)  # no return_dropped: images only
    return out

class ImageStream:
    """Endless fresh images (or event sets) with their δC9 labels.

    Parameters
    ----------
    cfg : Config
        Resolved configuration (sampler, detector and ``[datasets]`` settings, ``seed``).
    spec : ImageSpec or SetSpec
        Geometry/channels or set features with a fixed normalisation (e.g. the ``spec`` of a
        stored dataset, so that streamed and stored items agree).
    batch_size : int
        Items per batch.
    batches_per_epoch : int
        Length of an epoch (``len(stream)``).
    labels : {"grid", "continuous"}, optional
        Draw labels uniformly from the label grid, or uniformly on ``label_range``; default
        from ``[datasets] prior`` (``uniform`` → continuous).
    label_range : (float, float), optional
        Interval of continuous labels; default ``[datasets] prior_range``.  With
        ``[datasets] prior_step`` > 0 the labels are drawn uniformly from the lattice
        ``low + k·step`` inside it (each distinct δC9 costs one sampler table).
    grid : sequence of float, optional
        Label grid; default the ``[datasets]`` grid.
    """

    def __init__(
        self,
        cfg: Any,
        spec: ImageSpec | SetSpec,
        *,
        batch_size: int,
        batches_per_epoch: int,
        labels: str | None = None,
        label_range: tuple[float, float] | None = None,
        grid: Sequence[float] | None = None,
    ) -> None:
        if batch_size <= 0 or batches_per_epoch <= 0:
            raise ConfigError("batch_size and batches_per_epoch must be positive")
        d = cfg.datasets
        if labels is None:
            labels = "continuous" if getattr(d, "prior", "grid") == "uniform" else "grid"
        if labels not in ("grid", "continuous"):
            raise ConfigError(f"labels = {labels!r} must be 'grid' or 'continuous'")
        self.cfg = cfg
        self.spec = spec
        self.batch_size = int(batch_size)
        self.batches_per_epoch = int(batches_per_epoch)
        self.labels = labels
        self.grid = (np.asarray(grid, np.float64) if grid is not None
                     else label_grid(d.grid, d.labels))
        if label_range is None:
            label_range = (tuple(getattr(d, "prior_range", ())) if labels == "continuous"
                           else ()) or (self.grid.min(), self.grid.max())
        lo, hi = label_range
        if not lo < hi and labels == "continuous":
            raise ConfigError(f"label_range ({lo}, {hi}) must have low below high")
        self.label_range = (float(lo), float(hi))
        step = float(getattr(d, "prior_step", 0.0)) if labels == "continuous" else 0.0
        #: lattice of continuous labels (``[datasets] prior_step``); ``None``: continuous
        self.step = step
        self.lattice = (None if step <= 0.0 else
                        lo + step * np.arange(int(np.floor((hi - lo) / step + 1e-9)) + 1))
        self.factory = EventFactory(cfg)
        fr = tuple(getattr(d, "background_fraction_range", ()))
        self.background_range = (tuple(float(f) for f in fr)
                                 if fr and self.factory.background else None)
        self._factories: dict[int, EventFactory] = {}

    @property
    def prior(self) -> dict[str, float] | None:
        """``{"low", "high"}`` of continuous labels, ``None`` for grid labels."""
        if self.labels != "continuous":
            return None
        out = {"low": self.label_range[0], "high": self.label_range[1]}
        if self.lattice is not None:
            out["step"] = self.step
        return out

    @property
    def background_fraction(self) -> str:
        """``"varied"`` when each item draws its background fraction, else ``"fixed"``."""
        return "varied" if self.background_range is not None else "fixed"

    def _factory(self, fraction: float | None) -> EventFactory:
        if fraction is None:
            return self.factory
        chain = dataclasses.replace(self.factory.chain, background_fraction=float(fraction))
        n_bkg = chain.split[1]
        if n_bkg not in self._factories:
            self._factories[n_bkg] = EventFactory(chain)
        return self._factories[n_bkg]

    def __len__(self) -> int:
        return self.batches_per_epoch

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return batch ``index`` of ``epoch`` as ``(x float32, y float32)``.

        Parameters
        ----------
        epoch, index : int
            Non-negative keys of the batch's random stream.

        Returns
        -------
        x : ndarray
            ``(batch_size, X, Y, Z, C)`` images or ``(batch_size, n, F)`` sets.
        y : ndarray
            ``(batch_size,)`` δC9 labels.
        """
        ss = seed_sequence(self.cfg.seed, "stream", 0, int(epoch), int(index))
        gen = np.random.Generator(np.random.PCG64(child(ss, 0)))
        if self.labels == "grid":
            y = gen.choice(self.grid, size=self.batch_size)
        elif self.lattice is not None:
            y = self.lattice[gen.integers(0, self.lattice.size, size=self.batch_size)]
        else:
            y = gen.uniform(*self.label_range, size=self.batch_size)
        fractions: list[float | None] = [None] * self.batch_size
        if self.background_range is not None:
            lo, hi = self.background_range
            fractions = list(gen.uniform(lo, hi, size=self.batch_size))
        if self.background_range is None:
            # one batched draw: detector and background calls shared by the batch's items
            parts = self.factory.draw_items(child(ss, 1), y)
        else:  # each item's own background fraction: its own factory
            parts = [self._factory(fractions[i]).draw(child(ss, 1 + i), float(y[i]), 1)
                     for i in range(self.batch_size)]
        if isinstance(self.spec, SetSpec):
            x = np.stack([make_sets(p.signal, self.spec, n_sets=1)[0] for p in parts])
        else:
            x = _voxelize_parts(parts, self.spec, self.cfg.datasets.threads)
        return x.astype(np.float32, copy=False), y.astype(np.float32)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = 0
        while True:
            for index in range(self.batches_per_epoch):
                yield self.batch(epoch, index)
            epoch += 1


class DatasetBatches:
    """Shuffled float32 batches from a stored dataset.

    Parameters
    ----------
    dataset : Dataset
        An opened dataset (:func:`hepc9.datasets.store.open_dataset`).
    batch_size : int
        Items per batch.
    shuffle : bool
        Shuffle each epoch (seeded by ``seed`` and the epoch).
    seed : int
        Master seed of the permutations.
    drop_last : bool
        Leave out a final short batch.
    """

    def __init__(self, dataset: Dataset, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if batch_size <= 0:
            raise ConfigError(f"batch_size = {batch_size} must be positive")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_last = drop_last

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """Return the item order of ``epoch``, ``(N,)`` int64."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        gen = np.random.Generator(np.random.PCG64(seed_sequence(self.seed, "stream", 1, epoch)))
        return gen.permutation(n).astype(np.int64)

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return batch ``index`` of ``epoch`` as ``(x float32, y float32)``."""
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (epoch has {len(self)})")
        idx = self.order(epoch)[index * self.batch_size:(index + 1) * self.batch_size]
        return self.dataset.batch(idx)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch = 0
        while True:
            for index in range(len(self)):
                yield self.batch(epoch, index)
            epoch += 1
