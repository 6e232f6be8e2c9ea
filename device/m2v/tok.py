# Tokenizer: BERT normalisation from the model's tables, BERT pre-tokenisation,
# WordPiece greedy longest match on the vocabulary trie (docs/FORMAT.md §3-5).
# The text is read in place through memoryview(str): no copy of the text, no
# list of words; one word (at most max_word_chars code points) is buffered.
# The hot path (ASCII scan, trie walk, records) is in a core module that
# core() below names: C _tok_native.py (the native core) or viper _tok_buf.py
# for buffer/ROMFS models, viper _tok_file.py for file-mode models (through
# the page cache), or their bit-identical pure-Python twin _tok_py.py
# (use("py") or a port without viper). This file drives it and handles the other code points and added
# tokens. Indices into T and c: see _tok_py.py.
import sys
from array import array

from micropython import const

_PKG = __name__[:-4]  # "m2v"

# copies of _tok_py.py's layout of T and c (tests/test_device_layout.py)
_T_WORD = const(9)
_C_HS = const(0)
_C_GS = const(1)
_C_TS = const(2)
_C_SB = const(3)
_C_ESC = const(4)
_C_RB = const(5)
_C_MWC = const(6)
_C_MAXLEN = const(7)
_C_LIMIT = const(8)
_C_ROOM = const(9)
_C_NREC = const(10)
_C_NRUNS = const(11)
_C_RLO = const(12)
_C_RHI = const(13)
_C_RI = const(14)
_C_WN = const(16)
_C_WC = const(17)
_C_COUNT = const(18)
_C_DONE = const(19)
_C_CHARS = const(20)
_C_NOUT = const(21)
_C_I = const(22)
_C_END = const(24)
_C_OHK = const(24)
_C_NND = const(31)
_C_NGS = const(32)
_C_SM = const(33)
_C_IB = const(34)
_C_MB = const(35)
_C_WB = const(36)
_C_DIMS = const(37)
_C_NB = const(38)
_C_Q = const(39)
_C_OCEN = const(40)
_C_NCEN = const(41)
_C_UNK = const(43)
_C_LEN = const(47)
# section ids (docs/FORMAT.md §2), copies of _load.py's
_SYMMAP = const(5)
_NODES = const(6)
_HASKIDS = const(7)
_HRANK = const(8)
_GSTART = const(9)
_TRANK = const(10)
_ADDED = const(4)
_RECORDS = const(11)
_NORM_RUNS = const(2)
_CENTROIDS = const(13)

_BATCH = const(64)  # tokens queued before they are delivered, besides one word's

# ---- which core module runs each hot path: the one seam where an implementation plugs in
# Viper needs the native emitter (.py) or native-code loading (.mpy built with
# -march). A port without them has the native architecture 0 in bits 10-15 of
# sys.implementation._mpy (py/persistentcode.h) and would fail to import a
# viper module: SyntaxError "invalid micropython decorator" (py/compile.c),
# NotImplementedError "cannot emit native code for this architecture", or
# ValueError "native code in .mpy unsupported" (py/persistentcode.c). Such a
# port runs "py" and never imports a viper module; elsewhere the viper cores
# are imported without a try, so a broken one raises: nothing is caught.
VIPER = (getattr(sys.implementation, "_mpy", 0) >> 10) & 63 != 0
# per kind, preferred first, the core module of each stage: 0 the tokenizer on
# buffers (buffer/ROMFS models, file mode with its tables in RAM), 1 the
# tokenizer through the file-mode page cache, 2 pooling, 3 pooling a batch
# through the page cache (None: Model.token pools per token). A native C core
# (device/native, m2v/_native.mpy) is the "native" kind: the tokenizer and
# pooling in C (and the whole of embed() in one call, tok.fast, when both run),
# reading the tables in RAM as buffers and, in file mode, the others through
# the page cache itself; _tok_file only reads records for tokenize() there.
_CORES = (
    ("native", "_tok_native", "_tok_file", "_pool_native", "_pool_native"),
    ("viper", "_tok_buf", "_tok_file", "_pool_viper", "_tok_file"),
    ("py", "_tok_py", "_tok_py", "_pool_py", None),
)
# The C core, looked up once; the first that imports wins: the built-in _m2v_native
# (firmware built with device/native as a user C module: docs/CUSTOM_FIRMWARE.md),
# m2v/_native.mpy (make dist, make flash: the board's one architecture), then
# m2v/_native_<arch>.mpy (the mip package carries every architecture): the board's own,
# then on Thumb the older Thumb ones, which its loader also accepts (armv6m runs on all).
# MP_NATIVE_ARCH_* names by number (py/persistentcode.h; scripts/mpy_arch.py's NATIVE_ARCHS).
_ARCHS = ("", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp", "xtensa",
          "xtensawin", "rv32imc", "rv64imc")  # fmt: skip
