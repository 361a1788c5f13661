#!/usr/bin/env bash
# "Validate inputs and decide the tags", the merge action's first step: checks every input before any work and
# decides the tags of the index as the action decides those of a push (its "When it pushes"). Outputs, the only
# values later steps use: registry (lower-cased; index.docker.io is docker.io), image (in full, lower-cased),
# digests and platforms (one per line), refs (one per line) and sign (true with a cosign key).
# This step holds the registry password and the cosign key: never trace it (SHELLOPTS=xtrace would).
set +x
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/.. source=action/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../action/lib.sh"
: "${REGISTRY?}" "${IMAGE?}" "${DIGESTS?}" "${PLATFORMS?}" "${USERNAME?}" "${PASSWORD?}" "${EXTRA_TAGS?}"
: "${COSIGN_PRIVATE_KEY?}" "${EVENT_NAME:?}" "${GIT_REF?}" "${DEFAULT_BRANCH?}" "${COMMIT_SHA:?}"

problems=()
problem() { problems+=("$*"); }

publishes_on "$EVENT_NAME" ||
  problem "merging is refused on $EVENT_NAME events: only ${publishing_events[*]} events publish images"

registry=$(normalised_registry "$REGISTRY")
while IFS= read -r -d '' message; do problem "$message"; done < <(registry_problems "$registry" "$REGISTRY")
image_name=${IMAGE,,}
while IFS= read -r -d '' message; do problem "$message"; done < <(image_problems "$image_name" "$IMAGE")
image=$(qualified_name "$registry/$image_name")
[ -n "$USERNAME" ] || problem "username is required to push to $registry"
[ -n "$PASSWORD" ] || problem "password is required to push to $registry"

mapfile -t digests < <(tr ' ' '\n' <<<"$DIGESTS" | list_items)
for digest in "${digests[@]}"; do
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || problem "digest '$digest' is not a sha256:<64 hex digits> digest"
done
mapfile -t platforms < <(tr ',' '\n' <<<"$PLATFORMS" | list_items)
((${#platforms[@]})) || problem "platforms is required: the platforms the index holds, e.g. linux/amd64,linux/arm64"
for platform in "${platforms[@]}"; do
  [[ $platform =~ $platform_pattern ]] || problem "platform '$platform' is not an os/architecture pair such as linux/arm64"
done
repeated_digests=$(printf '%s\n' "${digests[@]}" | sort | uniq -d | tr '\n' ' ')
[ -z "$repeated_digests" ] || problem "digests are given twice: $repeated_digests"
repeated_platforms=$(printf '%s\n' "${platforms[@]}" | sort | uniq -d | tr '\n' ' ')
[ -z "$repeated_platforms" ] || problem "platforms are given twice: $repeated_platforms"
# A platform job that failed or was cancelled gives no digest: the index is never made without it.
((${#digests[@]} == ${#platforms[@]})) ||
  problem "${#digests[@]} digests for ${#platforms[@]} platforms (${platforms[*]}): every platform's job must pass first"

if ! tag_lines=$(publish_tags "$GIT_REF" "$DEFAULT_BRANCH" "$COMMIT_SHA"); then
  problem "tag '${GIT_REF#refs/tags/}' is not a release version: push tags like v1.2.3 (or v1.2.3-rc.1 for a prerelease)"
fi
mapfile -t tags < <(list_items <<<"${tag_lines:-}"$'\n'"$EXTRA_TAGS")
refs=()
for tag in "${tags[@]}"; do
  [[ $tag =~ $tag_pattern ]] || problem "tag '$tag' is not a valid image tag"
  refs+=("$image:$tag")
done

# The key itself is never printed.
sign=false
if [ -n "$COSIGN_PRIVATE_KEY" ]; then
  sign=true
  while IFS= read -r -d '' message; do problem "$message"; done < <(cosign_key_problems "$COSIGN_PRIVATE_KEY")
fi

if [ "${#problems[@]}" -gt 0 ]; then
  for message in "${problems[@]}"; do error "$message"; done
  exit 1
fi

set_output registry "$registry"
set_output image "$image"
set_output digests "$(printf '%s\n' "${digests[@]}")"
set_output platforms "$(printf '%s\n' "${platforms[@]}")"
set_output refs "$(printf '%s\n' "${refs[@]}")"
set_output sign "$sign"
echo "Inputs are valid; the index of ${platforms[*]} gets ${tags[*]}"
