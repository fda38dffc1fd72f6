#!/usr/bin/env bash
# A second Docker engine ("another host") next to the default one ("host A"), the same Debian
# dockerd, so that tests can move a bottle from one engine to another on one machine. Two of them:
#   b   the other host of the tests on the default engine (A → B)
#   c   the other host of the tests on the current engine (29 → C)
#   d   an engine that remaps users (--userns-remap=default: root in a container is uid 100000 of
#       this machine), for the tests of what an engine adds to confinement (D → A), on A's lane
# so that the two engines' tests can run side by side, each with another host of its own (a test
# compares all the images on its other host before and after a refused import).
# Prints ONE line on stdout, the DOCKER_HOST that reaches it:
#
#   export BOTTLE_TASKS_ENGINE_B=$(scripts/ci/ensure-second-engine.sh)
#   export BOTTLE_TASKS_ENGINE_C=$(scripts/ci/ensure-second-engine.sh c)
#   export BOTTLE_TASKS_ENGINE_USERNS=$(scripts/ci/ensure-second-engine.sh d)
#   DOCKER_HOST=$BOTTLE_TASKS_ENGINE_B docker ps
#
#   ensure-second-engine.sh [b|c|d]      start it unless its socket answers already; make sure it
#                                        has the test images and the registry stand-in (copied from A)
#   ensure-second-engine.sh [b|c|d] stop stop it, if this CI directory started it (stop-started.sh)
#
# How (own socket, data root, exec root, containerd, bridge; no iptables; the docker0 trap):
# scripts/ci/side-engine.sh. Pid in $BOTTLE_TASKS_CI_DIR/dockerd@NAME.pid, undo in dockerd@NAME.undo.
#
# Environment (defaults in brackets; N is B, C or D, n is b, c or d):
#   BOTTLE_TASKS_CI_DIR                 pidfile, log, undo file [/tmp/bottle-tasks-ci]
#   BOTTLE_TASKS_ENGINE_N_HOST          its socket [unix:///run/bottle-tasks-n/docker.sock]
#   BOTTLE_TASKS_ENGINE_N_DATA_ROOT     [/var/lib/bottle-tasks-n]
#   BOTTLE_TASKS_ENGINE_N_EXEC_ROOT     [/run/bottle-tasks-n/exec]
#   BOTTLE_TASKS_ENGINE_N_PIDFILE       dockerd's own --pidfile [/run/bottle-tasks-n/docker.pid]
#   BOTTLE_TASKS_ENGINE_N_BRIDGE        bridge name [bt-n0]
#   BOTTLE_TASKS_ENGINE_N_BRIDGE_CIDR   its address [first of 10.213.N.1/24 that is free here]
#   BOTTLE_TASKS_BASE_IMAGE, BOTTLE_TASKS_AGENT_IMAGE, BOTTLE_TASKS_REGISTRY_IMAGE
#                                       the images it gets [debian:bookworm-slim,
#                                       bottle-tasks/agent:bookworm, bottle-tasks/registry:2]
#   ENGINE_WAIT_SECONDS                 how long to wait for it to answer [60]
set -euo pipefail

name=b
if [[ ${1:-} == b || ${1:-} == c || ${1:-} == d ]]; then
  name=$1
  shift
fi
upper=${name^^}
setting() { local var="BOTTLE_TASKS_ENGINE_${upper}_$1"; echo "${!var:-$2}"; }

data_root=$(setting DATA_ROOT "/var/lib/bottle-tasks-$name")
export SIDE_ENGINE_NAME=$name
export SIDE_ENGINE_HOST; SIDE_ENGINE_HOST=$(setting HOST "unix:///run/bottle-tasks-$name/docker.sock")
export SIDE_ENGINE_DATA_ROOT=$data_root
export SIDE_ENGINE_EXEC_ROOT; SIDE_ENGINE_EXEC_ROOT=$(setting EXEC_ROOT "/run/bottle-tasks-$name/exec")
export SIDE_ENGINE_PIDFILE; SIDE_ENGINE_PIDFILE=$(setting PIDFILE "/run/bottle-tasks-$name/docker.pid")
export SIDE_ENGINE_BRIDGE; SIDE_ENGINE_BRIDGE=$(setting BRIDGE "bt-${name}0")
export SIDE_ENGINE_BRIDGE_CIDR; SIDE_ENGINE_BRIDGE_CIDR=$(setting BRIDGE_CIDR "")
# dockerd 20.10 derives the engine ID ("docker info" .ID) from /etc/docker/key.json, so A and this
# engine would report the same ID; "deprecated-key-path" (a daemon.json key only, no flag) gives it
# its own. (Newer engines refuse the key and keep the ID in the data root anyway.)
# D remaps users: dockerd makes the user "dockremap" and its subordinate ids itself (useradd).
userns=''
[[ $name == d ]] && userns=', "userns-remap": "default"'
export SIDE_ENGINE_CONFIG="{ \"deprecated-key-path\": \"$data_root/key.json\"$userns }"
export SIDE_ENGINE_IMAGES="${BOTTLE_TASKS_BASE_IMAGE:-debian:bookworm-slim} ${BOTTLE_TASKS_AGENT_IMAGE:-bottle-tasks/agent:bookworm} ${BOTTLE_TASKS_REGISTRY_IMAGE:-bottle-tasks/registry:2}"
exec "$(dirname "${BASH_SOURCE[0]}")/side-engine.sh" "$@"
