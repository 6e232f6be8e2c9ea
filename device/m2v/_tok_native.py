# Twin by design: speed. The tokenizer hot path of the native C core
# (m2v/_native.mpy, built from device/native/m2v_native.c for the board's
# architecture and shipped in its build of the package; absent from a source
# install, where viper runs): scan, flush, find_run and field, bit-identical
# to _tok_buf.py's viper and _tok_py.py's (tests run all three), for models
# whose tables are buffers (buffer/ROMFS mode, file mode with its tables in RAM);
# embed(T, c, text, out), a whole embed of a buffer model (Model.embed_into).
from .tok import native

_c = native()
embed = _c.embed
field = _c.field
find_run = _c.find_run
flush = _c.flush
scan = _c.scan

IMPL = "native"
