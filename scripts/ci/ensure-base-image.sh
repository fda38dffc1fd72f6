#!/usr/bin/env bash
# Make sure the default engine has the two images the tests start bottles from:
#
#   debian:bookworm-slim          the plain image, as on Docker Hub: NO `node` user. Tests of
#                                 "any image" must run against what users really have; a stand-in
#                                 with extras would hide code that silently relies on them (e.g.
#                                 a chown to node, /home/node), which the spec forbids
#                                 ("it must work on images without a node user").
#   bottle-tasks/agent:bookworm   an agent-like image: FROM debian:bookworm-slim + user/group node
#                                 (uid/gid 1000, home /home/node, shell bash), as in the node
#                                 images bottles normally run. Tests that need that user use this
#                                 image (.ci/run exports BOTTLE_TASKS_AGENT_IMAGE, the tests get
#                                 it as inject('agentImage')).
#
# debian:bookworm-slim: 1. present: kept (unless it is a stand-in that older versions of this
# script built, with a node user or not slimmed: replaced). 2. Pulled, where a registry is
# reachable (a short timeout: here the pull fails in about a second). 3. Otherwise a stand-in from
# Debian packages: debootstrap --variant=minbase bookworm, minimized and slimmed the way
# debuerreotype makes the official -slim images (minimize, slimify below), tarred to a cache file
# and `docker import`ed (with the cache file present, only the import).
# The agent image is built on top (classic builder; labelled with the base's ID and the recipe's
# sha256, rebuilt only when either changes). Both are smoke-tested: the plain one runs and has no
# node user (`docker run --rm debian:bookworm-slim id node` fails), the agent one has it.
#
# Environment:
#   BOTTLE_TASKS_CACHE        the cache tar (default /var/cache/bottle-tasks/bookworm-slim.tar);
#                             a directory (existing, or ending in /) means <dir>/bookworm-slim.tar
#   BOTTLE_TASKS_BASE_IMAGE   the plain image's tag (default debian:bookworm-slim)
#   BOTTLE_TASKS_AGENT_IMAGE  the agent image's tag (default bottle-tasks/agent:bookworm)
#   BOTTLE_TASKS_PULL_TIMEOUT seconds allowed for the pull (default 60)
#   DEBIAN_MIRROR             mirror for debootstrap (default: the machine's own apt source)
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

image=$BASE_IMAGE
suite=bookworm
cache=${BOTTLE_TASKS_CACHE:-/var/cache/bottle-tasks/bookworm-slim.tar}
if [[ -d $cache || $cache == */ ]]; then
  cache=${cache%/}/bookworm-slim.tar
fi
pull_timeout=${BOTTLE_TASKS_PULL_TIMEOUT:-60}
# The --message of our stand-in, and the ones older versions gave theirs (with a node user; then
# without one but not slimmed as the real image is: 33 MB of translations more, no copyrights).
stand_in_message="bottle-tasks: debootstrap --variant=minbase $suite, minimized and slimmed as debuerreotype does, no node user (stand-in for $image)"
old_stand_in_messages=("bottle-tasks: debootstrap --variant=minbase $suite (stand-in for $image)"
  "bottle-tasks: debootstrap --variant=minbase $suite, no node user (stand-in for $image)")
label=org.bottle-tasks.agent-image

# --- the agent image --------------------------------------------------------------------------
# What the node images (docker-library/node, bookworm-slim variants) do for their user.
agent_dockerfile='FROM '"$image"'
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
'
ensure_agent_image() {
  local base_id recipe_sha have t=$EPOCHREALTIME ctx
  base_id=$(docker image inspect --format '{{.Id}}' "$image")
  recipe_sha=$(printf '%s' "$agent_dockerfile" | sha256sum | cut -d' ' -f1)
  have=$(docker image inspect --format "{{index .Config.Labels \"$label.base-id\"}} {{index .Config.Labels \"$label.recipe-sha256\"}}" "$AGENT_IMAGE" 2>/dev/null || true)
  if [[ $have == "$base_id $recipe_sha" ]]; then
    say "$AGENT_IMAGE is up to date"
    return 0
  fi
  ctx=$(mktemp -d "${TMPDIR:-/tmp}/bottle-tasks-agent-image.XXXXXX")
  printf '%s' "$agent_dockerfile" >"$ctx/Dockerfile"
  say "building $AGENT_IMAGE from $image"
  # The classic builder: no buildx plugin here, and it never tries to pull a base image it has.
  if ! DOCKER_BUILDKIT=0 docker build -q \
    --label "$label.base-id=$base_id" --label "$label.recipe-sha256=$recipe_sha" \
    --label "org.opencontainers.image.description=agent-like test image: $image + user node (1000:1000, /home/node, bash)" \
    -t "$AGENT_IMAGE" "$ctx" >&2; then
    rm -rf "$ctx"
    say "ERROR: building $AGENT_IMAGE failed"
    return 1
  fi
  rm -rf "$ctx"
  say "built $AGENT_IMAGE in $(elapsed_since "$t")"
}

