"""A classifier that learns on the board: class means of a few examples (device/m2v/classmeans.py)."""

from __future__ import annotations

from typing import Any

from . import index as _index

def isqrt(n: int) -> int:
    """floor(sqrt(n)), as math.isqrt."""

def threshold_for(min_cos: float, out_shift: int, score_shift: int) -> int:
    """The integer threshold for a cosine (to 1/1000)."""

def create(path: str | None, model: Any = None, min_cos: float = 0.5, center: Any = None, label_max: int = 32) -> Any:
    """Write an empty class-means file at path (replacing it) rejecting below min_cos; path None: its bytes."""

class ClassMeans(_index.Index):
    """learn(text or vector, label) on the board; predict(text or vector) -> (label or None, score)."""

    classes: list[str]
    """The class labels, in order of their first example."""
    def __init__(self, path: Any, model: Any = None, mode: str | None = None, check_crc: bool = True,
                 buf_bytes: int = 4096) -> None: ...
    def learn(self, item: Any, label: str) -> int:
        """Add an example of class label (appended, power-loss safe); its entry number."""
    def forget(self, label: str) -> int:
        """Remove the class label and its examples; how many it had."""
    def scores_list(self, query: Any) -> list[int]:
        """The integer score of every class, in class order."""
    def scores(self, query: Any) -> list[tuple[str, int]]:
        """(label, score) for every class, in class order."""
    def predict(self, query: Any) -> tuple[str | None, int]:
        """(label, score) of the best class, or (None, score) below the threshold."""
    # the index's, inherited: the examples are its entries
    def add(self, item: Any, label: str) -> int:
        """learn."""
    def remove(self, label: str) -> int:
        """forget."""
    def search_ids(self, query: Any, k: int = 5) -> list[tuple[int, int]]:
        """Index.search_ids: the k nearest examples (score, entry)."""
    def search(self, query: Any, k: int = 5) -> list[tuple[int, str]]:
        """Index.search: the k nearest examples (score, label)."""
    def label(self, i: int) -> str:
        """The label of example i."""
    def cosine(self, score: int) -> float:
        """An example's score as an approximate cosine."""
    def close(self) -> None:
        """Close the file (file mode)."""
