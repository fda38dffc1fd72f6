#!/usr/bin/env bash
# A throw-away OCI registry on loopback for the tests: Debian's docker-registry (distribution
# 2.8) run directly on the host, plain HTTP, no auth, deletion enabled, storage in a temporary
# directory.
#
#   registry.sh start   start it (unless this CI directory's one runs already); prints ONE line
#                       on stdout, its address:  export BOTTLE_TASKS_REGISTRY=$(registry.sh start)
#                       -> 127.0.0.1:PORT, used as 127.0.0.1:PORT/some/repo:tag
#   registry.sh stop    stop it and remove its storage (scripts/ci/stop-started.sh does too)
#
# Both engines reach it: dockerd pulls and pushes from the host's network namespace, and treats
# registries on 127.0.0.0/8 as insecure (plain HTTP) without any configuration. crane does the
# same for 127.0.0.1/localhost; skopeo needs --tls-verify=false. It is NOT reachable from inside
# containers (127.0.0.1 there is the container itself).
#
# Started detached like ensure-engine.sh's dockerd: own session, stdin from /dev/null, fds
# closed, output to $BOTTLE_TASKS_CI_DIR/docker-registry.log; pid in docker-registry.pid, the
# storage directory in docker-registry.undo (stop-started.sh stops the one and removes the other).
#
# Environment:
#   BOTTLE_TASKS_CI_DIR            pidfile, log, config [/tmp/bottle-tasks-ci]
#   BOTTLE_TASKS_REGISTRY_PORT     port on 127.0.0.1 [a free one, picked here]
#   BOTTLE_TASKS_REGISTRY_ACCESSLOG=1  log every request (to the log file) [off]
#   REGISTRY_WAIT_SECONDS          how long to wait for it to answer [30]
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ci_dir=${BOTTLE_TASKS_CI_DIR:-/tmp/bottle-tasks-ci}
wait_seconds=${REGISTRY_WAIT_SECONDS:-30}
name=docker-registry # its /proc/PID/comm, as stop-started.sh requires
pidfile=$ci_dir/$name.pid
log=$ci_dir/$name.log
config=$ci_dir/$name.yml
addr_file=$ci_dir/$name.addr
undo_file=$ci_dir/$name.undo

stop() { "$(dirname "$0")/stop-started.sh" "$name" && rm -f "$addr_file" "$config"; }

case ${1:-} in
  start) ;;
  stop) stop; exit ;;
  *) say "usage: $0 start|stop"; exit 2 ;;
esac

# Does a registry answer GET /v2/ with 200 on 127.0.0.1:PORT? curl when there is one, else a bare
# HTTP/1.0 request through bash's /dev/tcp.
answers() {
  local port=$1 status
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 3 -o /dev/null "http://127.0.0.1:$port/v2/" 2>/dev/null
  else
    # shellcheck disable=SC2016 # expanded by the inner bash
    status=$(timeout 3 bash -c '
      exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
      printf "GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
      head -n 1 <&3' _ "$port" 2>/dev/null) || return 1
    [[ $status == "HTTP/1."?" 200"* ]]
  fi
}

is_running() { pid_is "$name" "$(read_pid "$pidfile")"; }

# shellcheck disable=SC2317 # called through wait_for
# Is the listener on 127.0.0.1:PORT our registry (and not something that had the port already,
# for example another CI directory's registry)? Without ss: does ours still run half a second
# after the port answered (it exits at once when it cannot bind)?
listener_is_ours() {
  local port=$1 pid
  pid=$(read_pid "$pidfile")
  if command -v ss >/dev/null 2>&1; then
    [[ $(ss -Htlnp "sport = :$port") == *"pid=$pid,"* ]]
  else
    sleep 0.5
    is_running
  fi
}

# Up: it answers on PORT, and the listener is ours.
# shellcheck disable=SC2317 # called through wait_for
registry_is_up() { answers "$1" && listener_is_ours "$1"; }

# A port nothing listens on, below the ephemeral range (so that no outgoing connection holds it
# either). Another program may still take it before the registry does: start() then retries.
pick_port() {
  local port _
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 12000))
    if [[ -z $(ss -Htln "sport = :$port" 2>/dev/null) ]]; then
      echo "$port"
      return 0
    fi
  done
  say "ERROR: found no free port"
  return 1
}

write_config() {
  local port=$1 storage=$2 accesslog=true
  [[ ${BOTTLE_TASKS_REGISTRY_ACCESSLOG:-0} == 1 ]] && accesslog=false
  # No blob descriptor cache: with deletion enabled a cache can answer for a deleted blob.
  cat >"$config" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: $accesslog
  fields:
    service: bottle-tasks-registry
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  headers:
    X-Content-Type-Options: [nosniff]
EOF
}

# --- already running? -------------------------------------------------------------------------
mkdir -p "$ci_dir"
if is_running && [[ -s $addr_file ]] && answers "$(cut -d: -f2 "$addr_file")"; then
  say "already running at $(cat "$addr_file") (pid $(cat "$pidfile"))"
  cat "$addr_file"
  exit 0
fi
stop 2>/dev/null || true # a dead one's leftovers

if ! command -v docker-registry >/dev/null 2>&1; then
  say "ERROR: docker-registry not found (apt-get install docker-registry)"
  exit 1
fi

started_at=$EPOCHREALTIME
storage=$(mktemp -d "${TMPDIR:-/tmp}/bottle-tasks-registry.XXXXXX")
echo "dir $storage" >"$undo_file"

attempts=1
[[ -z ${BOTTLE_TASKS_REGISTRY_PORT:-} ]] && attempts=5
for attempt in $(seq 1 "$attempts"); do
  port=${BOTTLE_TASKS_REGISTRY_PORT:-$(pick_port)}
  write_config "$port" "$storage"
  say "starting docker-registry on 127.0.0.1:$port (storage $storage, log $log)"
  start_detached bottle-tasks-registry "$pidfile" "$log" docker-registry serve "$config"

  rc=0
  wait_for "$name" "$wait_seconds" "$pidfile" "$log" registry_is_up "$port" || rc=$?
  if ((rc == 1)); then # did not answer in time
    stop || true
    exit 1
  fi
  if ((rc == 0)) && is_running; then
    echo "127.0.0.1:$port" >"$addr_file"
    say "up at 127.0.0.1:$port after $(elapsed_since "$started_at") (pid $(read_pid "$pidfile"))"
    echo "127.0.0.1:$port"
    exit 0
  fi
  say "docker-registry exited (attempt $attempt of $attempts)"
  [[ $(<"$log") == *'address already in use'* ]] || break
done
stop || true
say "ERROR: could not start docker-registry"
exit 1
