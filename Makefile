# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint check soak bench migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/duban db upgrade

run: migrate
	$(BIN)/duban run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .

check: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint check

clean:
	rm -rf $(VENV) build *.egg-info
