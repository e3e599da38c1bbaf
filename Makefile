# Two commands for a newcomer: `make run` and `make test`. Everything else is a helper of those.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint check soak soak-fuzz soak-kill soak-copies bench migrate clean

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

# The long reliability runs (figures printed, not timed tests; short forms of each run in
# `make test`):
# - soak-fuzz: 50,000 hypothesis cases (messages, commands, button data, WeCom numbered choices,
#   import files; tests/fuzzing.py splits them), each answered, bad input changing nothing;
# - soak-kill: `duban run` SIGKILLed 20 times during a 2,000-notice burst with faults injected
#   (writes bench/soak.json);
# - soak-copies: three copies on PostgreSQL and Redis, 3,000 nudges at Telegram's real limits,
#   one killed mid-burst.
soak: soak-fuzz soak-kill soak-copies

SOAK_CASES ?= 50000
soak-fuzz: $(STAMP)
	DUBAN_FUZZ_EXAMPLES=$(SOAK_CASES) $(BIN)/python -m pytest -q --durations=0 \
		--hypothesis-show-statistics tests/unit/test_fuzz_conversation.py tests/unit/test_fuzz_imports.py

soak-kill: $(STAMP)
	$(BIN)/python -m bench.soak

soak-copies: $(STAMP)
	DUBAN_TEST_BACKEND=postgres $(BIN)/python -m pytest -q -s tests/e2e/test_copies.py

# Figures, not pass/fail: writes bench/results.json and prints the table README shows.
bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info
