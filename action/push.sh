#!/usr/bin/env bash
# Step 4: with login.sh's Docker config, tags the tested image ID -- no rebuild -- with every reference,
# pushes, reads the registry digest; on a cache-writing run also pushes the layer cache (CACHE_REF, the
# test image that the build tagged, inline cache metadata included). REGISTRY, IMAGE, REFS, WRITE_CACHE and
# CACHE_REF are validate.sh's normalised outputs. Outputs: pushed, refs, digest.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${REGISTRY:?}" "${IMAGE:?}" "${IMAGE_ID:?}" "${REFS:?}" "${DOCKER_CONFIG:?}" "${WRITE_CACHE:?}" "${CACHE_REF?}"
export DOCKER_CONFIG

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

if [ "$WRITE_CACHE" = true ]; then
  group "Push the layer cache $CACHE_REF"
  # The cache is a speed-up: failing to write it leaves the next run cold, not this one red.
  docker push --quiet "$CACHE_REF" || warning "could not push the layer cache $CACHE_REF: the next run builds cold"
  endgroup
fi
