# Two commands do everything on a fresh machine:  make run  |  make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export SM_FORMULA_ENGINE := patsy
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-test browser serve-prod data lock-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## Serve the bundled LSO-088 data on http://127.0.0.1:8050
run: install
	$(PY) app.py

## Production-style server (same app, debug off, workers share the loaded frames)
serve-prod: install
	$(VENV)/bin/gunicorn app:server --preload --workers 2 --bind 127.0.0.1:8050 --timeout 60 --no-control-socket

## Debian's Chromium and its driver for the browser tests (installed when missing)
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "installing chromium + chromium-driver"; \
		(apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)); \
	fi

## Whole test suite
test: install-test browser
	$(PY) -m pytest -q

## Regenerate the simulated LSO-088 dataset and its lock (deterministic)
data: install
	$(PY) -m data.generate_lso088

clean:
	rm -rf $(VENV) .pytest_cache
