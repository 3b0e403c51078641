# Two entry points (see README): `make demo` and `make test`. Both create or reuse .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean train-microworld

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch is pinned first on its own so pip takes the CPU build already on the machine (no CUDA download).
# __init__.py holds the version, which the editable install's metadata records.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt src/streamt2v/__init__.py
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# demo.mp4 (stages 1-3), beside it demo.lowres.mp4 (stages 1-2, kept by --enhance) and a run folder under
# ./runs/ (every generate keeps one, for --resume)
demo: $(STAMP)
	$(BIN)/streamt2v generate "a red circle bouncing on a blue background" --frames 240 --seed 0 --enhance --overwrite -o demo.mp4

# Reproduce the shipped microworld models (src/streamt2v/assets) from scratch: ~4 h 20 min on 2 CPU cores,
# then the one GPU run (refiner-restore, 7 min on an H200); without CUDA it is refused unless ARGS=--allow-cpu
# (~13 h in all: refiner-restore alone ~9 h, in fp32 on the CPU, 12.3 s per step in
# bench/results/train_cpu.md).
train-microworld: $(STAMP)
	$(BIN)/python -m streamt2v.train.microworld_release --out runs/microworld --assets src/streamt2v/assets $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# The suite runs in TEST_WORKERS processes (pytest-xdist; 0: in this one), a test file to a process so its
# fixtures are made once, each at one torch thread: most tests are too small for a second thread to pay,
# and threads beyond the cores slow everything (2 workers of 1 thread: half the wall time of one process).
TEST_WORKERS ?= 2
test: $(STAMP) lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile tests

# ARGS go to bench/run_all.py: make bench ARGS="--only demo --out /tmp/b"
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
