#!/usr/bin/env bash
# Engine B: a second Docker engine ("host B") next to the default one ("host A"), the same
# Debian dockerd, so that tests can move a bottle from one engine to another on one machine.
# Prints ONE line on stdout, the DOCKER_HOST that reaches B:
#
#   export BOTTLE_TASKS_ENGINE_B=$(scripts/ci/ensure-second-engine.sh)
#   DOCKER_HOST=$BOTTLE_TASKS_ENGINE_B docker ps
#
#   ensure-second-engine.sh        start B unless its socket answers already; make sure B has the
#                                  test images and the registry stand-in (copied from A)
#   ensure-second-engine.sh stop   stop B, if this CI directory started it (stop-started.sh)
#
# How (own socket, data root, exec root, containerd, bridge; no iptables; the docker0 trap):
# scripts/ci/side-engine.sh. Pid in $BOTTLE_TASKS_CI_DIR/dockerd@b.pid, undo in dockerd@b.undo.
#
# Environment (defaults in brackets):
#   BOTTLE_TASKS_CI_DIR                 pidfile, log, undo file [/tmp/bottle-tasks-ci]
#   BOTTLE_TASKS_ENGINE_B_HOST          B's socket [unix:///run/bottle-tasks-b/docker.sock]
#   BOTTLE_TASKS_ENGINE_B_DATA_ROOT     [/var/lib/bottle-tasks-b]
#   BOTTLE_TASKS_ENGINE_B_EXEC_ROOT     [/run/bottle-tasks-b/exec]
#   BOTTLE_TASKS_ENGINE_B_PIDFILE       dockerd's own --pidfile [/run/bottle-tasks-b/docker.pid]
#   BOTTLE_TASKS_ENGINE_B_BRIDGE        bridge name [bt-b0]
#   BOTTLE_TASKS_ENGINE_B_BRIDGE_CIDR   its address [first of 10.213.N.1/24 that is free here]
#   BOTTLE_TASKS_BASE_IMAGE, BOTTLE_TASKS_AGENT_IMAGE, BOTTLE_TASKS_REGISTRY_IMAGE
#                                       the images B gets [debian:bookworm-slim,
#                                       bottle-tasks/agent:bookworm, bottle-tasks/registry:2]
#   ENGINE_WAIT_SECONDS                 how long to wait for B to answer [60]
set -euo pipefail

data_root=${BOTTLE_TASKS_ENGINE_B_DATA_ROOT:-/var/lib/bottle-tasks-b}
export SIDE_ENGINE_NAME=b
export SIDE_ENGINE_HOST=${BOTTLE_TASKS_ENGINE_B_HOST:-unix:///run/bottle-tasks-b/docker.sock}
export SIDE_ENGINE_DATA_ROOT=$data_root
export SIDE_ENGINE_EXEC_ROOT=${BOTTLE_TASKS_ENGINE_B_EXEC_ROOT:-/run/bottle-tasks-b/exec}
export SIDE_ENGINE_PIDFILE=${BOTTLE_TASKS_ENGINE_B_PIDFILE:-/run/bottle-tasks-b/docker.pid}
export SIDE_ENGINE_BRIDGE=${BOTTLE_TASKS_ENGINE_B_BRIDGE:-bt-b0}
export SIDE_ENGINE_BRIDGE_CIDR=${BOTTLE_TASKS_ENGINE_B_BRIDGE_CIDR:-}
# dockerd 20.10 derives the engine ID ("docker info" .ID) from /etc/docker/key.json, so A and B
# would report the same ID; "deprecated-key-path" (a daemon.json key only, no flag) gives B its
# own. (Newer engines refuse the key and keep the ID in the data root anyway.)
export SIDE_ENGINE_CONFIG="{ \"deprecated-key-path\": \"$data_root/key.json\" }"
export SIDE_ENGINE_IMAGES="${BOTTLE_TASKS_BASE_IMAGE:-debian:bookworm-slim} ${BOTTLE_TASKS_AGENT_IMAGE:-bottle-tasks/agent:bookworm} ${BOTTLE_TASKS_REGISTRY_IMAGE:-bottle-tasks/registry:2}"
exec "$(dirname "${BASH_SOURCE[0]}")/side-engine.sh" "$@"
