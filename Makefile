# The two commands a new user needs: `make run` and `make test`; `make lint` checks the code.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/apploom init --demo
	$(BIN)/apploom serve --host 127.0.0.1 --port 5000

test: $(STAMP)
	$(BIN)/pytest -n auto --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check apploom plugins tests bench
	$(BIN)/ruff format --check apploom plugins tests bench
	$(BIN)/mypy

bench: $(STAMP)
	cd bench && ../$(BIN)/python records.py
	cd bench && ../$(BIN)/python workflow.py
	cd bench && ../$(BIN)/python rules.py
	cd bench && ../$(BIN)/python stock.py
	cd bench && ../$(BIN)/python reports.py
	cd bench && ../$(BIN)/python studio.py

clean:
	rm -rf $(VENV) instance .mypy_cache .ruff_cache
