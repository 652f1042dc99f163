# `make demo` and `make test` set everything up first; `make setup` is idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.recsys-cl-installed
DEMO_DIR ?= datasets/demo

.PHONY: setup test test-slow demo perf clean

setup: $(STAMP)

# torch is pinned to the CPU wheel (2.13.0); RecBole goes in with --no-deps because its
# metadata pins ray<=2.6.3, which breaks on NumPy 2 (setup.cfg lists what it really needs).
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet --no-deps recbole==1.2.1
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: setup
	$(PY) -m pytest -m "not slow" -q

test-slow: setup
	$(PY) -m pytest -m slow -q

demo: setup
	$(VENV)/bin/recsys-cl demo --out $(DEMO_DIR)
	$(VENV)/bin/recsys-cl bench benchmarks/quickstart.yaml --out results/quickstart --jobs 2
	$(VENV)/bin/recsys-cl report results/quickstart --out reports/quickstart

perf: setup
	@for f in benchmarks/perf/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
