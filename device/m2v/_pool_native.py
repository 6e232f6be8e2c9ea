# Twin by design: speed. The pooling loops of the native C core (m2v/_native.mpy,
# built from device/native/m2v_native.c for the board's architecture and
# shipped in its build of the package; absent from a source install, where
# viper runs): bit-identical to _pool_viper.py and _pool_py.py (tests run all three);
# acc_recs_f, file mode's batch through the page cache, to _tok_file.py's.
from .tok import native

_c = native()
acc_recs = _c.acc_recs
acc_recs_f = _c.acc_recs_f
acc_row = _c.acc_row
normalize_into = _c.normalize_into
zero = _c.zero

IMPL = "native"
