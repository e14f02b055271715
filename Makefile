# Everything a person or CI needs: `make serve` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CODE   := steward graphs tools server evals tests examples

.PHONY: install test test-unit serve demo bench bench-quick lint eval clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

test: install lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -m unit -q $(PYTEST_ARGS)

serve: install
	$(BIN)/steward serve

demo: install
	$(BIN)/steward demo

eval: install
	$(BIN)/steward eval --gate

bench: install
	$(BIN)/python -m evals.bench

bench-quick: install  # every scenario small: within a minute, figures indicative only
	$(BIN)/python -m evals.bench --quick

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/ty check steward server tools evals graphs  # the product code; its one relaxed rule is in pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
