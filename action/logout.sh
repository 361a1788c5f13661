#!/usr/bin/env bash
# "Log out" (always, after a login): logs out and removes the throw-away Docker config login.sh made.
set -euo pipefail
: "${REGISTRY:?}" "${DOCKER_CONFIG:?}"
export DOCKER_CONFIG
docker logout "$REGISTRY" >/dev/null 2>&1 || true
rm -rf "$DOCKER_CONFIG"
