# Runs under the MicroPython unix port: tokenise and embed texts with the
# device package, one JSON text per input line, one result line per text:
# "id id id|v v v ..." (or "!ExcName: message" when embed raised).
# usage: micropython device_runner.py MODE IMPL MODEL_OR_IMAGE IN OUT, with the
# package on sys.path (scripts/board.py's UnixBoard.run_script puts it there)
# MODE: file (stream the model file), fileram (file mode with the tokenizer's
# tables in RAM), filepart (some of them: the trie's bit vector and samples), buf (read it into RAM), rom (mount a ROMFS image)
# IMPL: native (the C core: the package holds its _native.mpy) or py (the
# pure-Python twins: _tok_py.py, _pool_py.py), m2v.use(IMPL) before the load,
# so that only the selected core modules are imported. The last line is
# "=tok=K pool=K tables=T": model.impl after the last text, what ran, and
# whether the tables were read as buffers or through the page cache; the line
# before it, "=loops=L,...", what drove the embeds (model.impl["loop"]).
import json
import sys

mode, impl, src, inp, outp = sys.argv[1:6]
import m2v

m2v.use(impl)
if mode == "rom":
    import vfs

    with open(src, "rb") as f:
        image = f.read()
    vfs.mount(vfs.VfsRom(image), "/rom")
    model = m2v.load("/rom/model.m2v")
elif mode == "fileram":
    model = m2v.load(src, mode="file", ram=1 << 20)
    assert model.ram_tables == model.ram_need > 0, "the tokenizer tables were not read into RAM"
elif mode == "filepart":
    model = m2v.load(src, mode="file", ram=16000)  # HASKIDS and the samples in RAM, NODES and the rest paged
    assert 0 < model.ram_tables < model.ram_need, "not a part of the tables in RAM"
elif mode == "file":
    model = m2v.load(src, mode="file", ram=0)  # the page cache alone, whatever the heap could spare
else:
    model = m2v.load(src, mode=mode)

loops = set()  # what drove each embed (model.impl["loop"])
with open(inp) as fi, open(outp, "w") as fo:
    for line in fi:
        text = json.loads(line)
        try:
            ids = model.tokenize(text)
            vec = model.embed(text)
            loops.add(model.impl["loop"])
            fo.write(" ".join(str(i) for i in ids) + "|" + " ".join(str(v) for v in vec) + "\n")
        except Exception as e:
            fo.write("!" + type(e).__name__ + ": " + str(e) + "\n")
    ran = model.impl
    tables = "file" if model.cache and model.ram_tables < model.ram_need else "buf"  # all of them in RAM or not
    fo.write("=loops=%s\n" % ",".join(sorted(loops)))
    fo.write("=tok=%s pool=%s tables=%s\n" % (ran["tok"], ran["pool"], tables))
