# Device-side check of learning on the board (m2v.Index.add, m2v.ClassMeans),
# unchanged on the unix port and on a board. Data root: the first of /rom, .
# that holds grow.m2vi (a version 2 index built on the host). Arguments: the
# scan ("native" or "py": m2v.use). Where the working directory is writable the index
# is copied to work.m2vi and grown there through the file API; a board with
# no writable filesystem grows a copy held in RAM behind the same file
# methods. Adds every line of <root>/adds.jsonl ([label, text or vector]),
# removes two labels and adds again, then prints per line of
# <root>/queries.jsonl the index's top 5 (entry, score, label); then learns
# the class-means lines of <root>/learn.jsonl into an empty class-means file,
# forgets a class and prints its prediction per query. The host
# checks every line (tests/test_learn_device.py).
import json
import os
import sys

import m2v
import m2v._rows as rows
import m2v.classmeans as cm
from m2v._open import crc_fn


class RamFile:
    # a binary file in RAM: what Index needs (readinto, read, write, seek,
    # flush); room: bytes reserved for growth, so that appends do not copy
    def __init__(self, data, room=0):
        self.b = bytearray(len(data) + room)
        self.b[: len(data)] = data
        self.n = len(data)
        self.p = 0

    def readinto(self, buf):
        n = min(len(buf), self.n - self.p)
        buf[:n] = memoryview(self.b)[self.p : self.p + n]  # no copy of the bytes on the heap
        self.p += n
        return n

    def read(self, n=-1):
        end = self.n if n < 0 else min(self.n, self.p + n)
        out = bytes(self.b[self.p : end])
        self.p = end
        return out

    def write(self, data):
        end = self.p + len(data)
        if end > len(self.b):
            self.b.extend(bytes(end - len(self.b)))
        self.b[self.p : end] = data
        self.p = end
        self.n = max(self.n, end)
        return len(data)

    def seek(self, off, whence=0):
        self.p = off if whence == 0 else self.n + off if whence == 2 else self.p + off
        return self.p

    def tell(self):
        return self.p

    def flush(self):
        pass

    def close(self):
        pass


def _root():
    for r in ("/rom", "."):
        try:
            os.stat(r + "/grow.m2vi")
            return r
        except OSError:
            pass
    raise OSError("no grow.m2vi in /rom or .")


def _lines(path):
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def _storage(name, data):
    # (the object Index opens, a function returning the file's bytes)
    try:
        with open(name, "wb") as f:
            f.write(data)
    except OSError:
        r = RamFile(data)
        return r, lambda: r.b[: r.n]
    return name, lambda: open(name, "rb").read()


root = _root()
impl = sys.argv[1] if len(sys.argv) > 1 else "native"
m2v.use(impl)
print("impl scan=" + ("py" if rows.scan() is rows._scan_py else "native"))
model = m2v.load(root + "/model.m2v")
crc32 = crc_fn()
with open(root + "/grow.m2vi", "rb") as f:
    src, content = _storage("work.m2vi", f.read())
idx = m2v.Index(src, model=model, mode="file")
print("count", len(idx))
adds = _lines(root + "/adds.jsonl")
for label, item in adds:
    print("add", idx.add(item, label))
print("remove", idx.remove("vec"), idx.remove(adds[0][0]), idx.remove("no such label"))
print("add", idx.add(adds[0][1], adds[0][0]), len(idx))  # a removed label comes back
print("file %08x" % (crc32(content()) & 0xFFFFFFFF))
queries = _lines(root + "/queries.jsonl")
for q in queries:
    print(json.dumps([[s, i, idx.label(i)] for s, i in idx.search_ids(q, 5)]))
idx.close()
src, content = _storage("work.m2vc", cm.create(None, model, 0.5))
clf = m2v.ClassMeans(src, model=model, mode="file")
learn = _lines(root + "/learn.jsonl")
for label, item in learn:
    clf.learn(item, label)
print("forget", clf.forget(learn[0][0]), len(clf.classes))
print("classmeans %08x" % (crc32(content()) & 0xFFFFFFFF))
for q in queries:
    print(json.dumps(list(clf.predict(q))))
print("learn: %d queries" % len(queries))
