#!/usr/bin/env bash
# Start a second Docker engine ("host B") next to the default one ("host A"), so that tests can
# move a bottle from one engine to another on a single machine. Prints ONE line on stdout, the
# DOCKER_HOST value that reaches B (everything else goes to stderr):
#
#   export BOTTLE_TASKS_ENGINE_B=$(scripts/ci/ensure-second-engine.sh)
#   DOCKER_HOST=$BOTTLE_TASKS_ENGINE_B docker ps
#
#   ensure-second-engine.sh        start B unless its socket answers already; make sure B has
#                                  the base image (streamed from A: docker save | docker load)
#   ensure-second-engine.sh stop   stop B, if this CI directory started it (stop-started.sh)
#
# B shares nothing with A: its own socket, data root, exec root (and so its own containerd,
# which dockerd starts under the exec root), pidfile, containerd namespaces, engine ID (its own
# key.json) and its own bridge (created here). It runs without iptables: it must never rewrite
# A's rules. Published ports still work (through
# docker-proxy); B's containers reach each other (one FORWARD rule for its bridge, see below) and
# the host, but not the outside world (no masquerading).
#
# Like ensure-engine.sh, the daemon is started detached (own session, stdin from /dev/null, fds
# closed, output to a log) and its pid recorded as $BOTTLE_TASKS_CI_DIR/dockerd@b.pid; what it
# needs around it (the bridge, the FORWARD rule) is recorded in dockerd@b.undo, so that
# scripts/ci/stop-started.sh stops B and removes those, and leaves A alone.
#
# Environment (defaults in brackets):
#   BOTTLE_TASKS_CI_DIR                 pidfile, log, undo file [/tmp/bottle-tasks-ci]
#   BOTTLE_TASKS_ENGINE_B_HOST          B's socket [unix:///run/bottle-tasks-b/docker.sock]
#   BOTTLE_TASKS_ENGINE_B_DATA_ROOT     [/var/lib/bottle-tasks-b]
#   BOTTLE_TASKS_ENGINE_B_EXEC_ROOT     [/run/bottle-tasks-b/exec]
#   BOTTLE_TASKS_ENGINE_B_PIDFILE       dockerd's own --pidfile [/run/bottle-tasks-b/docker.pid]
#   BOTTLE_TASKS_ENGINE_B_BRIDGE        bridge name [bt-b0]
#   BOTTLE_TASKS_ENGINE_B_BRIDGE_CIDR   its address [first of 10.213.N.1/24 that overlaps no
#                                       address or route of this machine]
#   BOTTLE_TASKS_BASE_IMAGE             the image B must have [debian:bookworm-slim]
#   ENGINE_WAIT_SECONDS                 how long to wait for B to answer [60]
#
# TRAP (dockerd 20.10, and still so in recent moby): two start-up paths delete the link "docker0"
# (hard-coded, whatever --bridge says), i.e. A's bridge: `--bridge none`, and a restart with an
# existing data root while --default-address-pool is set (moby daemon_unix.go, "Clear stale
# bridge network" -> removeDefaultBridgeInterface). So B gets neither. Without its own pool, B
# takes the default pools like A; libnetwork skips subnets that overlap a route of this machine,
# so B's user-defined networks do not collide with A's (whose bridges have routes) or v.v.
# As a safety net, every bridge that existed before B started must still exist once it answers.
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ci_dir=${BOTTLE_TASKS_CI_DIR:-/tmp/bottle-tasks-ci}
host=${BOTTLE_TASKS_ENGINE_B_HOST:-unix:///run/bottle-tasks-b/docker.sock}
data_root=${BOTTLE_TASKS_ENGINE_B_DATA_ROOT:-/var/lib/bottle-tasks-b}
exec_root=${BOTTLE_TASKS_ENGINE_B_EXEC_ROOT:-/run/bottle-tasks-b/exec}
daemon_pidfile=${BOTTLE_TASKS_ENGINE_B_PIDFILE:-/run/bottle-tasks-b/docker.pid}
bridge=${BOTTLE_TASKS_ENGINE_B_BRIDGE:-bt-b0}
bridge_cidr=${BOTTLE_TASKS_ENGINE_B_BRIDGE_CIDR:-}
image=${BOTTLE_TASKS_BASE_IMAGE:-debian:bookworm-slim}
wait_seconds=${ENGINE_WAIT_SECONDS:-60}

name=dockerd@b # stop-started.sh: pid of a process whose comm is "dockerd"
pidfile=$ci_dir/$name.pid
log=$ci_dir/$name.log
undo_file=$ci_dir/$name.undo

say() { echo "ensure-second-engine: $*" >&2; }

if [[ ${1:-start} == stop ]]; then
  exec "$(dirname "$0")/stop-started.sh" "$name"
elif [[ ${1:-start} != start ]]; then
  say "usage: $0 [start|stop]"
  exit 2
fi

if [[ $host != unix:///* ]]; then
  say "ERROR: BOTTLE_TASKS_ENGINE_B_HOST must be a unix:///absolute/path socket (got $host)"
  exit 2
fi
if [[ $bridge == none || $bridge == docker0 ]]; then
  say "ERROR: BOTTLE_TASKS_ENGINE_B_BRIDGE=$bridge would take or delete A's docker0"
  exit 2
fi
socket=${host#unix://}
run_dir=$(dirname "$socket")

started_at=$EPOCHREALTIME
elapsed() { awk -v a="$started_at" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }'; }

# The docker CLI aimed at B. (DOCKER_CONTEXT would take precedence over DOCKER_HOST.)
b() { env -u DOCKER_CONTEXT DOCKER_HOST="$host" docker "$@"; }
b_answers() { timeout 15 env -u DOCKER_CONTEXT DOCKER_HOST="$host" docker info >/dev/null 2>&1; }

# Is PID alive (not a zombie) and a dockerd?
is_dockerd() {
  local pid=$1
  [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] &&
    [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) != Z ]]
}

# --- bridge address ---------------------------------------------------------------------------
ip2int() {
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}
# overlaps A/N B/M: do the two prefixes share any address?
overlaps() {
  local a=${1%/*} an=${1#*/} b=${2%/*} bn=${2#*/} n mask
  [[ $1 == */* ]] || an=32
  [[ $2 == */* ]] || bn=32
  n=$((an < bn ? an : bn))
  mask=$(((0xffffffff << (32 - n)) & 0xffffffff))
  (($(($(ip2int "$a") & mask)) == $(($(ip2int "$b") & mask))))
}
# The IPv4 prefixes in use on this machine, except on our own bridge: addresses and routes.
prefixes_in_use() {
  ip -4 -o addr show | awk -v br="$bridge" '$2 != br { print $4 }'
  ip -4 route show table all | awk -v br="$bridge" '
    $1 == "default" || $1 == "broadcast" || $1 == "local" || $1 == "unreachable" { next }
    { for (i = 1; i < NF; i++) if ($i == "dev" && $(i + 1) == br) next; print $1 }'
}
cidr_is_free() {
  local p
  while read -r p; do
    [[ $p =~ ^[0-9.]+(/[0-9]+)?$ ]] || continue
    if overlaps "$1" "$p"; then
      say "$1 overlaps $p, in use on this machine"
      return 1
    fi
  done < <(prefixes_in_use)
}
pick_bridge_cidr() {
  local n
  if [[ -n $bridge_cidr ]]; then
    cidr_is_free "$bridge_cidr" || return 1
    echo "$bridge_cidr"
    return 0
  fi
  for n in $(seq 0 31); do
    if cidr_is_free "10.213.$n.1/24" 2>/dev/null; then
      echo "10.213.$n.1/24"
      return 0
    fi
  done
  say "ERROR: no free 10.213.N.1/24 for $bridge; set BOTTLE_TASKS_ENGINE_B_BRIDGE_CIDR"
  return 1
}

# Add a line to the undo file (once).
record_undo() { grep -qxF -- "$1" "$undo_file" 2>/dev/null || echo "$1" >>"$undo_file"; }

# Make sure the bridge exists, has an IPv4 address and is up. Records in the undo file what has
# to be removed when B stops.
setup_bridge() {
  local cidr
  if ip link show "$bridge" >/dev/null 2>&1; then
    if ! [[ $(ip -d link show "$bridge") =~ [[:space:]]bridge[[:space:]] ]]; then
      say "ERROR: $bridge exists and is not a bridge"
      return 1
    fi
    # Left behind by a B that was killed (stop-started.sh would have deleted it): adopt it.
    say "bridge $bridge exists already; reusing it"
  else
    say "creating bridge $bridge"
    ip link add "$bridge" type bridge
  fi
  record_undo "link $bridge"
  cidr=$(ip -4 -o addr show dev "$bridge" | awk '{ print $4; exit }')
  if [[ -z $cidr ]]; then
    cidr=$(pick_bridge_cidr)
    ip addr add "$cidr" dev "$bridge"
  fi
  ip link set "$bridge" up
  say "bridge $bridge: $cidr"

  # A's dockerd sets the FORWARD policy to DROP, and with br_netfilter (bridge-nf-call-iptables
  # = 1 here) even traffic between two containers on one bridge goes through FORWARD: B's
  # containers could not talk to each other. A dockerd with --iptables=false adds no rule for its
  # bridge, so we add one that concerns only this bridge (removed by stop-started.sh).
  local rule=(FORWARD -i "$bridge" -o "$bridge" -j ACCEPT -m comment --comment bottle-tasks-b)
  if iptables -w 10 -S FORWARD >/dev/null 2>&1; then
    if ! iptables -w 10 -C "${rule[@]}" 2>/dev/null; then
      iptables -w 10 -I "${rule[@]}"
    fi
    record_undo "iptables -D ${rule[*]}"
  fi
}

# --- the base image on B ----------------------------------------------------------------------
ensure_image() {
  local t=$EPOCHREALTIME out
  if b image inspect "$image" >/dev/null 2>&1; then
    say "B has $image"
  else
    if ! docker image inspect "$image" >/dev/null 2>&1; then
      say "ERROR: $image is on neither engine (scripts/ci/ensure-base-image.sh provides it on A)"
      return 1
    fi
    say "copying $image from A to B (docker save | docker load)"
    # Streamed: no temporary file. pipefail: a failed save fails the pipeline.
    docker save "$image" | b load >&2
    say "loaded $image into B in $(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1fs", b - a }')"
  fi
  if ! out=$(b run --rm "$image" true 2>&1); then
    say "ERROR: 'docker run --rm $image true' fails on B: $out"
    return 1
  fi
}

# --- already up? ------------------------------------------------------------------------------
if b_answers; then
  say "B answers on $host already; not starting it"
  ensure_image
  echo "$host"
  exit 0
fi

if [[ $(id -u) != 0 ]]; then
  say "ERROR: B does not answer on $host, and starting dockerd needs root"
  exit 1
fi
if ! command -v dockerd >/dev/null 2>&1; then
  say "ERROR: dockerd not found (scripts/ci/ensure-engine.sh installs docker.io)"
  exit 1
fi

mkdir -p "$ci_dir" "$run_dir" "$exec_root" "$data_root" "$(dirname "$daemon_pidfile")"

# One starter at a time (two CI steps, a developer next to CI).
exec 9>"$run_dir/.start.lock"
flock -w 120 9 || { say "ERROR: $run_dir/.start.lock held for 120s"; exit 1; }
if b_answers; then
  say "B came up meanwhile on $host"
  ensure_image
  echo "$host"
  exit 0
fi

# --- start ------------------------------------------------------------------------------------
bridges_before=$(ip -o link show type bridge | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
existing=$(cat "$daemon_pidfile" 2>/dev/null || true)
if is_dockerd "$existing"; then
  # Started a moment ago by someone else, still starting: a second one would fight over the
  # data root. Just wait for it.
  say "B's dockerd already running (pid $existing) but not answering yet; waiting for it"
else
  existing=
  setup_bridge

  # Its own configuration file: /etc/docker/daemon.json is A's, and e.g. a "hosts" or "bridge"
  # entry there would clash with our flags. dockerd 20.10 derives the engine ID ("docker info"
  # .ID) from /etc/docker/key.json, so A and B would report the same ID; "deprecated-key-path"
  # (a daemon.json key only, no flag) gives B its own. Newer engines ignore it and keep the ID
  # in the data root anyway.
  printf '{ "deprecated-key-path": "%s" }\n' "$data_root/key.json" >"$run_dir/daemon.json"
  dockerd_args=(
    --host "$host"
    --config-file "$run_dir/daemon.json"
    --data-root "$data_root"
    --exec-root "$exec_root"
    --pidfile "$daemon_pidfile"
    --bridge "$bridge"
    --iptables=false
    --ip-masq=false
    # NOT --default-address-pool, NOT --bridge none: see TRAP in the header.
    # Should a system containerd appear at /run/containerd/containerd.sock, dockerd would use it
    # instead of starting its own (so would A): then distinct namespaces keep A's and B's
    # containers apart. With the managed containerd (the case here) they are only labels.
    --containerd-namespace bottle-tasks-b
    --containerd-plugins-namespace bottle-tasks-b-plugins
  )

  say "starting dockerd for B on $host (log: $log, pidfile: $pidfile)"
  start_detached bottle-tasks-dockerd-b "$pidfile" "$log" dockerd "${dockerd_args[@]}"
fi

# --- wait -------------------------------------------------------------------------------------
deadline=$((SECONDS + wait_seconds))
until b_answers; do
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ -z $existing && -n $pid ]] && ! is_dockerd "$pid"; then
    say "ERROR: B's dockerd (pid $pid) exited during start-up; last lines of $log:"
    tail -n 40 "$log" >&2 || true
    "$(dirname "$0")/stop-started.sh" "$name" || true # removes the bridge again
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    say "ERROR: B did not answer within ${wait_seconds}s; last lines of $log:"
    tail -n 40 "$log" >&2 || true
    exit 1
  fi
  sleep 0.5
