# The two commands a new user needs: `make run` and `make test`; `make lint` checks the code.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Running needs only the package; tests also need their tools and the PostgreSQL driver.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint bench translations clean

$(VENV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): pyproject.toml | $(VENV)
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/apploom init --demo
	$(BIN)/apploom serve --host 127.0.0.1 --port 5000

test: $(TEST_STAMP)
	$(BIN)/pytest -n auto --dist loadfile $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check apploom tests bench
	$(BIN)/ruff format --check apploom tests bench
	$(BIN)/mypy

bench: $(TEST_STAMP)
	cd bench && ../$(BIN)/python records.py
	cd bench && ../$(BIN)/python workflow.py
	cd bench && ../$(BIN)/python rules.py
	cd bench && ../$(BIN)/python stock.py
	cd bench && ../$(BIN)/python reports.py
	cd bench && ../$(BIN)/python studio.py
	cd bench && ../$(BIN)/python backup.py
	cd bench && ../$(BIN)/python prints.py

# The screens' and the engine's words: extract them (babel.cfg says where) into
# messages.pot, merge that into each language's messages.po (translators edit those),
# compile the .mo the server reads. Sorted, file names without line numbers: stable diffs;
# a new phrase comes in empty (no guess from a similar one) until it is given its words.
CATALOGS := apploom/translations
translations: $(RUN_STAMP)
	$(BIN)/pybabel extract -F babel.cfg --sort-output --no-wrap --add-location=file \
		--project=AppLoom -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --no-wrap \
		--ignore-obsolete --ignore-pot-creation-date --no-fuzzy-matching
	$(BIN)/pybabel compile -d $(CATALOGS) --statistics

clean:
	rm -rf $(VENV) instance .mypy_cache .ruff_cache
