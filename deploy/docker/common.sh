# Sourced by deploy/docker/verify.sh, kube_verify.sh and memory_verify.sh: podman set up the way that works on this
# kind of machine (no Docker engine, no image registry, cgroup hybrid mode), and the two images built.
#
#  setup_podman       installs Debian's podman and runc (and debootstrap) with apt-get when they are missing, and
#                     configures them through its own containers.conf and storage.conf (CONTAINERS_CONF,
#                     CONTAINERS_STORAGE_CONF) under $CACHE_DIR: runc instead of crun (cgroup hybrid mode), fixed
#                     ulimits (rlimits cannot be raised in this sandbox), cgroupfs, its own image storage.
#  ensure_base_image  `FROM python:3.11-slim` cannot be pulled, so a stand-in is made once from Debian's packages
#                     (debootstrap --variant=minbase, python3.11, python3-venv, python3-pip; python/pip on
#                     /usr/local/bin first in PATH, LANG=C.UTF-8, no PEP 668 marker) and imported as
#                     docker.io/library/python:3.11-slim. It is rebuilt only when this recipe changes.
#  build_image TAG RUNTIME
#                     `podman build --pull=never --format docker` of the unmodified Dockerfile with
#                     --build-arg RUNTIME=...; pip in its RUN steps gets the host's CA bundle (PIP_CERT) and the host's
#                     pip index settings (PIP_CONFIG_FILE, generated from `pip config list`, with the local paths it
#                     names mounted read-only). With REUSE_IMAGES=1 an image already tagged TAG is used as it is (the
#                     scripts that verify.sh runs after its own build).
#
# Environment: CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/max-fashion-mnist/podman), IMAGE (default
# max-fashion-mnist:verify), IMAGE_TF (default max-fashion-mnist:verify-tensorflow), PYTHON (default python3),
# VENV_PYTHON (default .venv/bin/python: the dev environment, `make install-dev`), READY_TIMEOUT seconds (default 180).

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HELPER="$REPO_DIR/deploy/docker/verify_helper.py"
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/max-fashion-mnist/podman}
IMAGE=${IMAGE:-max-fashion-mnist:verify}
IMAGE_TF=${IMAGE_TF:-max-fashion-mnist:verify-tensorflow}
PYTHON=${PYTHON:-python3}
VENV_PYTHON=${VENV_PYTHON:-$REPO_DIR/.venv/bin/python}
READY_TIMEOUT=${READY_TIMEOUT:-180}
BASE_IMAGE=docker.io/library/python:3.11-slim
BASE_SUITE=bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt
CONTAINERS=()
STEP="start"
SCRIPT_NAME=$(basename "$0" .sh)

# Bump when the stand-in base's recipe below changes: the cached base is rebuilt.
BASE_RECIPE_VERSION=1