done
# The safety net: B must not have removed any bridge (docker0 above all).
missing=()
for br in $bridges_before; do
  ip link show "$br" >/dev/null 2>&1 || missing+=("$br")
done
if ((${#missing[@]})); then
  say "ERROR: bridge(s) ${missing[*]} vanished while B started (A's docker0?); stopping B."
  say "A's containers on docker0 have no network until docker0 is back: restart A's dockerd, or"
  say "recreate it by hand (ip link add docker0 type bridge; its address; ip link set VETH master docker0)"
  "$(dirname "$0")/stop-started.sh" "$name" || true
  exit 1
fi
say "B up after $(elapsed): $(b info --format 'engine {{.ServerVersion}}, storage {{.Driver}}, ID {{.ID}}' 2>/dev/null)"

# B's containerd must be its own: a child of B's dockerd, listening under B's exec root.
pid=$(cat "$pidfile" 2>/dev/null || cat "$daemon_pidfile" 2>/dev/null || true)
if [[ -n $pid ]]; then
  containerd=$(ps -e -o pid=,ppid=,args= | awk -v p="$pid" '$2 == p && $3 ~ /containerd$/ { $2 = ""; print; exit }')
  if [[ $containerd == *"$exec_root/containerd/"* ]]; then
    say "B's containerd: $containerd"
  else
    say "WARNING: B's containerd is not under $exec_root: ${containerd:-none found}"
  fi
fi

ensure_image
say "B ready in $(elapsed): DOCKER_HOST=$host"
echo "$host"
