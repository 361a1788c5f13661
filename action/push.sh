#!/usr/bin/env bash
# Step 3: logs in (password on stdin, into a throw-away Docker config), tags the tested image ID -- no
# rebuild -- with every reference, pushes, reads the registry digest, logs out. REGISTRY, IMAGE and REFS
# are validate.sh's normalised outputs. Outputs: pushed, refs, digest.
# This step handles the registry password: never trace it, even when a caller turned tracing on.
set +x
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${REGISTRY:?}" "${IMAGE:?}" "${IMAGE_ID:?}" "${REFS:?}" "${USERNAME:?}" "${PASSWORD:?}"

DOCKER_CONFIG=$(mktemp -d)
export DOCKER_CONFIG
trap 'docker logout "$REGISTRY" >/dev/null 2>&1 || true; rm -rf "$DOCKER_CONFIG"' EXIT

group "Log in to $REGISTRY"
if ! printf '%s' "$PASSWORD" | docker login "$REGISTRY" --username "$USERNAME" --password-stdin; then
  endgroup
  error "login to $REGISTRY as $USERNAME failed: check the username and password (token) inputs"
  exit 1
fi
endgroup

mapfile -t refs <<<"$REFS"
for ref in "${refs[@]}"; do
  group "Push $ref"
  docker tag "$IMAGE_ID" "$ref"
  docker push --quiet "$ref"
  endgroup
done

# RepoDigests lists name@digest per repository the image was pushed to, in Docker's short form
# (realpython/page-tracker for docker.io/realpython/page-tracker): compare the names in full.
digest=""
while IFS= read -r repo_digest; do
  if [ -n "$repo_digest" ] && [ "$(qualified_name "${repo_digest%@*}")" = "$IMAGE" ]; then
    digest=${repo_digest#*@}
    break
  fi
done < <(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$IMAGE_ID")
if [ -z "$digest" ]; then
  error "the registry reported no digest for $IMAGE"
  exit 1
fi
set_output pushed true
set_output refs "$REFS"
set_output digest "$digest"
echo "Pushed $IMAGE_ID as ${refs[*]} ($digest)"
