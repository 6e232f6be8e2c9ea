"""The pooling loops (device/m2v/pool.py)."""

from __future__ import annotations

from typing import Any

def use(impl: str | None) -> None:
    """Select the pooling loops: "native", "viper" or "py" (bit-identical); None: the fastest."""

def loops() -> Any:
    """The module whose pooling loops run."""
