#!/usr/bin/env bash
# Stop the daemons that our scripts started, and only those: every <name>.pid in the CI state
# directory (written by ensure-engine.sh, side-engine.sh and registry.sh when, and only when,
# they started a daemon themselves). A daemon that was already running (systemd's, a
# developer's) has no pidfile there and is left alone.
#
#   stop-started.sh            stop all of them
#   stop-started.sh NAME...    stop only these (e.g. `dockerd@b`, `docker-registry`)
#
# Pidfile names: <comm>.pid or <comm>@<label>.pid, where <comm> is the program's name in
# /proc/PID/comm: dockerd.pid (ensure-engine.sh), dockerd@b.pid and dockerd@c.pid (engines B and C), dockerd@current.pid
# (the current engine), docker-registry.pid (registry.sh). The pid is only signalled while it is still that program.
#
# Each one gets SIGTERM, then up to STOP_WAIT_SECONDS (default 60; dockerd first stops the
# containers it runs, ~10 s each at worst) to exit, then SIGKILL. Exits 0 when all are gone.
#
# Once the daemon is gone (or was found gone), <name>.undo, if present, is carried out: what the
# starting script set up around the daemon, one action a line (nothing else is accepted):
#   link DEV              ip link delete DEV (a bridge the script created)
#   dir PATH              rm -rf PATH (a storage directory the script created)
#   iptables -D ARGS...   delete a rule the script inserted
#
# Environment: BOTTLE_TASKS_CI_DIR (default /tmp/bottle-tasks-ci), as for ensure-engine.sh.
# CAUTION: without it, this is the directory ensure-engine.sh uses for the default engine.
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ci_dir=${BOTTLE_TASKS_CI_DIR:-/tmp/bottle-tasks-ci}
wait_seconds=${STOP_WAIT_SECONDS:-60}

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

# Carry out <name>.undo (see the header). Failures are reported and make the exit status 1.
undo() {
  local file=$1 verb arg rest rc=0
  [[ -f $file ]] || return 0
  while read -r verb arg rest; do
    case $verb in
      '' | '#'*) ;;
      link)
        if ip link show "$arg" >/dev/null 2>&1; then
          if ip link delete "$arg" >&2; then say "deleted link $arg"; else rc=1; fi
        fi
        ;;
      dir)
        if [[ $arg != /?* || $arg == *..* || -n $rest ]]; then
          say "ERROR: refusing 'dir $arg $rest' in $file"; rc=1
        elif [[ -e $arg ]]; then
          if rm -rf --one-file-system "$arg"; then say "removed $arg"; else rc=1; fi
        fi
        ;;
      iptables)
        if [[ $arg != -D ]]; then
          say "ERROR: refusing 'iptables $arg $rest' in $file"; rc=1
        else
          local -a rule
          read -r -a rule <<<"$rest"
          # Already gone (e.g. the engine that owns the chain was restarted): nothing to do.
          if iptables -w 10 -C "${rule[@]}" 2>/dev/null; then
            if iptables -w 10 -D "${rule[@]}" >&2; then say "deleted iptables rule: ${rule[*]}"; else rc=1; fi
          fi
        fi
        ;;
      *) say "ERROR: unknown action '$verb' in $file"; rc=1 ;;
    esac
  done <"$file"
  if ((rc == 0)); then rm -f "$file"; fi
  return "$rc"
}

status=0
shopt -s nullglob
if (($#)); then
  pidfiles=()
  for name in "$@"; do
    if [[ $name == */* || $name == .* ]]; then say "ERROR: bad name $name"; exit 2; fi
    pidfiles+=("$ci_dir/$name.pid")
  done
else
  pidfiles=("$ci_dir"/*.pid)
fi
for pidfile in "${pidfiles[@]}"; do
  name=$(basename "$pidfile" .pid)
  comm=${name%%@*}
  if [[ ! -e $pidfile ]]; then
    say "$name: not started here (no $pidfile)"
    undo "$ci_dir/$name.undo" || status=1
    continue
  fi
  pid=$(read_pid "$pidfile")
  if [[ -z $pid ]] || ! pid_is "$comm" "$pid"; then
    say "$name: not running (stale $pidfile)"
    rm -f "$pidfile"
    undo "$ci_dir/$name.undo" || status=1
    continue
  fi

  say "stopping $name (pid $pid)"
  mapfile -t tree < <(process_tree "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + wait_seconds))
  while pid_is "$comm" "$pid" && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if pid_is "$comm" "$pid"; then
    say "$name (pid $pid) still running after ${wait_seconds}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do pid_is "$comm" "$pid" && sleep 0.5; done
    # A dockerd that exits on SIGTERM stops its containers and its containerd; one killed does
    # not: containerd dies with it, but the shims and the containers' processes stay.
    kill_leftovers "${tree[@]}"
  fi

  if pid_is "$comm" "$pid"; then
    say "ERROR: $name (pid $pid) did not exit"
    status=1
  else
    say "$name stopped"
    rm -f "$pidfile"
    undo "$ci_dir/$name.undo" || status=1
  fi
done
exit "$status"
