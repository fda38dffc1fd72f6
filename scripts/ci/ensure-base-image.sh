#!/usr/bin/env bash
# Make sure the image the tests start bottles from, debian:bookworm-slim, is in the local engine.
#
# 1. Present already: nothing to do.
# 2. Pull it (laptops and normal CI reach Docker Hub). Kept short: on machines without a
#    registry the pull fails in about a second, and a hanging one is cut off by a timeout.
# 3. Otherwise build a stand-in from Debian packages: debootstrap --variant=minbase bookworm, add
#    the `node` user (uid/gid 1000, home /home/node, as in the node images bottles normally use),
#    tar the rootfs to a cache file and `docker import` it. With the cache file present, step 3 is
#    only the import.
#
# Environment:
#   BOTTLE_TASKS_CACHE       the cache tar (default /var/cache/bottle-tasks/bookworm-minbase.tar);
#                            a directory (existing, or ending in /) means <dir>/bookworm-minbase.tar
#   BOTTLE_TASKS_BASE_IMAGE  the tag to provide (default debian:bookworm-slim)
#   BOTTLE_TASKS_PULL_TIMEOUT seconds allowed for the pull (default 60)
#   DEBIAN_MIRROR            mirror for debootstrap (default: the machine's own apt source)
set -euo pipefail

image=${BOTTLE_TASKS_BASE_IMAGE:-debian:bookworm-slim}
suite=bookworm
cache=${BOTTLE_TASKS_CACHE:-/var/cache/bottle-tasks/bookworm-minbase.tar}
if [[ -d $cache || $cache == */ ]]; then
  cache=${cache%/}/bookworm-minbase.tar
fi
pull_timeout=${BOTTLE_TASKS_PULL_TIMEOUT:-60}

say() { echo "ensure-base-image: $*" >&2; }

have_image() { docker image inspect "$image" >/dev/null 2>&1; }

# The same command the tests rely on: the image runs, and has the node user.
smoke_test() {
  local out
  if ! out=$(docker run --rm "$image" id node 2>&1); then
    say "ERROR: 'docker run --rm $image id node' failed: $out"
    return 1
  fi
  say "ok: $image: $out"
}

if have_image; then
  say "$image present; nothing to do"
  exit 0
fi

say "pulling $image (at most ${pull_timeout}s)"
if timeout --kill-after=5 "$pull_timeout" docker pull -q "$image" >&2 && have_image; then
  smoke_test
  exit 0
fi
say "pull failed; using a debootstrap-built $image instead (cache: $cache)"

# The mirror debootstrap fetches from: the first apt source of this machine that serves the
# bookworm suite itself (not bookworm-security/-updates, not third-party repositories), in either
# the one-line (.list) or the deb822 (.sources) format. deb.debian.org when none is found.
find_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    # deb [options] URI SUITE COMPONENT...
    awk -v suite="$suite" '
      $1 == "deb" {
        i = 2
        if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite && $i ~ /debian\/?$/) { print $i; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    # paragraphs of "Key: value" lines; a matching one has Types: deb and Suites: ... bookworm ...
    awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^#/) continue
          key = tolower(line); sub(/:.*/, "", key)
          val = line; sub(/^[^:]*:[ \t]*/, "", val)
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "enabled") enabled = tolower(val)
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        if ((" " suites " ") !~ (" " suite " ")) next
        split(uris, u, /[ \t]+/)
        if (u[1] ~ /debian\/?$/) { print u[1]; exit }
      }' "$f"
  done
}

mirror=${DEBIAN_MIRROR:-$(find_mirror | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}

# One builder at a time (two CI steps, or a developer next to CI, must not debootstrap into the
# same cache). The lock file sits beside the cache.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9

# An interrupted debootstrap can leave proc/sys mounted inside the rootfs: unmount everything
# below a build directory first (deepest first), and never let rm cross into another filesystem.
remove_build_dir() {
  local dir=$1 m
  [[ -n $dir && -d $dir ]] || return 0
  { findmnt -rn -o TARGET | grep -F "$dir/" || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
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

if [[ ! -s $cache ]]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q </dev/null >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends debootstrap </dev/null >&2
  fi
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

  # The node user and group of the official node images: uid/gid 1000, home /home/node.
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home --home-dir /home/node node

  # Slim it down the way the official -slim images are: no package lists, downloaded .debs,
  # docs, man pages or logs. (apt-get update in a bottle fetches the lists again.)
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/debootstrap
  # Host details debootstrap copied in; Docker provides its own per container.
  rm -f "$rootfs"/etc/hostname "$rootfs"/etc/resolv.conf
  : >"$rootfs"/etc/machine-id 2>/dev/null || true

  # Numeric owners: the image must carry uid 1000, whatever names this host maps it to.
  # /dev, /proc and /sys stay as empty directories: the engine mounts its own.
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
  --message "bottle-tasks: debootstrap --variant=minbase $suite (stand-in for $image)" \
  "$cache" "$image" >&2
say "imported $image in $((SECONDS - started))s"
smoke_test
