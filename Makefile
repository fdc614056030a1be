# The README's two commands: `make demo` and `make test`. Each creates the virtualenv on first use.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint notebooks venv up down status teardown clean bench

venv: $(STAMP)

# Exact, hash-checked versions from requirements.lock (regenerate it with `make lock`).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip check
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# `make test`'s pytest runs the test files in parallel, one worker per core (at most 4; PYTEST_WORKERS=0
# runs them in this process): each worker starts a local cloud of its own, and a file's tests stay on
# one worker, since a file's module fixtures build on each other. nbval is not parallel: notebooks
# build on each other in order.
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --maxprocesses=4 --dist loadfile

NBVAL := --nbval notebooks/ --nbval-sanitize-with notebooks/nbval_sanitize.cfg

## demo: the walkthrough (notebooks 00-08, executed headlessly into artifacts/notebooks/); 08 runs with
## its default confirm=False, so it lists what teardown would delete and deletes nothing: the live dev and
## prod tables are left to query. Ends with dev's per-continent summary (read-only).
demo: $(STAMP)
	$(PY) -m helpers local up
	$(PY) -m helpers notebooks
	$(PY) -m helpers summary --target dev

# The walkthrough's own local cloud and artifacts in `make test`, so that it can run beside nbval
WALKTHROUGH_ENV := PIPELINE_STATE_DIR=$(CURDIR)/.local-walkthrough PIPELINE_ARTIFACTS_DIR=$(CURDIR)/artifacts/walkthrough
WALKTHROUGH_LOG := $(CURDIR)/artifacts/walkthrough/notebooks.log

## test: unit + integration tests (they start a local cloud of their own), then two checks at the same
## time, each on a local cloud of its own and from a clean slate:
## * the walkthrough with papermill (its images go to artifacts/screenshots and must cover the committed
##   gallery; the browser captures need Chromium and are skipped with one line each without it), on
##   .local-walkthrough; its output is printed when it ends (artifacts/walkthrough/notebooks.log);
## * nbval on .local: the committed notebooks re-run must show the same outputs. It runs with the
##   browser hidden (PIPELINE_BROWSER=none), so it passes the same with or without Chromium.
test: $(STAMP) lint
	$(PY) -m pytest $(PYTEST_PARALLEL)
	$(PY) -m helpers local up
	$(PY) -m helpers teardown
	$(WALKTHROUGH_ENV) $(PY) -m helpers local up
	$(WALKTHROUGH_ENV) $(PY) -m helpers teardown
	@mkdir -p $(dir $(WALKTHROUGH_LOG)); \
	$(WALKTHROUGH_ENV) PIPELINE_SCREENSHOTS_DIR=$(CURDIR)/artifacts/screenshots \
	  $(PY) -m helpers notebooks --check-gallery --confirm-teardown > $(WALKTHROUGH_LOG) 2>&1 & walkthrough=$$!; \
	PIPELINE_BROWSER=none PIPELINE_SCREENSHOTS_DIR=$(CURDIR)/artifacts/nbval/screenshots $(PY) -m pytest $(NBVAL); nbval=$$?; \
	wait $$walkthrough; notebooks=$$?; \
	echo "== walkthrough (helpers notebooks --check-gallery, on .local-walkthrough): exit $$notebooks"; cat $(WALKTHROUGH_LOG); \
	$(WALKTHROUGH_ENV) $(PY) -m helpers local down >/dev/null; \
	test $$nbval -eq 0 && test $$notebooks -eq 0

## lint: ruff (lint and format check, config in pyproject.toml) and sqlfluff (sql/, Snowflake dialect, .sqlfluff)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/sqlfluff lint sql/

## notebooks: refresh the outputs committed in notebooks/ and the screenshots/ gallery, from a
## clean slate (what GitHub shows)
notebooks: $(STAMP)
	$(PY) -m helpers local up
	$(PY) -m helpers teardown
	$(PY) -m helpers notebooks --update-committed

up: $(STAMP)
	$(PY) -m helpers local up
down: $(STAMP)
	$(PY) -m helpers local down
status: $(STAMP)
	$(PY) -m helpers local status
teardown: $(STAMP)
	$(PY) -m helpers teardown

## lock: re-resolve requirements.lock from pyproject.toml (needs the uv tool)
lock:
	uv pip compile pyproject.toml --extra local --extra notebooks --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	-$(PY) -m helpers local down
	rm -rf $(VENV) .local artifacts dbt_project/target dbt_project/logs

## bench: the walkthrough's and the pipeline's wall time and peak memory at 250/10k/100k records, with
## the plain-DuckDB baseline, then every figure next to its limit (met / missed by how much); results in
## artifacts/bench/results.json. BENCH_ARGS="--sizes 250,10000" for a quick run, "--sizes 1000000" for 1M,
## "--make-test" to time make test too
bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)
