# shellcheck shell=bash
# Shared by the CI scripts: messages, daemons (start detached, wait until they answer), Docker
# engines, images. Sourced; defines functions only.
#
# Rule for everything here: never `cmd | grep -q` under pipefail (grep quitting early kills cmd
# with SIGPIPE, and the pipeline fails at random): capture the output, then match in bash.

# say MESSAGE: to stderr, prefixed with the script's name (stdout is for results).
say() {
  local me=${SAY_AS:-${0##*/}}
  echo "${me%.sh}: $*" >&2
}

# elapsed_since EPOCHREALTIME_VALUE -> "1.2s"
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }

# pid_is NAME PID: is PID alive (a zombie counts as gone: it has exited, only its parent has
# not reaped it yet) and still the program NAME (/proc/PID/comm)? A pid read from an old pidfile
# may have been reused by another program.
pid_is() {
  local name=$1 pid=$2 comm state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $comm == "$name" && $state != Z ]]
}

# read_pid FILE: the pid in FILE (digits only), or nothing.
read_pid() { if [[ -r $1 ]]; then tr -dc 0-9 <"$1"; fi; }

# start_detached NAME PIDFILE LOG COMMAND [ARGS...]
# Starts COMMAND as a daemon: its own session (setsid), so the caller's job-control signals don't
# reach it; stdin from /dev/null, stdout/stderr appended to LOG, and every other inherited fd
# closed, so it never holds the caller's pipes open (a CI runner waits for EOF on its output pipe:
# a daemon keeping it open would hang the job). The inner bash writes its own pid to PIDFILE and
# then execs COMMAND, so the pid recorded is the daemon's, whether or not setsid had to fork.
start_detached() {
  local name=$1 pidfile=$2 log=$3
  shift 3
  : >"$log"
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # expanded by the inner bash
  setsid bash -c '
    for fd in /proc/$$/fd/*; do
      fd=${fd##*/}
      if [[ $fd -gt 2 ]]; then { exec {fd}>&-; } 2>/dev/null || true; fi
    done
    echo $$ >"$1"
    shift
    exec "$@"
  ' "$name" "$pidfile" "$@" </dev/null >>"$log" 2>&1 &
}

