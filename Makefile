# parcours — set-up and everyday commands. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
AS_OF ?= 2025-06-30

.PHONY: demo serve test lint bench clean install

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if (3, 11) <= v[:2] < (3, 13) else "parcours needs Python 3.11 or 3.12, found %d.%d (set PYTHON=...)" % v[:2])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@$(BIN)/python -m compileall -q engine indicators  # bytecode kept even when PYTHONDONTWRITEBYTECODE is set
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/parcours evaluate sample_data --as-of $(AS_OF) --out out/demo
	@echo ""
	@echo "Pour ouvrir l'application web : make serve, puis ouvrir http://127.0.0.1:8000/ dans le navigateur."

serve: $(STAMP)
	$(BIN)/parcours serve sample_data --as-of $(AS_OF)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check engine indicators tests
	$(BIN)/mypy engine indicators
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	@$(BIN)/python -m compileall -q engine indicators
	$(BIN)/python -m engine.tools.bench
	$(BIN)/python -m engine.tools.web_bench

clean:
	rm -rf out .pytest_cache
