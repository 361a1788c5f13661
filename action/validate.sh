#!/usr/bin/env bash
# "Validate inputs and decide whether to push", the first step: checks every input before any work, normalises the
# registry and image once, and decides, once, whether this run pushes and which tags. Later steps use only these
# outputs:
# push (true/false), registry (lower-cased; index.docker.io is docker.io), image (in full, lower-cased),
# refs (newline-separated; none with push-by-digest), push-by-digest (true/false), compose-project (unique per
# job, attempt and call, so teardown removes exactly what this call made and `compose ps` never sees another job's
# containers), build-file (a Compose override of the builds: the published image's OCI labels, set at build time so
# the image tested is the image pushed, labels included; and the layer cache), write-cache (true/false), cache-ref
# (<image>:buildcache, or <image>:buildcache-<os>-<arch> for one given platform) and cache-kind
# (registry or inline, by the engine's image store; empty without a cache), platforms (comma-separated; empty: the
# engine's own), attest (true where the published image carries a provenance attestation) and sign (true when this
# run pushes by tag and has a cosign key). Both builds of every run that names an
# image read the layer cache; only a push from the default branch writes it, so a branch or a pull request can
# never put layers into what the default branch builds from.
# This step holds the registry password and the cosign key: never trace it (SHELLOPTS=xtrace would).
set +x
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${WORKING_DIRECTORY:?}" "${COMPOSE_FILE:?}" "${TEST_PROFILE:?}" "${TEST_SERVICE:?}" "${PUBLISH_SERVICE:?}"
: "${PUSH?}" "${PUSH_BY_DIGEST?}" "${REGISTRY?}" "${IMAGE?}" "${USERNAME?}" "${PASSWORD?}" "${EXTRA_TAGS?}" "${CACHE?}"
: "${PLATFORMS?}" "${COSIGN_PRIVATE_KEY?}" "${EVENT_NAME:?}" "${GIT_REF?}" "${COMMIT_SHA:?}" "${RUN_ID?}" "${RUN_ATTEMPT?}"
: "${SERVER_URL?}" "${REPOSITORY?}" "${REPOSITORY_NAME?}" "${REPOSITORY_DESCRIPTION?}" "${REPOSITORY_LICENSE?}"

problems=()
problem() { problems+=("$*"); }

cd "$WORKING_DIRECTORY" 2>/dev/null || { error "working-directory '$WORKING_DIRECTORY' does not exist"; exit 1; }
if [ ! -f "$COMPOSE_FILE" ]; then
  error "compose-file '$COMPOSE_FILE' not found in '$WORKING_DIRECTORY'"
  exit 1
fi

config=$(docker compose --file "$COMPOSE_FILE" --profile "$TEST_PROFILE" config --no-interpolate --format json) || {
  error "docker compose cannot read '$COMPOSE_FILE' with profile '$TEST_PROFILE'"
  exit 1
}
services=$(jq -r '.services | keys[]' <<<"$config")
builds() { jq -e --arg service "$1" '.services[$service].build != null' <<<"$config" >/dev/null; }
for service in "$TEST_SERVICE" "$PUBLISH_SERVICE"; do
  grep -qxF "$service" <<<"$services" || problem "service '$service' is not in '$COMPOSE_FILE' (services: $(tr '\n' ' ' <<<"$services"))"
done
[ "$TEST_SERVICE" != "$PUBLISH_SERVICE" ] ||
  problem "test-service and publish-service are both '$TEST_SERVICE': the test service runs the end-to-end tests against the published one"
if grep -qxF "$PUBLISH_SERVICE" <<<"$services" && ! builds "$PUBLISH_SERVICE"; then
  problem "publish-service '$PUBLISH_SERVICE' has no build: in '$COMPOSE_FILE': the action publishes the image it builds and tests"
fi