finish() {
  ensure_agent_image
  smoke_test_images ""
  exit 0
}

# --- the plain image --------------------------------------------------------------------------
if comment=$(docker image inspect --format '{{.Comment}}' "$image" 2>/dev/null); then
  old=false
  for message in "${old_stand_in_messages[@]}"; do [[ $comment != "$message" ]] || old=true; done
  if $old; then
    say "$image is an older stand-in of ours (\"$comment\"); replacing it"
  else
    say "$image present"
    finish
  fi
else
  say "pulling $image (at most ${pull_timeout}s)"
  if timeout --kill-after=5 "$pull_timeout" docker pull -q "$image" >&2 &&
    docker image inspect "$image" >/dev/null 2>&1; then
    finish
  fi
  say "pull failed; using a debootstrap-built $image instead (cache: $cache)"
fi

# The mirror debootstrap fetches from: the Debian archive this machine's apt already uses for the
# bookworm suite itself (not -security/-updates, not third-party repositories), as apt reports it
# (whatever the format of its sources), else deb.debian.org. An entry of `apt-cache policy`:
#    500 http://deb.debian.org/debian bookworm/main amd64 Packages
#        release v=12.15,o=Debian,a=oldstable,n=bookworm,l=Debian,c=main,b=amd64
find_mirror() {
  local policy
  policy=$(apt-cache policy 2>/dev/null) || return 0
  awk -v suite="$suite" '
    uri != "" && $1 == "release" && ("," $2 ",") ~ /,o=Debian,/ { print uri; exit }
    { uri = ($2 ~ /^https?:\/\// && index($3, suite "/") == 1) ? $2 : "" }' <<<"$policy"
}

# One builder at a time (two CI steps, or a developer next to CI, must not debootstrap into the
# same cache). The lock file sits beside the cache.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9

# An interrupted debootstrap can leave proc/sys mounted inside the rootfs: unmount everything
# below a build directory first (deepest first), and never let rm cross into another filesystem.
remove_build_dir() {
  local dir=$1 m mounts
  [[ -n $dir && -d $dir ]] || return 0
  mounts=$(findmnt -rn -o TARGET)
  while read -r m; do
    if [[ $m == "$dir"/* ]]; then umount -l "$m" 2>/dev/null || true; fi
  done < <(sort -r <<<"$mounts")
  rm -rf --one-file-system "$dir"
}
# Leftovers of a run that was killed outright (we hold the lock: no one else is building).
for stale in "$(dirname "$cache")"/.build.*; do
  remove_build_dir "$stale"
done
build_dir=
trap 'remove_build_dir "$build_dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The cache files older versions wrote (a rootfs with a node user; one not slimmed): no longer used.
for legacy in /var/cache/bottle-tasks/bookworm-minbase.tar /var/cache/bottle-tasks/bookworm-minbase-plain.tar; do
  if [[ -z ${BOTTLE_TASKS_CACHE:-} && -f $legacy ]]; then
    rm -f "$legacy" "$legacy.lock" && say "removed $legacy (from an older version)"
  fi
done

# What the official images' builder (debuerreotype) does to a debootstrapped rootfs, so that the
# stand-in has what the real debian:bookworm-slim has and nothing more (read in debuerreotype's
# scripts/debuerreotype-minimizing-config, debuerreotype-slimify, .slimify-excludes and
# .slimify-includes): the files that keep services from starting and apt lean, then the "slim" part:
# documentation, manuals and translations removed except copyrights and the locale tables, and a
# dpkg configuration that keeps them out of packages installed later.
minimize() {
  local root=$1
  printf '#!/bin/sh\n# No service starts inside a container image build.\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  printf '# Containers do not survive power loss anyway: no sync after each package.\nforce-unsafe-io\n' >"$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  printf '# Remove what a suggests-dependency alone kept installed.\nApt::AutoRemove::SuggestsImportant "false";\n' >"$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
  local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
  printf '# apt-get clean after every install and update.\nDPkg::Post-Invoke { %s };\nAPT::Update::Post-Invoke { %s };\n\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' "$clean" "$clean" >"$root/etc/apt/apt.conf.d/docker-clean"
  printf '# Package lists stay compressed on disk.\nAcquire::GzipIndexes "true";\n' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"
  printf '# No translated package descriptions.\nAcquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  chmod 0644 "$root"/etc/dpkg/dpkg.cfg.d/docker-apt-speedup "$root"/etc/apt/apt.conf.d/docker-*
}
slim_excludes=(/usr/share/doc/'*' /usr/share/groff/'*' /usr/share/info/'*' /usr/share/linda/'*'
  /usr/share/lintian/overrides/'*' /usr/share/locale/'*' /usr/share/man/'*')
slim_includes=(/usr/share/doc/'*'/copyright /usr/share/doc/kde/HTML/C/'*' /usr/share/gnome/help/'*'/C/'*'
  /usr/share/locale/all_languages /usr/share/locale/currency/'*' /usr/share/locale/l10n/'*'
  /usr/share/locale/languages /usr/share/locale/locale.alias /usr/share/omf/'*'/'*'-C.emf)
slimify() {
  local root=$1 exclude include dir
  local -a keep=()
  for include in "${slim_includes[@]}"; do keep+=(${keep[@]:+-o} -path "$include"); done
  {
    echo '# The "slim" variant of the Debian base image: files that containers do not need are'
    echo '# left out of every package installed, now and later.'
    for exclude in "${slim_excludes[@]}"; do echo "path-exclude $exclude"; done
    for include in "${slim_includes[@]}"; do echo "path-include $include"; done
  } >"$root/etc/dpkg/dpkg.cfg.d/docker"
  chmod 0644 "$root/etc/dpkg/dpkg.cfg.d/docker"
  for exclude in "${slim_excludes[@]}"; do
    dir=${exclude%/\*}
    [[ -d $root$dir ]] || continue
    # Inside the rootfs (chroot): its absolute symlinks (alternatives) point into it, not at this
    # machine. Files first (what an include names stays), then the symlinks left dangling and the
    # directories left empty, until none is.
    chroot "$root" find "$dir" -depth -mindepth 1 -not \( "${keep[@]}" \) -not \( -type d -o -type l \) -exec rm -f {} +
    while [[ -n $(chroot "$root" find "$dir" -depth -mindepth 1 \( -empty -o -xtype l \) -print -exec rm -rf {} \;) ]]; do :; done
  done
}

if [[ ! -s $cache ]]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q </dev/null >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap </dev/null >&2
  fi
  mirror=${DEBIAN_MIRROR:-$(find_mirror)}
  mirror=${mirror:-http://deb.debian.org/debian}
  # Built next to the cache, so that the final rename stays on one filesystem (and not in a
  # tmpfs /tmp: the build needs a few hundred MB and real device nodes).
  build_dir=$(mktemp -d "$(dirname "$cache")/.build.XXXXXX")
  rootfs=$build_dir/rootfs
  started=$SECONDS
  say "debootstrap --variant=minbase $suite from $mirror"
  if ! debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" </dev/null >"$build_dir/debootstrap.log" 2>&1; then
    say "ERROR: debootstrap failed; last lines of its log:"
    tail -n 30 "$build_dir/debootstrap.log" >&2
    tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    exit 1
  fi

  minimize "$rootfs"
  slimify "$rootfs"
  # No package lists, downloaded .debs or logs, as in the official image (apt-get update in a
  # bottle fetches the lists again).
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/debootstrap
  # Host details debootstrap copied in; Docker provides its own per container.
  rm -f "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf
  : >"$rootfs"/etc/machine-id 2>/dev/null || true

  # Numeric owners, as in the image. /dev, /proc and /sys stay as empty directories: the engine
  # mounts its own.
  tar --numeric-owner --one-file-system -C "$rootfs" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$build_dir/rootfs.tar" .
  # Atomic: a cache file is either complete or absent.
  mv -f "$build_dir/rootfs.tar" "$cache"
  say "built $cache ($(du -h "$cache" | cut -f1)) in $((SECONDS - started))s"
else
  say "using cached $cache"
fi

started=$SECONDS
# CMD and PATH as in the official image's config (an imported image has no config of its own).
docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --message "$stand_in_message" \
  "$cache" "$image" >&2
say "imported $image in $((SECONDS - started))s"
finish
