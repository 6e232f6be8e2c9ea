"""The tokenizer and the hot paths' kind (device/m2v/tok.py; m2v.use sets it, through m2v/_setup.py)."""

from __future__ import annotations

from typing import Any

C: Any
"""The C core's module once looked up; False where none loads."""
why: str | None
"""Why no C core loads (None when one does)."""
kind: str | None
"""The kind that runs: "native" or "py" (None before the first selection)."""
core: Any
"""The tokenizer's hot path of that kind: the C core or m2v._tok_py."""
pool: Any
"""The pooling loops of that kind: the C core or m2v._pool_py."""
fast: Any
"""The C core's one-call embed when "native" runs, else None."""
note: str | None
"""The line the next model load prints when the C core did not load (kind None)."""

def native() -> Any:
    """The C core's module (built-in _m2v_native, m2v._native, m2v._native_<arch>), or False (see why)."""

class Tokenizer:
    """A model's tokenizer state; accel: heap the C core spends on speed."""

    accel: int
    def __init__(self, m: Any) -> None: ...
    def flush(self) -> None:
        """Pool the tokens batched so far."""
    def run(self, text: str, sink: Any, resume: bool = False) -> None:
        """Tokenize text, handing each token to sink."""
