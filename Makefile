# The verbs users type. Extra Hydra overrides go in ARGS:
#   make sweep ARGS="algo=appo sweep=smoke"
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
UI_PORT ?= 5000
DASHBOARD_PORT ?= 8080
TEST_WORKERS ?= 2
# a whole test module per worker, in the order tests/conftest.py gives them
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
STUDY_STORE ?=

.PHONY: install sweep test test-fast ui dashboard lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## a .venv with the package and its dev extra

sweep: $(STAMP) ## run the default sweep (ARGS="sweep=smoke algo=appo …")
	$(BIN)/motif-tune sweep $(ARGS)

test: $(STAMP) ## the whole test suite (unit + end-to-end), on TEST_WORKERS processes
	$(PYTEST) $(ARGS)

test-fast: $(STAMP) ## unit tests only
	$(PYTEST) -m "not slow" $(ARGS)

ui: $(STAMP) ## MLflow UI over the sweeps' store (MOTIF_TUNE_HOME, MLFLOW_TRACKING_URI), on 127.0.0.1
	$(BIN)/motif-tune ui ui.port=$(UI_PORT) $(ARGS)

dashboard: $(STAMP) ## optuna-dashboard over the sweeps' studies (live), on 127.0.0.1
	$(BIN)/motif-tune dashboard ui.dashboard_port=$(DASHBOARD_PORT) $(if $(STUDY_STORE),sweep.study.storage=$(STUDY_STORE)) $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP) ## benchmarks -> benchmarks/RESULTS.md
	$(BIN)/python benchmarks/run_all.py $(ARGS)

clean: ## remove runs/, caches (keeps .venv)
	rm -rf runs outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
