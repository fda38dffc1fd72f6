# shellcheck shell=bash
# Shared by the scripts that start daemons for CI and the tests.

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
