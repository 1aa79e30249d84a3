# Two commands do everything on a fresh machine:  make run  |  make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
export SM_FORMULA_ENGINE := patsy
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test install install-test browser redis nginx office deck-render serve-prod loadtest bench data clean r-reference

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

## Production-style server (same app, debug off): gunicorn.conf.py has the settings (preloaded data
## shared by 2 workers, gthread workers a slow client cannot block, workers recycled with jitter)
serve-prod: install
	$(VENV)/bin/gunicorn -c gunicorn.conf.py app:server

## Debian's Chromium and its driver for the browser tests (installed when missing)
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		echo "installing chromium + chromium-driver"; \
		(apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null)); \
	fi

## Redis server for the shared-cache tests (installed when missing; the tests start their own)
redis:
	@command -v redis-server >/dev/null 2>&1 || { echo "installing redis-server"; \
		apt-get install -y -q redis-server >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null); }

## nginx, the load balancer of the benchmark's scale-out run (installed when missing; the benchmark starts its own
## on loopback with a generated configuration, never the system service)
nginx:
	@command -v nginx >/dev/null 2>&1 || { echo "installing nginx"; \
		apt-get install -y -q nginx-light >/dev/null 2>&1 || apt-get install -y -q nginx >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && apt-get install -y -q nginx >/dev/null); }

## LibreOffice Impress and poppler (pdftoppm) to render decks to pictures (installed when missing)
office:
	@if ! command -v soffice >/dev/null 2>&1 || ! command -v pdftoppm >/dev/null 2>&1; then \
		echo "installing libreoffice-impress + poppler-utils"; \
		(apt-get install -y -q libreoffice-impress poppler-utils >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null && apt-get install -y -q libreoffice-impress poppler-utils >/dev/null)); \
	fi

## A sample deck and offline report, rendered to look at: deck-render/deck-NN.png (LibreOffice -> PDF -> PNG
## at 1280x720) and deck-render/report-NN.png (the HTML in headless Chromium, outside hosts unreachable)
deck-render: install-test browser office
	$(PY) tests/render_deck.py deck-render

## Whole test suite, in TEST_WORKERS processes (pytest-xdist; each test file stays in one process, so its
## module fixtures are built once; servers, browsers and Redis are started per process on free ports)
TEST_WORKERS ?= 2
test: install-test browser redis
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

$(VENV)/.installed-load: pyproject.toml $(VENV)/.installed
	$(PIP) install --quiet -e ".[load]"
	touch $@

## Four loads of 20 simulated users for 60 s each against the production server on loopback: walking
## the pages, the same behind Basic auth, the same with slow clients trickling bodies, and a cache-filling
## load (a new filter on every request); prints the figures (about 5 minutes)
loadtest: $(VENV)/.installed-load
	$(PY) loadtest/run.py --users 20 --seconds 60

## Performance benchmark (not part of `make test`): LSO-088, two generated studies (300 and 5,000 subjects) and
## R, a generated study in ADaMIG shape (251 MB of XPT v5), under gunicorn: cold start first and from the start
## cache, every page's callbacks, memory, naive and floor times, a browser click, the grid drawn in Chromium,
## the MMRM figure, then the scale-out run (2 hosts behind nginx sharing Redis, 100 users for 60 s); prints
## the table and writes bench-results/bench-latest.json (about 25 minutes on 2 cores)
bench: install-test $(VENV)/.installed-load browser redis nginx
	$(PY) -m bench.run

## Regenerate the R reference values of the statistics tests (tests/r/ref_*.csv; needs R with nlme, lme4,
## lmerTest, pbkrtest, numDeriv, exactRankTests: Debian r-base-core r-cran-*; about 6 minutes). `make test` reads the CSVs.
r-reference: install
	$(PY) tests/r/make_inputs.py
	Rscript tests/r/reference.R

## Regenerate the simulated LSO-088 dataset and its lock (deterministic)
data: install
	$(PY) -m data.generate_lso088

clean:
	rm -rf $(VENV) .pytest_cache deck-render
