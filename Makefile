# The documented entry points. `make demo` runs the main job, `make test` the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export MODELPILOT_CACHE ?= $(HOME)/.cache/modelpilot
K8S_VERSION := $(shell . hack/k8s/versions.env && echo $$K8S_VERSION)
K8S_BIN := $(MODELPILOT_CACHE)/k8s/$(K8S_VERSION)/bin
export PATH := $(abspath $(VENV))/bin:$(K8S_BIN):$(PATH)

# Who runs the pods: the real node (kubelet + containerd running the built images; the
# default since the whole e2e suite passed on it) or the node agent (pods as processes of the
# virtualenv, MODELPILOT_NODE=agent). docs/development.md says what runs where.
export MODELPILOT_NODE ?= kubelet
NODE_DEPS := $(if $(filter kubelet,$(MODELPILOT_NODE)),node-bin images,)

# With MODELPILOT_NODE=agent, `make test` also runs the real-node stage: the e2e
# files below on a kubelet node of its own cluster, index 10 + this session's index (CI's 0
# gets 10, a developer's 3 gets 13), so it never meets the agent cluster or another session's.
REAL_NODE_INDEX ?= $(shell echo $$((10 + $${MODELPILOT_CLUSTER_INDEX:-0})))
REAL_NODE_E2E ?= tests/e2e/test_real_node.py
REAL_NODE_STAGE := $(if $(filter agent,$(MODELPILOT_NODE)),test-e2e-node,)

.PHONY: help prereqs venv lint test test-unit test-e2e test-e2e-node oracles k8s-bin node-bin registry-bin release images cluster-up cluster-down demo clean

help:
	@echo "make demo          train, gate, canary and promote the iris example on a local cluster"
	@echo "make test          the whole suite: lint, unit and e2e (builds what it needs)"
	@echo "make test-e2e      the e2e suite on E2E_WORKERS=$(E2E_WORKERS) local clusters side by side"
	@echo "make test-unit     unit tests only (no cluster)"
	@echo "make test-e2e-node the real-node e2e stage: a kubelet cluster, started clean, torn down"
	@echo "make k8s-bin       build kube-apiserver, kubectl, etcd, helm ... into $(K8S_BIN)"
	@echo "make node-bin      build kubelet, containerd, runc and pause into $(K8S_BIN)"
	@echo "make images        build modelpilot/{operator,serving,trainer}:dev with buildah, smoke-check them"
	@echo "make cluster-up    start the local control plane and node; make cluster-down stops it"
	@echo "make release VERSION=x.y.z  push images, chart and dist/ to MODELPILOT_REGISTRY"

# The virtualenv is rebuilt when pyproject.toml changes; pip's wheel cache (outside the
# clone) makes that fast the second time.
prereqs:
	@hack/prereqs.sh

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: prereqs $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check .
	# The editable install hides the namespace's folders behind an import hook; name them
	# so import-linter's static scan finds every component.
	PYTHONPATH=api:operator:serving:trainer $(VENV)/bin/lint-imports
	# Types: strict for api/ and operator/.../rollout/ ([tool.mypy] in pyproject.toml).
	$(VENV)/bin/mypy api/modelpilot operator/modelpilot

test-unit: venv
	$(PY) -m pytest tests/unit -q -p no:cacheprovider

# KServe's and Triton's clients in their own virtualenv (their pins clash with ours), outside
# the clone; tests/unit/serving/test_serving_clients.py also creates it on first use.
oracles:
	@hack/oracles/venv.sh

# The e2e suite on E2E_WORKERS clusters side by side (pytest-xdist): worker K on cluster index
# MODELPILOT_CLUSTER_INDEX + K, each started and stopped by the suite unless already up.
# Work goes out a module at a time, longest first (tests/e2e/conftest.py); E2E_WORKERS=0 runs it in
# this one process on MODELPILOT_CLUSTER_INDEX.
E2E_WORKERS ?= 2
test-e2e: venv k8s-bin $(NODE_DEPS)
	$(PY) -m pytest tests/e2e -q -p no:cacheprovider -n $(E2E_WORKERS) --dist loadfile --no-loadscope-reorder

# The real-node stage: a kubelet-node cluster at REAL_NODE_INDEX, stopped first (a leftover
# from a killed run is swept) and always at the end, even when a test fails. pytest's exit
# 5 (nothing collected) fails it like a failed test; test_real_node.py fails rather than
# skips when MODELPILOT_NODE=kubelet but the node is not a containerd one.
test-e2e-node: venv k8s-bin node-bin images
	@export MODELPILOT_NODE=kubelet MODELPILOT_CLUSTER_INDEX=$(REAL_NODE_INDEX); \
	lc() { PYTHONPATH=hack $(PY) -m localcluster "$$@"; }; \
	lc down >/dev/null; trap 'lc down >/dev/null' EXIT; \
	echo "real-node e2e on cluster index $$MODELPILOT_CLUSTER_INDEX: $(REAL_NODE_E2E)"; \
	lc up >/dev/null && $(PY) -m pytest $(REAL_NODE_E2E) -q -p no:cacheprovider

# Unit tests first: they fail in seconds, the e2e suite needs the cluster. Then the real
# node's stage when the suite ran on the agent (with the default MODELPILOT_NODE=kubelet,
# test-e2e already runs every file, test_real_node.py included, on the real node).
test: lint test-unit test-e2e $(REAL_NODE_STAGE)

# Its progress and the bin directory go to stderr, so `eval "$(make -s cluster-up)"` works.
k8s-bin: prereqs
	@hack/k8s/build.sh >&2

node-bin: prereqs
	@hack/k8s/build.sh node >&2

# CNCF Distribution's registry, what a release is pushed to (hack/localcluster/registry.py).
registry-bin: prereqs
	@hack/k8s/build.sh registry >&2

# The three images on a base built from Debian packages (hack/images/README.md); skipped when
# their inputs are unchanged. The smoke check runs each once with the built runc.
images: prereqs node-bin
	@hack/images/build.sh

# The local control plane and node (hack/localcluster, hack/nodeagent; docs/development.md).
# Idempotent: a running healthy cluster is left alone. State and logs: $(MODELPILOT_CACHE)/cluster.
cluster-up: venv k8s-bin $(NODE_DEPS)
	@PYTHONPATH=hack $(PY) -m localcluster up

cluster-down:
	@PYTHONPATH=hack $(PY) -m localcluster down

# The chart ships the very CRD files of manifests/crd (tests/unit/packaging checks they are
# byte-identical): run after regenerating the CRD.
sync-crds:
	rm -f charts/modelpilot/crds/*.yaml
	find manifests/crd -maxdepth 1 -name '*.yaml' ! -name kustomization.yaml \
		-exec cp {} charts/modelpilot/crds/ \;

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