C = None  # the C core's module, False where none loads; None: not looked up yet
why = None  # why none loads, for model.impl and the line printed at load


def native():
    # The C core's module, or False (why says why).
    global C, why
    if C is None:
        C = False
        arch = (getattr(sys.implementation, "_mpy", 0) >> 10) & 15
        names = ["_m2v_native", _PKG + "._native"]
        if 4 <= arch <= 8:  # Thumb
            names += [_PKG + "._native_" + _ARCHS[a] for a in range(arch, 3, -1)]
        elif 0 < arch < len(_ARCHS):
            names.append(_PKG + "._native_" + _ARCHS[arch])
        why = "no build of the C core for " + (_ARCHS[arch] if arch else "a port without native code")
        if sys.implementation.version < (1, 24):
            # before v1.24 gc.collect() could free a native .mpy's data (MicroPython's "explicitly
            # track native BSS/rodata"): only a built-in core is safe there
            names = names[:1]
            why = "the C core's .mpy needs MicroPython v1.24 or later"
        for name in names:
            try:
                m = __import__(name)
            except ImportError:  # not in this install
                continue
            except ValueError as e:  # "incompatible .mpy file": firmware older or newer than the build's
                why = name + ": " + str(e)
                continue
            C = sys.modules.get(name, m)  # a built-in module is not in sys.modules (m: a dotted name's package)
            why = None
            break
    return C


def _has(kind):
    # Whether this port and this build of the package run kind.
    if kind == "native":
        return bool(native())
    return kind != "viper" or VIPER


def core(kind, stage):
    # The core module of kind for stage, or None; kind None: the fastest this port runs.
    for row in _CORES:
        if kind is None and _has(row[0]) or row[0] == kind:
            if not _has(row[0]):
                why = " is not in this build of the package" if VIPER else " is not available on this port"
                raise ValueError(row[0] + why)
            name = row[1 + stage]
            if name is None:
                return None
            name = _PKG + "." + name
            __import__(name)
            return sys.modules[name]
    raise ValueError("impl must be 'native', 'viper' or 'py'")


pool = None  # the pooling loops that run (_pool_viper or _pool_py; m2v.pool.use), chosen by the first load
_file = 0  # their kind's module with acc_recs_f (file mode) or None; 0: not looked up yet


fast = None  # the native core's embed() (a whole embed in one call), when it runs both stages; else None


def _set_fast():
    global fast
    fast = None
    if pool is not None and pool.IMPL == "native" and (_kind == "native" or _kind is None and _has("native")):
        fast = True


def get_fast():
    # fast, looked up (Model.embed_into, on its first C embed) in the C core itself, which
    # the native pooling has imported: no module to import while the application's text
    # takes the heap
    global fast
    if fast is True:
        fast = C.embed
    return fast


def use_pool(kind):
    # m2v.pool.use(kind): the loops of kind, imported here.
    global pool, _file
    pool = core(kind, 2)
    _file = 0
    _set_fast()


