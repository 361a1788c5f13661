#!/usr/bin/env bash
# Makes sure each given base image reference (python:X.Y-slim-SUITE, redis:TAG-SUITE, haproxy:TAG) and the
# swarm tier's node image (tracker-ci/swarm-node:SUITE, an engine in a container) is in the engine: already
# present, else pulled, else -- where no registry is reachable -- made locally from a Debian rootfs
# (debootstrap + docker import) and tagged with exactly that reference. Stand-ins carry the label
# org.tracker-ci.stand-in=<recipe version> (a stand-in of an older recipe is made again) and trust the
# host's CA bundle, for pip and for uv (a TLS-intercepting proxy may sit between a build and PyPI);
# none of this reaches generated projects, whose files only name the references.
# The first argument, --image-store=containerd|classic, is the engine's image store, as the bootstrap found it.
# An argument --platforms=P1,P2 applies to the references after it: where no registry is reachable, their
# stand-ins are made for each of those platforms (one index under the reference) on the containerd image store,
# and for the engine's own platform only on the classic store, which holds one platform per tag. Every other
# stand-in is made for the engine's own platform only. Each function takes the platform it works for as an
# argument.
set -euo pipefail

cache_dir=${TRACKER_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracker-ci}
host_ca_bundle=/etc/ssl/certs/ca-certificates.crt
# The version of the recipe, in each stand-in's label and each rootfs tarball's name: raise it with any change to
# how a stand-in or a rootfs is made, so that machines which cached the old ones make them again.
stand_in_version=4
stand_in_label=org.tracker-ci.stand-in=$stand_in_version
native_platform=linux/$(dpkg --print-architecture)
mkdir -p "$cache_dir"

# Each line says the seconds since this script started.
log() { printf '[base-images %ss] %s\n' "$SECONDS" "$*"; }

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

# Prints the path of the cached rootfs tarball NAME for PLATFORM, making it on first use: a minimal debootstrap of
# SUITE with PACKAGES, then the function SETUP run on the rootfs (and any further arguments).
cached_rootfs() {
  local name=$1 suite=$2 packages=$3 platform=$4 setup=$5
  local tarball rootfs log_file
  tarball="$cache_dir/rootfs-$name-$(debian_arch "$platform").v$stand_in_version.tar"
  if [ ! -s "$tarball" ]; then
    rootfs=$(mktemp -d "$cache_dir/rootfs-$name.XXXXXX")
    log_file="$cache_dir/debootstrap-$name-$(debian_arch "$platform").log"
    log "debootstrap $suite ($platform) for $(basename "$tarball")" >&2
    if [ "$platform" = "$native_platform" ]; then
      debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" >"$log_file" 2>&1
    else
      unpacked_foreign_debootstrap "$suite" "$packages" "$platform" "$rootfs" >"$log_file" 2>&1
    fi
    "$setup" "$rootfs" "${@:6}"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -cf "$tarball.partial" .
    mv "$tarball.partial" "$tarball"
    rm -rf "$rootfs"
  fi
  printf '%s\n' "$tarball"
}

