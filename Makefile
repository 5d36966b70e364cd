# Set-up and everyday commands. `make demo` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ZOO3D := $(VENV)/bin/zoo3d
STAMP := $(VENV)/.installed

DEV_STAMP := $(VENV)/.installed-dev
# make mutate MODULES="zoo3d/train/ema.py zoo3d/eval/fid.py" (default: every module tests/mutate.py knows)
MODULES ?=
MUTATE_JOBS ?= 1

.PHONY: venv demo test test-slow test-cuda mutate mutate-named bench clean browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP) browser
	$(PY) -m pytest -q

# The viewer's browser test drives Debian's Chromium. Where chromium or chromedriver is missing and apt-get can
# be used (root on a Debian-like machine), install them; otherwise, or if that fails, the build goes on and that
# one test is skipped with its reason. ZOO3D_NO_BROWSER_INSTALL=1 skips the attempt.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ -z "$$ZOO3D_NO_BROWSER_INSTALL" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing chromium and chromium-driver (apt-get) for the viewer's browser test..."; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	      >/dev/null 2>&1 || echo "Could not install Chromium; the viewer's browser test will be skipped."; \
	  fi; \
	fi

# pytest exits 5 when it selects no test: that is not a failure here.
test-slow: $(STAMP)
	@$(PY) -m pytest -q -m slow; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "No test is marked slow: nothing to run."; rc=0; fi; exit $$rc

# on a machine with a GPU: the cuda tests compare against the CPU (skipped without a device)
test-cuda: $(STAMP)
	@$(PY) -m pytest -q -m cuda; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "No test is marked cuda: nothing to run."; rc=0; fi; exit $$rc

$(DEV_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

# mutation testing, module by module (not part of `make test`; see docs/testing.md)
mutate: $(DEV_STAMP)
	$(PY) tests/mutate.py $(MODULES) --max-children $(MUTATE_JOBS)

# the hand-written mutants that must die
mutate-named: $(STAMP)
	$(PY) tests/named_mutants.py

demo: $(STAMP)
	$(ZOO3D) demo

bench: $(STAMP)
	$(ZOO3D) bench --json benchmarks/latest.json

clean:
	rm -rf $(VENV) runs .pytest_cache
