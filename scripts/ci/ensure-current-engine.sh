#!/usr/bin/env bash
# The current engine: Docker Engine 29 (API 1.56, containerd image store) next to Debian's 20.10,
# so that tests see what users of a current Docker see (docker save writes an OCI layout, loads
# take zstd, images live in containerd). Prints ONE line on stdout, its DOCKER_HOST:
#
#   export BOTTLE_TASKS_ENGINE_CURRENT=$(scripts/ci/ensure-current-engine.sh)
#
#   ensure-current-engine.sh         build (or take from the cache) and start it, copy the images
#   ensure-current-engine.sh build   only make sure the binaries are built; prints their directory
#   ensure-current-engine.sh stop    stop it, if this CI directory started it (stop-started.sh)
#
# Nothing of it is packaged for bookworm, so it is built from the Go module proxy (~6-7 min cold
# on two cores, then cached in $BOTTLE_TASKS_BIN_CACHE/engine-29/moby-VERSION.runc-VERSION/):
#   dockerd, docker-proxy  github.com/moby/moby/v2 (engine 29's module); docker-proxy too because
#                          published ports go through it when iptables is off
#   runc                   >= 1.2: engine 29 asks for a time namespace that Debian's runc 1.1.5
#                          refuses. Needs libseccomp-dev and pkg-config (.ci/run installs them).
# That directory goes first on this dockerd's PATH (runc, docker-proxy). Debian's containerd
# 1.6.20 (a dependency of docker.io) serves it: dockerd starts its own under its exec root, so
# its containers, images and snapshots are apart from A's and B's.
#
# Started like engine B (scripts/ci/side-engine.sh: own socket, data root, exec root, bridge, no
# iptables + a FORWARD rule for its bridge, never --bridge none); pid in
# $BOTTLE_TASKS_CI_DIR/dockerd@current.pid, undo in dockerd@current.undo.
#
# Environment (defaults in brackets):
#   BOTTLE_TASKS_CI_DIR                       [/tmp/bottle-tasks-ci]
#   BOTTLE_TASKS_ENGINE_CURRENT_HOST          [unix:///run/bottle-tasks-current/docker.sock]
#   BOTTLE_TASKS_ENGINE_CURRENT_DATA_ROOT     [/var/lib/bottle-tasks-current]
#   BOTTLE_TASKS_ENGINE_CURRENT_EXEC_ROOT     [/run/bottle-tasks-current/exec]
#   BOTTLE_TASKS_ENGINE_CURRENT_PIDFILE       [/run/bottle-tasks-current/docker.pid]
#   BOTTLE_TASKS_ENGINE_CURRENT_BRIDGE        [bt-cur0]
#   BOTTLE_TASKS_ENGINE_CURRENT_BRIDGE_CIDR   [first free 10.213.N.1/24]
#   BOTTLE_TASKS_MOBY_VERSION                 [v2.0.0-beta.24, engine 29]
#   BOTTLE_TASKS_RUNC_VERSION                 [v1.3.3]
#   BOTTLE_TASKS_BIN_CACHE                    [/var/cache/bottle-tasks/bin]
#   BOTTLE_TASKS_BASE_IMAGE, BOTTLE_TASKS_AGENT_IMAGE, BOTTLE_TASKS_REGISTRY_IMAGE  copied from A
#   ENGINE_WAIT_SECONDS                       [60]
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

moby_version=${BOTTLE_TASKS_MOBY_VERSION:-v2.0.0-beta.24}
runc_version=${BOTTLE_TASKS_RUNC_VERSION:-v1.3.3}
bin=$BIN_CACHE/engine-29/moby-$moby_version.runc-$runc_version

# The cache is good when all three run. (A directory only appears complete: built aside, renamed.)
bin_ok() {
  [[ -x $bin/dockerd && -x $bin/docker-proxy && -x $bin/runc ]] &&
    "$bin/dockerd" --version >/dev/null 2>&1 && "$bin/runc" --version >/dev/null 2>&1
}

