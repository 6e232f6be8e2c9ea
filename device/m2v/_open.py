# Opening an m2v file (a model, an index, or any other reader's) by path and mode,
# and its CRC-32: the model loader's first half (m2v/_header.py) and m2v/_rows.py use
# these.


def open_path(path, mode):
    # The file at path for mode: "buf" gives a buffer (a ROMFS file as a
    # zero-copy memoryview of flash, any other file read into RAM), "file"
    # the open binary file; None picks "buf" for /rom/ paths, else "file".
    if mode not in (None, "buf", "file"):
        raise ValueError("mode must be 'buf' or 'file'")
    f = open(path, "rb")
    if mode == "buf" or mode is None and path.startswith("/rom/"):
        try:
            b = memoryview(f)  # ROMFS
        except TypeError:
            b = f.read()
        f.close()
        return b
    return f


def crc_fn():
    # zlib's CRC-32, crc32(data, start=0): binascii's, else the table-driven twin.
    try:
        from binascii import crc32
    except ImportError:  # a port built without binascii.crc32
        from ._crc import crc32
    return crc32


def crc_of(src, total):
    # CRC-32 (zlib's) of bytes 16..total of src: a buffer, or an open binary
    # file read through one 512-byte buffer.
    crc32 = crc_fn()
    if not hasattr(src, "readinto"):
        return crc32(memoryview(src)[16:total]) & 0xFFFFFFFF
    b = bytearray(512)
    n = total - 16
    src.seek(16)
    c = 0
    while n >= 512:
        src.readinto(b)
        c = crc32(b, c)
        n -= 512
    return crc32(src.read(n), c) & 0xFFFFFFFF
