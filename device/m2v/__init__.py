"""Model2Vec static text embeddings on MicroPython.

    import m2v
    v = m2v.embed("turn on the kitchen lights")   # array('h'), unit vector in Q14
    m2v.similarity(v, m2v.embed("lights on in the kitchen")) / 2**28   # cosine

m2v.load(path) opens another model; by default the board's model is used:
/rom/model.m2v (ROMFS, read in place), else /model.m2v (file, streamed: make
flash puts it there), else model.m2v in a lib folder of sys.path (/lib/model.m2v:
where mpremote mip installs firmware_assets/package.json).
"""

from .model import _LOADING, Model, _enter, _leave, _once

__version__ = "0.1.0"  # the release (host_tools.__version__; tests/test_release.py)

# "model.m2v" (relative to the working directory) serves the unix-port virtual
# board (scripts/vboard.py), whose filesystem root is a host directory.
DEFAULT_PATHS = ("/rom/model.m2v", "/model.m2v", "model.m2v")
_default = None


def load(path=None, check_crc=True, mode=None, ram=None):
    # path None: the board's default model. mode "buf" maps a ROMFS file (or
    # reads a small file into RAM) as a buffer; "file" streams; None picks
    # "buf" for /rom paths and "file" elsewhere. ram: in file mode, heap bytes
    # the model may spend on speed: the tokenizer's most read tables, the C
    # core's finer samples, a page cache, a row cache, and once they fit all of
    # the tables (model.ram_need bytes: 87 KB for the default model; then
    # tokenizing runs as fast as in ROMFS, the records and centroid rows still
    # streamed). ram=None (the default): a share of the heap free at load
    # that leaves most of it to the application (_load.py share(), docs/BOARDS.md
    # "Memory on the board"); ram=0: the smallest footprint (a 512-byte page cache).
    # check_crc=False skips the
    # CRC-32 pass (about 0.7 MB read) on boards where it is slow: the header,
    # section table and sizes are still checked, but the contents of the
    # tables are trusted (a damaged table may give a wrong vector).
    # A corrupt, truncated or foreign file raises ValueError.
    return _one(Model, path, check_crc, mode, ram)


def use(kind=None):
    # Which implementation runs the hot paths, the tokenizer, pooling and the row scans of
    # Index and Classifier together: "native", the C core (ValueError, with the reason,
    # where it does not load); "py", the pure-Python twins (bit-identical: the oracle);
    # None (the default), the C core where it loads, else the twins, said in one line at
    # the next load and in model.impl. Models loaded before and after run it. One at a time
    # with the loads (m2v/_setup.py's select, imported for the call).
    _one(_once, "select", kind)


def _one(f, *a):
    # f(*a), one load at a time (m2v/model.py, docs/THREADS.md)
    _enter(_LOADING)
    try:
        return f(*a)
    finally:
        _leave(_LOADING)


def _first():
    global _default
    if _default is None:  # else another thread loaded it meanwhile
        _default = Model()


def _model():
    if _default is None:
        _one(_first)
    return _default


def embed(text):
    return _model().embed(text)


def tokenize(text):
    return _model().tokenize(text)


def similarity(a, b):
    # Integer dot product of two Q14 unit vectors: cosine * 2**28.
    if len(a) != len(b):
        raise ValueError("vectors differ in length")
    s = 0
    for i in range(len(a)):
        s += a[i] * b[i]
    return s


def Index(*args, **kw):  # semantic search over an index file: m2v/index.py
    from .index import Index as _I
    return _I(*args, **kw)


def Classifier(*args, **kw):  # text classification with a head trained on the host: m2v/classifier.py
    from .classifier import Classifier as _C
    return _C(*args, **kw)


def ClassMeans(*args, **kw):  # a classifier that learns on the board: m2v/classmeans.py
    from .classmeans import ClassMeans as _M
    return _M(*args, **kw)
