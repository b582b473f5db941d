# The verbs users type. Extra Hydra overrides go in ARGS:
#   make sweep ARGS="algo=appo sweep=smoke"
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=
MLFLOW_STORE ?= sqlite:///$(CURDIR)/runs/mlflow.db
UI_PORT ?= 5000
STUDY_STORE ?= sqlite:///$(CURDIR)/runs/optuna.db
DASHBOARD_PORT ?= 8080

.PHONY: install sweep test test-fast ui dashboard lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## a .venv with the package and its dev extra

sweep: $(STAMP) ## run the default sweep (ARGS="sweep=smoke algo=appo …")
	$(BIN)/motif-tune sweep $(ARGS)

test: $(STAMP) ## the whole test suite (unit + end-to-end)
	$(BIN)/python -m pytest $(ARGS)

test-fast: $(STAMP) ## unit tests only
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

ui: $(STAMP) ## MLflow UI over the default store, on 127.0.0.1
	@$(BIN)/python -c "from motif_tune.tracking.store import open_store; open_store('$(MLFLOW_STORE)')"
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_STORE) --host 127.0.0.1 --port $(UI_PORT)

dashboard: $(STAMP) ## Optuna dashboard over the sweeps' studies (live), on 127.0.0.1
	@$(BIN)/python -c "from motif_tune.search.study import open_storage; open_storage('$(STUDY_STORE)')"
	$(BIN)/optuna-dashboard $(STUDY_STORE) --server wsgiref --host 127.0.0.1 --port $(DASHBOARD_PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP) ## benchmarks -> benchmarks/RESULTS.md
	$(BIN)/python benchmarks/run_all.py $(ARGS)

clean: ## remove runs/, caches (keeps .venv)
	rm -rf runs outputs multirun .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path './$(VENV)/*' -exec rm -rf {} +
