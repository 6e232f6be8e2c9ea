"""The model: loading, tokenizing and embedding (device/m2v/model.py)."""

from __future__ import annotations

from array import array
from typing import Any

PS: int
"""log2 of the file-mode page size (64-byte pages)."""
WAYS: int
"""The slots of a set in a page cache of 16 to 64 slots (first in, first out)."""
WAYS_FROM: int
"""From this many slots up a page cache has sets of WAYS ways (below DIRECT)."""
DIRECT: int
"""From this many slots up a page cache is direct-mapped (one slot a set), as are caches of 8 slots or fewer."""
tok: Any
"""m2v.tok, imported by the first load."""

class PageCache:
    """The file-mode page cache: 64-byte pages read on a miss."""

class FileSection:
    """A section of a model file read through the page cache, indexed like a buffer."""

    cache: PageCache
    off: int
    size: int
    def __init__(self, cache: PageCache, off: int, size: int) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> int: ...

class Model:
    """A loaded m2v model (m2v.load)."""

    dims: int
    """Dimensions of a vector (256 for the default model)."""
    impl: dict[str, str | None]
    """The kind that ran per stage in the last call: {"tok", "pool", "loop"} -> "native", "py"."""
    tok: Any
    """The model's tokenizer (m2v.tok.Tokenizer): .accel, the heap the C core spends on speed."""
    ram_need: int
    """Heap bytes the tokenizer's tables take in RAM (file mode)."""
    ram_tables: int
    """Heap bytes of tables read into RAM at load (0: read through the page cache)."""
    cache_bytes: int
    """Heap bytes of the page cache (file mode)."""
    def __init__(self, src: Any = None, check_crc: bool = True, mode: str | None = None,
                 ram: int | None = None) -> None: ...
    def token(self, tid: int, row: int, code: int) -> None:
        """embed()'s sink: add one token's weighted centroid row to the accumulator."""
    def tokenize(self, text: str) -> list[int]:
        """The text's token ids (str only: bytes raise TypeError)."""
    def embed_into(self, text: str, out: Any) -> Any:
        """Embed into a caller-owned array('h', dims values); return out."""
    def embed(self, text: str) -> array:
        """The text's vector: array('h') of dims values, a unit vector in Q14 (zero for empty text)."""
    def close(self) -> None:
        """Close the model's file (file mode)."""
