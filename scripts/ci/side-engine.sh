#!/usr/bin/env bash
# Start a Docker engine next to the default one ("A"), sharing nothing with it. Used through
#   scripts/ci/ensure-second-engine.sh    engines B and C: Debian's dockerd 20.10, like A (moves between hosts)
#   scripts/ci/ensure-current-engine.sh   the current engine (29), built from source
# which set the SIDE_ENGINE_* variables below and exec this. Prints ONE line on stdout, the
# DOCKER_HOST that reaches the engine (everything else goes to stderr). `stop` stops it, if this
# CI directory started it (stop-started.sh).
#
# The engine has its own socket, data root, exec root (and so its own containerd, which dockerd
# starts under the exec root), pidfile, containerd namespaces, engine ID and its own bridge
# (created here). It runs without iptables: it must never rewrite A's rules. Published ports still
# work (through docker-proxy); its containers reach the host, but not the outside world (no
# masquerading), and each other on one network: A's dockerd sets the FORWARD policy to DROP, and
# with br_netfilter (bridge-nf-call-iptables = 1 here) even traffic between two containers on one
# bridge goes through FORWARD, while a dockerd with --iptables=false adds no rule. So we add one
# per bridge of this engine, -i BR -o BR -j ACCEPT: for its default bridge (setup_bridge), and for
# each user-defined bridge network (br-<id>, named only when the network is made) a watcher
# (watch_networks) follows the engine's network events. Not one rule for all br-*: it would also
# match A's networks, and A appends its icc=false DROP rules after existing ones.
#
# Started detached (lib.sh start_detached); pid in $BOTTLE_TASKS_CI_DIR/dockerd@NAME.pid; what it
# needs around it (the bridge, the FORWARD rule) in dockerd@NAME.undo, so that stop-started.sh
# stops it, removes those, and leaves A alone. Once it answers, the images named in
# SIDE_ENGINE_IMAGES are copied from A (docker save | docker load) when missing or different.
#
#   SIDE_ENGINE_NAME         label: b, c, current (pidfile dockerd@NAME.pid, messages)
#   SIDE_ENGINE_HOST         unix:///absolute/socket
#   SIDE_ENGINE_DATA_ROOT, SIDE_ENGINE_EXEC_ROOT, SIDE_ENGINE_PIDFILE (dockerd's own --pidfile)
#   SIDE_ENGINE_BRIDGE       bridge name (never docker0 or none)
#   SIDE_ENGINE_BRIDGE_CIDR  its address [first 10.213.N.1/24 overlapping no address or route here]
#   SIDE_ENGINE_CONFIG       the daemon.json to start it with [{}]
#   SIDE_ENGINE_DOCKERD      the dockerd binary [dockerd on PATH]
#   SIDE_ENGINE_PATH_FIRST   a directory put first on dockerd's PATH (its runc, docker-proxy) [none]
#   SIDE_ENGINE_IMAGES       images to copy from A (space-separated) [none]
#   BOTTLE_TASKS_CI_DIR      pidfile, log, undo file [/tmp/bottle-tasks-ci]
#   ENGINE_WAIT_SECONDS      how long to wait for it to answer [60]
#
# TRAP (dockerd 20.10, and still so in recent moby): two start-up paths delete the link "docker0"
# (hard-coded, whatever --bridge says), i.e. A's bridge: `--bridge none`, and a restart with an
# existing data root while --default-address-pool is set (moby daemon_unix.go, "Clear stale
# bridge network" -> removeDefaultBridgeInterface). So a side engine gets neither. Without its
# own pool it takes the default pools like A; libnetwork skips subnets that overlap a route of
# this machine, so its user-defined networks do not collide with A's (whose bridges have routes).
# As a safety net, every bridge that existed before it started must still exist once it answers.
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

label=${SIDE_ENGINE_NAME:?}
host=${SIDE_ENGINE_HOST:?}
data_root=${SIDE_ENGINE_DATA_ROOT:?}
exec_root=${SIDE_ENGINE_EXEC_ROOT:?}
daemon_pidfile=${SIDE_ENGINE_PIDFILE:?}
bridge=${SIDE_ENGINE_BRIDGE:?}
bridge_cidr=${SIDE_ENGINE_BRIDGE_CIDR:-}
config=${SIDE_ENGINE_CONFIG:-'{}'}
dockerd=${SIDE_ENGINE_DOCKERD:-dockerd}
path_first=${SIDE_ENGINE_PATH_FIRST:-}
read -r -a images <<<"${SIDE_ENGINE_IMAGES:-}"
ci_dir=${BOTTLE_TASKS_CI_DIR:-/tmp/bottle-tasks-ci}
wait_seconds=${ENGINE_WAIT_SECONDS:-60}

name=dockerd@$label # stop-started.sh: pid of a process whose comm is "dockerd"
pidfile=$ci_dir/$name.pid
log=$ci_dir/$name.log
undo_file=$ci_dir/$name.undo
SAY_AS="engine $label"

case ${1:-start} in
  start | watch-networks) ;;
  stop) exec "$(dirname "$0")/stop-started.sh" "$name" ;;
  *) say "usage: $0 [start|stop]"; exit 2 ;;
