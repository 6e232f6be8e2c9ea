"""Semantic search over an index file built on the host, and appending to it on the board (device/m2v/index.py)."""

from __future__ import annotations

from typing import Any

def slot_size(d: int, label_max: int) -> int:
    """Bytes of one appended entry (docs/FORMAT.md, index §6)."""

def grow_shift(center_max: int) -> int:
    """The least score shift at which any Q14 unit vector can be appended."""

def create(path: str | None, model: Any = None, center: Any = None, label_max: int = 32,
           threshold: int | None = None) -> Any:
    """Write an empty growable (version 2) index at path, replacing it; path None: return its bytes."""

class Index:
    """An index of labelled vectors: search(text or vector) -> [(score, label), ...]."""

    count: int
    """Entry numbers in use (len(index): the live entries, without removed ones)."""
    version: int
    """1, or 2: growable (add, remove)."""
    threshold: int | None
    """Version 2: the class-means rejection threshold, or None."""
    torn: int
    """Bytes of an append that did not complete (a power loss): ignored; the next add overwrites them."""
    dims: int
    n_labels: int
    score_shift: int
    def __init__(self, path: Any, model: Any = None, mode: str | None = None, check_crc: bool = True,
                 buf_bytes: int = 4096) -> None: ...
    def search_ids(self, query: Any, k: int = 5) -> list[tuple[int, int]]:
        """The k best (score, entry number), best first; ties: the earlier entry first."""
    def search(self, query: Any, k: int = 5) -> list[tuple[int, str]]:
        """The k best (score, label), best first; query a text or an int16 vector."""
    def label(self, i: int) -> str:
        """The label of entry i."""
    def cosine(self, score: int) -> float:
        """A score as the approximate cosine of query and entry."""
    def add(self, item: Any, label: str) -> int:
        """Append an entry (a text or an int16 vector) with label; flushed, power-loss safe; its entry number."""
    def remove(self, label: str) -> int:
        """Remove every entry with label (a removal slot, power-loss safe); how many it removed."""
    def close(self) -> None:
        """Close the index file (file mode)."""