build() {
  bin_ok && return 0
  find_go || { say "ERROR: no Go to build engine 29 with (/usr/local/go)"; return 1; }
  mkdir -p "$BIN_CACHE/engine-29"
  exec 8>"$BIN_CACHE/engine-29/.build.lock" # one builder at a time
  flock -w 1800 8 || { say "ERROR: another build held $BIN_CACHE/engine-29/.build.lock for 30 min"; return 1; }
  bin_ok && return 0
  rm -rf "$bin".?????? # stages of a build that was killed (we hold the lock)
  local stage t=$SECONDS moby_dir engine_version
  stage=$(mktemp -d "$bin.XXXXXX")
  chmod 755 "$stage"
  # shellcheck disable=SC2064 # expand now
  trap "rm -rf '$stage'" EXIT
  say "building engine 29 into $bin (~6-7 min on two cores; cached afterwards)"
  export CGO_ENABLED=1
  go_build runcbuild github.com/opencontainers/runc "$runc_version" "$stage/runc" -tags seccomp \
    -ldflags "-X main.gitCommit=$runc_version" # else `docker info` shows no runc version
  go_build mobybuild github.com/moby/moby/v2/cmd/docker-proxy "$moby_version" "$stage/docker-proxy"
  # The engine's version is linked in by moby's release scripts (else "library-import"): the
  # release this module version is, from the module's own releases/versions.yaml.
  moby_dir=$("$GO" mod download -json "github.com/moby/moby/v2@$moby_version" | awk -F'"' '$2 == "Dir" { print $4 }')
  engine_version=$(awk -F'"' '$1 ~ /^ *last: *$/ { print $2; exit }' "$moby_dir/releases/versions.yaml" 2>/dev/null || true)
  go_build mobybuild github.com/moby/moby/v2/cmd/dockerd "$moby_version" "$stage/dockerd" \
    -tags "exclude_graphdriver_btrfs exclude_graphdriver_devicemapper" \
    -ldflags "-X github.com/moby/moby/v2/dockerversion.Version=${engine_version:-$moby_version} -X github.com/moby/moby/v2/dockerversion.GitCommit=$moby_version"
  rm -rf "$bin"
  mv "$stage" "$bin"
  trap - EXIT
  bin_ok || { say "ERROR: the binaries in $bin do not run"; return 1; }
  say "built engine ${engine_version:-?} ($moby_version) and runc $runc_version in $((SECONDS - t))s: $bin"
}

case ${1:-start} in
  build) build; echo "$bin"; exit 0 ;;
  start | stop) ;;
  *) say "usage: $0 [start|build|stop]"; exit 2 ;;
esac
if [[ ${1:-start} == start ]]; then
  build
  exec 8>&- # the build lock
fi

export SIDE_ENGINE_NAME=current
export SIDE_ENGINE_HOST=${BOTTLE_TASKS_ENGINE_CURRENT_HOST:-unix:///run/bottle-tasks-current/docker.sock}
export SIDE_ENGINE_DATA_ROOT=${BOTTLE_TASKS_ENGINE_CURRENT_DATA_ROOT:-/var/lib/bottle-tasks-current}
export SIDE_ENGINE_EXEC_ROOT=${BOTTLE_TASKS_ENGINE_CURRENT_EXEC_ROOT:-/run/bottle-tasks-current/exec}
export SIDE_ENGINE_PIDFILE=${BOTTLE_TASKS_ENGINE_CURRENT_PIDFILE:-/run/bottle-tasks-current/docker.pid}
export SIDE_ENGINE_BRIDGE=${BOTTLE_TASKS_ENGINE_CURRENT_BRIDGE:-bt-cur0}
export SIDE_ENGINE_BRIDGE_CIDR=${BOTTLE_TASKS_ENGINE_CURRENT_BRIDGE_CIDR:-}
export SIDE_ENGINE_DOCKERD=$bin/dockerd
export SIDE_ENGINE_PATH_FIRST=$bin
# The containerd image store is engine 29's default for a new data root; said anyway, so that an
# old data root does not silently keep the graph drivers. docker-proxy by its path: dockerd looks
# in /usr/libexec/docker & co. before PATH, where a 20.10 one could be.
export SIDE_ENGINE_CONFIG="{ \"features\": { \"containerd-snapshotter\": true }, \"userland-proxy-path\": \"$bin/docker-proxy\" }"
export SIDE_ENGINE_IMAGES="$BASE_IMAGE $AGENT_IMAGE ${BOTTLE_TASKS_REGISTRY_IMAGE:-bottle-tasks/registry:2}"
exec "$(dirname "${BASH_SOURCE[0]}")/side-engine.sh" "${1:-start}"
