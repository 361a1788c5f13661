#!/usr/bin/env bash
# Step 1: checks every input before any work and decides, once, whether this run pushes.
# Outputs: push (true/false), image (fully qualified, lower-cased), refs (newline-separated),
# compose-project (a name of this run's own, so teardown removes exactly what this run made).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${WORKING_DIRECTORY:?}" "${COMPOSE_FILE:?}" "${TEST_PROFILE:?}" "${TEST_SERVICE:?}" "${PUBLISH_SERVICE:?}"
: "${PUSH?}" "${REGISTRY?}" "${IMAGE?}" "${USERNAME?}" "${PASSWORD?}" "${EXTRA_TAGS?}"
: "${EVENT_NAME:?}" "${GIT_REF?}" "${COMMIT_SHA:?}"

problems=()
problem() { problems+=("$*"); }

image_name_pattern='^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$'
registry_pattern='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?$'
tag_pattern='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'

cd "$WORKING_DIRECTORY" 2>/dev/null || { error "working-directory '$WORKING_DIRECTORY' does not exist"; exit 1; }
if [ ! -f "$COMPOSE_FILE" ]; then
  error "compose-file '$COMPOSE_FILE' not found in '$WORKING_DIRECTORY'"
  exit 1
fi

services=$(docker compose --file "$COMPOSE_FILE" --profile "$TEST_PROFILE" config --services) || {
  error "docker compose cannot read '$COMPOSE_FILE' with profile '$TEST_PROFILE'"
  exit 1
}
for service in "$TEST_SERVICE" "$PUBLISH_SERVICE"; do
  grep -qxF "$service" <<<"$services" || problem "service '$service' is not in '$COMPOSE_FILE' (services: $(tr '\n' ' ' <<<"$services"))"
done

case "$PUSH" in
  auto)
    default_ref="refs/heads/${DEFAULT_BRANCH:-}"
    if [ -z "$IMAGE" ]; then
      echo "No image given: this run tests only."
      push=false
    elif [ "$EVENT_NAME" = push ] && [ -n "${DEFAULT_BRANCH:-}" ] && [ "$GIT_REF" = "$default_ref" ]; then
      push=true
    else
      push=false
    fi
    ;;
  true)
    if [ "$EVENT_NAME" = pull_request ] || [ "$EVENT_NAME" = pull_request_target ]; then
      problem "push: true is refused on $EVENT_NAME events: pull requests never publish images"
    fi
    push=true
    ;;
  false) push=false ;;
  *) problem "push must be auto, true or false, not '$PUSH'" ;;
esac

registry=${REGISTRY,,}
image=${IMAGE,,}
[[ $registry =~ $registry_pattern ]] || problem "registry '$REGISTRY' is not a host name with an optional :port"
refs=()
if [ "${push:-false}" = true ]; then
  if [ -z "$IMAGE" ]; then
    problem "image is required to push (e.g. user/page-tracker)"
  elif [[ ! $image =~ $image_name_pattern ]]; then
    problem "image '$IMAGE' is not a valid repository name"
  fi
  [ -n "$USERNAME" ] || problem "username is required to push to $registry"
  [ -n "$PASSWORD" ] || problem "password is required to push to $registry"
  mapfile -t extra_tags < <(printf '%s\n' "$EXTRA_TAGS" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^$' || true)
  for tag in "$COMMIT_SHA" latest "${extra_tags[@]}"; do
    [[ $tag =~ $tag_pattern ]] || problem "tag '$tag' is not a valid image tag"
    refs+=("$registry/$image:$tag")
  done
fi

if [ "${#problems[@]}" -gt 0 ]; then
  for message in "${problems[@]}"; do error "$message"; done
  exit 1
fi

set_output compose-project "tracker-ci-${GITHUB_RUN_ID:-local}"
set_output push "$push"
set_output image "$registry/$image"
set_output refs "$(printf '%s\n' "${refs[@]}")"
echo "Inputs are valid; this run pushes: $push"
