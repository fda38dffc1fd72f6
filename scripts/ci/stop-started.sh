#!/usr/bin/env bash
# Stop the daemons that our scripts started, and only those: every <name>.pid in the CI state
# directory (written by ensure-engine.sh when, and only when, it started dockerd itself). A daemon
# that was already running (systemd's, a developer's) has no pidfile there and is left alone.
#
# Each one gets SIGTERM, then up to STOP_WAIT_SECONDS (default 60; dockerd first stops the
# containers it runs, ~10 s each at worst) to exit, then SIGKILL. Exits 0 when all are gone.
#
# Environment: BOTTLE_TASKS_CI_DIR (default /tmp/bottle-tasks-ci), as for ensure-engine.sh.
set -euo pipefail

ci_dir=${BOTTLE_TASKS_CI_DIR:-/tmp/bottle-tasks-ci}
wait_seconds=${STOP_WAIT_SECONDS:-60}

say() { echo "stop-started: $*" >&2; }

# Is PID alive and still the program NAME? (A pid from an old pidfile may have been reused.)
# A zombie counts as gone: it has exited, only its parent (init here) has not reaped it yet.
is_ours() {
  local pid=$1 name=$2 comm state
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $comm == "$name" && $state != Z ]]
}

# The processes that belong to daemon PID: its children (dockerd runs containerd in a session of
# its own), every process in its or their sessions (containerd's shims re-parent to init but stay
# in containerd's session), and the descendants of all those (the containers' processes).
# Printed as "pid starttime" so that a later kill cannot hit a recycled pid.
process_tree() {
  local root=$1
  ps -e -o pid=,ppid=,sid=,lstart= | awk -v root="$root" '
    { pid[NR] = $1; ppid[NR] = $2; sid[NR] = $3; start[$1] = $4 " " $5 " " $6 " " $7 " " $8 }
    END {
      in_tree[root] = 1; sess[root] = 1
      for (i = 1; i <= NR; i++) if (ppid[i] == root) { in_tree[pid[i]] = 1; sess[sid[i]] = 1 }
      for (i = 1; i <= NR; i++) if (sid[i] in sess) in_tree[pid[i]] = 1
      do {
        added = 0
        for (i = 1; i <= NR; i++) if ((ppid[i] in in_tree) && !(pid[i] in in_tree)) { in_tree[pid[i]] = 1; added = 1 }
      } while (added)
      for (p in in_tree) if (p != root && p in start) print p "|" start[p]
    }'
}

# Kill those of a process_tree snapshot that are still the same processes.
kill_leftovers() {
  local entry pid start now killed=()
  for entry in "$@"; do
    pid=${entry%%|*} start=${entry#*|}
    now=$(ps -o lstart= -p "$pid" 2>/dev/null | awk '{ print $1, $2, $3, $4, $5 }') || continue
    if [[ $now == "$start" ]]; then
      kill -KILL "$pid" 2>/dev/null && killed+=("$pid")
    fi
  done
  if ((${#killed[@]})); then say "killed leftovers: ${killed[*]}"; fi
}

status=0
shopt -s nullglob
for pidfile in "$ci_dir"/*.pid; do
  name=$(basename "$pidfile" .pid)
  pid=$(tr -dc '0-9' <"$pidfile")
  if [[ -z $pid ]] || ! is_ours "$pid" "$name"; then
    say "$name: not running (stale $pidfile)"
    rm -f "$pidfile"
    continue
  fi

  say "stopping $name (pid $pid)"
  mapfile -t tree < <(process_tree "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + wait_seconds))
  while is_ours "$pid" "$name" && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if is_ours "$pid" "$name"; then
    say "$name (pid $pid) still running after ${wait_seconds}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do is_ours "$pid" "$name" && sleep 0.5; done
    # A dockerd that exits on SIGTERM stops its containers and its containerd; one killed does
    # not: containerd dies with it, but the shims and the containers' processes stay.
    kill_leftovers "${tree[@]}"
  fi

  if is_ours "$pid" "$name"; then
    say "ERROR: $name (pid $pid) did not exit"
    status=1
  else
    say "$name stopped"
    rm -f "$pidfile"
  fi
done
exit "$status"
