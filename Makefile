# The two commands: `make run` serves the model, `make test` proves it works.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
TENSORFLOW_STAMP := $(VENV)/.tensorflow-installed
DEV_STAMP := $(VENV)/.dev-installed

.DEFAULT_GOAL := help
.PHONY: help install install-tensorflow install-dev run test lint bandit audit security unit integration test-service service-url-set mutate train evaluate grpc-code samples bench stress abuse clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(RUNTIME_STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(TENSORFLOW_STAMP): $(RUNTIME_STAMP) requirements-tensorflow.txt
	$(BIN)/python -m pip install --quiet -r requirements-tensorflow.txt
	touch $@

$(DEV_STAMP): $(TENSORFLOW_STAMP) requirements-dev.txt scripts/install-debian-tool.sh scripts/install-browser.sh scripts/install-hey.sh scripts/install-prometheus.sh
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	sh scripts/install-browser.sh
	sh scripts/install-hey.sh
	sh scripts/install-prometheus.sh
	touch $@

install: $(RUNTIME_STAMP)  ## create .venv with the runtime dependencies (ONNX Runtime, no TensorFlow)

install-tensorflow: $(TENSORFLOW_STAMP)  ## add TensorFlow to .venv (~1.6 GB), for INFERENCE_RUNTIME=tensorflow

install-dev: $(DEV_STAMP)  ## add the test, lint and evaluation tools to .venv

run: $(RUNTIME_STAMP)  ## serve on 0.0.0.0:$PORT (default 5000) with gunicorn
	@$(BIN)/python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is None)' \
	  || echo 'make run: ONNX Runtime serves the model; TensorFlow (INFERENCE_RUNTIME=tensorflow) is not installed: make install-tensorflow'
	$(BIN)/gunicorn --config gunicorn.conf.py 'app:create_app()'

test: lint bandit  ## lint and bandit, then every test (unit, integration, browser)
	$(BIN)/python -m pytest

lint: $(DEV_STAMP)  ## ruff (lint and format) and mypy on the code, hadolint on the Dockerfile
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

bandit: $(DEV_STAMP)  ## bandit (security linter) on the service's code
	$(BIN)/bandit -q -r api core app.py config.py gunicorn.conf.py gunicorn_worker.py

audit: $(DEV_STAMP)  ## pip-audit on both images' requirements (needs the vulnerability database online; accepted IDs in .pip-audit-allowlist)
	$(BIN)/pip-audit --strict --requirement requirements-tensorflow.txt $$(sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*\).*/--ignore-vuln \1/p' .pip-audit-allowlist)

security: bandit audit  ## bandit and pip-audit

unit: $(DEV_STAMP)  ## the fast tests only (no server process)
	$(BIN)/python -m pytest -m "not integration"

integration: $(DEV_STAMP)  ## the tests that start a real gunicorn server
	$(BIN)/python -m pytest -m integration

# First of its prerequisites: no install runs before a missing SERVICE_URL is reported.
service-url-set:
	@test -n "$(SERVICE_URL)" || { echo "make test-service needs SERVICE_URL, the base URL of a running service:" \
	  "make test-service SERVICE_URL=http://localhost:5000" >&2; exit 2; }

test-service: service-url-set $(DEV_STAMP)  ## the integration tests against a running service: make test-service SERVICE_URL=http://localhost:5000
	SERVICE_URL='$(SERVICE_URL)' $(BIN)/python -m pytest -m integration $(ARGS)

