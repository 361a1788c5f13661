#!/usr/bin/env bash
# Makes sure each given base image reference (python:X.Y-slim-SUITE, redis:TAG-SUITE, haproxy:TAG) and the
# swarm tier's node image (tracker-ci/swarm-node:SUITE, an engine in a container) is in the engine: already
# present, else pulled, else -- where no registry is reachable -- made locally from a Debian rootfs
# (debootstrap + docker import) and tagged with exactly that reference. Stand-ins carry the label
# org.tracker-ci.stand-in=<recipe version> (a stand-in of an older recipe is made again) and trust the
# host's CA bundle, for pip and for uv (a TLS-intercepting proxy may sit between a build and PyPI);
# none of this reaches generated projects, whose files only name the references.
set -euo pipefail

cache_dir=${TRACKER_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracker-ci}
host_ca_bundle=/etc/ssl/certs/ca-certificates.crt
stand_in_version=2
stand_in_label=org.tracker-ci.stand-in=$stand_in_version
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

# Prints the path of the cached rootfs tarball NAME, making it on first use: a minimal debootstrap of SUITE with
# PACKAGES, then the function SETUP run on the rootfs (and any further arguments).
cached_rootfs() {
  local name=$1 suite=$2 packages=$3 setup=$4 tarball="$cache_dir/rootfs-$1.tar"
  if [ ! -s "$tarball" ]; then
    local rootfs
    rootfs=$(mktemp -d "$cache_dir/rootfs-$name.XXXXXX")
    log "debootstrap $suite for rootfs-$name" >&2
    debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" >"$cache_dir/debootstrap-$name.log" 2>&1
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

make_python_stand_in() {
  local ref=$1 version suite tarball
  version=${ref#python:}
  version=${version%%-*}
  suite=$(suite_for_python "$version")
  case "$suite" in
    "") log "cannot make $ref: no Debian release ships Python $version"; return ;;
    sid) tarball=$(newest_python_rootfs_tarball "$version") ;;
    *) tarball=$(rootfs_tarball "$suite") ;;
  esac
  docker import --change "LABEL $stand_in_label" --change 'ENV LANG=C.UTF-8' \
    --change "ENV SSL_CERT_FILE=$host_ca_bundle" \
    --change 'CMD ["python3"]' "$tarball" "$ref" >/dev/null
  log "made locally: $ref (Debian $suite, $(docker run --rm "$ref" python3 --version))"
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
# wheel, which pip fetches from the package index.
make_uv_stand_in() {
  local ref=$1 version=${1##*:} wheel_dir="$cache_dir/uv-wheel-${1##*:}" rootfs
  if [ ! -d "$wheel_dir" ]; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform musllinux_1_1_x86_64 \
      --dest "$wheel_dir.partial" "uv==$version"
    mv "$wheel_dir.partial" "$wheel_dir"
  fi
  rootfs=$(mktemp -d)
  python3 -m zipfile -e "$wheel_dir"/uv-*.whl "$rootfs/wheel"
  install -m 0755 "$rootfs"/wheel/uv-*.data/scripts/uv "$rootfs"/wheel/uv-*.data/scripts/uvx "$rootfs/"
  rm -rf "$rootfs/wheel"
  tar -C "$rootfs" -c . | docker import --change "LABEL $stand_in_label" --change 'CMD ["/uv"]' - "$ref" >/dev/null
  rm -rf "$rootfs"
  log "made locally: $ref ($(docker run --rm "$ref" /uv --version))"
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

# Prints missing, stale (a stand-in of an older recipe) or present.
image_state() {
  local label expected=$stand_in_version
  case "$1" in tracker-ci/swarm-node:*) expected=${node_label#*=} ;; esac
  if ! label=$(docker image inspect --format '{{ index .Config.Labels "org.tracker-ci.stand-in" }}' "$1" 2>/dev/null); then
    echo missing
  elif [ -n "$label" ] && [ "$label" != "<no value>" ] && [ "$label" != "$expected" ]; then
    echo stale
  else
    echo present
  fi
}

for ref in "$@"; do
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
