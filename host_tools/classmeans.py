"""Class-means classifiers that learn on the board (docs/LEARNING.md): the host twin of ``m2v.ClassMeans``.

A class-means file is a growable index (docs/FORMAT.md, index §6) whose
entries are the examples of the classes, with the threshold field set. The
score of a class is the floor of the mean of its examples' integer index
scores (index §4), that is the query's dot product with the class's mean
vector; the best class wins (ties: the class seen first) unless its score is
below the threshold. This module repeats the board's arithmetic exactly.

    >>> from host_tools.classmeans import ClassMeans, create
    >>> clf = ClassMeans(create(model, min_cos=0.5), model=model)
    >>> clf.learn("lights off please", "lights_off")
    >>> clf.predict("switch off the lamp")          # ("lights_off", score) or (None, score)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from host_tools import index as hindex
from host_tools import reference

MULT_BITS = hindex.MULT_BITS


def threshold_for(min_cos: float, out_shift: int, score_shift: int) -> int:
    """Return the integer threshold for a cosine (to 1/1000), as ``m2v.classmeans.threshold_for`` computes it."""
    return (int(round(min_cos * 1000)) << (2 * out_shift - score_shift)) // 1000


def create(
    model: reference.Reference, min_cos: float = 0.5, center: Sequence[int] | None = None, label_max: int = 32
) -> bytes:
    """Return the bytes of an empty class-means file, equal to ``m2v.classmeans.create`` on the board."""
    d = model.header.dims
    c = np.zeros(d, dtype=np.int64) if center is None else np.asarray(center, dtype=np.int64)
    t = hindex.grow_shift(int(np.abs(c).max(initial=0)))
    thr = threshold_for(min_cos, model.header.out_shift, t)
    return hindex.assemble(
        np.zeros((0, d), dtype=np.int16), [], out_shift=model.header.out_shift, model_crc32=model.header.crc32,
        grow=True, label_max=label_max, threshold=thr, center=c,
    )  # fmt: skip


class ClassMeans:
    """A class-means file on the host: ``learn``, ``scores`` and ``predict`` as the board computes them."""

    def __init__(self, src: str | Path | bytes, model: str | Path | reference.Reference | None = None) -> None:
        """Read a class-means file (path: :meth:`learn` appends to it; bytes: in memory)."""
        self.index = hindex.Index(src, model=model)
        h = self.index.header
        if h.version != hindex.VERSION_GROW or not h.flags & hindex.FLAG_THRESHOLD:
            raise hindex.IndexFormatError("not a class-means file: an index version 2 with a threshold")
        self.threshold = h.threshold
        self._classes()

    def _classes(self) -> None:
        self.classes: list[str] = []
        self._cls: list[int] = []  # -1: a removed entry
        for i in range(self.index.count):
            if self.index.dead[i]:
                self._cls.append(-1)
            else:
                self._note(self.index.label(i))

    def forget(self, label: str) -> int:
        """Remove the class ``label`` and its examples (``Index.remove``); return how many examples it had."""
        n = self.index.remove(label)
        if n:
            self._classes()
        return n

    def _note(self, label: str) -> None:
        if label not in self.classes:
            self.classes.append(label)
        self._cls.append(self.classes.index(label))

    def learn(self, item: str | Sequence[int] | np.ndarray, label: str) -> int:
        """Add an example of class ``label`` (``Index.add``); return its entry number."""
        n = self.index.add(item, label)
        self._note(label)
        return n

    def norm(self, c: int) -> int:
        """Return ``isqrt(|S_c|^2)``, ``S_c`` the sum of class ``c``'s dequantised entries (FORMAT.md, index §7)."""
        idx, t = self.index, self.index.header.score_shift
        rows = [i for i, k in enumerate(self._cls) if k == c]
        s = sum(idx.center + ((idx.mults[i] * idx.vectors[i]) >> (MULT_BITS - t)) for i in rows)
        return math.isqrt(sum(int(x) * int(x) for x in s))

    def scores_list(self, query: str | Sequence[int] | np.ndarray) -> list[int]:
        """Return the integer score of every class, in class order: ``(Σ score_i << 14) // norm``."""
        if not self.classes:
            raise ValueError("no examples learned yet")
        s = self.index.scores(query)
        cls = np.asarray(self._cls)
        out = []
        for c in range(len(self.classes)):
            n = self.norm(c)
            out.append((int(s[cls == c].sum()) << 14) // n if n else 0)
        return out

    def scores(self, query: str | Sequence[int] | np.ndarray) -> list[tuple[str, int]]:
        """Return ``[(label, score), ...]`` for every class, in class order."""
        return list(zip(self.classes, self.scores_list(query)))

    def predict(self, query: str | Sequence[int] | np.ndarray) -> tuple[str | None, int]:
        """Return the best class and its score (ties: the first seen), or ``(None, score)`` below the threshold."""
        s = self.scores_list(query)
        best = int(np.argmax(s))
        return (None if s[best] < self.threshold else self.classes[best]), s[best]
