#!/usr/bin/env bash
# "Merge the tested digests into one tagged index": reads from the registry the platform of each tested digest
# (an index of one platform's image and its provenance attestation, as the action pushes by digest), refuses --
# before anything is pushed -- a digest of no platform or of several, a platform given twice and one not asked for
# or missing; then makes one index of exactly those images, attestations included, under every reference, and checks
# that the registry serves that index, by the digest of what it made, under each. IMAGE, DIGESTS, PLATFORMS and REFS
# are merge/validate.sh's outputs.
# Outputs: digest (of the index), refs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../action/lib.sh"
: "${IMAGE:?}" "${DIGESTS:?}" "${PLATFORMS:?}" "${REFS:?}" "${DOCKER_CONFIG:?}"
export DOCKER_CONFIG

# Prints the platforms (os/architecture[/variant]) of the images a manifest or index read from stdin holds, one per
# line; attestations (platform unknown/unknown) are not images.
image_platforms() {
  jq --raw-output '
    if .manifests then .manifests[] | .platform | select(.os != "unknown")
      | [.os, .architecture, .variant // empty] | join("/")
    else "a single-manifest image, with no platform in its index" end'
}

mapfile -t digests <<<"$DIGESTS"
mapfile -t platforms <<<"$PLATFORMS"
mapfile -t refs <<<"$REFS"

group "Read the platform of each tested digest"
problems=()
found=()
for digest in "${digests[@]}"; do
  if ! index=$(docker buildx imagetools inspect --raw "$IMAGE@$digest" 2>&1); then
    problems+=("$IMAGE@$digest cannot be read from the registry: $(head -n 1 <<<"$index")")
    continue
  fi
  mapfile -t held < <(image_platforms <<<"$index")
  echo "$digest: ${held[*]}"
  if ((${#held[@]} != 1)); then
    problems+=("$IMAGE@$digest holds ${#held[@]} platforms (${held[*]}), not one: merge the digests the platform jobs pushed")
  else
    found+=("${held[0]}")
  fi
done
endgroup
for platform in $(printf '%s\n' "${found[@]}" | sort | uniq -d); do
  problems+=("two digests are images of $platform: each platform's job pushes one")
done
for platform in "${found[@]}"; do
  grep -qxF "$platform" <<<"$PLATFORMS" || problems+=("a digest is an image of $platform, which is not among the platforms (${platforms[*]})")
done
for platform in "${platforms[@]}"; do
  grep -qxF "$platform" < <(printf '%s\n' "${found[@]}") || problems+=("no digest is an image of $platform")
done
if ((${#problems[@]})); then
  for message in "${problems[@]}"; do error "$message"; done
  error "nothing was pushed or tagged"
  exit 1
fi

group "Push the index of ${platforms[*]} as ${refs[*]}"
tag_args=()
for ref in "${refs[@]}"; do tag_args+=(--tag "$ref"); done
sources=("${digests[@]/#/$IMAGE@}")
# The index this merge makes, as imagetools create prints it (--dry-run: the bytes it pushes), and so its digest:
# the one later steps sign and deploy, never one read back by tag, which another run may have moved since.
index=$(docker buildx imagetools create --dry-run "${tag_args[@]}" "${sources[@]}")
digest="sha256:$(printf '%s' "$index" | sha256sum | cut -d' ' -f1)"
docker buildx imagetools create "${tag_args[@]}" "${sources[@]}" 2>&1 | print_untrusted
endgroup

# What the registry serves under every reference: the index this merge made, holding the platforms asked for.
for ref in "${refs[@]}"; do
  served=$(docker buildx imagetools inspect --format '{{json .Manifest}}' "$ref" | jq --raw-output .digest)
  if [ "$served" != "$digest" ]; then
    error "$ref names $served, not the index this merge made ($digest): another run moved it; nothing is signed"
    exit 1
  fi
done
served_platforms=$(docker buildx imagetools inspect --raw "$IMAGE@$digest" | image_platforms | sort)
if [ "$served_platforms" != "$(printf '%s\n' "${platforms[@]}" | sort)" ]; then
  error "the registry serves $IMAGE@$digest with the platforms $(tr '\n' ' ' <<<"$served_platforms")"
  exit 1
fi
set_output digest "$digest"
set_output refs "$REFS"
echo "Pushed the index $IMAGE@$digest of ${platforms[*]} as ${refs[*]}"
