#!/usr/bin/env bash
# `make docker-verify`: build the real Dockerfile and prove over HTTP that the image serves, on a machine with no
# Docker engine and no reachable image registry.
#
#  1. podman:     installs Debian's podman and runc (and debootstrap) with apt-get when they are missing, and
#                 configures them through its own containers.conf and storage.conf (CONTAINERS_CONF,
#                 CONTAINERS_STORAGE_CONF) under $CACHE_DIR: runc instead of crun (cgroup hybrid mode), fixed
#                 ulimits (rlimits cannot be raised in this sandbox), cgroupfs, its own image storage.
#  2. base image: `FROM python:3.11-slim` cannot be pulled, so a stand-in is made once from Debian's packages
#                 (debootstrap --variant=minbase, python3.11, python3-venv, python3-pip; python/pip on
#                 /usr/local/bin first in PATH, LANG=C.UTF-8, no PEP 668 marker) and imported as
#                 docker.io/library/python:3.11-slim. It is rebuilt only when this recipe changes.
#  3. build:      `podman build --pull=never --format docker` of the unmodified Dockerfile; pip in its RUN steps gets
#                 the host's CA bundle (PIP_CERT) and the host's pip index settings (PIP_CONFIG_FILE, generated
#                 from `pip config list`, with the local paths it names mounted read-only). Prints time and size.
#  4. run:        the image as Kubernetes runs it: read-only root filesystem with a tmpfs on /tmp, no capabilities,
#                 no-new-privileges, published on 127.0.0.1:<free port>.
#  5. checks:     GET /model/metadata, POST /model/predict with samples/ (right labels), a non-image (400), the
#                 image's own HEALTHCHECK (`podman healthcheck run` and its recorded status), gunicorn as PID 1
#                 running as uid 10001, nothing written to the root filesystem (`podman diff`).
#  6. cleanup:    the container is removed; the image stays (tagged $IMAGE) for a faster next run.
#
# Any step that cannot run says which and why, and the script exits non-zero.
# Environment: CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/max-fashion-mnist/podman), IMAGE (default
# max-fashion-mnist:verify), PYTHON (default python3), READY_TIMEOUT seconds (default 180).
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HELPER="$REPO_DIR/deploy/docker/verify_helper.py"
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/max-fashion-mnist/podman}
IMAGE=${IMAGE:-max-fashion-mnist:verify}
PYTHON=${PYTHON:-python3}
READY_TIMEOUT=${READY_TIMEOUT:-180}
BASE_IMAGE=docker.io/library/python:3.11-slim
BASE_SUITE=bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt
CONTAINER=""
STEP="start"

# Bump when the stand-in base's recipe below changes: the cached base is rebuilt.
BASE_RECIPE_VERSION=1

