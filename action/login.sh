#!/usr/bin/env bash
# "Log in to the registry" (only when this run pushes): logs in with the password on stdin, into a throw-away Docker
# config that the build (to read the layer cache), the push and the log-out use; the caller's own config is never
# touched.
# The CLI plugins of the caller's config (Compose, buildx) are linked in, so `docker compose` still works.
# Output: docker-config (the folder). logout.sh removes it whatever happens.
# This step handles the registry password: never trace it, even when a caller turned tracing on.
set +x
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${REGISTRY:?}" "${USERNAME:?}" "${PASSWORD:?}"

docker_config=$(temp_path -d tracker-ci-docker-config.XXXXXX)
set_output docker-config "$docker_config"
link_cli_plugins "$docker_config"  # the caller's plugins, listed before the new config is in use
export DOCKER_CONFIG=$docker_config

group "Log in to $REGISTRY"
if ! printf '%s' "$PASSWORD" | docker login "$REGISTRY" --username "$USERNAME" --password-stdin; then
  endgroup
  error "login to $REGISTRY as $USERNAME failed: check the username and password (token) inputs"
  exit 1
fi
endgroup
