#!/usr/bin/env bash
# Step 1: checks every input before any work, normalises the registry and image once, and decides, once,
# whether this run pushes and which tags. Later steps use only these outputs:
# push (true/false), registry (lower-cased; index.docker.io is docker.io), image (in full, lower-cased),
# refs (newline-separated), compose-project (unique per job, attempt and call, so teardown removes exactly
# what this call made and `compose ps` never sees another job's containers).
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
# Events that may publish with push: true; any other (pull requests, comments, workflow_run, ...) may not.
publishing_events=(push workflow_dispatch schedule release)

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

on_default_branch=false
[ -n "${DEFAULT_BRANCH:-}" ] && [ "$GIT_REF" = "refs/heads/$DEFAULT_BRANCH" ] && on_default_branch=true

case "$PUSH" in
  auto)
    if [ -z "$IMAGE" ]; then
      echo "No image given: this run tests only."
      push=false
    elif [ "$EVENT_NAME" = push ] && [ "$on_default_branch" = true ]; then
      push=true
    else
      push=false
    fi
    ;;
  true)
    if printf '%s\n' "${publishing_events[@]}" | grep -qxF "$EVENT_NAME"; then
      push=true
    else
      problem "push: true is refused on $EVENT_NAME events: only ${publishing_events[*]} events publish images"
    fi
    ;;
  false) push=false ;;
  *) problem "push must be auto, true or false, not '$PUSH'" ;;
esac

registry=${REGISTRY,,}
[ "$registry" != index.docker.io ] || registry=docker.io
[[ $registry =~ $registry_pattern ]] || problem "registry '$REGISTRY' is not a host name with an optional :port"
image=$(qualified_name "$registry/${IMAGE,,}")
refs=()
if [ "${push:-false}" = true ]; then
  if [ -z "$IMAGE" ]; then
    problem "image is required to push (e.g. user/page-tracker)"
  elif [[ ! ${IMAGE,,} =~ $image_name_pattern ]]; then
    problem "image '$IMAGE' is not a valid repository name"
  fi
  [ -n "$USERNAME" ] || problem "username is required to push to $registry"
  [ -n "$PASSWORD" ] || problem "password is required to push to $registry"
  tags=("$COMMIT_SHA")
  # latest names what the default branch runs; a tag, a release or another branch never moves it.
  [ "$on_default_branch" = false ] || tags+=(latest)
  mapfile -t extra_tags < <(printf '%s\n' "$EXTRA_TAGS" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^$' || true)
  for tag in "${tags[@]}" "${extra_tags[@]}"; do
    [[ $tag =~ $tag_pattern ]] || problem "tag '$tag' is not a valid image tag"
    refs+=("$image:$tag")
  done
fi

if [ "${#problems[@]}" -gt 0 ]; then
  for message in "${problems[@]}"; do error "$message"; done
  exit 1
fi

job=$(tr '[:upper:]' '[:lower:]' <<<"${GITHUB_JOB:-job}" | tr -c 'a-z0-9\n' '-')
call=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
set_output compose-project "tracker-ci-${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-1}-${job}-${call}"
set_output push "$push"
set_output registry "$registry"
set_output image "$image"
set_output refs "$(printf '%s\n' "${refs[@]}")"
echo "Inputs are valid; this run pushes: $push"
