# The README's two commands: `make demo` and `make test`. Each creates the virtualenv on first use.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test venv up down status teardown clean

venv: $(STAMP)

# Exact, hash-checked versions from requirements.lock (regenerate it with `make lock`).
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip check
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

## demo: the whole pipeline on the local emulators (dev, then prod), with a per-continent summary
demo: $(STAMP)
	$(PY) -m helpers local up
	$(PY) -m helpers run --target dev
	$(PY) -m helpers run --target prod

## test: every test (unit + integration); the tests start a local cloud of their own
test: $(STAMP)
	$(PY) -m pytest

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
	uv pip compile pyproject.toml --extra local --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	-$(PY) -m helpers local down
	rm -rf $(VENV) .local artifacts dbt_project/target dbt_project/logs
