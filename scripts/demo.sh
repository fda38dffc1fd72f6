#!/usr/bin/env bash
# The main job end to end on the real engine, in a throwaway state root:
# start a bottle, leave work in it, commit, throw the bottle away, resume, and show the work survived.
set -euo pipefail
cd "$(dirname "$0")/.."
own_home=""
if [[ -z ${BOT_BOTTLE_HOME:-} ]]; then
  own_home=$(mktemp -d -t bottle-tasks-demo.XXXXXX)
  export BOT_BOTTLE_HOME=$own_home
fi
image="${DEMO_IMAGE:-debian:bookworm-slim}"
run() { printf '\n$ %s\n' "$*" >&2; "$@"; }

slug=$(run node dist/start.mjs --agent demo --image "$image")
forget() {
  node dist/cleanup.mjs "$slug" >/dev/null 2>&1 || true
  # The snapshot and its numbered history tags.
  docker image ls -q "bot-bottle-committed-$slug" | sort -u | xargs -r docker image rm -f >/dev/null 2>&1 || true
  if [[ -n $own_home ]]; then rm -rf "$own_home"; fi
}
trap forget EXIT
run docker exec "bot-bottle-$slug" sh -c 'echo "work from $(date -u +%FT%TZ)" > /root/agent-work.txt'
run node dist/commit.mjs "$slug"
run node dist/cleanup.mjs "$slug"
run node dist/list.mjs
run node dist/resume.mjs "$slug"
printf '\nThe file written before the commit, read from the resumed bottle:\n' >&2
run docker exec "bot-bottle-$slug" cat /root/agent-work.txt
printf '\nDemo done; its bottle, snapshot and state are removed on exit.\n' >&2
