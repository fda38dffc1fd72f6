#!/usr/bin/env bash
# Make `docker compose` (the Compose v2 CLI plugin) work: bottles that ran as a compose project
# come back through it. Debian bookworm has only the old Python docker-compose 1.29, and Docker's
# own packages are not reachable here, so when `docker compose version` does not answer, the
# plugin is built from the Go module proxy (github.com/docker/compose/v2/cmd, ~3 min cold on two
# cores), cached as $BOTTLE_TASKS_BIN_CACHE/docker-compose-VERSION, and installed as the CLI
# plugin: /usr/local/lib/docker/cli-plugins/docker-compose for root (every user, whatever HOME or
# DOCKER_CONFIG say), else ~/.docker/cli-plugins/docker-compose. Compose talks to the engine's
# API as negotiated: it works with Debian's engine 20.10 (API 1.41) as with engine 29.
#
# Environment:
#   BOTTLE_TASKS_COMPOSE_VERSION   [v2.40.3]
#   BOTTLE_TASKS_BIN_CACHE         [/var/cache/bottle-tasks/bin]
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=${BOTTLE_TASKS_COMPOSE_VERSION:-v2.40.3}
cached=$BIN_CACHE/docker-compose-$version
if [[ $(id -u) == 0 ]]; then
  plugin=/usr/local/lib/docker/cli-plugins/docker-compose
else
  plugin=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose
fi

if out=$(docker compose version 2>&1); then
  say "ok: $out"
  exit 0
fi

# The cached binary is good when it runs and says its version (a build without the version
# linked in says "dev").
cache_ok() { [[ -x $cached && $("$cached" version --short 2>/dev/null) == "${version#v}" ]]; }

if ! cache_ok; then
  find_go || { say "ERROR: docker compose is missing and there is no Go to build it with"; exit 1; }
  mkdir -p "$BIN_CACHE"
  exec 9>"$BIN_CACHE/.docker-compose.lock" # one builder at a time
  flock -w 1800 9 || { say "ERROR: another build held $BIN_CACHE/.docker-compose.lock for 30 min"; exit 1; }
  if ! cache_ok; then
    go_build composebuild github.com/docker/compose/v2/cmd "$version" "$cached" \
      -ldflags "-X github.com/docker/compose/v2/internal.Version=$version"
    cache_ok || { say "ERROR: $cached does not report $version"; exit 1; }
  fi
fi

install -D -m 0755 "$cached" "$plugin"
if ! out=$(docker compose version 2>&1); then
  say "ERROR: installed $plugin, but 'docker compose version' fails: $out"
  exit 1
fi
say "installed $plugin: $out"
