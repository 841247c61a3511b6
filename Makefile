# The two entry points a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint tools dashboards k8s bench stress

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: install
	$(BIN)/cxpulse demo

lint: install
	$(BIN)/ruff check .

# The test suite runs a real Prometheus and promtool (Debian's prometheus package), and a real
# Apache Kafka from Maven Central (needs Java 17+ and Maven).
tools:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing Prometheus and promtool (Debian package prometheus) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null; } \
	  || { echo "cannot install the prometheus package: install Prometheus 2.x so promtool is on PATH"; exit 1; }
	@command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 \
	  || { echo "the tests need Java 17+ and Maven on PATH to run Apache Kafka"; exit 1; }
	@command -v kubectl >/dev/null 2>&1 \
	  || { echo "the tests render deploy/k8s with kubectl (kustomize built in): install kubectl"; exit 1; }

# The benchmark (not a test): 1 M events through five consumers on one Apache Kafka; see docs/performance.md.
bench: install tools
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)

dashboards: install
	$(BIN)/python deploy/grafana/dashboards.py
	$(BIN)/python deploy/k8s/generate.py

# The Kubernetes objects that repeat the alerting rules and the dashboards (deploy/k8s/base).
k8s: install
	$(BIN)/python deploy/k8s/generate.py

test: lint tools
	$(BIN)/pytest

# Rebalance races are rare: run the churn test several times over (STRESS_RUNS, default 5).
STRESS_RUNS ?= 5
stress: install tools
	for i in $$(seq $(STRESS_RUNS)); do $(BIN)/pytest -m stress -q || exit 1; done