step() { STEP="$1"; printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$1"; }
info() { printf '    %s\n' "$*"; }
fail() { printf '\nFAILED at step "%s": %s\n' "$STEP" "$*" >&2; exit 1; }

cleanup() {
  local status=$?
  if [[ -n "$CONTAINER" ]]; then
    podman rm --force --time 5 "$CONTAINER" >/dev/null 2>&1 || true
    info "container $CONTAINER removed"
  fi
  if [[ $status -ne 0 ]]; then
    printf '\ndocker-verify FAILED (step "%s", exit %s)\n' "$STEP" "$status" >&2
  fi
}
trap cleanup EXIT
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

# --- 1. podman ----------------------------------------------------------------------------------------------------
step "1/6 podman and runc"
missing=()
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
# Written by deploy/docker/verify.sh: podman settings that work in this sandbox.
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
# Written by deploy/docker/verify.sh: images and containers of docker-verify, apart from the system's.
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

# --- 2. the stand-in for python:3.11-slim -------------------------------------------------------------------------
step "2/6 base image $BASE_IMAGE (stand-in made from Debian $BASE_SUITE packages)"
BASE_STAMP="$CACHE_DIR/base-image.stamp"
base_recipe="recipe=$BASE_RECIPE_VERSION suite=$BASE_SUITE"
base_id=$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
if [[ -n "$base_id" && -f "$BASE_STAMP" && "$(cat "$BASE_STAMP")" == "$base_recipe id=$base_id" ]]; then
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
        --message "stand-in for python:3.11-slim made by deploy/docker/verify.sh from Debian $BASE_SUITE" \
        - "$BASE_IMAGE" >/dev/null \
    || fail "podman import of the stand-in base failed"
  rm -rf "$rootfs"
  base_id=$(podman image inspect --format '{{.Id}}' "$BASE_IMAGE")
  echo "$base_recipe id=$base_id" >"$BASE_STAMP"
  info "imported as $BASE_IMAGE: $base_id"
fi
info "$(podman run --rm --network none "$BASE_IMAGE" sh -c 'echo "$(python --version), $(pip --version | cut -d" " -f1-2), $(. /etc/os-release; echo "$PRETTY_NAME")"')"

# --- 3. build -----------------------------------------------------------------------------------------------------
step "3/6 podman build of the unmodified Dockerfile"
build_args=(--pull=never --format docker --layers --tag "$IMAGE" --file "$REPO_DIR/Dockerfile"
            --build-arg "VCS_REF=$(git -C "$REPO_DIR" rev-parse HEAD 2>/dev/null || echo unknown)"
            --build-arg "BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
if [[ -f "$HOST_CA" ]]; then
  build_args+=(--volume "$HOST_CA:/etc/host-ca.crt:ro" --build-arg PIP_CERT=/etc/host-ca.crt)
  info "pip in RUN steps: the host's CA bundle ($HOST_CA) as PIP_CERT"
else
  info "no $HOST_CA: pip in RUN steps uses its own CA bundle"
fi
# The host's pip index settings (config files and PIP_* variables), without copying any of them into the repo.
host_pip=("$PYTHON" -m pip)
[[ -x "$REPO_DIR/.venv/bin/pip" ]] && host_pip=("$REPO_DIR/.venv/bin/pip")
if pip_settings=$("${host_pip[@]}" config list 2>/dev/null) && [[ -n "$pip_settings" ]]; then
  mounts=$(printf '%s\n' "$pip_settings" | "$PYTHON" "$HELPER" pip-config "$CACHE_DIR/pip.conf")
  build_args+=(--volume "$CACHE_DIR/pip.conf:/etc/host-pip.conf:ro" --build-arg PIP_CONFIG_FILE=/etc/host-pip.conf)
  while IFS= read -r path; do
    [[ -n "$path" ]] && build_args+=(--volume "$path:$path:ro")
  done <<<"$mounts"
  info "pip in RUN steps: the host's index settings ($(grep -c ' = ' "$CACHE_DIR/pip.conf") from \`pip config list\`) as PIP_CONFIG_FILE"
  [[ -n "$mounts" ]] && info "  local paths they name, mounted read-only: $(tr '\n' ' ' <<<"$mounts")"
else
  info "no host pip configuration: pip in RUN steps uses its default index"
fi
previous_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
start=$(date +%s)
# (pip's "Location ... is ignored" warnings, one per project that a local index lacks, are left out of the screen.)
podman build "${build_args[@]}" "$REPO_DIR" 2>&1 | tee "$CACHE_DIR/build.log" \
  | { grep --line-buffered -v 'is ignored: it is neither a file nor a directory' || true; } | sed -u 's/^/    | /' \
  || fail "podman build failed (log: $CACHE_DIR/build.log)"
info "full build log: $CACHE_DIR/build.log"
# The previous run's image, untagged now (the dependency stage's layers stay: they are the build cache).
if [[ -n "$previous_id" && "$previous_id" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]]; then
  podman rmi "$previous_id" >/dev/null 2>&1 || true
fi
build_seconds=$(($(date +%s) - start))
grep -q 'HEALTHCHECK is not supported' "$CACHE_DIR/build.log" && fail "the HEALTHCHECK was dropped (OCI format)"
size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_bytes=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")
mib() { awk -v b="$1" 'BEGIN {printf "%.0f MiB (%.2f GB)", b / 1048576, b / 1e9}'; }
info "build time: ${build_seconds} s (cached layers are reused: a rebuild after a code change redoes only the last ones)"
info "image size: $(mib "$size_bytes") uncompressed, of which the stand-in base $(mib "$base_bytes")"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | awk -F'\t' '$1 != "0B" {printf "      %9s  %s\n", $1, substr($2, 1, 90)}'

# --- 4. run -------------------------------------------------------------------------------------------------------
step "4/6 podman run (read-only root, tmpfs /tmp, no capabilities) on 127.0.0.1"
port=$("$PYTHON" "$HELPER" free-port)
CONTAINER="max-fashion-mnist-verify-$$"
podman run --detach --name "$CONTAINER" --publish "127.0.0.1:$port:5000" \
  --read-only --read-only-tmpfs=false --tmpfs /tmp:rw,mode=1777,size=512m \
  --cap-drop=all --security-opt=no-new-privileges \
  "$IMAGE" >/dev/null 2>"$CACHE_DIR/run.err" || fail "podman run failed: $(tail -3 "$CACHE_DIR/run.err")"
if grep -q 'unable to get systemd connection' "$CACHE_DIR/run.err"; then
  info "(no systemd here, so podman cannot schedule the image's HEALTHCHECK every 30 s: step 5 runs it instead)"
fi
grep -v 'systemd connection' "$CACHE_DIR/run.err" | sed 's/^/    podman: /' || true
info "container $CONTAINER, http://127.0.0.1:$port"
start=$(date +%s)
until "$PYTHON" "$HELPER" probe "http://127.0.0.1:$port/model/metadata"; do
  if [[ "$(podman inspect --format '{{.State.Running}}' "$CONTAINER")" != "true" ]]; then
    podman logs "$CONTAINER" 2>&1 | tail -30 | sed 's/^/    | /'
    fail "the container stopped before serving (exit $(podman inspect --format '{{.State.ExitCode}}' "$CONTAINER"))"
  fi
  if (($(date +%s) - start > READY_TIMEOUT)); then
    podman logs "$CONTAINER" 2>&1 | tail -30 | sed 's/^/    | /'
    fail "/model/metadata did not answer 200 within ${READY_TIMEOUT} s"
  fi
  sleep 1
done
info "serving $(($(date +%s) - start)) s after start"

# --- 5. checks ----------------------------------------------------------------------------------------------------
step "5/6 checks over HTTP and of the running container"
"$PYTHON" "$HELPER" check "http://127.0.0.1:$port" "$REPO_DIR" || fail "HTTP checks failed"
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

# --- 6. summary ---------------------------------------------------------------------------------------------------
step "6/6 done"
info "docker-verify PASSED: $IMAGE built in ${build_seconds} s, $(mib "$size_bytes"), served correctly over HTTP"
info "(remove the image: podman rmi $IMAGE, with CONTAINERS_CONF/CONTAINERS_STORAGE_CONF as above; everything: rm -rf $CACHE_DIR)"
