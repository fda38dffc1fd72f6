#!/usr/bin/env bash
# The main job end to end on the real engine, in a throwaway state root:
# start a bottle, leave work in it, commit, throw the bottle away, resume, and show the work survived.
set -euo pipefail
cd "$(dirname "$0")/.."
export BOT_BOTTLE_HOME="${BOT_BOTTLE_HOME:-$(mktemp -d -t bottle-tasks-demo.XXXXXX)}"
image="${DEMO_IMAGE:-debian:bookworm-slim}"
run() { printf '\n$ %s\n' "$*" >&2; "$@"; }

slug=$(run node dist/start.mjs --agent demo --image "$image")
trap 'node dist/cleanup.mjs "$slug" >/dev/null 2>&1 || true; docker image rm "bot-bottle-committed-$slug:latest" >/dev/null 2>&1 || true' EXIT
run docker exec "bot-bottle-$slug" sh -c 'echo "work from $(date -u +%FT%TZ)" > /root/agent-work.txt'
run node dist/commit.mjs "$slug"
run node dist/cleanup.mjs "$slug"
run node dist/list.mjs
run node dist/resume.mjs "$slug"
printf '\nThe file written before the commit, read from the resumed bottle:\n' >&2
run docker exec "bot-bottle-$slug" cat /root/agent-work.txt
printf '\nDemo done (state root %s); its bottle and snapshot are removed on exit.\n' "$BOT_BOTTLE_HOME" >&2
