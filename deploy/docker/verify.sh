#!/usr/bin/env bash
# `make docker-verify`: build the real Dockerfile, both variants, and prove that they serve, that the Kubernetes
# manifest runs them and that the service survives the manifest's memory limit; on a machine with no Docker engine
# and no reachable image registry (podman, set up by deploy/docker/common.sh).
#
#  1. podman:      Debian's podman and runc, configured under $CACHE_DIR (common.sh: setup_podman).
#  2. base image:  a stand-in for python:3.11-slim made with debootstrap, once (common.sh: ensure_base_image).
#  3. build:       `docker build .` (RUNTIME=onnxruntime: no TensorFlow, at most MAX_IMAGE_MIB) and
#                  `docker build --build-arg RUNTIME=tensorflow .`, as $IMAGE and $IMAGE_TF; their sizes and
#                  layers; TensorFlow, Keras and h5py absent from the first and present in the second.
#  4. run:         $IMAGE as Kubernetes runs it: read-only root filesystem with a tmpfs on /tmp, no capabilities,
#                  no-new-privileges, published on 127.0.0.1:<free port>.
#  5. checks:      GET /model/metadata, POST /model/predict with samples/ (right labels), a non-image (400), the
#                  image's own HEALTHCHECK (`podman healthcheck run` and its recorded status), gunicorn as PID 1
#                  running as uid 10001, nothing written to the root filesystem (`podman diff`), no error logged;
#                  the same samples over gRPC with tritonclient.grpc, and the standard health check (grpc_check.py);
#                  then the integration suite against it, HTTP and gRPC: SERVICE_URL=... pytest -m integration.
#  6. tensorflow:  $IMAGE_TF with INFERENCE_RUNTIME=tensorflow serves the same answers; $IMAGE with
#                  INFERENCE_RUNTIME=tensorflow stops with gunicorn's boot-error code (3) and one clear line.
#  7. cold start:  `podman run` to the first 200 on /v2/health/ready, 3 times per image (and for $IMAGE_TF with
#                  INFERENCE_RUNTIME=tensorflow): the median.
#  8. kubernetes:  deploy/docker/kube_verify.sh (`make kube-verify`): `podman kube play` of deploy/kubernetes.
#  9. memory:      deploy/docker/memory_verify.sh (`make memory-verify`): RSS per worker count, and the manifest's
#                  memory limit under the hostile corpus and 2 000 mixed requests at concurrency 16.
#
# Containers are removed at the end; the images stay (tagged $IMAGE, $IMAGE_TF) for a faster next run. Any step that
# cannot run says which and why, and the script exits non-zero. Needs the dev environment (VENV_PYTHON, default
# .venv/bin/python: `make install-dev`; `make docker-verify` makes it). Environment: see common.sh, and
# MAX_IMAGE_MIB (default 400), COLD_STARTS (default 3), INTEGRATION (default 1; 0 leaves the suite out).
set -euo pipefail
# shellcheck source=deploy/docker/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MAX_IMAGE_MIB=${MAX_IMAGE_MIB:-400}
COLD_STARTS=${COLD_STARTS:-3}
INTEGRATION=${INTEGRATION:-1}

step "1/9 podman and runc"
require_venv
setup_podman

step "2/9 base image $BASE_IMAGE (stand-in made from Debian $BASE_SUITE packages)"
ensure_base_image

step "3/9 podman build of the unmodified Dockerfile: RUNTIME=onnxruntime (the default) and RUNTIME=tensorflow"
build_image "$IMAGE" onnxruntime
size_bytes=$SIZE_BYTES build_seconds=$BUILD_SECONDS
build_image "$IMAGE_TF" tensorflow
size_tf_bytes=$SIZE_BYTES
base_bytes=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")
info "sizes (podman image inspect, uncompressed): $IMAGE $(mib "$size_bytes"), $IMAGE_TF $(mib "$size_tf_bytes"); the stand-in base $(mib "$base_bytes")"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | awk -F'\t' '$1 != "0B" {printf "      %9s  %s\n", $1, substr($2, 1, 90)}'
(( size_bytes <= MAX_IMAGE_MIB * 1048576 )) || fail "$IMAGE is $(mib "$size_bytes"), over MAX_IMAGE_MIB=$MAX_IMAGE_MIB MiB"
info "PASS  $IMAGE is within $MAX_IMAGE_MIB MiB"
find_tf='import importlib.util as u, sys; found = [m for m in ("tensorflow", "keras", "h5py") if u.find_spec(m)]; print(" ".join(found) or "none")'
[[ "$(podman run --rm --network none "$IMAGE" python -c "$find_tf")" == none ]] \
  || fail "$IMAGE holds TensorFlow, Keras or h5py"
