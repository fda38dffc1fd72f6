#!/usr/bin/env bash
# Build a local stand-in for the official registry:2 image, which cannot be pulled here: Debian's
# docker-registry binary (distribution 2.8) on top of debian:bookworm-slim, serving on :5000 with
# its storage in /var/lib/registry, like registry:2:
#
#   docker run -d -p 127.0.0.1:0:5000 bottle-tasks/registry:2
#
# ENTRYPOINT ["docker-registry", "serve"], CMD ["/etc/docker/registry/config.yml"]; settings can
# be overridden with REGISTRY_* variables as with registry:2 (e.g. -e REGISTRY_HTTP_ADDR=:5001).
# The config is the host's /etc/docker/registry/config.yml with two changes: storage in
# /var/lib/registry (Debian's says /var/lib/docker-registry), and no `auth:` section (Debian's
# demands htpasswd basic auth from a path that is a directory, so every request gets a 401).
# Unlike registry:2, deletion is enabled (Debian's config enables it).
#
# Idempotent: the image is labelled with the sha256 of the binary, of the recipe (Dockerfile and
# config) and the base image's ID; when the image exists with the same three, nothing is built.
# Prints ONE line on stdout, the image's tag:  export BOTTLE_TASKS_REGISTRY_IMAGE=$(registry-image.sh)
#
# Environment:
#   BOTTLE_TASKS_REGISTRY_IMAGE  the tag to build [bottle-tasks/registry:2]
#   BOTTLE_TASKS_BASE_IMAGE      the base [debian:bookworm-slim]
#   REGISTRY_BINARY              [/usr/bin/docker-registry]
#   REGISTRY_HOST_CONFIG         [/etc/docker/registry/config.yml]
set -euo pipefail
# shellcheck source=scripts/ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tag=${BOTTLE_TASKS_REGISTRY_IMAGE:-bottle-tasks/registry:2}
base=$BASE_IMAGE
binary=${REGISTRY_BINARY:-/usr/bin/docker-registry}
host_config=${REGISTRY_HOST_CONFIG:-/etc/docker/registry/config.yml}
label=org.bottle-tasks.registry

for f in "$binary" "$host_config"; do
  if [[ ! -r $f ]]; then
    say "ERROR: $f missing (apt-get install docker-registry)"
    exit 1
  fi
done
if ! base_id=$(docker image inspect --format '{{.Id}}' "$base" 2>/dev/null); then
  say "ERROR: $base missing (scripts/ci/ensure-base-image.sh provides it)"
  exit 1
fi

# The binary must need nothing but glibc, which the base image has (the same Debian release as
# this host, so a version new enough). Anything else it links would be missing in the image.
libs=$(ldd "$binary" 2>&1) || { say "ERROR: ldd $binary: $libs"; exit 1; }
extra=$(awk '$1 !~ /^(linux-vdso\.so|libc\.so|libpthread\.so|libdl\.so|librt\.so|libm\.so|libresolv\.so)/ && $1 !~ /ld-linux/ && $1 != "statically" { print $1 }' <<<"$libs")
if [[ -n $extra ]]; then
  say "ERROR: $binary needs more than glibc: $extra"
  exit 1
fi

# The config: the host's, storage moved to /var/lib/registry, the auth section removed. Checked:
# the rewrite must have found the rootdirectory line and left no auth.
config=$(awk '
  /^[^ #]/ { skip = ($1 == "auth:") }            # a top-level key starts or ends the auth block
  skip { next }
  /^[ \t]+rootdirectory:/ { sub(/rootdirectory:.*/, "rootdirectory: /var/lib/registry") }
  { print }' "$host_config")
if ! grep -q 'rootdirectory: /var/lib/registry$' <<<"$config" || grep -q '^auth:' <<<"$config"; then
  say "ERROR: could not adapt $host_config (no filesystem rootdirectory?):"
  echo "$config" >&2
  exit 1
fi

dockerfile='FROM '"$base"'
COPY docker-registry /usr/bin/docker-registry
COPY config.yml /etc/docker/registry/config.yml
RUN mkdir -p /var/lib/registry
VOLUME ["/var/lib/registry"]
EXPOSE 5000
ENTRYPOINT ["/usr/bin/docker-registry", "serve"]
CMD ["/etc/docker/registry/config.yml"]
'

binary_sha=$(sha256sum "$binary" | cut -d' ' -f1)
recipe_sha=$(printf '%s\n--\n%s\n' "$dockerfile" "$config" | sha256sum | cut -d' ' -f1)
want="$binary_sha $recipe_sha $base_id"
have=$(docker image inspect --format "{{index .Config.Labels \"$label.binary-sha256\"}} {{index .Config.Labels \"$label.recipe-sha256\"}} {{index .Config.Labels \"$label.base-id\"}}" "$tag" 2>/dev/null || true)
if [[ $have == "$want" ]]; then
  say "$tag is up to date (docker-registry sha256 ${binary_sha:0:12}); nothing to do"
  echo "$tag"
  exit 0
fi
old_id=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)

started_at=$EPOCHREALTIME
ctx=$(mktemp -d "${TMPDIR:-/tmp}/bottle-tasks-registry-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
cp "$binary" "$ctx/docker-registry"
printf '%s\n' "$config" >"$ctx/config.yml"
printf '%s' "$dockerfile" >"$ctx/Dockerfile"

say "building $tag from $base with $binary ($($binary --version | awk '{ print $NF }'))"
# The classic builder (it warns that it is deprecated): no buildx plugin here, and it never
# tries to pull a base image it has.
DOCKER_BUILDKIT=0 docker build -q \
  --label "$label.binary-sha256=$binary_sha" \
  --label "$label.recipe-sha256=$recipe_sha" \
  --label "$label.base-id=$base_id" \
  --label "org.opencontainers.image.description=stand-in for registry:2: Debian's docker-registry on $base" \
  -t "$tag" "$ctx" >&2

# It runs: the libraries resolve in the image.
if ! version=$(docker run --rm --entrypoint /usr/bin/docker-registry "$tag" --version 2>&1); then
  say "ERROR: docker-registry does not run in $tag: $version"
  exit 1
fi
# The image it replaced, if no longer tagged and unused.
if [[ -n $old_id && $old_id != "$(docker image inspect --format '{{.Id}}' "$tag")" ]]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true
fi
say "built $tag in $(elapsed_since "$started_at"): $version"
echo "$tag"
