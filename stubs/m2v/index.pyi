"""Semantic search over an index file built on the host (device/m2v/index.py)."""

from __future__ import annotations

from typing import Any

def use(impl: str | None) -> None:
    """Select the scan loop: "viper" or "py" (bit-identical); None: the fastest this port runs."""

class Index:
    """An index of labelled vectors: search(text or vector) -> [(score, label), ...]."""

    count: int
    """Entries in the index."""
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
    def close(self) -> None:
        """Close the index file (file mode)."""