def file_core():
    # The module whose acc_recs_f pools a batch through the page cache (file
    # mode) for the selected pooling kind, or None: then Model.token pools per
    # token. Looked up on first use, so buffer models do not import it.
    global _file
    if _file == 0:
        _file = core(pool.IMPL, 3)
    return _file


_kind = None  # the kind use() selected; None: the fastest this port runs
_mods = [None, None]  # its core modules for buffers and for the page cache, once imported


def _get(k):
    # The selected kind's core for k: 0 tables as buffers, 1 through the page cache.
    m = _mods[k]
    if m is None:
        m = _mods[k] = core(_kind, k)
    return m


def use(impl):
    # Select the tokenizer hot path: "viper" (_tok_buf.py for buffer/ROMFS
    # models and tables in RAM, _tok_file.py through the file-mode page
    # cache) or "py" (_tok_py.py for both). Bit-identical; tests run both.
    # Both cores of the kind are imported here: a broken one raises.
    global _kind
    _mods[0], _mods[1] = core(impl, 0), core(impl, 1)
    _kind = impl
    _set_fast()


_norm_mod = None  # m2v._tok_norm, once imported


class Tokenizer:
    def __init__(self, m):
        self.m = m
        mwc = m.max_word_chars
        # OUT holds one word's pieces (<= max_word_chars) on top of a batch
        self.out = array("i", bytes(4 * (mwc + _BATCH + 2)))
        t = m._s  # the sections by id
        pc = m.cache
        cen = t[_CENTROIDS]
        # one list, allocated once (T's layout: _tok_py.py): the tables and scratch buffers;
        # file mode's page cache; T[ACCEL] (the native core's, see below); what the native
        # core's embed() pools with (in file mode the rows are read into the cache's row buffer)
        self.T = [m.ascii, t[_SYMMAP], t[_NODES], t[_HASKIDS], t[_HRANK], t[_GSTART], t[_TRANK], m.records,
                  m.added_first, bytearray(4 * mwc + 8), self.out, m.runs,
                  pc and pc.buf, pc and pc.tags, pc and pc.file, pc and pc.slots,
                  None, m.acc, None if pc else cen, m.wcodes, pc and pc.row, None, m.pool, t[_ADDED]]  # fmt: skip
        c = array("i", bytes(4 * _C_LEN))
        c[_C_HS], c[_C_GS], c[_C_TS], c[_C_SB] = m.h_shift, m.g_shift, m.t_shift, m.sample_bytes
        c[_C_ESC], c[_C_RB], c[_C_MWC] = m.esc_base, m.rec_bits, mwc
        c[_C_MAXLEN], c[_C_LIMIT], c[_C_ROOM] = m.max_length, m.pretrunc_chars, _BATCH - 1
        c[_C_NREC] = len(m.records)
        c[_C_NRUNS] = len(m.runs) // 6
        self.c = c
        # _tok_buf needs every tokenizer table as a buffer: true for buffer/ROMFS
        # models and for file-mode models with all their tables in RAM; other file-mode
        # models give _tok_file the page cache and the sections' offsets, which
        # it also uses for the records (streamed in file mode whatever ram is). The
        # native core reads either: the tables in RAM as buffers, the others through the cache.
        self.bufs = not pc or m.ram_tables == m.ram_need
        if pc:
            c[_C_SM] = pc.sm
            # the sections' file offsets in slots C_OHK..C_ORU, in their order
            # there (_tok_file reads every table through the cache, in RAM or not:
            # m.offs when some are in RAM)
            k = _C_OHK
            offs = getattr(m, "offs", None)
            for x in (_HASKIDS, _HRANK, _GSTART, _NODES, _TRANK, _RECORDS, _NORM_RUNS):
                c[k] = offs[x - 1] if offs else getattr(t[x], "off", -1)
                k += 1
            c[_C_NND], c[_C_NGS] = len(t[_NODES]), len(t[_GSTART])
            c[_C_OCEN] = cen.off
        c[_C_IB], c[_C_MB], c[_C_WB], c[_C_DIMS] = m.id_bits, m.map_bits, m.weight_bits, m.dims
        c[_C_NB], c[_C_Q], c[_C_NCEN], c[_C_UNK] = m.norm_bits, m.out_shift, m.n_centroids, m.unk_id
        # bytes of the native core's RAM tables and row cache (model.tok.accel), for the
        # kinds selected now (tok.use, pool.use before the load): none for another kind
        self.accel = 0
        ntok = _kind == "native" or _kind is None and _has("native")
        npool = pool is not None and pool.IMPL == "native"
        spare = 0
        if ntok or npool:
            spare = m.ram_left  # file mode: what the budget (ram=, or its share) leaves; None: a buffer model
        if spare is None or spare > 0:
            # m2v/_spend.py decides and allocates, then leaves the heap (as _load.py does)
            name = _PKG + "._spend"
            __import__(name)
            sys.modules[name].spend(self, m, ntok, npool, spare)
            del sys.modules[name]
            delattr(sys.modules[_PKG], "_spend")
        self.cen = cen  # CENTROIDS, for the pooling of the model's own sink (_deliver)
        self.sink = None
        self._core = None  # the core that reads the tables, set per run

    # ---- normaliser (docs/FORMAT.md §3): see _tok_py.find_run
    def _find_run(self, cp):
        c = self.c
        if c[_C_RLO] <= cp < c[_C_RHI]:
            return c[_C_RI]
        return self._core.find_run(self.T, c, cp)

    # ---- words
    def _put(self, cp):
        # Append one code point to the current word as UTF-8 (a cold path:
        # MicroPython's own encoder; the cores' scans inline theirs).
        c = self.c
        wc = c[_C_WC] + 1
        c[_C_WC] = wc
        if wc > self.m.max_word_chars:
            return  # the word will be [UNK]; its bytes are not needed
        b = chr(cp).encode()
        n = c[_C_WN]
        self.T[_T_WORD][n : n + len(b)] = b
        c[_C_WN] = n + len(b)

    def _out(self, cp, iso):
        if iso:
            self.flush()
            self._put(cp)
            self.flush()
        else:
            self._put(cp)

    def flush(self):
        # End the current word; its tokens are queued in OUT.
        if self.c[_C_NOUT] > self.c[_C_ROOM]:
            self._deliver()
        self._flush(self.T, self.c)

    def _deliver(self):
        # Hand the queued records to the sink.
        c = self.c
        n = c[_C_NOUT]
        if not n:
            return
        c[_C_NOUT] = 0
        m = self.m
        sink = self.sink
        out = self.out
        rb, ib, mb, wb = m.rec_bits, m.id_bits, m.map_bits, m.weight_bits
        pc = m.cache
        if sink is self.pool_sink:
            # the model's own embed() sink: pool the whole batch in one call
            # (the same sums as Model.token, without a call per token)
            if not pc:
                pool.acc_recs(m.acc, self.cen, m.records, out, n, m.wcodes, rb, ib, mb, wb, m.dims)
                return
            # file mode: the pooling kind's batch loop through the page cache, if it has one
            fp = file_core()
            if fp:
                fp.acc_recs_f(self.T, c, m.acc, pc.file, pc.row, self.cen.off, n, m.wcodes, ib, mb, wb, m.dims,
                              m.n_centroids)
                return
        # the records are streamed in file mode whatever ram is: the file core reads them
        field = _get(1 if pc else 0).field
        T = self.T
        if type(sink) is list:  # tokenize(): the ids only
            for k in range(n):
                sink.append(field(T, c, out[k] * rb, ib))
            return
        for k in range(n):
            pos = out[k] * rb
            sink.token(field(T, c, pos, ib), field(T, c, pos + ib, mb), field(T, c, pos + ib + mb, wb))

    def _norm(self, cp):
        # Normalise one code point >= 0x80 through NORM_RUNS (m2v/_tok_norm.py: the cold
        # path of the kinds the cores' scans leave to Python, imported on first use so that
        # its code is not in the heap of a model whose texts never need it)
        global _norm_mod
        if _norm_mod is None:
            _norm_mod = __import__(_PKG + "._tok_norm", None, None, ("norm",))
        _norm_mod.norm(self, cp)

    def _added_at(self, mv, i, nbytes, chars_left):
        # Length in bytes of the added token starting at byte i, or 0.
        for tok, tchars, tid, row, code in self.m.added:
            n = len(tok)
            if n > nbytes - i or tchars > chars_left:
                continue
            k = 0
            while k < n and mv[i + k] == tok[k]:
                k += 1
            if k == n:
                return n, tchars, tid, row, code
        return None

    def run(self, text, sink, resume=False):
        # Tokenise text, calling sink.token(id, row, code) for every kept token
        # (a list as the sink: the ids are appended). resume: go on from the state
        # in c and OUT where the native core's embed() stopped (Model.embed_into).
        if not isinstance(text, str):
            raise TypeError("text must be str, not " + type(text).__name__)
        m = self.m
        core = _get(0)
        if not self.bufs and core.IMPL != "native":
            core = _get(1)
        self._core = core
        scan = core.scan
        self._flush = core.flush
        # what runs, for model.impl (no allocation: the keys exist)
        imp = m.impl
        imp["tok"] = core.IMPL
        self.sink = sink
        self.pool_sink = None
        # embed() through the model's sink: pool in batches
        if sink is getattr(m, "_sink", None):
            self.pool_sink = sink
        c = self.c
        if not resume:
            for k in range(_C_WN, _C_END):
                c[k] = 0
        mv = memoryview(text)
        nbytes = len(mv)
        limit = m.pretrunc_chars
        ascii_t = m.ascii
        first = m.added_first
        T = self.T
        while True:
            scan(T, c, mv, nbytes)
            i = c[_C_I]
            if c[_C_NOUT] > c[_C_ROOM]:
                self._deliver()
                continue
            if i >= nbytes or c[_C_CHARS] >= limit or c[_C_DONE]:
                break
            b = mv[i]
            if first[b]:
                hit = self._added_at(mv, i, nbytes, limit - c[_C_CHARS])
                if hit:
                    self.flush()
                    if c[_C_DONE]:
                        break
                    self._deliver()
                    c[_C_I] = i + hit[0]
                    c[_C_CHARS] += hit[1]
                    if hit[2] == m.unk_id:
                        pass
                    elif type(sink) is list:
                        sink.append(hit[2])
                    else:
                        sink.token(hit[2], hit[3], hit[4])
                    c[_C_COUNT] += 1
                    if c[_C_COUNT] >= m.max_length:
                        c[_C_DONE] = 1
                    continue
            c[_C_CHARS] += 1
            if b < 0x80:
                # an ASCII byte that starts no added token here
                c[_C_I] = i + 1
                v = ascii_t[b]
                if v >= 2:
                    if v & 0x80:
                        self._out(v & 0x7F, True)
                    else:
                        self._put(b if v == 2 else v)
                elif v == 1:
                    self.flush()
                continue
            if b < 0xE0:
                cp = ((b & 0x1F) << 6) | (mv[i + 1] & 63)
                i += 2
            elif b < 0xF0:
                cp = ((b & 0x0F) << 12) | ((mv[i + 1] & 63) << 6) | (mv[i + 2] & 63)
                i += 3
            else:
                cp = ((b & 7) << 18) | ((mv[i + 1] & 63) << 12) | ((mv[i + 2] & 63) << 6) | (mv[i + 3] & 63)
                i += 4
            c[_C_I] = i
            self._norm(cp)
        self.flush()
        self._deliver()
        self.sink = self.pool_sink = None
