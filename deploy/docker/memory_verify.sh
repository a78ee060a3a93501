#!/usr/bin/env bash
# `make memory-verify` (also step 9 of `make docker-verify`): the service's memory in its container, the figures
# deploy/kubernetes sizes its pods from, and proof that it survives the manifest's memory limit.
#
#  1. podman and $IMAGE as deploy/docker/common.sh sets them up and builds it (REUSE_IMAGES=1: as built); the
#     hostile-input corpus written by `python -m tests.hostile.make_corpus`.
#  2. python -m benchmarks.memory rss: for WORKERS=1, 2 and 4 (the manifest's other settings), the RSS of gunicorn's
#     master and workers idle, after the corpus, and at its peak during the corpus, 2 000 mixed requests at
#     concurrency 16, 32 40-megapixel images at concurrency 16 and 32 9 MiB uploads at concurrency 16.
#  3. python -m benchmarks.memory limit: the manifest's container with its memory and CPU limits (podman run --memory
#     --cpus) through the corpus, 2 000 mixed requests at concurrency 16 (every 16th a 40-megapixel image) and both
#     bursts: no OOM kill, no restart, no 5xx, its peak against the limit.
# Writes benchmarks/results/memory.json. Environment: as common.sh, and WORKER_COUNTS (default 1,2,4).
set -euo pipefail
# shellcheck source=deploy/docker/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
WORKER_COUNTS=${WORKER_COUNTS:-1,2,4}

step "1/3 podman, $IMAGE and the hostile-input corpus"
require_venv
setup_podman
ensure_base_image >/dev/null
build_image "$IMAGE" onnxruntime
corpus="$CACHE_DIR/hostile-corpus"
(cd "$REPO_DIR" && "$VENV_PYTHON" -m tests.hostile.make_corpus "$corpus" >/dev/null)
info "$(find "$corpus" -type f | wc -l) files in $corpus"

step "2/3 RSS per worker count (MiB; python -m benchmarks.memory rss)"
(cd "$REPO_DIR" && "$VENV_PYTHON" -m benchmarks.memory rss --image "$IMAGE" --corpus "$corpus" --workers "$WORKER_COUNTS") \
  || fail "a request failed (5xx or no answer) while measuring"

step "3/3 the manifest's memory limit (python -m benchmarks.memory limit)"
(cd "$REPO_DIR" && "$VENV_PYTHON" -m benchmarks.memory limit --image "$IMAGE" --corpus "$corpus") \
  || fail "the service did not survive the manifest's memory limit"
info "memory-verify PASSED (figures: benchmarks/results/memory.json)"