# make mutate: mutation testing (mutmut, configured in pyproject.toml) against the unit tests; docs/mutation-testing.md.
# No PATHS: every mutant of core/ and api/, keeping the verdicts of functions unchanged since the last run (the first
# run takes hours here). PATHS='core/batching.py api/v2/': those files' or folders' mutants only, all run afresh.
PATHS ?=
MUTATE_JOBS ?= 1
dotted = $(subst /,.,$(patsubst %/,%,$(patsubst %.py,%,$(1))))
mutant_globs = $(foreach p,$(PATHS),'$(if $(filter %/__init__.py,$(p)),$(call dotted,$(p:%/__init__.py=%)).x*,$(call dotted,$(p)).*)')
mutate: $(DEV_STAMP)  ## mutation testing of core/ and api/ (or PATHS='core/batching.py api/v2/') against the unit tests
	nice -n 10 $(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(mutant_globs)
	$(BIN)/python -m tooling.mutation_scores $(or $(PATHS),core/ api/)

# The ten-class networks go to artifacts/ten-class/; train_none gives each its "none of the ten" output and writes
# the served files in assets/. Both networks are refits: their recipes were chosen on the validation senders by
# runs without --refit, and they then learn from those senders' photos too (training/README.md).
TEN_CLASS_DIR := artifacts/ten-class
train: $(DEV_STAMP)  ## retrain both networks on Fashion-MNIST and the photos, then "none of the ten", then export them to ONNX (~75-85 min on 2 cores; RESUME=1 carries on)
	$(BIN)/python -m training.train --refit --output $(TEN_CLASS_DIR)/fashion_mnist.h5 $(if $(RESUME),--resume) $(ARGS)
	$(BIN)/python -m training.train_photo --refit --output $(TEN_CLASS_DIR)/fashion_mnist_photo.h5 $(if $(RESUME),--resume) $(PHOTO_ARGS)
	$(BIN)/python -m training.train_none --network fashion_mnist --refit $(if $(RESUME),--resume) $(NONE_ARGS)
	$(BIN)/python -m training.train_none --network photo --refit $(if $(RESUME),--resume) $(NONE_ARGS)
	$(BIN)/python -m training.export_onnx
	$(BIN)/python -m training.export_onnx --network photo

evaluate: $(DEV_STAMP)  ## measure the shipped model on the test set; rewrite assets/MODEL_CARD.md
	$(BIN)/python -m training.evaluate

grpc-code: $(DEV_STAMP)  ## regenerate api/grpc/grpc_predict_v2.binpb (the gRPC messages) from its .proto with protoc
	$(BIN)/python -m tooling.grpc_code

samples: $(DEV_STAMP)  ## rewrite samples/ from the official test set
	$(BIN)/python -m training.export_samples

bench: $(DEV_STAMP)  ## serving speed: ours vs a seed-style and a bare server (benchmarks/results/; needs hey: make install-hey)
	$(BIN)/python -m benchmarks.bench

stress: $(DEV_STAMP)  ## 20 000 mixed requests at concurrency 32, a worker SIGKILLed, SIGTERM under load
	$(BIN)/python -m benchmarks.stress

BASELINE ?= 1b6bfdb
abuse: $(DEV_STAMP)  ## normal predictions during idle, slow and reconnecting clients, this code against BASELINE's
	$(BIN)/python -m benchmarks.abuse --baseline $(BASELINE)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts mutants
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: classify install-browser install-hey install-prometheus

IMAGES ?= samples
classify: $(RUNTIME_STAMP)  ## classify image files, folders or globs in-process: make classify IMAGES='dir *.jpg' ARGS='--format jsonl'
	$(BIN)/python -m cli classify $(IMAGES) $(ARGS)

install-browser:  ## Debian's chromium for the browser tests, if missing (run as root)
	sh scripts/install-browser.sh

install-hey:  ## Debian's hey, the load generator of make bench, if missing (run as root)
	sh scripts/install-hey.sh

install-prometheus:  ## Debian's prometheus, which scrapes the real service in tests/test_prometheus.py, if missing (run as root)
	sh scripts/install-prometheus.sh

.PHONY: docker-verify kube-verify memory-verify
docker-verify: $(DEV_STAMP)  ## build both images with podman (no engine needed; as root), check them over HTTP, then kube-verify and memory-verify
	VENV_PYTHON=$(abspath $(BIN))/python bash deploy/docker/verify.sh

kube-verify: $(DEV_STAMP)  ## run deploy/kubernetes/deployment.yaml with podman kube play against the image, check the pod as the manifest says
	VENV_PYTHON=$(abspath $(BIN))/python bash deploy/docker/kube_verify.sh

memory-verify: $(DEV_STAMP)  ## the image's RSS per worker count, and the manifest's memory limit under hostile and mixed load
	VENV_PYTHON=$(abspath $(BIN))/python bash deploy/docker/memory_verify.sh
