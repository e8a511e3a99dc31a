# The two commands of the README: `make demo` and `make test`. Each builds .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint browser bench bench-control bench-dns-scan bench-analysis clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,control]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/censorcheck demo

lint: $(STAMP)
	$(BIN)/ruff check censorcheck tests bench
	$(BIN)/ruff format --check censorcheck tests bench
	$(BIN)/mypy

# pytest runs in a network namespace of its own holding only loopback, wherever the machine
# allows one (root, or unprivileged user namespaces): then no test can send a packet off this
# machine, even by mistake. Elsewhere it runs as is, and says so.
ISOLATED := $(shell command -v ip >/dev/null 2>&1 && unshare --net --map-root-user true 2>/dev/null && echo yes)

# The HTML report is checked in headless Chromium, Debian's package; installed when missing and
# this machine can (root with apt-get), otherwise that one test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends chromium >/dev/null; } || echo "no chromium: the report's browser test will be skipped"

test: lint browser
ifeq ($(ISOLATED),yes)
	@echo "pytest in a private network namespace: loopback only"
	unshare --net --map-root-user sh -c 'ip link set lo up && exec $(BIN)/pytest -q'
else
	@echo "pytest without network isolation (no user namespaces here)"
	$(BIN)/pytest -q
endif

bench: $(STAMP)
	$(BIN)/python bench/probe_bench.py

bench-control: $(STAMP)
	$(BIN)/python bench/control_bench.py

bench-analysis: $(STAMP)
	$(BIN)/python bench/analysis_bench.py

bench-dns-scan: $(STAMP)
	$(BIN)/python bench/dns_scan_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
