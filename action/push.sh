#!/usr/bin/env bash
# "Push the tested image": with login.sh's Docker config, tags the tested image ID -- no rebuild -- with every
# reference, pushes, reads the digest the registry reports; on a run that writes an inline layer cache also pushes it
# (CACHE_REF, the test image that the build tagged, inline cache metadata included; a registry cache was written by
# the build). REGISTRY, IMAGE, REFS, WRITE_CACHE, CACHE_KIND and CACHE_REF are validate.sh's normalised outputs.
# Outputs: pushed, refs, digest.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${REGISTRY:?}" "${IMAGE:?}" "${IMAGE_ID:?}" "${REFS:?}" "${DOCKER_CONFIG:?}" "${WRITE_CACHE:?}" "${CACHE_REF?}"
: "${CACHE_KIND?}"
export DOCKER_CONFIG

mapfile -t refs <<<"$REFS"
# The digest is the registry's own report of each push ("<tag>: digest: sha256:... size: N"), never the engine's
# RepoDigests, which the containerd image store fills when an image is built or tagged, before any push. Every
# reference names the same image, so the registry must report one digest for all of them.
digest=""
for ref in "${refs[@]}"; do
  group "Push $ref"
  docker tag "$IMAGE_ID" "$ref"
  report=$(docker push "$ref")
  print_untrusted <<<"$report"
  endgroup
  tag=${ref##*:}
  pushed_digest=$(sed -nE "s/^${tag//./\\.}: digest: (sha256:[0-9a-f]{64}) size: [0-9]+$/\1/p" <<<"$report")
  if [ -z "$pushed_digest" ]; then
    error "the registry reported no digest for $ref"
    exit 1
  elif [ -n "$digest" ] && [ "$pushed_digest" != "$digest" ]; then
    error "the registry reported $pushed_digest for $ref but $digest for ${refs[0]}"
    exit 1
  fi
  digest=$pushed_digest
done
set_output pushed true
set_output refs "$REFS"
set_output digest "$digest"
echo "Pushed $IMAGE_ID as ${refs[*]} ($digest)"

if [ "$WRITE_CACHE" = true ] && [ "$CACHE_KIND" = inline ]; then
  group "Push the layer cache $CACHE_REF"
  # The cache is a speed-up: failing to write it leaves the next run cold, not this one red.
  docker push --quiet "$CACHE_REF" || warning "could not push the layer cache $CACHE_REF: the next run builds cold"
  endgroup
fi