# wait_for NAME SECONDS PIDFILE LOG CHECK [ARGS...]
# Runs CHECK every half second until it succeeds. Returns 0 then; 2 as soon as the daemon whose
# pid PIDFILE holds is no longer a running NAME (it exited during start-up); 1 after SECONDS.
# In both failures it says so and shows the end of LOG. PIDFILE "" skips the exit check (a
# daemon someone else started).
wait_for() {
  local name=$1 seconds=$2 pidfile=$3 log=$4 pid deadline=$((SECONDS + $2))
  shift 4
  until "$@"; do
    pid=
    [[ -n $pidfile ]] && pid=$(read_pid "$pidfile")
    # Still `bash` for a moment: start_detached's shell writes the pid before it execs the daemon.
    if [[ -n $pid ]] && ! pid_is "$name" "$pid" && ! pid_is bash "$pid"; then
      say "ERROR: $name (pid $pid) exited during start-up; last lines of $log:"
      tail -n 40 "$log" >&2 || true
      return 2
    fi
    if ((SECONDS >= deadline)); then
      say "ERROR: $name did not answer within ${seconds}s; last lines of $log:"
      tail -n 40 "$log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

# --- Docker engines -----------------------------------------------------------------------------
# docker_at HOST ARGS...: the docker CLI aimed at HOST ("" = whatever the caller's environment
# says). DOCKER_CONTEXT would take precedence over DOCKER_HOST, so it goes.
docker_at() {
  local host=$1
  shift
  if [[ -n $host ]]; then
    env -u DOCKER_CONTEXT DOCKER_HOST="$host" docker "$@"
  else
    docker "$@"
  fi
}

# docker_answers HOST: does the engine at HOST answer `docker info` (within 15 s)?
docker_answers() {
  if [[ -n $1 ]]; then
    timeout 15 env -u DOCKER_CONTEXT DOCKER_HOST="$1" docker info
  else
    timeout 15 docker info
  fi >/dev/null 2>&1
}

# wait_for_docker HOST SECONDS [PIDFILE LOG]: wait until the dockerd at HOST answers (wait_for).
wait_for_docker() { wait_for dockerd "$2" "${3:-}" "${4:-/dev/null}" docker_answers "$1"; }

# --- images -----------------------------------------------------------------------------------
# The test images (scripts/ci/ensure-base-image.sh provides them on the default engine):
#   debian:bookworm-slim          plain, as on Docker Hub: no `node` user
#   bottle-tasks/agent:bookworm   that + user/group node (1000:1000, /home/node, bash), as in the
#                                 node images bottles are normally started from
# shellcheck disable=SC2034 # used by the scripts that source this
BASE_IMAGE=${BOTTLE_TASKS_BASE_IMAGE:-debian:bookworm-slim}
AGENT_IMAGE=${BOTTLE_TASKS_AGENT_IMAGE:-bottle-tasks/agent:bookworm}

# smoke_test_images HOST: the two test images run on HOST, the plain one has NO node user and the
# agent one has the node user of the node images. Says what it found; returns 1 on any mismatch.
smoke_test_images() {
  local host=$1 out rc=0
  out=$(docker_at "$host" run --rm "$BASE_IMAGE" sh -c 'id node 2>/dev/null || echo "no node user"' 2>&1) || true
  if [[ $out == "no node user" ]]; then
    say "ok: $BASE_IMAGE runs and has no node user${host:+ (on $host)}"
  else
    say "ERROR: $BASE_IMAGE${host:+ on $host}: expected no node user, got: $out"
    rc=1
  fi
  out=$(docker_at "$host" run --rm "$AGENT_IMAGE" sh -c 'id node && getent passwd node' 2>&1) || true
  if [[ $out == $'uid=1000(node) gid=1000(node) groups=1000(node)\nnode:x:1000:1000::/home/node:/bin/bash' ]]; then
    say "ok: $AGENT_IMAGE runs and has node 1000:1000, /home/node, bash${host:+ (on $host)}"
  else
    say "ERROR: $AGENT_IMAGE${host:+ on $host}: expected the node user (1000:1000, /home/node, bash), got: $out"
    rc=1
  fi
  return "$rc"
}

# copy_images HOST IMAGE...: make HOST's copies of these images the same as the default engine's
# (same layers), streaming the missing or different ones: docker save | docker load. Compared by
# their layers' diff IDs, which do not depend on the engine's image store (IDs do: the containerd
# store names an image by its manifest).
copy_images() {
  local host=$1 image want have t=$EPOCHREALTIME
  shift
  local -a copy=()
  for image in "$@"; do
    if ! want=$(docker image inspect --format '{{json .RootFS.Layers}}' "$image" 2>/dev/null); then
      say "ERROR: $image is not on the default engine (scripts/ci/ensure-base-image.sh, registry-image.sh)"
      return 1
    fi
    have=$(docker_at "$host" image inspect --format '{{json .RootFS.Layers}}' "$image" 2>/dev/null || true)
    [[ $have == "$want" ]] || copy+=("$image")
  done
  if ((${#copy[@]} == 0)); then
    say "$host has $* already"
    return 0
  fi
  say "copying ${copy[*]} to $host (docker save | docker load)"
  # Streamed: no temporary file. pipefail: a failed save fails the pipeline.
  docker save "${copy[@]}" | docker_at "$host" load >&2
  say "loaded into $host in $(elapsed_since "$t")"
}

# --- Go builds --------------------------------------------------------------------------------
# Built binaries are cached here, keyed by version in their names (CI machines keep /var/cache).
# shellcheck disable=SC2034 # used by the scripts that source this
BIN_CACHE=${BOTTLE_TASKS_BIN_CACHE:-/var/cache/bottle-tasks/bin}

# find_go: sets GO to the go command (PATH, else /usr/local/go/bin/go); returns 1 without Go.
find_go() {
  GO=$(command -v go || true)
  if [[ -z $GO && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi
  [[ -n $GO ]]
}

# go_build MODULE PACKAGE VERSION OUT [BUILD FLAGS...]
# Builds the main package PACKAGE at VERSION from the Go module proxy into the file OUT. Not with
# `go install PACKAGE@VERSION`: that is refused for modules whose go.mod has replace or exclude
# directives (compose, moby). Instead an empty throwaway module MODULE requires it (`go get`) and
# `go build`s it. OUT appears only complete. Needs GO (find_go).
go_build() {
  local module=$1 pkg=$2 version=$3 out=$4 work rc=0 t=$SECONDS
  shift 4
  mkdir -p "$(dirname "$out")"
  work=$(mktemp -d "${TMPDIR:-/tmp}/bottle-tasks-$module.XXXXXX")
  say "building $pkg@$version (log: $work.log)"
  (
    cd "$work"
    printf 'module %s\n\ngo 1.24\n' "$module" >go.mod
    "$GO" get "$pkg@$version"
    "$GO" build "$@" -o "$out.partial" "$pkg"
  ) </dev/null >"$work.log" 2>&1 || rc=$?
  rm -rf "$work"
  if ((rc != 0)); then
    rm -f "$out.partial"
    say "ERROR: building $pkg@$version failed (exit $rc); last lines of $work.log:"
    tail -n 30 "$work.log" >&2
    return "$rc"
  fi
  rm -f "$work.log"
  mv -f "$out.partial" "$out"
  say "built $out in $((SECONDS - t))s"
}
