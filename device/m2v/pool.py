# Integer pooling and normalisation (docs/FORMAT.md §6): m2v.pool.use()
# selects the loops, _pool_viper.py (fast) or its pure-Python twin
# _pool_py.py. acc[d] = sum over tokens of WCODES[code] * centroid[row][d];
# the converter bounds |WCODES| by (2**30 - 1) / (127 * max_length), so every
# partial sum is a 31-bit small int: no big-int allocation in Python, no
# int32 wrap in viper. The selection lives in tok.py (tok.pool, the
# module whose loops run), so that a model does not import this module.
from . import tok as _tok


def use(impl):
    # Select the pooling loops: "viper" or "py" (bit-identical; tests run
    # both); None: the fastest this port runs. The module is imported here:
    # a broken one raises.
    _tok.use_pool(impl)


def loops():
    # The module whose loops run (acc_row, acc_recs, normalize_into; IMPL its kind).
    return _tok.pool
