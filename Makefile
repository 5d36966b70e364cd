# Set-up and everyday commands. `make demo` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ZOO3D := $(VENV)/bin/zoo3d
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-slow bench clean browser

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

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

demo: $(STAMP)
	$(ZOO3D) demo

bench: $(STAMP)
	$(ZOO3D) bench --json benchmarks/latest.json

clean:
	rm -rf $(VENV) runs .pytest_cache
