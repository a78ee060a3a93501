#!/usr/bin/env bash
# `make kube-verify` (also step 8 of `make docker-verify`): run deploy/kubernetes/deployment.yaml with
# `podman kube play` against the locally built image, and check that the pod runs as the manifest says.
#
#  1. podman and the image: as deploy/docker/common.sh sets them up and builds it (REUSE_IMAGES=1: as built).
#  2. play:     a generated copy of the Deployment, changed only where podman needs it: the image is the local tag
#               ($IMAGE) and the http port gets a hostPort on 127.0.0.1 (podman 4.3's `kube play` has no --publish).
#  3. checks:   the pod's container as the kernel runs it (read on the host from its PID 1 and its cgroup): user and
#               group, no capabilities, no-new-privileges, seccomp filter, the memory and CPU limits; the read-only
#               root (a write fails; /tmp, the emptyDir, takes it), the env; the startup, readiness and liveness
#               probes' HTTP GETs run here with their timeouts (podman cannot schedule probes here: no systemd);
#               a prediction through the published port.
#  4. down:     `podman kube down` removes the pod, and nothing of it is left.
#
# What podman does not emulate (docs/operations.md): the Service (its load balancing; it is not played), the
# HorizontalPodAutoscaler, probe scheduling (and restarts on a failing liveness probe), the Deployment controller
# (replicas, rolling updates, replacing a deleted pod), requests as scheduling figures.
set -euo pipefail
# shellcheck source=deploy/docker/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
MANIFEST="$REPO_DIR/deploy/kubernetes/deployment.yaml"
kube_helper() {  # deploy/docker/kube_helper.py, as a module of the repository (it imports tooling/kube.py)
  (cd "$REPO_DIR" && "$VENV_PYTHON" -m deploy.docker.kube_helper "$@")
}
PLAYED="$CACHE_DIR/kube-deployment.yaml"
POD=""

on_exit() {  # called by common.sh's cleanup
  if [[ -n "$POD" ]]; then
    podman kube down "$PLAYED" >/dev/null 2>&1 || true
    info "pod $POD removed (podman kube down)"
  fi
}

step "1/4 podman and $IMAGE"
require_venv
setup_podman
ensure_base_image >/dev/null
build_image "$IMAGE" onnxruntime

step "2/4 podman kube play (a copy of deploy/kubernetes/deployment.yaml: image and hostPort only)"
port=$("$PYTHON" "$HELPER" free-port)
kube_helper manifest "$MANIFEST" "$PLAYED" "$IMAGE" "$port"
podman kube play "$PLAYED" >"$CACHE_DIR/kube-play.log" 2>&1 || fail "podman kube play failed: $(tail -5 "$CACHE_DIR/kube-play.log")"
POD=$(podman pod ps --format '{{.Name}}' | grep '^max-fashion-mnist' | head -1)
container=$(podman ps --filter "pod=$POD" --format '{{.Names}}' | grep -v -- '-infra$' | head -1)
[[ -n "$container" ]] || fail "no container in pod $POD"
info "pod $POD, container $container, http://127.0.0.1:$port"
start=$(date +%s)
wait_serving "$container" "http://127.0.0.1:$port/v2/health/ready"
info "ready $(($(date +%s) - start)) s after kube play"

step "3/4 the pod as the manifest says"
podman inspect "$container" >"$CACHE_DIR/kube-inspect.json"
kube_helper expect "$MANIFEST" "$CACHE_DIR/kube-inspect.json" || fail "the container differs from the manifest"
if podman exec "$container" sh -c 'echo x > /app/written' 2>"$CACHE_DIR/kube-write.err"; then
  fail "the root filesystem is writable"
fi
grep -q -i 'read-only file system' "$CACHE_DIR/kube-write.err" || fail "writing to /app failed otherwise: $(cat "$CACHE_DIR/kube-write.err")"
podman exec "$container" sh -c 'echo x > /tmp/written && rm /tmp/written' || fail "/tmp (the emptyDir) is not writable"
info "PASS  read-only root: a write to /app fails (Read-only file system); /tmp takes one"
kube_helper probes "$MANIFEST" "http://127.0.0.1:$port" || fail "a probe failed"
"$PYTHON" "$HELPER" check "http://127.0.0.1:$port" "$REPO_DIR" onnxruntime || fail "HTTP checks through the hostPort failed"
podman logs "$container" >"$CACHE_DIR/kube-container.log" 2>&1
problems=$(grep -c -E 'Traceback|\[(ERROR|CRITICAL)\]| (ERROR|CRITICAL) |[Rr]ead-only file system' "$CACHE_DIR/kube-container.log" || true)
[[ "$problems" == 0 ]] || fail "the service logged $problems error(s) (log: $CACHE_DIR/kube-container.log)"
info "PASS  service log: no error ($CACHE_DIR/kube-container.log)"

step "4/4 podman kube down"
podman kube down "$PLAYED" >/dev/null 2>"$CACHE_DIR/kube-down.err" || fail "podman kube down failed: $(tail -3 "$CACHE_DIR/kube-down.err")"
left=$(podman ps -a --filter "pod=$POD" --format '{{.Names}}'; podman pod ps --filter "name=$POD" --format '{{.Name}}')
[[ -z "$left" ]] || fail "left after kube down: $left"
POD=""
info "PASS  the pod and its containers are gone"
info "kube-verify PASSED (not emulated by podman: the Service's load balancing, the HPA, probe scheduling, the Deployment controller)"
