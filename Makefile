# `make run` and `make test` work on a fresh machine: they create .venv and install everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) examples/tutorial.py

test: lint
	$(PY) -m pytest -q tests

# pyflakes' errors, pycodestyle's errors and warnings, lines up to 120 characters, in the product code;
# mypy on the client and on the service modules a client's request meets first
TYPED := pyfora net/comm.py net/inproc.py net/pool_comm.py net/schema.py net/client_auth.py net/manager_state.py net/sessions.py net/uploads.py net/tls.py net/config.py net/version.py
lint: $(STAMP)
	$(VENV)/bin/ruff check --no-cache --select E,F,W --line-length 120 engine net pyfora
	$(VENV)/bin/mypy --no-incremental --ignore-missing-imports --follow-imports=silent $(TYPED)

bench: $(STAMP)
	$(PY) -m perf $(if $(QUICK),--quick,) $(if $(URL),--url $(URL),) $(if $(JOBS),--jobs $(JOBS),) $(if $(VARIANTS),--variants $(VARIANTS),)

clean:
	rm -rf $(VENV) .venv-bodo build *.egg-info perf/results/*.csv perf/results/*.png
