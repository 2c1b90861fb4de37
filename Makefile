# Two commands do everything on a fresh machine with Python 3.11 and make:
#   make demo   — install into .venv, then run the main job on the embedded default
#   make test   — install into .venv (with test tools), then run the whole test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install bench bench-sync clean constraints

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Re-pin every dependency at the versions installed now (after changing pyproject.toml and `make install`).
constraints: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^receipt-sync'; } > constraints.new
	mv constraints.new constraints.txt

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/receipts demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

# Every benchmark of BENCHMARKS.md (about 40 minutes on two cores); bench-sync is issue 5's alone (~17 min).
bench: bench-sync
	$(BIN)/python -m bench.extraction_eval
	$(BIN)/python -m bench.query_recall
	$(BIN)/python bench/deletion_bench.py --receipts 100000 --naive-receipts 5000
	$(BIN)/python -m bench.api_latency --concurrency 1 4 8 16

bench-sync: $(STAMP)
	$(BIN)/python -m bench.sync_bench

clean:
	rm -rf $(VENV) data .pytest_cache