on_default_branch=false
if is_default_branch "$GIT_REF" "${DEFAULT_BRANCH:-}"; then on_default_branch=true; fi
git_tag=""
[[ $GIT_REF != refs/tags/* ]] || git_tag=${GIT_REF#refs/tags/}
# The version the OCI labels give a release, build metadata and all.
release_version=""
[[ ! $git_tag =~ $semver_pattern ]] || release_version=${git_tag#v}

case "$PUSH" in
  auto)
    if [ -z "$IMAGE" ]; then
      echo "No image given: this run tests only."
      push=false
    elif auto_publishes "$EVENT_NAME" "$GIT_REF" "${DEFAULT_BRANCH:-}"; then
      push=true
    else
      push=false
    fi
    ;;
  true)
    if publishes_on "$EVENT_NAME"; then
      push=true
    else
      problem "push: true is refused on $EVENT_NAME events: only ${publishing_events[*]} events publish images"
    fi
    ;;
  false) push=false ;;
  *) problem "push must be auto, true or false, not '$PUSH'" ;;
esac
case "$PUSH_BY_DIGEST" in
  true | false) ;;
  *) problem "push-by-digest must be true or false, not '$PUSH_BY_DIGEST'" ;;
esac

registry=$(normalised_registry "$REGISTRY")
while IFS= read -r message; do problem "$message"; done < <(registry_problems "$registry" "$REGISTRY")
image_name=${IMAGE,,}
image=$(qualified_name "$registry/$image_name")
if [ -n "$IMAGE" ]; then
  while IFS= read -r message; do problem "$message"; done < <(image_problems "$image_name" "$IMAGE")
fi
# Checked on every run, pull requests included: a bad tag fails the pull request, not the first push after it.
mapfile -t extra_tags < <(list_items <<<"$EXTRA_TAGS")
for tag in "${extra_tags[@]}"; do
  [[ $tag =~ $tag_pattern ]] || problem "tag '$tag' is not a valid image tag"
done
# One platform's image pushed by digest carries no tag: the merge action tags the index of all platforms.
if [ "$PUSH_BY_DIGEST" = true ] && ((${#extra_tags[@]})); then
  problem "tags cannot be given with push-by-digest: the merge action tags the index"
fi
refs=()
if [ "${push:-false}" = true ]; then
  [ -n "$IMAGE" ] || problem "image is required to push (e.g. user/page-tracker)"
  [ -n "$USERNAME" ] || problem "username is required to push to $registry"
  [ -n "$PASSWORD" ] || problem "password is required to push to $registry"
  if ! tag_lines=$(publish_tags "$GIT_REF" "${DEFAULT_BRANCH:-}" "$COMMIT_SHA"); then
    problem "tag '$git_tag' is not a release version: push tags like v1.2.3 (or v1.2.3-rc.1 for a prerelease)"
  fi
  mapfile -t tags < <(list_items <<<"$tag_lines")
  if [ "$PUSH_BY_DIGEST" = true ]; then
    tags=()
    extra_tags=()
  fi
  for tag in "${tags[@]}"; do
    [[ $tag =~ $tag_pattern ]] || problem "tag '$tag' is not a valid image tag"
  done
  for tag in "${tags[@]}" "${extra_tags[@]}"; do
    refs+=("$image:$tag")
  done
fi

# The containerd image store holds an index of several platforms, and attestations; the classic store neither.
image_store=$(engine_image_store)

mapfile -t platforms < <(tr ',' '\n' <<<"$PLATFORMS" | list_items)
if ((${#platforms[@]})); then
  # The platforms this runner's builder can build and run, natively or under QEMU user emulation.
  seen_platforms=()
  builder_platforms=$(docker buildx inspect 2>/dev/null | sed -n 's/^Platforms: *//p' | tr -d ' ' | tr ',' '\n')
  for platform in "${platforms[@]}"; do
    if [[ ! $platform =~ $platform_pattern ]]; then
      problem "platform '$platform' is not an os/architecture pair such as linux/arm64"
    elif grep -qxF "$platform" <(printf '%s\n' "${seen_platforms[@]}"); then
      problem "platform '$platform' is given twice"
    elif ! grep -qxF "$platform" <<<"$builder_platforms"; then
      problem "this runner cannot build and run $platform images (it can: $(tr '\n' ' ' <<<"$builder_platforms")): run docker/setup-qemu-action before this action, or use a $platform runner"
    fi
    seen_platforms+=("$platform")
  done
  if ((${#platforms[@]} > 1)) && [ "$image_store" = classic ]; then
    problem "platforms '$PLATFORMS' need the containerd image store to hold one image of several platforms; this engine has the classic store: turn the store on (docker/setup-docker-action with daemon-config {\"features\": {\"containerd-snapshotter\": true}}, or Docker 29) or give one platform"
  fi
fi

# One platform's job of several: its image, tested, goes to the registry by digest for the merge action to index.
if [ "$PUSH_BY_DIGEST" = true ]; then
  ((${#platforms[@]} <= 1)) ||
    problem "push-by-digest pushes one platform's image, not '$PLATFORMS': run a job per platform and merge their digests with the merge action"
  [ "$image_store" = containerd ] ||
    problem "push-by-digest needs the containerd image store, which keeps the image's index and provenance as built; this engine has the classic store: turn the store on (Docker 29's default) or push by tag"
  [ -z "$COSIGN_PRIVATE_KEY" ] ||
    problem "cosign-key is given with push-by-digest: give it to the merge action, which signs the index of every platform"
fi

# A given key is checked on every run, pull requests included; a run that pushes by tag signs with it. The key
# itself is never printed.
sign=false
if [ -n "$COSIGN_PRIVATE_KEY" ]; then
  while IFS= read -r message; do problem "$message"; done < <(cosign_key_problems "$COSIGN_PRIVATE_KEY")
  if [ "${push:-false}" = true ] && [ "$PUSH_BY_DIGEST" = false ]; then
    sign=true
  fi
fi

cache_ref=""
write_cache=false
case "$CACHE" in
  true)
    # The test image carries the dependency layers; without a test build there is nothing to cache.
    if [ -n "$IMAGE" ] && builds "$TEST_SERVICE" && builds "$PUBLISH_SERVICE"; then
      cache_ref="$image:buildcache"
      # A run of one given platform (a job per platform) keeps a cache of its own: the jobs of two platforms
      # writing one would each replace the other's.
      if ((${#platforms[@]} == 1)); then
        cache_ref+="-${platforms[0]//\//-}"
      fi
      if [ "${push:-false}" = true ] && [ "$on_default_branch" = true ]; then
        write_cache=true
      fi
    fi
    ;;
  false) ;;
  *) problem "cache must be true or false, not '$CACHE'" ;;
esac

if [ "${#problems[@]}" -gt 0 ]; then
  for message in "${problems[@]}"; do error "$message"; done
  exit 1
fi

# The OCI labels of the published image, from the repository and the commit (empty values left out).
source_url=""
[ -z "$SERVER_URL" ] || [ -z "$REPOSITORY" ] || source_url="$SERVER_URL/$REPOSITORY"
declare -A labels=(
  [source]=$source_url
  [revision]=$COMMIT_SHA
  [version]=${release_version:-$COMMIT_SHA}
  [created]=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  [title]=$REPOSITORY_NAME
  [description]=$REPOSITORY_DESCRIPTION
  [licenses]=${REPOSITORY_LICENSE/#NOASSERTION/}
)
label_args=()
for name in source revision version created title description licenses; do
  [ -z "${labels[$name]}" ] || label_args+=(--arg "org.opencontainers.image.$name" "${labels[$name]}")
done
# The kind of layer cache BuildKit's docker driver (the builder of GitHub's runners) can export: a registry cache
# (every stage's layers, mode=max) where the engine has the containerd image store; the inline cache of the test
# image, pushed by push.sh, on the classic store, which exports no other kind. Each is read straight from the
# registry: an inline cache pulled first is not reused on the classic store, and an inline cache read remotely
# lost the runtime venv's layer on the containerd store (both seen on Docker 28.5). The cache is a speed-up: a
# registry cache that cannot be written (ignore-error; seen when two jobs wrote the same content at once) leaves
# the next run cold, not this one red, as push.sh does with an inline one.
cache_kind=""
if [ -n "$cache_ref" ] && [ "$image_store" = containerd ]; then
  cache_kind=registry
elif [ -n "$cache_ref" ]; then
  cache_kind=inline
fi
test_builds=false
if builds "$TEST_SERVICE"; then
  test_builds=true
fi
# The Compose override of the build settings, written by jq from the validated values. Compose interpolates `$`
# in its files, so each value's `$` is doubled; control characters but line breaks and tabs are dropped.
# The published image carries a SLSA provenance attestation (mode=max: the build's parameters, the OCI labels and
# so the commit among them, and its materials) with the workflow run as its builder, where the engine can store
# one: the containerd store. The classic store cannot: there the image is pushed without it. The test image, only
# ever run here, has none.
attest=false
if [ "$image_store" = containerd ]; then
  attest=true
fi
builder_id=""
[ -z "$source_url" ] || [ -z "$RUN_ID" ] || builder_id="$source_url/actions/runs/$RUN_ID/attempts/${RUN_ATTEMPT:-1}"
provenance="mode=max${builder_id:+,builder-id=$builder_id}"
build_file=$(temp_path --suffix=.json tracker-ci-build.XXXXXX)
jq --null-input \
  --arg publish_service "$PUBLISH_SERVICE" --arg test_service "$TEST_SERVICE" --argjson test_builds "$test_builds" \
  --arg cache_kind "$cache_kind" --arg cache_ref "$cache_ref" --argjson write_cache "$write_cache" \
  --argjson attest "$attest" --arg provenance "$provenance" \
  --argjson platforms "$(jq --null-input '$ARGS.positional' --args "${platforms[@]}")" \
  --argjson labels "$(jq --null-input '$ARGS.named' "${label_args[@]}")" '
  def compose_text: gsub("[\u0000-\u0008\u000b\u000c\u000e-\u001f]"; "") | gsub("\\$"; "$$");
  {provenance: false, sbom: false} as $no_attestations
  | (if $attest then {provenance: ($provenance | compose_text), sbom: false} else $no_attestations end) as $attestations
  | (if ($platforms | length) > 0 then {platforms: $platforms} else {} end) as $for_platforms
  | {
      registry: {from: ["type=registry,ref=\($cache_ref)"], to: ["type=registry,ref=\($cache_ref),mode=max,ignore-error=true"]},
      inline: {from: [$cache_ref], to: ["type=inline"]}
    }[$cache_kind] as $cache
  | ($cache | if . then {cache_from: (.from | map(compose_text))} else {} end) as $reads
  | ($cache | if . and $write_cache then {cache_to: (.to | map(compose_text))} else {} end) as $writes
  # On the classic store the test image is built under the cache name, so that push.sh pushes the very test image
  # whose layers were tested.
  | (if $cache_kind == "inline" and $write_cache then {image: ($cache_ref | compose_text)} else {} end) as $named
  | {services: {
      ($publish_service): {build: ({labels: ($labels | with_entries(.value |= compose_text))}
                                   + $attestations + $for_platforms + $reads)}
    }}
  | if $test_builds then .services[$test_service] = ({build: ($no_attestations + $reads + $writes)} + $named)
    else . end
' >"$build_file"

job=$(tr '[:upper:]' '[:lower:]' <<<"${GITHUB_JOB:-job}" | tr -c 'a-z0-9\n' '-')
call=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
set_output compose-project "tracker-ci-${RUN_ID:-local}-${RUN_ATTEMPT:-1}-${job}-${call}"
set_output push "$push"
set_output registry "$registry"
set_output image "$image"
set_output refs "$(printf '%s\n' "${refs[@]}")"
set_output push-by-digest "$PUSH_BY_DIGEST"
set_output build-file "$build_file"
set_output write-cache "$write_cache"
set_output cache-ref "$cache_ref"
set_output cache-kind "$cache_kind"
set_output platforms "$(IFS=,; echo "${platforms[*]}")"
set_output attest "$attest"
set_output sign "$sign"
echo "Inputs are valid; this run pushes: $push"
