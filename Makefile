# The two commands of the README: `make serve` and `make test`. Both set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test lint unit bench bench-p1 lock clean

# Every install takes the versions in constraints.txt (ADR 0050); `make lock` renews them.
$(BIN)/bookkeeper: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/pip install --quiet -c constraints.txt -e plugins/bookkeeper-example-translators
	@touch $@

serve: $(BIN)/bookkeeper  ## start the service on the embedded SQLite default (127.0.0.1:8000)
	$(BIN)/bookkeeper serve

lint: $(BIN)/bookkeeper
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/mypy src
	$(BIN)/hadolint Dockerfile

# Three workers (pytest-xdist) on CI's two cores, stealing work from each other: the suite
# is ~7,500 tests, many of them waiting on servers, subprocesses, NATS and the browser.
# Measured on a fresh clone: 13:29 for 7,495 tests on the eighth stop's machine (14:25 for
# all of .ci/run); 11:34 for 7,223 on the seventh's; the tests marked `long` start first
# (tests/conftest.py); the slowest are printed to cut next.
test: lint  ## the whole suite: lint, types, Dockerfile, unit and integration tests
	$(BIN)/pytest -n 3 --dist worksteal -p no:cacheprovider --durations=15

unit: $(BIN)/bookkeeper
	$(BIN)/pytest -q tests/unit

# Every P row beside its reference (bench/all.py; BENCH="--small" or "--rows p3,p6" to pick).
bench: $(BIN)/bookkeeper
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/all.py $(BENCH)

bench-p1: $(BIN)/bookkeeper  ## P1 alone (what `make bench` ran before bench/all.py)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python bench/run.py

# Resolve pyproject.toml's ranges afresh in a throw-away venv and freeze the result: the one
# way a new release of a dependency reaches the project (then run `make test`; ADR 0050).
LOCK_VENV := $(shell mktemp -u /tmp/bookkeeper-lock.XXXXXX)
lock:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[dev,bench]' -e plugins/bookkeeper-example-translators
	# This Python's resolution first; a pin it did not need (a package only another Python
	# takes, e.g. async-timeout below 3.11.3) is kept, so the file serves every 3.11.
	{ sed -n '/^#/p' constraints.txt; \
	  { $(LOCK_VENV)/bin/pip freeze --exclude-editable; grep -v '^#' constraints.txt; } \
	  | awk -F'==' '!seen[tolower($$1)]++' | LC_ALL=C sort -f -t= -k1,1; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Dependency audit (ADR 0021): fails on a known vulnerability with a fixed release; warns
# and passes when the advisory service cannot be reached (as on the CI machines).
audit: $(BIN)/bookkeeper
	.ci/audit $(VENV)
