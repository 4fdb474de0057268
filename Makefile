# Two entry points, each self-contained on a fresh machine with only Python:
#   make demo   -- set up and run the main job on the embedded default
#   make test   -- set up and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the local CPU wheel: otherwise pip resolves a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,mobile]'
	touch $(STAMP)

install: $(STAMP)

# The headline job on the embedded default: profile this CPU (ONNX Runtime, 1 thread) into a cached LUT,
# train a supernet on scikit-learn's bundled digits, evolve under a latency constraint, re-measure.
demo: $(STAMP)
	$(VENV)/bin/hwnas search --latency 6ms --opt population=20 --opt generations=9 --out runs/demo --overwrite

# Two workers (pytest-xdist), one test file per worker so that module fixtures (supernets, LUTs) are built once.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -ra -n 2 --dist loadfile --durations=15

clean:
	rm -rf $(VENV) build *.egg-info
