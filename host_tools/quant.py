"""Quantisation: int8 centroid rows with scales, and the weight codebook (docs/FORMAT.md §6)."""

from __future__ import annotations

import numpy as np


def int8_rows(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return int8 rows and one float scale per row.

    An int8 matrix is kept as it is (scale 1); a float matrix gets a symmetric
    per-row scale ``max|row| / 127``. The accumulator bound of FORMAT.md §6
    assumes ``|row| <= 127``, so an int8 row that holds -128 is treated like a
    float row (scale 128/127).
    """
    if emb.dtype == np.int8:
        full = (emb == -128).any(axis=1)
        rows = np.array(emb, dtype=np.int8, order="C")
        scales = np.ones(emb.shape[0], dtype=np.float64)
        if full.any():
            rows[full], scales[full] = int8_rows(emb[full].astype(np.float64))
        return rows, scales
    e = emb.astype(np.float64)
    scale = np.abs(e).max(axis=1) / 127.0
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(e / safe[:, None]), -127, 127).astype(np.int8)
    return q, scale


def codebook(values: np.ndarray, bits: int, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Quantise non-negative ``values`` to ``2**bits`` levels; return ``(levels, codes)``.

    Lloyd's k-means on the logarithms of the distinct values, started from an
    even log grid. Each distinct value counts once, however many tokens share
    it, so the rare small weights get levels too and the worst relative error
    stays near half a grid step (about 2.8 % at 7 bits on the default model).
    Zero gets a level of its own. Deterministic.
    """
    k = 1 << bits
    v = np.asarray(values, dtype=np.float64)
    codes = np.zeros(len(v), dtype=np.int64)
    pos = v > 0
    has_zero = bool((~pos).any())
    k_pos = k - 1 if has_zero else k
    x = np.log(np.unique(v[pos]))
    if len(x) <= k_pos:
        centers = x
    else:
        centers = np.linspace(x.min(), x.max(), k_pos)
        for _ in range(iters):
            idx = np.searchsorted((centers[1:] + centers[:-1]) / 2, x)
            sums = np.bincount(idx, weights=x, minlength=k_pos)
            cnt = np.bincount(idx, minlength=k_pos)
            new = np.sort(np.where(cnt > 0, sums / np.maximum(cnt, 1), centers))
            if np.array_equal(new, centers):
                break
            centers = new
    if len(centers):
        edges = (centers[1:] + centers[:-1]) / 2
        codes[pos] = np.searchsorted(edges, np.log(v[pos])) + (1 if has_zero else 0)
    levels = np.exp(centers)
    table = np.concatenate([[0.0], levels]) if has_zero else levels
    return table, codes
