"""Text classification with a head trained on the host (device/m2v/classifier.py)."""

from __future__ import annotations

from typing import Any

class Classifier:
    """A linear classifier over the model's vectors: predict(text or vector) -> (label or None, score)."""

    n_classes: int
    dims: int
    score_shift: int
    threshold: int | None
    """Scores below it make predict() answer None (None: no rejection)."""
    def __init__(self, path: Any, model: Any = None, mode: str | None = None, check_crc: bool = True,
                 buf_bytes: int = 1024) -> None: ...
    def scores_into(self, query: Any, out: Any) -> Any:
        """Every class's integer score into a caller-owned array; return out."""
    def predict(self, query: Any) -> tuple[str | None, int]:
        """(label, score) of the best class, or (None, score) below the threshold."""
    def scores(self, query: Any) -> list[tuple[str, int]]:
        """(label, score) for every class, in class order."""
    def label(self, c: int) -> str:
        """The label of class c."""
    def logit(self, score: int) -> float:
        """score / 2**score_shift: the float logit."""
    def close(self) -> None:
        """Close the classifier file (file mode)."""