info "PASS  $IMAGE holds no TensorFlow, Keras or h5py"
[[ "$(podman run --rm --network none "$IMAGE_TF" python -c "$find_tf")" == "tensorflow keras h5py" ]] \
  || fail "$IMAGE_TF lacks TensorFlow, Keras or h5py"
info "PASS  $IMAGE_TF holds TensorFlow, Keras and h5py"

step "4/9 podman run $IMAGE (read-only root, tmpfs /tmp, no capabilities) on 127.0.0.1"
CONTAINER="max-fashion-mnist-verify-$$"
start=$(date +%s)
run_container "$CONTAINER" "$IMAGE"
if grep -q 'unable to get systemd connection' "$CACHE_DIR/run.err"; then
  info "(no systemd here, so podman cannot schedule the image's HEALTHCHECK every 30 s: step 5 runs it instead)"
fi
grep -v 'systemd connection' "$CACHE_DIR/run.err" | sed 's/^/    podman: /' || true
base_url="http://127.0.0.1:$PORT"
info "container $CONTAINER, $base_url"
wait_serving "$CONTAINER" "$base_url/model/metadata"
info "serving $(($(date +%s) - start)) s after start"

step "5/9 checks over HTTP and gRPC and of the running container; the integration suite against it"
"$PYTHON" "$HELPER" check "$base_url" "$REPO_DIR" onnxruntime || fail "HTTP checks failed"
grpc_address="127.0.0.1:$GRPC_PORT"
(cd "$REPO_DIR" && "$VENV_PYTHON" -m deploy.docker.grpc_check "$grpc_address") || fail "gRPC checks failed"
if podman healthcheck run "$CONTAINER" >/dev/null; then
  health=$(podman inspect --format '{{.State.Health.Status}}' "$CONTAINER" 2>/dev/null \
           || podman inspect --format '{{.State.Healthcheck.Status}}' "$CONTAINER")
  [[ "$health" == "healthy" ]] || fail "health status is '$health' after a passing health check"
  info "PASS  the image's HEALTHCHECK (podman healthcheck run): $health"
else
  fail "the image's HEALTHCHECK failed: $(podman inspect --format '{{json .State.Health}}' "$CONTAINER" 2>/dev/null | cut -c1-300)"
fi
pid1=$(podman exec "$CONTAINER" cat /proc/1/cmdline | tr '\0' ' ')
[[ "$pid1" == *gunicorn* ]] || fail "PID 1 is not gunicorn: $pid1"
info "PASS  PID 1: $pid1"
uid=$(podman exec "$CONTAINER" id -u)
[[ "$uid" == 10001 ]] || fail "the service runs as uid $uid, not 10001"
info "PASS  runs as uid $uid ($(podman exec "$CONTAINER" id -un))"
if [[ "$INTEGRATION" == 1 ]]; then
  info "SERVICE_URL=$base_url SERVICE_GRPC_ADDRESS=$grpc_address $VENV_PYTHON -m pytest -m integration -q (log: $CACHE_DIR/integration.log)"
  start=$(date +%s)
  (cd "$REPO_DIR" && SERVICE_URL="$base_url" SERVICE_GRPC_ADDRESS="$grpc_address" \
     "$VENV_PYTHON" -m pytest -m integration -q -p no:cacheprovider) \
    >"$CACHE_DIR/integration.log" 2>&1 || { tail -30 "$CACHE_DIR/integration.log" | sed 's/^/    | /'
                                              fail "the integration suite failed against $base_url"; }
  info "PASS  integration suite: $(tail -1 "$CACHE_DIR/integration.log") ($(($(date +%s) - start)) s)"
else
  info "SKIP  the integration suite (INTEGRATION=0)"
fi
# podman itself makes the mount points of /etc/hosts, /etc/hostname, /etc/resolv.conf and /run/.containerenv.
changes=$(podman diff "$CONTAINER" \
            | grep -v -E '^[AC] (/etc|/etc/(hosts|hostname|resolv\.conf)|/run|/run/\.containerenv)$|^[ACD] /tmp(/|$)' || true)
[[ -z "$changes" ]] || fail "the container changed its root filesystem: $(tr '\n' ' ' <<<"$changes")"
info "PASS  read-only root filesystem: serves, and \`podman diff\` shows no change beyond podman's own mount points"
podman logs "$CONTAINER" >"$CACHE_DIR/container.log" 2>&1
if grep -q -i 'read-only file system' "$CACHE_DIR/container.log"; then
  grep -i -B3 'read-only file system' "$CACHE_DIR/container.log" | head -20 | sed 's/^/    log| /'
  fail "the service tried to write outside /tmp (log: $CACHE_DIR/container.log)"
