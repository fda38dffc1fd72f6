#!/usr/bin/env bash
# Install the Go-built tools the toolkit and its tests use, when they are not on PATH already:
#   task   go-task v3, runs the Taskfile
#   crane  go-containerregistry's registry client (export --to / import from a registry)
#
# Prints ONE line on stdout: the directory the tools are in (GOBIN), for the caller to put on
# PATH:   PATH="$(scripts/ci/install-go-tools.sh):$PATH"
# Progress goes to stderr. Without Go it installs nothing, says so on stderr, prints nothing on
# stdout and exits 0 (the caller then uses whatever is on PATH).
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Versions to fall back on when @latest does not build here: a newer release may need a newer Go,
# or a dependency version the module proxy does not serve (task v3.54.0 fails that way: 403 on a
# pseudo-version of mvdan.cc/sh/x). v3.53.1 builds with go1.26. The crane one is the newest that
# `go get` accepted on go1.26 per /work/.library/env/packages/go-partial.tsv.
fallback_task=v3.53.1
fallback_crane=v0.22.1

if ! find_go; then
  say "go not found; not installing task/crane (have: task=$(command -v task || echo none), crane=$(command -v crane || echo none))"
  exit 0
fi

gobin=$("$GO" env GOBIN)
if [[ -z $gobin ]]; then
  gobin=$("$GO" env GOPATH)/bin
fi
export GOBIN=$gobin
# Look for already-installed tools in GOBIN too, not just on the caller's PATH.
export PATH="$gobin:$PATH"

# `task` could also be Taskwarrior's binary: accept only go-task v3 ("Task version: v3.x" in
# older releases, a bare "3.x.y" in newer ones).
have_task() {
  local v
  v=$(task --version 2>/dev/null) || return 1
  [[ $v == *"Task version: v3."* || $v =~ ^v?3\.[0-9]+ ]] || return 1
  # Taskwarrior 3 also prints a bare "3.x.y": go-task's help mentions the Taskfile. Captured, not
  # piped into `grep -q`: with pipefail, grep quitting early makes task die of SIGPIPE (a flaky no).
  local help
  help=$(task --help 2>&1) || true
  [[ ${help,,} == *taskfile* ]]
}
have_crane() { crane version >/dev/null 2>&1; }

# go_install PACKAGE FALLBACK_VERSION
go_install() {
  local pkg=$1 fallback=$2 started=$SECONDS
  say "go install $pkg@latest"
  if "$GO" install "$pkg@latest" >&2; then
    say "installed $pkg@latest in $((SECONDS - started))s"
    return 0
  fi
  say "$pkg@latest failed with $("$GO" env GOVERSION); trying $fallback"
  "$GO" install "$pkg@$fallback" >&2
  say "installed $pkg@$fallback in $((SECONDS - started))s"
}

if have_task; then
  say "task present: $(command -v task) ($(task --version | head -n 1))"
else
  go_install github.com/go-task/task/v3/cmd/task "$fallback_task"
  have_task || { say "ERROR: task installed but does not run"; exit 1; }
fi

if have_crane; then
  say "crane present: $(command -v crane) ($(crane version))"
else
  go_install github.com/google/go-containerregistry/cmd/crane "$fallback_crane"
  have_crane || { say "ERROR: crane installed but does not run"; exit 1; }
fi

echo "$gobin"
