# Table-driven CRC-32 (zlib polynomial) for ports built without
# binascii.crc32; m2v._open imports it only then.
from array import array


def crc32(data, crc=0):
    global _T
    if not _T:
        _T = array("I", bytes(1024))
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
            _T[i] = c
    t = _T
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


_T = None