step() { STEP="$1"; printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$1"; }
info() { printf '    %s\n' "$*"; }
fail() { printf '\nFAILED at step "%s": %s\n' "$STEP" "$*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN {printf "%.0f MiB (%.2f GB)", b / 1048576, b / 1e9}'; }

cleanup() {
  local status=$? name
  if declare -F on_exit >/dev/null; then on_exit; fi  # a script's own cleanup first (kube_verify.sh: kube down)
  for name in "${CONTAINERS[@]}"; do
    podman rm --force --time 5 "$name" >/dev/null 2>&1 || true
    info "container $name removed"
  done
  if [[ $status -ne 0 ]]; then
    printf '\n%s FAILED (step "%s", exit %s)\n' "$SCRIPT_NAME" "$STEP" "$status" >&2
  fi
}
trap cleanup EXIT
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

# The dev environment's Python (pytest, requests, psutil, PyYAML): what the checks beyond plain HTTP need.
require_venv() {
  "$VENV_PYTHON" -c 'import pytest, psutil, requests, yaml' 2>/dev/null \
    || fail "$VENV_PYTHON lacks the dev tools (pytest, psutil, requests, PyYAML): make install-dev (make docker-verify does)"
}

setup_podman() {
  local missing=() tool
  for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    info "missing: ${missing[*]}; installing Debian's packages with apt-get"
    [[ $(id -u) -eq 0 ]] || fail "installing ${missing[*]} needs root (apt-get); run as root or install them first"
    command -v apt-get >/dev/null 2>&1 || fail "no apt-get: install podman, runc and debootstrap by hand"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed (are the machine's Debian sources reachable?)"
    apt-get install -y -qq --no-install-recommends podman runc debootstrap uidmap fuse-overlayfs slirp4netns \
      containernetworking-plugins netavark aardvark-dns iptables catatonit conmon >/dev/null \
      || fail "apt-get install of podman/runc/debootstrap failed"
  fi
  [[ $(id -u) -eq 0 ]] || fail "rootful podman is what works here (rootless needs subuid ranges and a user session); run as root"
  info "$(podman --version), $(runc --version | head -1)"

  mkdir -p "$CACHE_DIR"
  CACHE_DIR=$(cd "$CACHE_DIR" && pwd)
  cat >"$CACHE_DIR/containers.conf" <<EOF
# Written by deploy/docker/common.sh: podman settings that work in this sandbox.
[containers]
# rlimits cannot be raised here: keep the container's within what the sandbox allows.
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
# crun fails on this cgroup hybrid (v1 + unified) layout; runc works.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$CACHE_DIR/run/libpod"
EOF
  cat >"$CACHE_DIR/storage.conf" <<EOF
# Written by deploy/docker/common.sh: images and containers of docker-verify, apart from the system's.
[storage]
driver = "overlay"
graphroot = "$CACHE_DIR/storage"
runroot = "$CACHE_DIR/run/storage"
EOF
  export CONTAINERS_CONF="$CACHE_DIR/containers.conf"
  export CONTAINERS_STORAGE_CONF="$CACHE_DIR/storage.conf"
  podman info --format '{{.Host.OCIRuntime.Name}} {{.Store.GraphDriverName}}' >/dev/null 2>"$CACHE_DIR/podman-info.err" \
    || fail "podman does not start with $CONTAINERS_CONF: $(tail -3 "$CACHE_DIR/podman-info.err")"
  info "configured: CONTAINERS_CONF=$CONTAINERS_CONF"
  info "            CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF ($(podman info --format '{{.Host.OCIRuntime.Name}}, {{.Store.GraphDriverName}} storage'))"
}

ensure_base_image() {
  local stamp="$CACHE_DIR/base-image.stamp" recipe="recipe=$BASE_RECIPE_VERSION suite=$BASE_SUITE" base_id mirror rootfs start
  base_id=$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
  if [[ -n "$base_id" && -f "$stamp" && "$(cat "$stamp")" == "$recipe id=$base_id" ]]; then
    info "cached: $base_id (made $(podman image inspect --format '{{.Created}}' "$BASE_IMAGE" | cut -c1-19))"
  else
    # The mirror is the one apt uses on this machine (deb822 sources, else sources.list).
    mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
               | grep -v -- '-security' | head -1 || true)
    [[ -n "$mirror" ]] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [[ -n "$mirror" ]] || fail "cannot tell which Debian mirror apt uses (no URIs in /etc/apt/sources.list*)"
    rootfs="$CACHE_DIR/base-rootfs"
    rm -rf "$rootfs"
    info "debootstrap --variant=minbase $BASE_SUITE (the machine's apt mirror) with python3.11, python3-venv, python3-pip"
    start=$(date +%s)
    debootstrap --variant=minbase --include=python3.11,python3-venv,python3-pip,ca-certificates,netbase,tzdata \
      "$BASE_SUITE" "$rootfs" "$mirror" >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || fail "debootstrap failed: $(tail -3 "$CACHE_DIR/debootstrap.log")"
    # Like the official image: python/pip on /usr/local/bin (first in PATH), pip allowed to install system-wide (the
    # official image's Python has no EXTERNALLY-MANAGED marker), no apt lists or caches.
    # shellcheck disable=SC2016  # $name expands in the chroot's shell
    chroot "$rootfs" /bin/sh -eu -c '
      rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
      for name in python python3; do ln -sf /usr/bin/python3 /usr/local/bin/$name; done
      for name in pip pip3; do ln -sf /usr/bin/pip3 /usr/local/bin/$name; done
      apt-get clean
      rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* /tmp/* /root/.cache
    '
    info "debootstrap: $(($(date +%s) - start)) s, $(du -sh "$rootfs" | cut -f1)"
    tar -C "$rootfs" --numeric-owner -cf - . \
      | podman import --quiet \
          --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
          --change 'ENV LANG=C.UTF-8' \
          --change 'CMD ["python3"]' \
          --message "stand-in for python:3.11-slim made by deploy/docker/common.sh from Debian $BASE_SUITE" \
          - "$BASE_IMAGE" >/dev/null \
      || fail "podman import of the stand-in base failed"
    rm -rf "$rootfs"
    base_id=$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE")
    echo "$recipe id=$base_id" >"$stamp"
    info "imported as $BASE_IMAGE: $base_id"
  fi
  info "$(podman run --rm --network none "$BASE_IMAGE" sh -c 'echo "$(python --version), $(pip --version | cut -d" " -f1-2), $(. /etc/os-release; echo "$PRETTY_NAME")"')"
}

# build_image TAG RUNTIME: sets BUILD_SECONDS and SIZE_BYTES.
build_image() {
  local tag="$1" runtime="$2" args previous_id start pip_settings mounts path host_pip log="$CACHE_DIR/build-$2.log"
  if [[ "${REUSE_IMAGES:-0}" == 1 ]] && podman image exists "$tag"; then
    BUILD_SECONDS=0
    SIZE_BYTES=$(podman image inspect --format '{{.Size}}' "$tag")
    info "$tag: reused as built ($(mib "$SIZE_BYTES"))"
    return
  fi
  args=(--pull=never --format docker --layers --tag "$tag" --file "$REPO_DIR/Dockerfile"
        --build-arg "RUNTIME=$runtime"
        --build-arg "VCS_REF=$(git -C "$REPO_DIR" rev-parse HEAD 2>/dev/null || echo unknown)"
        --build-arg "BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
  if [[ -f "$HOST_CA" ]]; then
    args+=(--volume "$HOST_CA:/etc/host-ca.crt:ro" --build-arg PIP_CERT=/etc/host-ca.crt)
  fi
  # The host's pip index settings (config files and PIP_* variables), without copying any of them into the repo.
  host_pip=("$PYTHON" -m pip)
  [[ -x "$REPO_DIR/.venv/bin/pip" ]] && host_pip=("$REPO_DIR/.venv/bin/pip")
  if pip_settings=$("${host_pip[@]}" config list 2>/dev/null) && [[ -n "$pip_settings" ]]; then
    mounts=$(printf '%s\n' "$pip_settings" | "$PYTHON" "$HELPER" pip-config "$CACHE_DIR/pip.conf")
    args+=(--volume "$CACHE_DIR/pip.conf:/etc/host-pip.conf:ro" --build-arg PIP_CONFIG_FILE=/etc/host-pip.conf)
    while IFS= read -r path; do
      [[ -n "$path" ]] && args+=(--volume "$path:$path:ro")
    done <<<"$mounts"
  fi
  info "podman build --build-arg RUNTIME=$runtime --tag $tag (pip: the host's CA bundle and index settings; log: $log)"
  previous_id=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
  start=$(date +%s)
  # (pip's "Location ... is ignored" warnings, one per project that a local index lacks, are left out of the screen.)
  podman build "${args[@]}" "$REPO_DIR" >"$log" 2>&1 \
    || { grep -v 'is ignored: it is neither a file nor a directory' "$log" | tail -20 | sed 's/^/    | /'
         fail "podman build of $tag failed (log: $log)"; }
  # The previous run's image, untagged now (the dependency stage's layers stay: they are the build cache).
  if [[ -n "$previous_id" && "$previous_id" != "$(podman image inspect --format '{{.Id}}' "$tag")" ]]; then
    podman rmi "$previous_id" >/dev/null 2>&1 || true
  fi
  BUILD_SECONDS=$(($(date +%s) - start))
  grep -q 'HEALTHCHECK is not supported' "$log" && fail "the HEALTHCHECK was dropped (OCI format)"
  SIZE_BYTES=$(podman image inspect --format '{{.Size}}' "$tag")
  info "$tag: built in ${BUILD_SECONDS} s ($(grep -c 'Using cache' "$log" || true) steps from the cache), $(mib "$SIZE_BYTES") uncompressed"
}

# run_container NAME IMAGE [podman run options...]: detached, as Kubernetes runs it (read-only root, tmpfs /tmp, no
# capabilities, no-new-privileges), published on 127.0.0.1:$PORT (a free port, set here).
run_container() {
  local name="$1" image="$2"
  shift 2
  PORT=$("$PYTHON" "$HELPER" free-port)
  GRPC_PORT=$("$PYTHON" "$HELPER" free-port)
  CONTAINERS+=("$name")
  podman run --detach --name "$name" --publish "127.0.0.1:$PORT:5000" --publish "127.0.0.1:$GRPC_PORT:8081" \
    --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,mode=1777,size=512m \
    --cap-drop=all --security-opt=no-new-privileges "$@" \
    "$image" >/dev/null 2>"$CACHE_DIR/run.err" || fail "podman run of $image failed: $(tail -3 "$CACHE_DIR/run.err")"
}

# wait_serving NAME URL: until URL answers 200; the container's log and a failure if it stops or takes too long.
wait_serving() {
  local name="$1" url="$2" start
  start=$(date +%s)
  until "$PYTHON" "$HELPER" probe "$url"; do
    if [[ "$(podman inspect --format '{{.State.Running}}' "$name")" != "true" ]]; then
      podman logs "$name" 2>&1 | tail -30 | sed 's/^/    | /'
      fail "$name stopped before serving (exit $(podman inspect --format '{{.State.ExitCode}}' "$name"))"
    fi
    if (($(date +%s) - start > READY_TIMEOUT)); then
      podman logs "$name" 2>&1 | tail -30 | sed 's/^/    | /'
      fail "$url did not answer 200 within ${READY_TIMEOUT} s"
    fi
    sleep 0.5
  done
}

remove_container() {
  local name="$1" kept=() other
  podman rm --force --time 5 "$name" >/dev/null 2>&1 || true
  for other in "${CONTAINERS[@]}"; do
    [[ "$other" == "$name" ]] || kept+=("$other")
  done
  CONTAINERS=("${kept[@]}")
}
