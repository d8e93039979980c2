# The documented entry points. `make demo` runs the main job, `make test` the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export MODELPILOT_CACHE ?= $(HOME)/.cache/modelpilot
K8S_VERSION := $(shell . hack/k8s/versions.env && echo $$K8S_VERSION)
K8S_BIN := $(MODELPILOT_CACHE)/k8s/$(K8S_VERSION)/bin
export PATH := $(abspath $(VENV))/bin:$(K8S_BIN):$(PATH)

.PHONY: help prereqs venv lint fmt test test-unit values-table test-e2e oracles k8s-bin node-bin prometheus-bin registry-bin release images cluster-up cluster-down gen-crd sync-crds demo clean

help:
	@echo "make demo          train, gate, canary and promote the iris example on a local cluster"
	@echo "make test          the whole suite: lint, unit and e2e (builds what it needs)"
	@echo "make test-e2e      the e2e suite on E2E_WORKERS=$(E2E_WORKERS) local clusters side by side"
	@echo "make test-unit     unit tests only (no cluster)"
	@echo "make lint          ruff format --check, ruff, import-linter, mypy (.pre-commit-config.yaml's hooks)"
	@echo "make fmt           ruff format and ruff's safe fixes"
	@echo "make gen-crd       regenerate the CRD from modelpilot.api, and the chart's copy"
	@echo "make k8s-bin       build kube-apiserver, kubectl, etcd, helm ... into $(K8S_BIN)"
	@echo "make node-bin      build kubelet, containerd, runc and pause into $(K8S_BIN)"
	@echo "make prometheus-bin build prometheus and promtool (alert rule tests, dashboard e2e)"
	@echo "make images        build modelpilot/{operator,serving,trainer}:dev with buildah, smoke-check them"
	@echo "make cluster-up    start the local control plane and node; make cluster-down stops it"
	@echo "make release VERSION=x.y.z  push images, chart and dist/ to MODELPILOT_REGISTRY"

# System tools (apt: Go, buildah, CNI plugins ...) for what builds or runs the cluster only:
# the virtualenv, `make lint` and `make test-unit` need python3 and nothing else.
prereqs:
	@hack/prereqs.sh

# The virtualenv is rebuilt when pyproject.toml changes; pip's wheel cache (outside the
# clone) makes that fast the second time.
# A download cut off mid-wheel (PyPI through a flaky link) is retried whole, three times.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	hack/retry.sh 3 $(PY) -m pip install -q --upgrade pip
	hack/retry.sh 3 $(PY) -m pip install -q --retries 10 --timeout 60 -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	# The editable install hides the namespace's folders behind an import hook; name them
	# so import-linter's static scan finds every component.
	PYTHONPATH=api:operator:serving:trainer $(VENV)/bin/lint-imports
	# Types: strict for api/ and operator/.../rollout/ ([tool.mypy] in pyproject.toml).
	$(VENV)/bin/mypy api/modelpilot operator/modelpilot

# A bare `make test-unit` needs neither apt nor Go: the few tests that need promtool or
# Chromium skip, naming what is missing. Under `make test` (what CI runs) both tools are
# installed first and REQUIRE_TOOLS=1 makes those tests fail instead of skipping.
REQUIRE_TOOLS ?=
test-unit: venv
	MODELPILOT_REQUIRE_TOOLS=$(REQUIRE_TOOLS) $(PY) -m pytest tests/unit -q -p no:cacheprovider

# KServe's and Triton's clients in their own virtualenv (their pins clash with ours), outside
# the clone; tests/unit/serving/test_serving_clients.py also creates it on first use.
oracles:
	@hack/oracles/venv.sh

# The e2e suite on E2E_WORKERS clusters side by side (pytest-xdist): worker K on cluster index
# MODELPILOT_CLUSTER_INDEX + K, each started and stopped by the suite unless already up.
# Work goes out a module at a time, longest first (tests/e2e/conftest.py); E2E_WORKERS=0 runs it in
# this one process on MODELPILOT_CLUSTER_INDEX.
E2E_WORKERS ?= 2
test-e2e: venv k8s-bin prometheus-bin node-bin registry-bin images
	$(PY) -m pytest tests/e2e -q -p no:cacheprovider -n $(E2E_WORKERS) --dist loadfile --no-loadscope-reorder

# Unit tests first: they fail in seconds, the e2e suite needs the cluster. The pinned helm
# (k8s-bin) renders the chart in a unit test (test_chart_downgrade.py).
test: REQUIRE_TOOLS = 1
test: prereqs prometheus-bin k8s-bin lint test-unit test-e2e

# Its progress and the bin directory go to stderr, so `eval "$(make -s cluster-up)"` works.
k8s-bin: prereqs
	@hack/k8s/build.sh >&2

node-bin: prereqs
	@hack/k8s/build.sh node >&2

# Prometheus and promtool from the Go module proxy (hack/prometheus/build.sh).
prometheus-bin: prereqs
	@hack/prometheus/build.sh >&2

# CNCF Distribution's registry, what a release is pushed to (hack/localcluster/registry.py).
registry-bin: prereqs
	@hack/k8s/build.sh registry >&2

# The three images on a base built from Debian packages (hack/images/README.md); skipped when
# their inputs are unchanged. The smoke check runs each once with the built runc.
images: prereqs node-bin
	@hack/images/build.sh

# The local control plane and its kubelet node (hack/localcluster; docs/development.md).
# Idempotent: a running healthy cluster is left alone. State and logs: $(MODELPILOT_CACHE)/cluster.
cluster-up: venv k8s-bin node-bin registry-bin images
	@PYTHONPATH=hack $(PY) -m localcluster up

cluster-down:
	@PYTHONPATH=hack $(PY) -m localcluster down

# docs/install.md's table of chart values, generated from values.schema.json and values.yaml
# (tests/unit/packaging/test_docs_truth.py fails when it is stale): run after changing either.
values-table:
	$(PY) hack/gen_values_table.py

# Formats the tree and applies ruff's safe fixes: what `make lint` checks.
fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The CRD from the pydantic types in api/ (hack/gen_crd.py), and the chart's copy: the chart
# ships the very CRD files of manifests/crd (tests/unit/packaging checks they are
# byte-identical). Run after changing a spec or status type.
gen-crd: venv
	$(PY) hack/gen_crd.py
	rm -f charts/modelpilot/crds/*.yaml
	find manifests/crd -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml \
		-exec cp {} charts/modelpilot/crds/ \;

# The old name, from when it only copied.
sync-crds: gen-crd

# Publish VERSION to MODELPILOT_REGISTRY (default: the local cluster's registry, started when
# needed): the three images, the chart (oci://REGISTRY/charts/modelpilot), and dist/VERSION/
# with manifests/, the wheel and sdist, the notes (hack/release/release.sh says each step).
release: venv images registry-bin
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z" >&2; exit 2; }
	@hack/release/release.sh $(VERSION)

# The main job: the iris example from `kubectl apply` to a served prediction (hack/demo.py).
# DEMO_ARGS="--runs 5" measures apply -> Ready; "--keep-operator" leaves the operator running.
demo: cluster-up
	@$(PY) hack/demo.py $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
