# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint check soak soak-kill soak-copies bench migrate clean

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

# The suite runs on SQLite, then again on PostgreSQL when the server answers (CI sets
# DUBAN_REQUIRE_POSTGRES=1 so that an unreachable server fails instead of being passed over).
check: $(STAMP)
	$(BIN)/python -m pytest -q
	@if $(BIN)/python -m tests.postgres_ready; then \
		DUBAN_TEST_BACKEND=postgres $(BIN)/python -m pytest -q; \
	elif [ -n "$$DUBAN_REQUIRE_POSTGRES" ]; then exit 1; \
	else echo "PostgreSQL run left out: server not reachable (DUBAN_TEST_POSTGRES_URL)"; fi

test: lint check

# The long reliability runs (figures printed, not timed tests): `soak-kill` SIGKILLs `duban run`
# 20 times during a 2,000-notice burst with faults injected and writes bench/soak.json;
# `soak-copies` runs three copies on PostgreSQL and Redis with 3,000 nudges at Telegram's real
# limits and kills one (make test's PostgreSQL pass runs the same test).
soak: soak-kill soak-copies

soak-kill: $(STAMP)
	$(BIN)/python -m bench.soak

soak-copies: $(STAMP)
	DUBAN_TEST_BACKEND=postgres $(BIN)/python -m pytest -q -s tests/e2e/test_copies.py

# Figures, not pass/fail: writes bench/results.json and prints the table README shows.
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info
