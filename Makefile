# `make run` and `make test` work on a fresh machine: they create .venv and install everything.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint browser bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) examples/tutorial.py

test: lint browser
	$(PY) -m pytest -q --durations=25 tests

# Debian's Chromium for the dashboard's browser test (tests/test_dashboard.py), where it is missing
# and can be installed (as root, with apt); else that test is skipped, saying why
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get > /dev/null; then \
		echo "installing Debian's chromium for the dashboard's browser test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium > /dev/null 2>&1 || \
		{ apt-get update -q > /dev/null 2>&1 && apt-get install -y -q chromium > /dev/null 2>&1; } || \
		echo "chromium could not be installed: the dashboard's browser test will be skipped"; \
	fi

# pyflakes' errors, pycodestyle's errors and warnings, lines up to 120 characters, in the product code;
# mypy on the client and on the service modules a client's request meets first. mypy cannot follow
# ufora/__init__.py's mapping of ufora.engine and ufora.net onto engine/ and net/: it reads them
# through build/typing, links laid out as the wheel installs them.
TYPED := -p pyfora $(foreach m,comm inproc pool_comm schema client_auth manager_state sessions uploads tls config version,-m ufora.net.$(m))
lint: $(STAMP)
	$(VENV)/bin/ruff check --no-cache --select E,F,W --line-length 120 ufora engine net pyfora
	rm -rf build/typing && mkdir -p build/typing/ufora
	ln -s ../../../ufora/__init__.py build/typing/ufora/__init__.py
	ln -s ../../../engine ../../../net build/typing/ufora/
	ln -s ../../pyfora build/typing/pyfora
	cd build/typing && MYPYPATH=. ../../$(VENV)/bin/mypy --no-incremental --ignore-missing-imports --follow-imports=silent $(TYPED)

bench: $(STAMP)
	$(PY) -m perf $(if $(QUICK),--quick,) $(if $(URL),--url $(URL),) $(if $(JOBS),--jobs $(JOBS),) $(if $(VARIANTS),--variants $(VARIANTS),)

clean:
	rm -rf $(VENV) .venv-bodo build *.egg-info perf/results/*.csv perf/results/*.png
