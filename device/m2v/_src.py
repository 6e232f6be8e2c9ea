# Byte sources for the model: a buffer read in place, or a file read through a
# small page cache. Both index like bytes, so the tokenizer and pooling code
# is the same in both modes.
from micropython import const

_PAGE_BITS = const(7)
_PAGE = const(128)
_NPAGES = const(4)  # 512 bytes of cache, shared by every section of one model


class PageCache:
    def __init__(self, f):
        self.f = f
        self.buf = bytearray(_PAGE * _NPAGES)
        self.mv = memoryview(self.buf)
        self.tags = [-1] * _NPAGES

    def byte(self, pos):
        p = pos >> _PAGE_BITS
        s = p & (_NPAGES - 1)
        if self.tags[s] != p:
            self.f.seek(p << _PAGE_BITS)
            self.f.readinto(self.mv[s * _PAGE : (s + 1) * _PAGE])
            self.tags[s] = p
        return self.buf[(s << _PAGE_BITS) | (pos & (_PAGE - 1))]


class FileSection:
    # Indexable view of one section of a file: s[i] is the byte at offset+i.
    def __init__(self, cache, offset, size):
        self.cache = cache
        self.off = offset
        self.size = size

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        if i < 0 or i >= self.size:
            raise IndexError
        return self.cache.byte(self.off + i)


def u16(b, i):
    return b[i] | (b[i + 1] << 8)


def u32(b, i):
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)


def crc32_file(f, start, end, scratch):
    # CRC-32 of f[start:end] in chunks of len(scratch) bytes.
    try:
        from binascii import crc32
    except ImportError:
        crc32 = _crc32_py
    f.seek(start)
    crc = 0
    left = end - start
    mv = memoryview(scratch)
    while left > 0:
        n = f.readinto(mv[: min(left, len(scratch))])
        if not n:
            break
        crc = crc32(mv[:n], crc)
        left -= n
    return crc & 0xFFFFFFFF, left


def crc32_buf(mv):
    try:
        from binascii import crc32
    except ImportError:
        crc32 = _crc32_py
    return crc32(mv) & 0xFFFFFFFF


_TABLE = None


def _crc32_py(data, crc=0):
    # Table-driven CRC-32 for ports built without binascii.crc32.
    global _TABLE
    if _TABLE is None:
        from array import array

        _TABLE = array("I", [0] * 256)
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            _TABLE[i] = c
    t = _TABLE
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
