# Device test: heap used by import, load and one embed of a long text, in
# file mode (the everyday path on stock firmware) and in buffer mode (ROMFS).
# On a board the package's bytecode stays in ROMFS or flash, but the C core's
# code is copied into RAM at import (a native .mpy): that is in these figures.
#   heap.py MODEL TEXTFILE MODE
# Prints "key=value" figures (gc.mem_alloc after each step, the free heap
# at the end) and "heap: ok".
import gc
import sys

model_path, text_path, mode = sys.argv[1:4]
gc.collect()
a0 = gc.mem_alloc()
import m2v

gc.collect()
a1 = gc.mem_alloc()
m = m2v.load(model_path, mode=mode)
gc.collect()
a2 = gc.mem_alloc()
with open(text_path) as f:
    text = f.read()
gc.collect()
a3 = gc.mem_alloc()
v = m.embed(text)
gc.collect()
a4 = gc.mem_alloc()
print("start=%d import=%d load=%d text=%d embed=%d free=%d chars=%d" % (
    a0, a1 - a0, a2 - a1, a3 - a2, a4 - a3, gc.mem_free(), len(text)))
print("v0=%d" % v[0])
print("heap: ok")
