#!/usr/bin/env bash
# Makes sure each given base image reference (python:X.Y-slim-SUITE, redis:TAG-SUITE, haproxy:TAG) and the
# swarm tier's node image (tracker-ci/swarm-node:SUITE, an engine in a container) is in the engine: already
# present, else pulled, else -- where no registry is reachable -- made locally from a Debian rootfs
# (debootstrap + docker import) and tagged with exactly that reference. Stand-ins carry the label
# org.tracker-ci.stand-in=<recipe version> (a stand-in of an older recipe is made again) and trust the
# host's CA bundle, for pip and for uv (a TLS-intercepting proxy may sit between a build and PyPI);
# none of this reaches generated projects, whose files only name the references.
# An argument --platforms=P1,P2 applies to the references after it: where no registry is reachable, their
# stand-ins are made for each of those platforms (one index under the reference; a foreign architecture's rootfs
# set up under QEMU user emulation) on the containerd image store, and for the engine's own platform only on the
# classic store, which holds one platform per tag.
set -euo pipefail

cache_dir=${TRACKER_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracker-ci}
host_ca_bundle=/etc/ssl/certs/ca-certificates.crt
stand_in_version=2
stand_in_label=org.tracker-ci.stand-in=$stand_in_version
native_platform=linux/$(dpkg --print-architecture)
mkdir -p "$cache_dir"

log() { printf '[base-images] %s\n' "$*"; }

# Debian release that ships the given minor version of Python; empty when none does. trixie's and bookworm's is
# their python3; the newest suite (sid) has 3.14 and 3.15 beside each other.
suite_for_python() {
  case "$1" in
    3.14 | 3.15) echo sid ;;
    3.13) echo trixie ;;
    3.11) echo bookworm ;;
  esac
}

# The Debian architecture of a platform (linux/arm64: arm64).
debian_arch() { printf '%s\n' "${1#linux/}"; }

# Prints the path of the cached rootfs tarball NAME, making it on first use: a minimal debootstrap of SUITE with
# PACKAGES, then the function SETUP run on the rootfs (and any further arguments). It is for the caller's
# `platform` (the machine's own when unset); another architecture is debootstrapped in two stages, the second run
# under QEMU user emulation.
cached_rootfs() {
  local name=$1 suite=$2 packages=$3 setup=$4 tarball="$cache_dir/rootfs-$1.tar"
  local platform=${platform:-$native_platform}
  [ "$platform" = "$native_platform" ] || tarball="$cache_dir/rootfs-$1-$(debian_arch "$platform").tar"
  if [ ! -s "$tarball" ]; then
    local rootfs log_file
    rootfs=$(mktemp -d "$cache_dir/rootfs-$name.XXXXXX")
    log_file="$cache_dir/debootstrap-$name-$(debian_arch "$platform").log"
    log "debootstrap $suite ($platform) for $(basename "$tarball")" >&2
    if [ "$platform" = "$native_platform" ]; then
      debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" >"$log_file" 2>&1
    else
      debootstrap --arch="$(debian_arch "$platform")" --foreign --variant=minbase --include="$packages" "$suite" \
        "$rootfs" >"$log_file" 2>&1
      chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$log_file" 2>&1
    fi
    "$setup" "$rootfs" "${@:5}"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
  fi
  printf '%s\n' "$tarball"
}

# One rootfs per suite serves the python and redis stand-ins.
rootfs_tarball() {
  cached_rootfs "$1" "$1" python3,python3-venv,ca-certificates,redis-server set_up_python_and_redis
}

# The newest suite's rootfs of one Python version, which is the python3 and python on the PATH, as in the
# official image, and trixie's apt sources, as the image's tag says.
newest_python_rootfs_tarball() {
  cached_rootfs "sid-python$1" sid "python$1,python$1-venv,ca-certificates" set_up_python "$1"
}

