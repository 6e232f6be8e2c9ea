"""The tokenizer and the choice of implementation per stage (device/m2v/tok.py)."""

from __future__ import annotations

from typing import Any

VIPER: bool
"""True where the port runs native code (sys.implementation._mpy names an architecture)."""
pool: Any
"""The pooling loops that run (m2v.pool.use), chosen by the first load."""
fast: Any
"""The C core's one-call embed when it runs both stages, else None."""

def core(kind: str | None, stage: int) -> Any:
    """The core module of kind ("native", "viper", "py"; None: the fastest) for stage 0 or 1."""

def get_fast() -> Any:
    """The C core's one-call embed, or None."""

def use_pool(kind: str | None) -> None:
    """Select the pooling loops (m2v.pool.use)."""

def file_core() -> Any:
    """The tokenizer core that reads through the file-mode page cache."""

def use(impl: str | None) -> None:
    """Select the tokenizer hot path: "native", "viper" or "py" (bit-identical)."""

class Tokenizer:
    """A model's tokenizer state; bufs: tables read as buffers; accel: heap the C core spends on speed."""

    bufs: bool
    accel: int
    def __init__(self, m: Any) -> None: ...
    def flush(self) -> None:
        """Pool the tokens batched so far."""
    def run(self, text: str, sink: Any, resume: bool = False) -> None:
        """Tokenize text, handing each token to sink."""
