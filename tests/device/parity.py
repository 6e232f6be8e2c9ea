# Device test: token ids and vectors of many texts, compact enough for a UART.
# Runs unchanged on the unix port, on the emulated boards and on a real board
# (mpremote run, with sys.argv set first).
#   parity.py MODEL MODE IMPL TEXTS
# MODEL: the model's path (/rom/model.m2v on a board); MODE: buf (read in
# place: ROMFS) | file (streamed) | fileram (file mode, tokenizer tables in
# RAM); IMPL: native | py | default (m2v.use(None): the C core where it loads,
# and the default ram=None: file mode's tables in RAM if the heap spares them); TEXTS: one JSON string per line.
# Prints per text the CRC-32 of its token ids (int32 little-endian) and of its
# vector (int16) as 16 hex digits, or "!Exc: msg"; then "loops L,..." (what drove
# the embeds: model.impl["loop"]), "impl tok=K pool=K
# tables=buf|file" (which implementation ran), in file mode "cache slots=K ways=W" (the page
# cache the load built), last "parity: N texts". The host computes the same CRCs from tokenizers and
# the reference: full vectors would overflow the emulated UART.
import gc
import json
import sys
from array import array
from binascii import crc32

import m2v

model_path, mode, impl, texts_path = sys.argv[1:5]
m2v.use(None if impl == "default" else impl)  # before the load: only the selected core modules are imported
if mode == "fileram":
    model = m2v.load(model_path, mode="file", ram=1 << 20)
    if model.ram_tables != model.ram_need:
        raise SystemExit("the tokenizer tables were not read into RAM")
elif impl == "default":  # the default settings: ram=None, what the heap can spare
    model = m2v.load(model_path, mode=mode)
else:  # file mode: the page cache alone (ram=0)
    model = m2v.load(model_path, mode=mode, ram=0)
out = array("h", bytes(2 * model.dims))
n = 0
loops = set()  # what drove each embed (model.impl["loop"])
with open(texts_path) as f:
    for line in f:
        text = json.loads(line)
        try:
            ids = model.tokenize(text)
            model.embed_into(text, out)
            loops.add(model.impl["loop"])
            print("%08x%08x" % (crc32(array("i", ids)), crc32(out)))
        except Exception as e:  # reported to the host, which expects none
            print("!%s: %s" % (type(e).__name__, e))
        n += 1
        text = ids = None
        gc.collect()
# what ran the last text (model.impl), and whether the tokenizer read its tables as buffers or through the page cache
print("loops " + ",".join(sorted(loops)))
tables = "file" if model.cache and model.ram_tables < model.ram_need else "buf"
print("impl tok=%s pool=%s tables=%s" % (model.impl["tok"], model.impl["pool"], tables))
if model.cache:
    print("cache slots=%d ways=%d" % (model.cache.sm + 1, 1 << model.cache.wsh))
print("parity: %d texts" % n)
