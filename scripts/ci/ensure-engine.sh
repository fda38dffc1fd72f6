#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info` on the socket the docker CLI uses here:
# DOCKER_HOST when it is a unix socket, else the default /var/run/docker.sock.
#
# - If one already answers (a laptop's Docker Desktop, a systemd-managed dockerd, DOCKER_HOST,
#   a daemon an earlier run left behind), do nothing.
# - Otherwise install Debian's docker.io if dockerd is missing, and start dockerd detached on that
#   socket: own session, stdin from /dev/null, output to a log file, pid recorded in a pidfile so
#   that scripts/ci/stop-started.sh can stop exactly this daemon (and nothing else) later.
# Whether a dockerd is already starting for that socket is judged by the default data root's own
#   pidfile (/var/run/docker.pid), not by process name: the other engines of the tests (B, C, 29)
#   are dockerd processes too, on sockets of their own.
#
# Environment:
#   BOTTLE_TASKS_CI_DIR   where the pidfile and log go (default /tmp/bottle-tasks-ci).
#                         .ci/run gives each run its own directory so that its EXIT trap stops only
#                         a daemon that this very run started.
#   ENGINE_WAIT_SECONDS   how long to wait for the new daemon to answer (default 60).
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ci_dir=${BOTTLE_TASKS_CI_DIR:-/tmp/bottle-tasks-ci}
log=$ci_dir/dockerd.log
pidfile=$ci_dir/dockerd.pid
wait_seconds=${ENGINE_WAIT_SECONDS:-60}

engine_answers() { docker_answers ""; }

# The docker CLI on PATH may be much newer than the engine: here /usr/local/bin/docker is CLI 28
# (API 1.50) and Debian bookworm's engine is 20.10 (API 1.41). The CLI negotiates the API version
# down on its own ("API version: 1.41 (downgraded from 1.50)"), so nothing has to be set. Should a
# future CLI refuse to go that low, we say how to fix it instead of failing in a mysterious way
# later: pin DOCKER_API_VERSION to the engine's version, or put Debian's /usr/bin/docker first.
check_cli_talks_to_engine() {
  local client server
  client=$(command -v docker)
  if timeout 15 docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then
    server=$(timeout 15 docker version --format 'client {{.Client.Version}} / engine {{.Server.Version}} (API {{.Client.APIVersion}})' 2>/dev/null || true)
    say "ok: $client talks to the engine: $server"
    return 0
  fi
  say "ERROR: $client cannot talk to the engine:"
  timeout 15 docker version >&2 || true
  if [[ -x /usr/bin/docker && $client != /usr/bin/docker ]] && timeout 15 /usr/bin/docker version >/dev/null 2>&1; then
    server=$(/usr/bin/docker version --format '{{.Server.APIVersion}}')
    say "Debian's /usr/bin/docker works: export DOCKER_API_VERSION=$server, or put /usr/bin before $(dirname "$client") in PATH"
  fi
  return 1
}

if ! command -v docker >/dev/null 2>&1 && [[ -x /usr/bin/docker ]]; then
  export PATH="/usr/bin:$PATH"
fi

if command -v docker >/dev/null 2>&1 && engine_answers; then
  say "engine already answers; nothing to do"
  check_cli_talks_to_engine
  exit 0
fi

