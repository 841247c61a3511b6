# The two entry points a newcomer needs: `make demo` and `make test`.
#
# Every install comes from uv.lock (exact versions with their hashes, for the runtime and for each
# extra), through uv, which installs itself into .tools/ on first use. `make lock` refreshes the lock
# after a change to pyproject.toml; `make lock LOCK_ARGS=--upgrade` moves every pin to the newest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := .tools/bin/uv
# --system-certs: the operating system's CAs (a company proxy's CA works as it does for pip).
SYNC := UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet --system-certs --python $(PYTHON)
DEMO_ARGS ?=

.PHONY: install install-test demo test lint lock tools dashboards rules k8s bench stress backtest

$(UV):
	@$(PYTHON) -m venv .tools
	@.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The runtime alone (what `make demo` needs); keeps extras a previous `make test` installed.
install: $(UV)
	@$(SYNC) --inexact

# The runtime and the test tools, exactly as locked.
install-test: $(UV)
	@$(SYNC) --extra test

lock: $(UV)
	$(UV) lock --system-certs $(LOCK_ARGS)

# Pass options on with DEMO_ARGS, e.g. make demo DEMO_ARGS="--web-port 6070 --ingest-port 8090"
demo: install
	$(BIN)/cxpulse demo $(DEMO_ARGS)

lint: install-test
	$(BIN)/ruff check .

# The test suite runs a real Prometheus and promtool (Debian's prometheus package), a real
# Apache Kafka from Maven Central (needs Java 17+ and Maven), and renders the interval report in
# a real browser (Debian's chromium package).
tools:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing Prometheus and promtool (Debian package prometheus) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; } \
	  || { echo "cannot install the prometheus package: install Prometheus 2.x so promtool is on PATH"; exit 1; }
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Chromium (Debian package chromium) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "cannot install the chromium package: install Chromium so chromium is on PATH"; exit 1; }
	@command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 \
	  || { echo "the tests need Java 17+ and Maven on PATH to run Apache Kafka"; exit 1; }
	@command -v kubectl >/dev/null 2>&1 \
	  || { echo "the tests render deploy/k8s with kubectl (kustomize built in): install kubectl"; exit 1; }

# The benchmark (not a test): 1 M events through five consumers on one Apache Kafka; see docs/performance.md.
bench: $(UV) tools
	@$(SYNC) --extra test --extra bench
	$(BIN)/python bench/run.py $(BENCH_ARGS)

dashboards: install-test
	$(BIN)/python deploy/grafana/dashboards.py
	$(BIN)/python deploy/k8s/generate.py

# The SLO recording rules and burn-rate alerts, from deploy/prometheus/slo.yml.
rules: install-test
	$(BIN)/python deploy/prometheus/slo.py
	$(BIN)/python deploy/k8s/generate.py

# The Kubernetes objects that repeat the alerting rules and the dashboards (deploy/k8s/base).
k8s: install-test
	$(BIN)/python deploy/k8s/generate.py

test: lint tools
	$(BIN)/pytest

# Rebalance races are rare: run the churn test several times over (STRESS_RUNS, default 5).
STRESS_RUNS ?= 5
stress: install-test tools
	for i in $$(seq $(STRESS_RUNS)); do $(BIN)/pytest -m stress -q || exit 1; done

# Alert backtest: a small and a large simulated centre, four weeks with incidents after two of
# history, the shipped alerts against the earlier ones (BACKTEST_ARGS="--help" for the options).
backtest: install-test tools
	$(BIN)/python bench/backtest.py $(BACKTEST_ARGS)
