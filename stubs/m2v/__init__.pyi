"""
Model2Vec static text embeddings on MicroPython.

    import m2v
    v = m2v.embed("turn on the kitchen lights")   # array('h'), unit vector in Q14
    m2v.similarity(v, m2v.embed("lights on in the kitchen")) / 2**28   # cosine

Type stubs for editors (micropython-stubs layout); the source is device/m2v/.
"""

from __future__ import annotations

from array import array
from typing import Any, Final

from .classifier import Classifier as _Classifier
from .classmeans import ClassMeans as _ClassMeans
from .index import Index as _Index
from .model import Model as Model

__version__: Final[str]
DEFAULT_PATHS: tuple[str, ...]
"""Where load() looks for the board's model, in order: /rom/model.m2v, /model.m2v, model.m2v, then lib folders."""

def load(path: str | None = None, check_crc: bool = True, mode: str | None = None, ram: int | None = None) -> Model:
    """
    Open a model: a path (mode "file" streams it, "buf" maps a ROMFS file or reads it into RAM; None picks
    "buf" for /rom paths), or None for the board's default model. ram (file mode): heap bytes the model may
    spend on speed; None: what the heap spares beyond 48 KiB; 0: the smallest footprint. A corrupt,
    truncated or foreign file raises ValueError.
    """

def use(kind: str | None = None) -> None:
    """The kind of the hot paths (tokenizer, pooling, the row scans of Index and Classifier), all together:
    "native" (the C core; ValueError with the reason where it does not load), "py" (the pure-Python
    twins, bit-identical) or None (the C core where it loads, else the twins, said in one line at load)."""

def embed(text: str) -> array:
    """The text's vector with the default model: array('h') of dims values, a unit vector in Q14."""

def tokenize(text: str) -> list[int]:
    """The text's token ids with the default model (the same as Hugging Face tokenizers')."""

def similarity(a: Any, b: Any) -> int:
    """Integer dot product of two Q14 unit vectors: cosine * 2**28."""

def Index(path: Any, model: Model | None = None, mode: str | None = None, check_crc: bool = True,
          buf_bytes: int = 4096) -> _Index:
    """Open an index file built by `m2v index` for search on the board (m2v.index.Index)."""

def Classifier(path: Any, model: Model | None = None, mode: str | None = None, check_crc: bool = True,
               buf_bytes: int = 1024) -> _Classifier:
    """Open a classifier file built by `m2v classifier` (m2v.classifier.Classifier)."""

def ClassMeans(path: Any, model: Model | None = None, mode: str | None = None, check_crc: bool = True,
               buf_bytes: int = 4096) -> _ClassMeans:
    """Open a class-means file that learns on the board (m2v.classmeans.ClassMeans)."""