# The socket to start a daemon on. A DOCKER_HOST that is not a local unix socket (tcp://, ssh://)
# is a configuration problem of the caller: a local daemon would not help, the CLI would keep
# talking to the other one.
default_socket=/var/run/docker.sock
socket=$default_socket
if [[ -n ${DOCKER_HOST:-} ]]; then
  if [[ $DOCKER_HOST != unix:///* ]]; then
    say "ERROR: DOCKER_HOST=$DOCKER_HOST does not answer; unset it to let this script start a local engine"
    exit 1
  fi
  socket=${DOCKER_HOST#unix://}
  [[ $socket == /run/docker.sock ]] && socket=$default_socket # /var/run is /run
fi

mkdir -p "$ci_dir"

# --- install ------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  if [[ $(id -u) != 0 ]]; then
    say "ERROR: no docker engine answers and dockerd is not installed; installing it needs root"
    exit 1
  fi
  say "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  # Lock::Timeout: wait for another apt/dpkg (e.g. .ci/run's own install, unattended upgrades)
  # instead of failing on the dpkg lock.
  apt-get -o DPkg::Lock::Timeout=600 update -q </dev/null >&2
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends docker.io </dev/null >&2
  if engine_answers; then # a systemd host starts the service on install
    check_cli_talks_to_engine
    exit 0
  fi
fi

# On a normal systemd host the engine is a service: start that rather than a second daemon.
# (Not here: this VM's PID 1 is not systemd.)
if [[ -d /run/systemd/system ]] && systemctl cat docker.service >/dev/null 2>&1; then
  say "starting docker.service"
  if systemctl start docker.service >&2 && engine_answers; then
    check_cli_talks_to_engine
    exit 0
  fi
  say "docker.service did not come up; starting dockerd by hand"
fi

if [[ $(id -u) != 0 ]]; then
  say "ERROR: no docker engine answers, and starting dockerd needs root"
  exit 1
fi

# --- start ----------------------------------------------------------------------------------
# The default data root's dockerd, if one runs: it writes its pid to /var/run/docker.pid (the
# engines of the tests have pidfiles of their own).
existing=$(read_pid /var/run/docker.pid)
pid_is dockerd "$existing" || existing=
if [[ -n $existing ]]; then
  if [[ $socket != "$default_socket" ]]; then
    # It listens elsewhere (the default socket, or another): a second one on the same data root
    # would fight over /var/lib/docker.
    say "ERROR: nothing answers on $socket, and the default engine (dockerd pid $existing) runs already: point DOCKER_HOST at it (unset it), or stop it"
    exit 1
  fi
  # Started a moment ago (by systemd, by someone else): still starting. Just wait for it.
  say "dockerd for $socket already running (pid $existing) but not answering yet; waiting for it"
else
  dockerd_args=()
  [[ $socket == "$default_socket" ]] || dockerd_args+=(--host "unix://$socket")

  # iptables: Debian's default is iptables-nft, which works on this VM's kernel (nf_tables and
  # the xt compat matches are built in). Kernels without nf_tables but with the legacy tables need
  # the legacy binary; with neither, run without iptables (port publishing still works through
  # docker-proxy, which is all the loopback registry of the tests needs).
  if ! iptables -t nat -L -n >/dev/null 2>&1; then
    if command -v iptables-legacy >/dev/null 2>&1 && iptables-legacy -t nat -L -n >/dev/null 2>&1; then
      say "iptables-nft does not work on this kernel; switching to iptables-legacy"
      update-alternatives --set iptables /usr/sbin/iptables-legacy >&2
      update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >&2 || true
    else
      say "WARNING: no working iptables; starting dockerd with --iptables=false"
      dockerd_args+=(--iptables=false)
    fi
  fi

  # Storage: dockerd picks overlay2 itself when the filesystem under /var/lib/docker supports it
  # (ext4 here: it does) and falls back to the slow vfs driver otherwise; we report which below.

  say "starting dockerd (log: $log, pidfile: $pidfile)"
  start_detached bottle-tasks-dockerd "$pidfile" "$log" dockerd "${dockerd_args[@]}"
fi

# --- wait -----------------------------------------------------------------------------------
watch=$pidfile
[[ -z $existing ]] || watch= # a dockerd someone else started: no pidfile of ours to watch
if ! wait_for_docker "" "$wait_seconds" "$watch" "$log"; then
  [[ -n $watch ]] && ! pid_is dockerd "$(read_pid "$watch")" && rm -f "$watch"
  exit 1
fi

driver=$(timeout 15 docker info --format '{{.Driver}}' 2>/dev/null || echo '?')
say "engine up after $((SECONDS))s: storage driver $driver, socket $socket"
if [[ $driver == vfs ]]; then
  say "WARNING: storage driver vfs (overlay2 unusable on this filesystem): commits will be slow"
fi
[[ -s $pidfile ]] && say "dockerd pid $(cat "$pidfile") (stop it with scripts/ci/stop-started.sh)"
check_cli_talks_to_engine
