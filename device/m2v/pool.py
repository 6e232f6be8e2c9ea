# Integer pooling and normalisation (docs/FORMAT.md §6), and which core module
# runs each hot path (core(): the one seam where an implementation plugs in).
# acc[d] = sum over tokens of WCODES[code] * centroid[row][d]. The converter
# bounds |WCODES| by (2**30 - 1) / (127 * max_length), so every partial sum
# is a 31-bit small int: no big-int allocation in Python, no int32 wrap in viper.
# The loops: _pool_viper.py (fast) and its pure-Python twin _pool_py.py,
# imported only when selected.
import sys

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
# (a natmod) is a third kind: its row here and its test in core().
_CORES = (
    ("viper", "_tok_buf", "_tok_file", "_pool_viper", "_tok_file"),
    ("py", "_tok_py", "_tok_py", "_pool_py", None),
)
_PKG = __name__[:-5]  # "m2v"

IMPL = None  # the pooling kind selected: "viper" or "py" (None: the first load picks)
acc_row = acc_recs = normalize_into = None
_file = 0  # the kind's module with acc_recs_f (file mode) or None; 0: not looked up yet


def core(kind, stage):
    # The core module of kind for stage, or None; kind None: the fastest this port runs.
    for row in _CORES:
        if kind is None and (row[0] != "viper" or VIPER) or row[0] == kind:
            if row[0] == "viper" and not VIPER:
                raise ValueError("viper is not available on this port")
            name = row[1 + stage]
            if name is None:
                return None
            name = _PKG + "." + name
            __import__(name)
            return sys.modules[name]
    raise ValueError("impl must be 'viper' or 'py'")


def use(impl):
    # Select the pooling loops: "viper" or "py" (bit-identical; tests run
    # both); None: the fastest this port runs. The module is imported here:
    # a broken one raises.
    global acc_row, acc_recs, normalize_into, IMPL, _file
    m = core(impl, 2)
    acc_row, acc_recs, normalize_into = m.acc_row, m.acc_recs, m.normalize_into
    IMPL = m.IMPL
    _file = 0


def file_core():
    # The module whose acc_recs_f pools a batch through the page cache (file
    # mode) for the selected kind, or None: then Model.token pools per token.
    # Looked up on first use, so buffer models do not import it.
    global _file
    if _file == 0:
        _file = core(IMPL, 3)
    return _file