fi
problems=$(grep -c -E 'Traceback|\[(ERROR|CRITICAL)\]| (ERROR|CRITICAL) ' "$CACHE_DIR/container.log" || true)
[[ "$problems" == 0 ]] || fail "the service logged $problems error(s) (log: $CACHE_DIR/container.log)"
info "PASS  service log: no write outside /tmp, no error ($(wc -l <"$CACHE_DIR/container.log") lines: $CACHE_DIR/container.log)"
remove_container "$CONTAINER"

step "6/9 INFERENCE_RUNTIME=tensorflow: served by $IMAGE_TF, refused by $IMAGE"
run_container "$CONTAINER-tf" "$IMAGE_TF" --env INFERENCE_RUNTIME=tensorflow
wait_serving "$CONTAINER-tf" "http://127.0.0.1:$PORT/model/metadata"
"$PYTHON" "$HELPER" check "http://127.0.0.1:$PORT" "$REPO_DIR" tensorflow || fail "HTTP checks of $IMAGE_TF failed"
remove_container "$CONTAINER-tf"
run_container "$CONTAINER-no-tf" "$IMAGE" --env INFERENCE_RUNTIME=tensorflow
exit_code=$(timeout "$READY_TIMEOUT" podman wait "$CONTAINER-no-tf" || echo timeout)
log=$(podman logs "$CONTAINER-no-tf" 2>&1)
line=$(grep 'cannot start:' <<<"$log" | head -1 || true)
[[ "$exit_code" == 3 && "$line" == *"TensorFlow is not installed here"* ]] \
  || fail "$IMAGE with INFERENCE_RUNTIME=tensorflow: exit $exit_code, log: $(tail -5 <<<"$log")"
[[ "$log" != *Traceback* ]] || fail "a traceback instead of one line: $log"
info "PASS  $IMAGE with INFERENCE_RUNTIME=tensorflow exits with code 3 (gunicorn: worker failed to boot), logging:"
info "      ${line#*CRITICAL }"
remove_container "$CONTAINER-no-tf"

step "7/9 cold start: podman run to the first 200 on /v2/health/ready (median of $COLD_STARTS)"
cold_starts=()
for variant in "$IMAGE" "$IMAGE_TF" "$IMAGE_TF INFERENCE_RUNTIME=tensorflow"; do
  read -r image setting <<<"$variant"
  times=()
  for ((i = 1; i <= COLD_STARTS; i++)); do
    port=$("$PYTHON" "$HELPER" free-port)
    CONTAINERS+=("$CONTAINER-cold")
    times+=("$("$PYTHON" "$HELPER" cold-start "http://127.0.0.1:$port/v2/health/ready" "$READY_TIMEOUT" \
               podman run --detach --name "$CONTAINER-cold" --publish "127.0.0.1:$port:5000" \
               --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,mode=1777,size=512m --cap-drop=all \
               --security-opt=no-new-privileges ${setting:+--env "$setting"} "$image")") \
      || fail "$variant did not become ready"
    remove_container "$CONTAINER-cold"
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
  cold_starts+=("$variant: ${median} s")
  info "$variant: ${median} s (runs: ${times[*]} s)"
done

step "8/9 the Kubernetes manifest under podman kube play (deploy/docker/kube_verify.sh)"
REUSE_IMAGES=1 bash "$REPO_DIR/deploy/docker/kube_verify.sh" 2>&1 | sed -u '/^$/d; s/^/  /' \
  || fail "kube_verify.sh failed"

step "9/9 memory: RSS per worker count, and the manifest's memory limit (deploy/docker/memory_verify.sh)"
REUSE_IMAGES=1 bash "$REPO_DIR/deploy/docker/memory_verify.sh" 2>&1 | sed -u '/^$/d; s/^/  /' \
  || fail "memory_verify.sh failed"

STEP="done"
printf '\n==> [%s] done\n' "$(date +%H:%M:%S)"
info "docker-verify PASSED ($(date -u +%Y-%m-%d)):"
info "  $IMAGE (RUNTIME=onnxruntime): $(mib "$size_bytes"); built in ${build_seconds} s"
info "  $IMAGE_TF (RUNTIME=tensorflow): $(mib "$size_tf_bytes")"
info "  cold start, podman run to ready (median of $COLD_STARTS): $(printf '%s; ' "${cold_starts[@]}")"
info "  deploy/kubernetes ran under podman kube play; the memory figures: benchmarks/results/memory.json"
info "(remove the images: podman rmi $IMAGE $IMAGE_TF, with CONTAINERS_CONF/CONTAINERS_STORAGE_CONF as above; everything: rm -rf $CACHE_DIR)"