esac

if [[ $host != unix:///* ]]; then
  say "ERROR: its host must be a unix:///absolute/path socket (got $host)"
  exit 2
fi
if [[ $bridge == none || $bridge == docker0 ]]; then
  say "ERROR: bridge $bridge would take or delete A's docker0"
  exit 2
fi
socket=${host#unix://}
run_dir=$(dirname "$socket")
started_at=$EPOCHREALTIME

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
  say "ERROR: no free 10.213.N.1/24 for $bridge; give it one (…_BRIDGE_CIDR)"
  return 1
}

# Add a line to the undo file (once). (grep on a file, not on a pipe.)
record_undo() { grep -qxF -- "$1" "$undo_file" 2>/dev/null || echo "$1" >>"$undo_file"; }

# Make sure the bridge exists, has an IPv4 address and is up. Records in the undo file what has
# to be removed when the engine stops.
setup_bridge() {
  local cidr
  if ip link show "$bridge" >/dev/null 2>&1; then
    if ! [[ $(ip -d link show "$bridge") =~ [[:space:]]bridge[[:space:]] ]]; then
      say "ERROR: $bridge exists and is not a bridge"
      return 1
    fi
    # Left behind by an engine that was killed (stop-started.sh would have deleted it): adopt it.
    say "bridge $bridge exists already; reusing it"
  else
    say "creating bridge $bridge"
    ip link add "$bridge" type bridge
    # dockerd keeps its networks in the data root and, on start, gives its bridge the address it
    # had last time (even over ours: an engine stopped for a while came back on the subnet of a
    # bridge made since). A new bridge gets a new address: the engine forgets its old networks.
    # (So its networks do not outlive a stop: stop-started.sh removes the bridge.)
    if [[ -e $data_root/network/files/local-kv.db ]]; then
      rm -f "$data_root/network/files/local-kv.db"
      say "removed its network store ($data_root/network/files/local-kv.db): networks are made anew"
    fi
  fi
  record_undo "link $bridge"
  cidr=$(ip -4 -o addr show dev "$bridge" | awk '{ print $4; exit }')
  if [[ -z $cidr ]]; then
    cidr=$(pick_bridge_cidr)
    ip addr add "$cidr" dev "$bridge"
  fi
  ip link set "$bridge" up
  say "bridge $bridge: $cidr"

  forward_rule add "$bridge"
}

# forward_rule add|delete BRIDGE: the FORWARD rule that lets containers on BRIDGE talk to each
# other (see the header); recorded in the undo file, so that stop-started.sh removes it.
forward_rule() {
  local rule=(FORWARD -i "$2" -o "$2" -j ACCEPT -m comment --comment "bottle-tasks-$label")
  iptables -w 10 -S FORWARD >/dev/null 2>&1 || return 0 # no iptables: no DROP policy either
  if [[ $1 == add ]]; then
    iptables -w 10 -C "${rule[@]}" 2>/dev/null || iptables -w 10 -I "${rule[@]}"
    record_undo "iptables -D ${rule[*]}"
  elif iptables -w 10 -C "${rule[@]}" 2>/dev/null; then
    iptables -w 10 -D "${rule[@]}"
  fi
}

# watch_networks: for as long as the engine runs (its event stream ends with it), keep one
# forward_rule per bridge network of its own. Runs detached (side-engine.sh watch-networks).
watch_networks() {
  local action id driver br
  local -A bridges=()
  bridge_of() {
    local name
    name=$(docker_at "$host" network inspect --format '{{index .Options "com.docker.network.bridge.name"}}' "$1" 2>/dev/null) || return 1
    echo "${name:-br-${1:0:12}}"
  }
  # The stream first, then the networks that exist already: none is missed in between.
  exec 3< <(docker_at "$host" events --filter type=network --format '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.type}}')
  for id in $(docker_at "$host" network ls --no-trunc --filter driver=bridge --format '{{.ID}} {{.Name}}' | awk '$2 != "bridge" { print $1 }'); do
    br=$(bridge_of "$id") && bridges[$id]=$br && forward_rule add "$br" && say "rule for $br"
  done
  while read -r action id driver <&3; do
    [[ $driver == bridge ]] || continue
    if [[ $action == create ]] && br=$(bridge_of "$id"); then
      bridges[$id]=$br
      forward_rule add "$br" && say "rule for $br"
    elif [[ $action == destroy && -n ${bridges[$id]:-} ]]; then
      forward_rule delete "${bridges[$id]}" && say "removed the rule for ${bridges[$id]}"
      unset "bridges[$id]"
    fi
  done
  say "event stream ended (engine stopped): done"
}
if [[ ${1:-} == watch-networks ]]; then
  watch_networks
  exit 0
fi

# The images, and proof that containers run (and for the test images, that they are what the
# tests expect).
ensure_images() {
  ((${#images[@]})) || return 0
  copy_images "$host" "${images[@]}"
  local image
  for image in "${images[@]}"; do
    if [[ $image == "$BASE_IMAGE" || $image == "$AGENT_IMAGE" ]]; then
      smoke_test_images "$host"
      return
    fi
  done
  local out
  if ! out=$(docker_at "$host" run --rm "${images[0]}" true 2>&1); then
    say "ERROR: 'docker run --rm ${images[0]} true' fails on $host: $out"
    return 1
  fi
}

# The network watcher, unless one runs (its pid in the run dir: it is not a daemon for
# stop-started.sh, it ends with the engine).
ensure_watcher() {
  pid_is bash "$(read_pid "$run_dir/netwatch.pid")" && return 0
  [[ $(id -u) == 0 ]] || return 0
  start_detached "bottle-tasks-netwatch-$label" "$run_dir/netwatch.pid" "$ci_dir/$name.netwatch.log" \
    bash "${BASH_SOURCE[0]}" watch-networks
}

up_already() {
  say "answers on $host already; not starting it"
  ensure_watcher
  ensure_images
  echo "$host"
  exit 0
}

# --- already up? ------------------------------------------------------------------------------
if docker_answers "$host"; then up_already; fi

if [[ $(id -u) != 0 ]]; then
  say "ERROR: does not answer on $host, and starting dockerd needs root"
  exit 1
fi
if ! command -v "$dockerd" >/dev/null 2>&1; then
  say "ERROR: $dockerd not found (scripts/ci/ensure-engine.sh installs docker.io)"
  exit 1
fi

mkdir -p "$ci_dir" "$run_dir" "$exec_root" "$data_root" "$(dirname "$daemon_pidfile")"

# One starter at a time (two CI steps, a developer next to CI).
exec 9>"$run_dir/.start.lock"
flock -w 120 9 || { say "ERROR: $run_dir/.start.lock held for 120s"; exit 1; }
if docker_answers "$host"; then up_already; fi

# --- start ------------------------------------------------------------------------------------
bridges_before=$(ip -o link show type bridge | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
existing=$(read_pid "$daemon_pidfile")
watch=$pidfile
if pid_is dockerd "$existing"; then
  # Started a moment ago by someone else, still starting: a second one would fight over the
  # data root. Just wait for it.
  say "its dockerd is running already (pid $existing) but not answering yet; waiting for it"
  watch=
else
  # Engines started side by side would pick the same free address for their bridges: one at a time.
  exec 7>/run/bottle-tasks-side-engine-bridges.lock
  flock -w 60 7 || { say "ERROR: /run/bottle-tasks-side-engine-bridges.lock held for 60s"; exit 1; }
  setup_bridge
  exec 7>&-
  # Its own configuration file: /etc/docker/daemon.json is A's, and e.g. a "hosts" or "bridge"
  # entry there would clash with our flags.
  printf '%s\n' "$config" >"$run_dir/daemon.json"
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
    # instead of starting its own (so would A): then distinct namespaces keep the engines'
    # containers and images apart. With the managed containerd (the case here) they are labels.
    --containerd-namespace "bottle-tasks-$label"
    --containerd-plugins-namespace "bottle-tasks-$label-plugins"
  )
  say "starting $dockerd on $host (log: $log, pidfile: $pidfile)"
  start_detached "bottle-tasks-dockerd-$label" "$pidfile" "$log" \
    env PATH="${path_first:+$path_first:}$PATH" "$dockerd" "${dockerd_args[@]}"
fi

if ! wait_for_docker "$host" "$wait_seconds" "$watch" "$log"; then
  if [[ -n $watch ]] && ! pid_is dockerd "$(read_pid "$watch")"; then
    "$(dirname "$0")/stop-started.sh" "$name" || true # removes the bridge again
  fi
  exit 1
fi
# The safety net: it must not have removed any bridge (docker0 above all).
missing=()
for br in $bridges_before; do
  ip link show "$br" >/dev/null 2>&1 || missing+=("$br")
done
if ((${#missing[@]})); then
  say "ERROR: bridge(s) ${missing[*]} vanished while it started (A's docker0?); stopping it."
  say "A's containers on docker0 have no network until docker0 is back: restart A's dockerd, or"
  say "recreate it by hand (ip link add docker0 type bridge; its address; ip link set VETH master docker0)"
  "$(dirname "$0")/stop-started.sh" "$name" || true
  exit 1
fi
say "up after $(elapsed_since "$started_at"): $(docker_at "$host" info --format 'engine {{.ServerVersion}}, storage {{.Driver}}, ID {{.ID}}' 2>/dev/null)"

# Its containerd must be its own: a child of its dockerd, listening under its exec root.
pid=$(read_pid "$pidfile")
[[ -n $pid ]] || pid=$(read_pid "$daemon_pidfile")
if [[ -n $pid ]]; then
  containerd=$(ps -e -o pid=,ppid=,args= | awk -v p="$pid" '$2 == p && $3 ~ /containerd$/ { $2 = ""; print; exit }')
  if [[ $containerd == *"$exec_root/containerd/"* ]]; then
    say "its containerd: $containerd"
  else
    say "WARNING: its containerd is not under $exec_root: ${containerd:-none found}"
  fi
fi

ensure_watcher
ensure_images
say "ready in $(elapsed_since "$started_at"): DOCKER_HOST=$host"
echo "$host"
