# `make demo` and `make test` set everything up first; `make setup` is idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.recsys-cl-installed
DEMO_DIR ?= datasets/demo

.PHONY: setup test test-slow demo docs perf clean

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

# the type checker first (strict on the public API; settings in pyproject.toml), then the fast suite
test: setup
	$(PY) -m mypy
	$(PY) -m pytest -m "not slow" -q

test-slow: setup
	$(PY) -m pytest -m slow -q

# The embedded default, end to end: the data, then two grids and their reports (synthetic H&M under three
# protocols; MovieLens-100K with every model tuned alike). Resumable: a second run reuses finished cells.
demo: setup
	$(VENV)/bin/recsys-cl demo --out $(DEMO_DIR)
	$(VENV)/bin/recsys-cl bench benchmarks/quickstart.yaml --out results/quickstart --jobs 2
	$(VENV)/bin/recsys-cl report results/quickstart --out reports/quickstart
	$(VENV)/bin/recsys-cl bench benchmarks/quickstart-tuned.yaml --out results/quickstart-tuned --jobs 2
	$(VENV)/bin/recsys-cl report results/quickstart-tuned --out reports/quickstart-tuned
	@echo "Reports: reports/quickstart/report.html and reports/quickstart-tuned/report.html"

# The docs site (mkdocs.yml): reference pages generated from the code; warnings are errors. `mkdocs serve`
# shows it while editing. tests/test_docs.py builds it too, so `make test` fails on a broken page. (The two
# variables silence a banner that Material and MkDocs' forks print about a future MkDocs 2.)
docs: setup
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

perf: setup
	@for f in benchmarks/perf/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build site *.egg-info
