# Two commands: `make run` (the inventory on the bundled demo data) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= geodata/demo
OUT ?= out

export DAGSTER_HOME := $(CURDIR)
export RESIDUA_DAGSTER_DIR := $(CURDIR)/.dagster

.PHONY: install run test dev validate demo-data system-deps postgres-start postgres-stop clean

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

# The tests get a local PostgreSQL/PostGIS server (started, and stopped afterwards, by
# scripts/with-postgres.sh) through RESIDUA_TEST_POSTGIS_URL; an already set URL is used as is.
test: install system-deps $(RESIDUA_DAGSTER_DIR)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash scripts/with-postgres.sh $(BIN)/python -m pytest

# A long-running local server (e.g. for `make dev`); prints its URL. Settings: scripts/postgres-env.sh.
postgres-start:
	bash scripts/start-postgres.sh

postgres-stop:
	bash scripts/stop-postgres.sh

dev: install $(RESIDUA_DAGSTER_DIR)
	$(BIN)/dagster dev -m residua.pipelines.definitions -h 127.0.0.1 -p 3000

# The team review service on $(OUT) (run `make run` first), decisions in .dagster/reviews.sqlite
# (or PostgreSQL when RESIDUA_POSTGIS_URL is set). There is no default password: the first admin is
# created with DAGSTER_HOME=$PWD RESIDUA_DAGSTER_DIR=$PWD/.dagster .venv/bin/residua users add NAME --role admin
# (`make serve` prints this command and stops while there are no users).
.PHONY: serve
serve: install $(RESIDUA_DAGSTER_DIR)
	$(BIN)/residua serve --out $(OUT)

# OGC API - Features (pygeoapi) on $(OUT)/inventory.gpkg at http://127.0.0.1:5000/ for web GIS clients and
# QGIS (Layer > Add WFS / OGC API - Features); PostGIS instead when RESIDUA_POSTGIS_URL is set.
.PHONY: features-api
features-api: install
	$(BIN)/residua features-api --out $(OUT) --host 127.0.0.1 --port 5000

demo-data: install
	$(BIN)/python geodata/demo/make_demo.py

clean:
	rm -rf $(VENV) .dagster out
