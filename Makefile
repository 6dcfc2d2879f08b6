# Two commands matter: `make demo` and `make test` (each creates .venv first if needed).
# Snakemake reads profiles/default by itself (the workflow profile): naming it with
# --profile too made it say so twice.
VENV ?= .venv
BIN := $(VENV)/bin
SMK := $(BIN)/snakemake

.PHONY: demo test test-fast test-integration lint lock clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	@tools/bootstrap $(VENV)

demo: venv  ## run the whole workflow on the built-in demo data (results/), then its report
	$(SMK)
	$(SMK) --report results/report.html
	@echo "rasterflow: the report: $(abspath results/report.html) (open it in a browser)"

test: venv  ## the full test suite, as CI runs it
	@tools/system-deps
	@tools/test-servers
	$(BIN)/python -m pytest

test-fast: venv  ## tests/unit only: no Dask cluster, no subprocess; one worker per core
	$(BIN)/python -m pytest -n auto tests/unit

test-integration: venv  ## tests/integration: GDAL's programs, Dask clusters, child processes, servers
	@tools/system-deps
	@tools/test-servers
	$(BIN)/python -m pytest tests/integration

lint: venv  ## ruff (pyproject.toml's rule set and its formatter), mypy, snakefmt and Snakemake's own linter
	$(BIN)/ruff check src scripts tests benchmarks
	$(BIN)/ruff format --check src scripts tests benchmarks tools
	$(BIN)/mypy
	$(BIN)/snakefmt --check Snakefile rules
	$(SMK) --lint

lock:  ## re-resolve requirements.lock from pyproject.toml in a scratch venv
	tools/lock

clean:
	rm -rf results .snakemake
