# The two commands of the README: `make demo` and `make test`. Each builds .venv when missing,
# from the lock: uv.lock, installed by uv, which pip first installs by hash from requirements/uv.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LATEST := .venv-latest

.PHONY: demo test fuzz test-latest lock lock-upgrade lint browser nftables dig bench bench-control bench-dns-scan \
	bench-analysis clean

# uv sync --locked refuses a lock that no longer matches pyproject.toml, so a dependency change
# without `make lock` fails here rather than installing something unreviewed. --inexact keeps
# pip and uv themselves in the venv. Bytecode is compiled here, once: where
# PYTHONDONTWRITEBYTECODE is set (as on this machine) Python would otherwise compile every module
# from source at every start, which cost a run 2.5 s of CPU before it measured anything, and as
# much again in every worker process.
$(STAMP): pyproject.toml uv.lock requirements/uv.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements/uv.txt
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --quiet --locked --inexact --compile-bytecode \
		--extra dev --extra control
	$(BIN)/python -m compileall -q censorcheck
	touch $(STAMP)

# Refresh the lock after editing dependencies (keeps every other version), or move every
# package to the newest version its range allows.
lock: $(STAMP)
	$(BIN)/uv lock
lock-upgrade: $(STAMP)
	$(BIN)/uv lock --upgrade

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

# The kernel-level censor of the lab (tests/test_netns.py) needs nftables, Debian's package,
# installed the same way; without it those tests are skipped and say why.
nftables:
	@command -v nft >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends nftables >/dev/null; } || echo "no nftables: the kernel-level lab tests will be skipped"

# Tests run in parallel, one worker per core (at most 4), a whole file to a worker: a file's
# module-scoped fixtures (a lab, the kernel-level censor's addresses) then exist once.
PYTEST_ARGS = -q --numprocesses=auto --maxprocesses=4 --dist=loadfile
PYTEST_ISOLATED = unshare --net --map-root-user sh -c 'ip link set lo up && exec $(1)/pytest $(PYTEST_ARGS)'

test: lint browser nftables
ifeq ($(ISOLATED),yes)
	@echo "pytest in a private network namespace: loopback only"
	$(call PYTEST_ISOLATED,$(BIN))
else
	@echo "pytest without network isolation (no user namespaces here)"
	$(BIN)/pytest $(PYTEST_ARGS)
endif

# Property tests of every parser of user and network input (tests/fuzz, and the fast DNS reply
# reader against dnspython), with hypothesis's "fuzz" profile: 10,000 fresh inputs per parser
# instead of make test's few dozen, and the count of each in the statistics at the end. Tens of
# minutes on two cores. Native tracebacks: pytest cannot render some of a deep recursion's frames.
FUZZ_ARGS = tests/fuzz tests/dns/test_dns_reply.py -q --numprocesses=auto --maxprocesses=4 --dist=loadfile \
	--hypothesis-profile=fuzz --hypothesis-show-statistics --tb=native

fuzz: $(STAMP)
ifeq ($(ISOLATED),yes)
	unshare --net --map-root-user sh -c 'ip link set lo up && exec $(BIN)/pytest $(FUZZ_ARGS)'
else
	$(BIN)/pytest $(FUZZ_ARGS)
endif

# Not run by CI: the suite against the newest release of every dependency its ranges allow, in
# a venv of its own, so that drift shows here before a lock refresh meets it.
test-latest: $(STAMP) browser nftables
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	VIRTUAL_ENV=$(LATEST) $(BIN)/uv pip install --quiet --upgrade -e '.[dev,control]'
	$(LATEST)/bin/python -m pip list --format=freeze 2>/dev/null | grep -v '^censorcheck' > $(LATEST)/versions.txt
	@echo "newest allowed versions: $(LATEST)/versions.txt"
ifeq ($(ISOLATED),yes)
	$(call PYTEST_ISOLATED,$(LATEST)/bin)
else
	$(LATEST)/bin/pytest $(PYTEST_ARGS)
endif

# The benchmark's baseline resolves with dig (Debian's bind9-dnsutils), installed the same way;
# without it the baseline is curl alone, over DoH, and says so.
dig:
	@command -v dig >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends bind9-dnsutils >/dev/null; } || echo "no dig: the baseline will be curl over DoH"

bench: $(STAMP) dig
	$(BIN)/python bench/probe_bench.py

bench-control: $(STAMP)
	$(BIN)/python bench/control_bench.py

bench-analysis: $(STAMP)
	$(BIN)/python bench/analysis_bench.py

bench-dns-scan: $(STAMP)
	$(BIN)/python bench/dns_scan_bench.py

clean:
	rm -rf $(VENV) $(LATEST) .mypy_cache .pytest_cache .ruff_cache