# The host's CA bundle for pip and uv; `python` (and, given a version, `python3`) on the PATH.
set_up_python() {
  local rootfs=$1 version=${2:-}
  cp "$host_ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
  if [ -n "$version" ]; then
    ln -sf "/usr/bin/python$version" "$rootfs/usr/local/bin/python3"
    ln -sf python3 "$rootfs/usr/local/bin/python"
    # apt as in the official image, whose Debian is trixie (sid's packages are newer: nothing is downgraded).
    sed -i 's/ sid / trixie /' "$rootfs/etc/apt/sources.list"
  else
    ln -sf python3 "$rootfs/usr/bin/python"
  fi
}

set_up_python_and_redis() {
  local rootfs=$1
  set_up_python "$rootfs"
  mkdir -p "$rootfs/data"
  chroot "$rootfs" chown redis:redis /data
}

# The swarm tier's rootfs: an engine (for the nodes), HAProxy (for its stand-in) and sshd (a manager that CI
# reaches over SSH). One debootstrap of about 45 s serves both images.
swarm_rootfs_tarball() {
  cached_rootfs "swarm-$1" "$1" \
    docker.io,docker-cli,iproute2,ca-certificates,procps,iptables,curl,tini,haproxy,openssh-server set_up_swarm
}

set_up_swarm() {
  mkdir -p "$1/usr/local/etc/haproxy" "$1/run/sshd"
}

# The Python version a python:X.Y-slim-SUITE reference names.
python_version_of() {
  local version=${1#python:}
  printf '%s\n' "${version%%-*}"
}

# Prints the rootfs tarball of a Python version (for the caller's `platform`), making it on first use.
python_rootfs_tarball() {
  local suite
  suite=$(suite_for_python "$1")
  case "$suite" in
    sid) newest_python_rootfs_tarball "$1" ;;
    *) rootfs_tarball "$suite" ;;
  esac
}