# Another architecture's rootfs without running its package scripts: debootstrap's first stage downloads the packages
# (and unpacks the essential ones); every package is then unpacked natively and recorded as installed in dpkg's
# database; the accounts base-passwd would create are copied from its master files, /usr/local's folders made. No
# maintainer script runs (under QEMU they took minutes): /etc/shadow is absent (useradd works without it), and what
# a stand-in needs beyond that is done by its setup function.
unpacked_foreign_debootstrap() {
  local suite=$1 packages=$2 platform=$3 rootfs=$4 deb
  debootstrap --arch="$(debian_arch "$platform")" --foreign --variant=minbase --include="$packages" "$suite" "$rootfs"
  for deb in "$rootfs"/var/cache/apt/archives/*.deb; do
    dpkg-deb --extract "$deb" "$rootfs"
    { dpkg-deb --field "$deb"; printf 'Status: install ok installed\n\n'; } >>"$rootfs/var/lib/dpkg/status"
  done
  cp "$rootfs/usr/share/base-passwd/passwd.master" "$rootfs/etc/passwd"
  cp "$rootfs/usr/share/base-passwd/group.master" "$rootfs/etc/group"
  mkdir -p "$rootfs"/usr/local/{bin,include,lib,sbin,share,src}  # what base-files' postinst makes
  rm -rf "$rootfs/debootstrap" "$rootfs"/var/cache/apt/archives/*.deb
}

# One rootfs per suite serves the python and redis stand-ins (the machine's own platform only).
suite_rootfs_tarball() {
  cached_rootfs "$1" "$1" python3,python3-venv,ca-certificates,redis-server "$native_platform" set_up_python_and_redis
}

# The newest suite's rootfs of Python VERSION for PLATFORM, which is the python3 and python on the PATH, as in
# the official image, and trixie's apt sources, as the image's tag says.
newest_python_rootfs_tarball() {
  cached_rootfs "sid-python$1" sid "python$1,python$1-venv,ca-certificates" "$2" set_up_python "$1"
}

# The host's CA bundle for pip and uv; `python` (and, given a version, `python3`) on the PATH. Given a version, the
# standard library byte-compiled as the package's postinst (py3compile) leaves it: another architecture's rootfs ran
# no postinst (this runs under QEMU, about a minute), and without it every Python process of an emulated build
# compiles what it imports, some 20 s each.
set_up_python() {
  local rootfs=$1 version=${2:-}
  cp "$host_ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
  if [ -n "$version" ]; then
    chroot "$rootfs" "python$version" -m compileall -q -j 0 "/usr/lib/python$version" >/dev/null
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
# reaches over SSH). One debootstrap of about 45 s serves both images (the machine's own platform only).
swarm_rootfs_tarball() {
  cached_rootfs "swarm-$1" "$1" \
    docker.io,docker-cli,iproute2,ca-certificates,procps,iptables,curl,tini,haproxy,openssh-server \
    "$native_platform" set_up_swarm
}

set_up_swarm() {
  mkdir -p "$1/usr/local/etc/haproxy" "$1/run/sshd"
}

# The Python version a python:X.Y-slim-SUITE reference names.
python_version_of() {
  local version=${1#python:}
  printf '%s\n' "${version%%-*}"
}

# Prints the rootfs tarball of Python VERSION for PLATFORM, making it on first use. Only the newest suite's
# Pythons are made for other platforms than the machine's own.
python_rootfs_tarball() {
  local version=$1 platform=$2 suite
  suite=$(suite_for_python "$version")
  case "$suite" in
    sid) newest_python_rootfs_tarball "$version" "$platform" ;;
    *) suite_rootfs_tarball "$suite" ;;
  esac
}

make_python_stand_in() {
  local ref=$1 platforms=$2 version platform
  local -a tarballs=()
  version=$(python_version_of "$ref")
  if [ -z "$(suite_for_python "$version")" ]; then
    log "cannot make $ref: no Debian release ships Python $version"
    return
  fi
  for platform in ${platforms//,/ }; do
    tarballs+=("$platform=$(python_rootfs_tarball "$version" "$platform")")
  done
  import_rootfs "$ref" "${tarballs[@]}" -- 'ENV LANG=C.UTF-8' "ENV SSL_CERT_FILE=$host_ca_bundle" 'CMD ["python3"]'
  log "made locally for $platforms: $ref (Debian $(suite_for_python "$version"), $(docker run --rm "$ref" python3 --version))"
}

# import_rootfs REF PLATFORM=TARBALL... -- INSTRUCTION...: makes REF from the rootfs tarball of each platform and
# the Dockerfile instructions given (what `docker import --change` takes), labelled as a stand-in of this recipe
# for those platforms. The machine's own platform alone is imported; several are one index, built by BuildKit from
# scratch (no instruction runs anything, so no emulation is needed).
import_rootfs() {
  local ref=$1 entry context instruction platforms=""
  local -a tarballs=() instructions=() changes=()
  shift
  while [ "$1" != -- ]; do
    tarballs+=("$1")
    platforms+="${platforms:+,}${1%%=*}"
    shift
  done
  shift
  instructions=("LABEL $(stand_in_label_for "$platforms")" "$@")
  if [ "$platforms" = "$native_platform" ]; then
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
  import_rootfs "$ref" "$native_platform=$(suite_rootfs_tarball "$suite")" -- 'VOLUME /data' 'WORKDIR /data' \
    'USER redis' 'EXPOSE 6379' 'CMD ["redis-server", "--protected-mode", "no"]'
  log "made locally for $native_platform: $ref (Debian $suite, $(docker run --rm "$ref" redis-server --version | cut -d' ' -f1-3))"
}

# Debian's HAProxy under the official image's tag, run the official image's way: user haproxy, its config at
# /usr/local/etc/haproxy/haproxy.cfg; its entrypoint adds -W -db. (`docker import` cannot set its STOPSIGNAL
# SIGUSR1: the stack sets stop_signal.)
make_haproxy_stand_in() {
  local ref=$1
  import_rootfs "$ref" "$native_platform=$(swarm_rootfs_tarball trixie)" -- 'USER haproxy' \
    'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]'
  log "made locally for $native_platform: $ref (Debian trixie, $(docker run --rm "$ref" haproxy -v | awk 'NR == 1 { print $1, $2, $3 }'))"
}

# uv's image: nothing but the static (musl) uv and uvx binaries at the root. The same binaries ship in uv's musllinux
# wheels, which pip fetches from the package index.
make_uv_stand_in() {
  local ref=$1 platforms=$2 platform
  local -a tarballs=()
  for platform in ${platforms//,/ }; do
    tarballs+=("$platform=$(uv_rootfs_tarball "${ref##*:}" "$platform")")
  done
  import_rootfs "$ref" "${tarballs[@]}" -- 'CMD ["/uv"]'
  log "made locally for $platforms: $ref ($(docker run --rm "$ref" /uv --version))"
}

# The cached rootfs of uv VERSION's image for PLATFORM.
uv_rootfs_tarball() {
  local version=$1 platform=$2 wheel_arch rootfs tarball
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
  log "made locally for $native_platform: $ref (Debian $suite, $(docker run --rm --entrypoint dockerd "$ref" --version | cut -d, -f1))"
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

# image_state REF PLATFORMS: prints missing, stale (a stand-in of an older recipe, or for other platforms) or
# present.
image_state() {
  local ref=$1 platforms=$2 label expected
  case "$ref" in
    tracker-ci/swarm-node:*) expected=$node_label ;;
    *) expected=$(stand_in_label_for "$platforms") ;;
  esac
  if ! label=$(docker image inspect --format '{{ index .Config.Labels "org.tracker-ci.stand-in" }}' "$ref" 2>/dev/null); then
    echo missing
  elif [ -n "$label" ] && [ "$label" != "<no value>" ] && [ "$label" != "${expected#*=}" ]; then
    echo stale
  else
    echo present
  fi
}

# The platforms of a --platforms= argument that an engine with the given image store can hold under one tag: the
# classic image store holds one platform per tag, so there every stand-in is made for the machine's own.
platforms_held() {
  local platforms=$1 image_store=$2
  if [ "$image_store" = containerd ]; then
    printf '%s\n' "$platforms"
  else
    printf '%s\n' "$native_platform"
  fi
}

main() {
  local first=${1:-} platforms=$native_platform ref state
  local image_store=${first#--image-store=}
  if [[ $first != --image-store=* ]] || ! [[ $image_store =~ ^(containerd|classic)$ ]]; then
    log "usage: base-images.sh --image-store=containerd|classic REFERENCE... (got '$first')" >&2
    exit 2
  fi
  shift
  for ref in "$@"; do
    if [[ $ref == --platforms=* ]]; then
      platforms=$(platforms_held "${ref#--platforms=}" "$image_store")
      continue
    fi
    state=$(image_state "$ref" "$platforms")
    if [ "$state" = present ]; then
      log "present: $ref"
      continue
    fi
    if [ "$state" = missing ] && timeout 120 docker pull --quiet "$ref" >/dev/null 2>&1; then
      log "pulled: $ref"
      continue
    fi
    case "$ref" in
      python:*) make_python_stand_in "$ref" "$platforms" ;;
      redis:*) make_redis_stand_in "$ref" ;;
      haproxy:*) make_haproxy_stand_in "$ref" ;;
      ghcr.io/astral-sh/uv:*) make_uv_stand_in "$ref" "$platforms" ;;
      tracker-ci/swarm-node:*) make_swarm_node "$ref" ;;
      *) log "cannot make $ref: no recipe for it" ;;
    esac
  done
}

main "$@"
