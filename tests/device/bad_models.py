# Device test: every file in a folder is a damaged or foreign model; each must
# be refused with ValueError at load, in buffer mode (read in place: ROMFS)
# and in file mode, CRC check on. Runs unchanged on the unix port, the
# emulated boards and a real board.
#   bad_models.py DIR
# Prints one line per file and mode: "NAME MODE ExcType: message" (or
# "NAME MODE OK" if it loaded), then "bad_models: N cases".
import gc
import os
import sys

import m2v

folder = sys.argv[1]
n = 0
for name in sorted(os.listdir(folder)):
    for mode in ("buf", "file"):
        try:
            m2v.load(folder + "/" + name, mode=mode).close()
            print(name, mode, "OK")
        except Exception as e:  # the host expects ValueError; anything else is reported to it
            print(name, mode, "%s: %s" % (type(e).__name__, e))
        n += 1
        gc.collect()
print("bad_models: %d cases" % n)
