# Two commands: `make run` (the inventory on the bundled demo data) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= geodata/demo
OUT ?= out

export DAGSTER_HOME := $(CURDIR)
export RESIDUA_DAGSTER_DIR := $(CURDIR)/.dagster

.PHONY: install run test dev validate demo-data system-deps clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

$(RESIDUA_DAGSTER_DIR):
	mkdir -p $@

run: install $(RESIDUA_DAGSTER_DIR)
	$(BIN)/residua run --data $(DATA) --out $(OUT)

validate: install
	$(BIN)/residua validate --data $(DATA)

system-deps:
	bash scripts/install-system-deps.sh

test: install system-deps $(RESIDUA_DAGSTER_DIR)
	$(BIN)/python -m pytest

dev: install $(RESIDUA_DAGSTER_DIR)
	$(BIN)/dagster dev -m pipelines.definitions -h 127.0.0.1 -p 3000

demo-data: install
	$(BIN)/python geodata/demo/make_demo.py

clean:
	rm -rf $(VENV) .dagster out
