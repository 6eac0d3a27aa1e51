# The whole developer workflow. Every target creates .venv and installs the project when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite runs in this many processes (pytest-xdist): its tests mostly wait on servers,
# chargers and eMSPs, so two left a 2-core machine a third idle; three keep it busy (9 min 53 s
# then 7 min 46 s for 961 tests). Each takes the next test when it is free (worksteal), so the
# long cluster tests do not leave one process working alone at the end. TEST_WORKERS=0 runs it
# in one.
TEST_WORKERS ?= 3
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) $(if $(filter 0,$(TEST_WORKERS)),,--dist worksteal)

.PHONY: install run test test-pg bench lint demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# eMSPs tried beside it (the simulator) listen on loopback, which production refuses.
run: $(STAMP)
	CPO_OCPI_ALLOW_PRIVATE_PEERS=$${CPO_OCPI_ALLOW_PRIVATE_PEERS:-true} $(BIN)/cpo serve

test: $(STAMP)
	$(PYTEST)

# The same suite with each test on a database of its own on a PostgreSQL server the run starts
# (Debian's postgresql package; .ci/run installs it).
test-pg: $(STAMP)
	CPO_TEST_DATABASE=postgresql $(PYTEST)

bench: $(STAMP)
	$(BIN)/python -m bench

demo: $(STAMP)
	$(BIN)/python -m simulators.demo

lint: $(STAMP)
	$(BIN)/ruff check csms cpo simulators tests bench
	$(BIN)/ruff format --check csms cpo simulators tests bench
	$(BIN)/mypy csms cpo

clean:
	rm -rf $(VENV) build *.egg-info