make_python_stand_in() {
  local ref=$1 version platform
  local -a tarballs=()
  version=$(python_version_of "$ref")
  if [ -z "$(suite_for_python "$version")" ]; then
    log "cannot make $ref: no Debian release ships Python $version"
    return
  fi
  for platform in ${platforms//,/ }; do
    tarballs+=("$platform=$(python_rootfs_tarball "$version")")
  done
  import_rootfs "$ref" 'ENV LANG=C.UTF-8' "ENV SSL_CERT_FILE=$host_ca_bundle" 'CMD ["python3"]'
  log "made locally: $ref (Debian $(suite_for_python "$version"), $(docker run --rm "$ref" python3 --version), $platforms)"
}

# Makes REF from the rootfs tarballs of the caller's `tarballs` ("platform=path" each) and the Dockerfile
# instructions given (what `docker import --change` takes), labelled as a stand-in of this recipe for those
# platforms: one platform's is imported; several are one index, built by BuildKit from scratch (no instruction
# runs anything, so no emulation is needed).
import_rootfs() {
  local ref=$1 instruction entry context
  local -a instructions=("LABEL $(stand_in_label_for "$platforms")" "${@:2}") changes=()
  if [ "${#tarballs[@]}" -eq 1 ] && [ "${tarballs[0]%%=*}" = "$native_platform" ]; then
    for instruction in "${instructions[@]}"; do changes+=(--change "$instruction"); done
    docker import "${changes[@]}" "${tarballs[0]#*=}" "$ref" >/dev/null
    return
  fi
  context=$(mktemp -d "$cache_dir/context.XXXXXX")
  for entry in "${tarballs[@]}"; do
    ln "${entry#*=}" "$context/rootfs-$(debian_arch "${entry%%=*}").tar"
  done
  {
    # shellcheck disable=SC2016 # ${TARGETARCH} is the Dockerfile's build argument
    printf 'FROM scratch\nARG TARGETARCH\nADD rootfs-${TARGETARCH}.tar /\n'
    printf '%s\n' "${instructions[@]}"
  } >"$context/Dockerfile"
  docker buildx build --quiet --platform "$platforms" --provenance false --load --tag "$ref" "$context" >/dev/null
  rm -rf "$context"
}

make_redis_stand_in() {
  local ref=$1 suite=${1##*-}
  docker import --change "LABEL $stand_in_label" --change 'VOLUME /data' --change 'WORKDIR /data' \
    --change 'USER redis' --change 'EXPOSE 6379' \
    --change 'CMD ["redis-server", "--protected-mode", "no"]' "$(rootfs_tarball "$suite")" "$ref" >/dev/null
  log "made locally: $ref (Debian $suite, $(docker run --rm "$ref" redis-server --version | cut -d' ' -f1-3))"
}

# Debian's HAProxy under the official image's tag, run the official image's way: user haproxy, its config at
# /usr/local/etc/haproxy/haproxy.cfg; its entrypoint adds -W -db. (`docker import` cannot set its STOPSIGNAL
# SIGUSR1: the stack sets stop_signal.)
make_haproxy_stand_in() {
  local ref=$1
  docker import --change "LABEL $stand_in_label" --change 'USER haproxy' \
    --change 'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
    "$(swarm_rootfs_tarball trixie)" "$ref" >/dev/null
  log "made locally: $ref (Debian trixie, $(docker run --rm "$ref" haproxy -v | awk 'NR == 1 { print $1, $2, $3 }'))"
}

# uv's image: nothing but the static (musl) uv and uvx binaries at the root. The same binaries ship in uv's musllinux
# wheels, which pip fetches from the package index.
make_uv_stand_in() {
  local ref=$1 platform
  local -a tarballs=()
  for platform in ${platforms//,/ }; do
    tarballs+=("$platform=$(uv_rootfs_tarball "${ref##*:}")")
  done
  import_rootfs "$ref" 'CMD ["/uv"]'
  log "made locally: $ref ($(docker run --rm "$ref" /uv --version), $platforms)"
}

# The cached rootfs of uv's image for the caller's `platform`.
uv_rootfs_tarball() {
  local version=$1 wheel_arch rootfs tarball
  wheel_arch=$(case "$platform" in linux/arm64) echo aarch64 ;; *) echo x86_64 ;; esac)
  tarball="$cache_dir/rootfs-uv-$version-$wheel_arch.tar"
  if [ ! -s "$tarball" ]; then
    rootfs=$(mktemp -d "$cache_dir/rootfs-uv.XXXXXX")
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "musllinux_1_1_$wheel_arch" \
      --dest "$rootfs/wheel" "uv==$version"
    python3 -m zipfile -e "$rootfs"/wheel/uv-*.whl "$rootfs/wheel"
    install -m 0755 "$rootfs"/wheel/uv-*.data/scripts/uv "$rootfs"/wheel/uv-*.data/scripts/uvx "$rootfs/"
    rm -rf "$rootfs/wheel"
    tar -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
  fi
  printf '%s\n' "$tarball"
}

# The swarm tier's node: dockerd under tini, started by scripts/swarm-node.sh (copied in, so that a change of
# it makes the image again without a new debootstrap). Not a stand-in of anything real. Its engine is the one the
# bootstrap runs (TRACKER_CI_ENGINE_BIN: dockerd and containerd from Debian's newest suite), put before Debian
# trixie's on the PATH, so that the swarm tier tests the engine production managers run.
node_script=$(dirname "${BASH_SOURCE[0]}")/swarm-node.sh
engine_bin=${TRACKER_CI_ENGINE_BIN:-}
node_engine=$([ -z "$engine_bin" ] || "$engine_bin/dockerd" --version)
node_label=org.tracker-ci.stand-in=$stand_in_version-$(cat "$node_script" - <<<"$node_engine" | sha256sum | cut -c1-12)

make_swarm_node() {
  local ref=$1 suite=${1##*:} rootfs_image container  # the imported rootfs stays as the image's parent
  rootfs_image=$(docker import "$(swarm_rootfs_tarball "$suite")")
  container=$(docker create "$rootfs_image" true)
  docker cp "$node_script" "$container:/usr/local/bin/swarm-node"
  [ -z "$engine_bin" ] || docker cp "$engine_bin/." "$container:/usr/local/bin/"
  docker commit --change "LABEL $node_label" --change 'VOLUME /var/lib/docker' \
    --change 'ENTRYPOINT ["tini", "--", "/usr/local/bin/swarm-node"]' --change 'CMD []' "$container" "$ref" >/dev/null
  docker rm "$container" >/dev/null
  log "made locally: $ref (Debian $suite, $(docker run --rm --entrypoint dockerd "$ref" --version | cut -d, -f1))"
}

# The stand-in label of this recipe for PLATFORMS: the recipe's version, followed by the platforms when they are
# not just the machine's own.
stand_in_label_for() {
  if [ "$1" = "$native_platform" ]; then
    printf '%s\n' "$stand_in_label"
  else
    printf '%s@%s\n' "$stand_in_label" "$1"
  fi
}

# Prints missing, stale (a stand-in of an older recipe, or for other platforms) or present.
image_state() {
  local label expected
  expected=$(stand_in_label_for "$platforms")
  expected=${expected#*=}
  case "$1" in tracker-ci/swarm-node:*) expected=${node_label#*=} ;; esac
  if ! label=$(docker image inspect --format '{{ index .Config.Labels "org.tracker-ci.stand-in" }}' "$1" 2>/dev/null); then
    echo missing
  elif [ -n "$label" ] && [ "$label" != "<no value>" ] && [ "$label" != "$expected" ]; then
    echo stale
  else
    echo present
  fi
}

# The classic image store holds one platform per tag: there, every stand-in is made for the machine's own.
holds_many_platforms=false
! docker info --format '{{json .DriverStatus}}' | grep -q 'io.containerd.snapshotter' || holds_many_platforms=true

# The rootfs of another architecture takes minutes under emulation: when a Python stand-in after --platforms= will
# need one, it is made in the background from the start, while the machine's own images are made, and waited for
# at --platforms=. (Only when the image itself is missing or stale, as the loop below decides.)
foreign_rootfs=""
if [ "$holds_many_platforms" = true ]; then
  for ref in "$@"; do
    case "$ref" in
      --platforms=*) platforms=${ref#--platforms=} ;;
      python:*)
        if [ -n "${platforms:-}" ] && [ -n "$(suite_for_python "$(python_version_of "$ref")")" ] &&
          [ "$(image_state "$ref")" != present ]; then
          for platform in ${platforms//,/ }; do
            [ "$platform" = "$native_platform" ] || { python_rootfs_tarball "$(python_version_of "$ref")" >/dev/null & }
          done
          foreign_rootfs=started
        fi
        ;;
    esac
  done
fi

platforms=$native_platform
for ref in "$@"; do
  if [[ $ref == --platforms=* ]]; then
    platforms=${ref#--platforms=}
    [ "$holds_many_platforms" = true ] || platforms=$native_platform
    [ -z "$foreign_rootfs" ] || wait
    continue
  fi
  state=$(image_state "$ref")
  if [ "$state" = present ]; then
    log "present: $ref"
  elif [ "$state" = missing ] && timeout 120 docker pull --quiet "$ref" >/dev/null 2>&1; then
    log "pulled: $ref"
  else
    case "$ref" in
      python:*) make_python_stand_in "$ref" ;;
      redis:*) make_redis_stand_in "$ref" ;;
      haproxy:*) make_haproxy_stand_in "$ref" ;;
      ghcr.io/astral-sh/uv:*) make_uv_stand_in "$ref" ;;
      tracker-ci/swarm-node:*) make_swarm_node "$ref" ;;
      *) log "cannot make $ref: no recipe for it" ;;
    esac
  fi
done
