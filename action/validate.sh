#!/usr/bin/env bash
# "Validate inputs and decide whether to push", the first step: checks every input before any work, normalises the
# registry and image once, and decides, once, whether this run pushes and which tags. Later steps use only its
# outputs:
#   - push: true or false;
#   - registry: lower-cased, index.docker.io read as docker.io; image: in full, lower-cased;
#   - refs: the references a push by tag goes to, newline-separated (none with push-by-digest);
#   - push-by-digest: true or false;
#   - compose-project: unique per job, attempt and call, so that teardown removes exactly what this call made and
#     `compose ps` never sees another job's containers;
#   - build-file: a Compose override of the builds: the published image's OCI labels, set at build time so that the
#     image tested is the image pushed, labels included; its provenance attestation; the layer cache;
#   - write-cache (true or false), cache-ref (<image>:buildcache, or <image>:buildcache-<os>-<arch> for one given
#     platform) and cache-kind (registry or inline, by the engine's image store; empty without a cache);
#   - platforms: comma-separated (empty: the engine's own);
#   - attest: true where the published image carries a provenance attestation;
#   - sign: true when this run pushes by tag and has a cosign key.
#   - throwaway-secrets: the Compose secret files test.sh makes when missing, one per line, each inside the working
#     directory.
# Both builds of every run that names an image read the layer cache; only a push from the default branch writes it,
# so that a branch or a pull request can never put layers into what the default branch builds from.
# This step holds the registry password and the cosign key: never trace it (SHELLOPTS=xtrace would).
set +x
set -euo pipefail
# A check that fails unexpectedly in a $(...) fails its caller, instead of printing part of its answer.
shopt -s inherit_errexit
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Each check below reports what is wrong with lib.sh's report_problem, and nothing for a valid input; main reports
# them all at once, before any work.

# Whether a service of the Compose project (its configuration as JSON) has a build: section (the exit status).
# Usage: builds CONFIG SERVICE
builds() { jq -e --arg service "$2" '.services[$service].build != null' <<<"$1" >/dev/null; }

# Usage: service_problems CONFIG COMPOSE_FILE TEST_SERVICE PUBLISH_SERVICE
service_problems() {
  local config=$1 compose_file=$2 test_service=$3 publish_service=$4 services service
  services=$(jq -r '.services | keys[]' <<<"$config")
  for service in "$test_service" "$publish_service"; do
    grep -qxF "$service" <<<"$services" ||
      report_problem "service '$service' is not in '$compose_file' (services: $(tr '\n' ' ' <<<"$services"))"
  done
  [ "$test_service" != "$publish_service" ] ||
    report_problem "test-service and publish-service are both '$test_service': the test service runs the end-to-end" \
      "tests against the published one"
  if grep -qxF "$publish_service" <<<"$services" && ! builds "$config" "$publish_service"; then
    report_problem "publish-service '$publish_service' has no build: in '$compose_file': the action publishes the" \
      "image it builds and tests"
  fi
}

# Usage: boolean_problems INPUT_NAME VALUE
boolean_problems() {
  case "$2" in
    true | false) ;;
    *) report_problem "$1 must be true or false, not '$2'" ;;
  esac
}

# Usage: throwaway_secret_problems FILE...
throwaway_secret_problems() {
  local file
  for file in "$@"; do
    [[ "$file" != /* && "/$file/" != */../* ]] ||
      report_problem "throwaway-secrets names '$file': each must be a path inside working-directory"
  done
}

# Usage: push_problems PUSH EVENT_NAME
push_problems() {
  case "$1" in
    auto | false) ;;
    true)
      publishes_on "$2" ||
        report_problem "push: true is refused on $2 events: only ${publishing_events[*]} events publish images"
      ;;
    *) report_problem "push must be auto, true or false, not '$1'" ;;
  esac
}

# Prints whether this run pushes: true or false (false for a push input that push_problems refuses).
# Usage: push_decision PUSH IMAGE EVENT_NAME GIT_REF DEFAULT_BRANCH
push_decision() {
  local push=$1 image=$2 event=$3 git_ref=$4 default_branch=$5
  if [ "$push" = true ] && publishes_on "$event"; then
    echo true
  elif [ "$push" = auto ] && [ -n "$image" ] && auto_publishes "$event" "$git_ref" "$default_branch"; then
    echo true
  else
    echo false
  fi
}

# Usage: tag_problems [TAG...]
tag_problems() {
  local tag
  for tag in "$@"; do
    [[ $tag =~ $tag_pattern ]] || report_problem "tag '$tag' is not a valid image tag"
  done
}

# What a push needs: the image, the credentials and, for a git tag, a release version.
# Usage: push_needs_problems IMAGE REGISTRY USERNAME PASSWORD GIT_REF
push_needs_problems() {
  local image=$1 registry=$2 username=$3 password=$4 git_ref=$5
  [ -n "$image" ] || report_problem "image is required to push (e.g. user/page-tracker)"
  [ -n "$username" ] || report_problem "username is required to push to $registry"
  [ -n "$password" ] || report_problem "password is required to push to $registry"
  release_version "$git_ref" >/dev/null ||
    report_problem "tag '${git_ref#refs/tags/}' is not a release version: push tags like v1.2.3 (or v1.2.3-rc.1 for" \
      "a prerelease)"
}

# The platforms this runner's builder can build and run, natively or under QEMU user emulation, one per line.
builder_platforms() {
  docker buildx inspect 2>/dev/null | sed -n 's/^Platforms: *//p' | tr -d ' ' | tr ',' '\n'
}

# Usage: platform_problems IMAGE_STORE PLATFORMS_INPUT [PLATFORM...]
platform_problems() {
  local image_store=$1 given=$2 buildable platform seen=()
  shift 2
  (($#)) || return 0
  buildable=$(builder_platforms)
  for platform in "$@"; do
    if [[ ! $platform =~ $platform_pattern ]]; then
      report_problem "platform '$platform' is not an os/architecture pair such as linux/arm64"
    elif grep -qxF "$platform" <(printf '%s\n' "${seen[@]}"); then
      report_problem "platform '$platform' is given twice"
    elif ! grep -qxF "$platform" <<<"$buildable"; then
      report_problem "this runner cannot build and run $platform images (it can: $(tr '\n' ' ' <<<"$buildable")): run" \
        "docker/setup-qemu-action before this action, or use a $platform runner"
    fi
    seen+=("$platform")
  done
  if (($# > 1)) && [ "$image_store" = classic ]; then
    report_problem "platforms '$given' need the containerd image store to hold one image of several platforms; this" \
      "engine has the classic store: turn the store on (docker/setup-docker-action with daemon-config" \
      "{\"features\": {\"containerd-snapshotter\": true}}, or Docker 29) or give one platform"
  fi
}

# One platform's job of several: its image, tested, goes to the registry by digest for the merge action to index.
# Usage: push_by_digest_problems IMAGE_STORE PLATFORMS_INPUT PLATFORM_COUNT COSIGN_KEY
push_by_digest_problems() {
  local image_store=$1 given=$2 count=$3 cosign_key=$4
  ((count <= 1)) ||
    report_problem "push-by-digest pushes one platform's image, not '$given': run a job per platform and merge" \
      "their digests with the merge action"
  [ "$image_store" = containerd ] ||
    report_problem "push-by-digest needs the containerd image store, which keeps the image's index and provenance" \
      "as built; this engine has the classic store: turn the store on (Docker 29's default) or push by tag"
  [ -z "$cosign_key" ] ||
    report_problem "cosign-key is given with push-by-digest: give it to the merge action, which signs the index of" \
      "every platform"
}

# Prints the layer cache's reference, or nothing where there is no cache: the image's, when both the test and the
# published service build (the test image carries the dependency layers). A run of one given platform (a job per
# platform) keeps a cache of its own: the jobs of two platforms writing one would each replace the other's.
# Usage: layer_cache_ref CACHE IMAGE_INPUT IMAGE BOTH_BUILD [PLATFORM...]
layer_cache_ref() {
  local cache=$1 image_input=$2 image=$3 both_build=$4
  shift 4
  [ "$cache" = true ] && [ -n "$image_input" ] && [ "$both_build" = true ] || return 0
  if (($# == 1)); then
    echo "$image:buildcache-${1//\//-}"
  else
    echo "$image:buildcache"
  fi
}

# The kind of layer cache BuildKit's docker driver (the builder of GitHub's runners) can export: a registry cache
# (every stage's layers, mode=max) where the engine has the containerd image store; the inline cache of the test
# image, pushed by push.sh, on the classic store, which exports no other kind. Each is read straight from the
# registry: an inline cache pulled first is not reused on the classic store, and an inline cache read remotely lost
# the runtime venv's layer on the containerd store (both seen on Docker 28.5). The cache is a speed-up: a registry
# cache that cannot be written (ignore-error; seen when two jobs wrote the same content at once) leaves the next run
# cold, not this one red, as push.sh does with an inline one.
# Usage: cache_kind CACHE_REF IMAGE_STORE
cache_kind() {
  [ -n "$1" ] || return 0
  if [ "$2" = containerd ]; then echo registry; else echo inline; fi
}

# Prints the OCI labels of the published image as `jq --arg NAME VALUE` arguments, each ended by a NUL byte (a value
# may span lines; empty values left out), from the repository and the commit.
# Usage: oci_labels SOURCE_URL COMMIT_SHA RELEASE_VERSION TITLE DESCRIPTION LICENSE
oci_labels() {
  local -A labels=(
    [source]=$1
    [revision]=$2
    [version]=${3:-$2}
    [created]=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    [title]=$4
    [description]=$5
    [licenses]=${6/#NOASSERTION/}
  )
  local name
  for name in source revision version created title description licenses; do
    [ -z "${labels[$name]}" ] || printf '%s\0' "--arg" "org.opencontainers.image.$name" "${labels[$name]}"
  done
}

# Writes the Compose override of the build settings with jq, from validated values only: the published service's
# OCI labels, platforms, provenance attestation and cache reads; the test service's cache reads and writes. Compose
# interpolates `$` in its files, so each value's `$` is doubled; control characters but line breaks and tabs are
# dropped. The published image carries a SLSA provenance attestation (mode=max: the build's parameters, the OCI
# labels and so the commit among them, and its materials) with the workflow run as its builder, where the engine can
# store one: the containerd store (ATTEST). The test image, only ever run here, has none.
# Usage: write_build_file FILE PUBLISH_SERVICE TEST_SERVICE TEST_BUILDS CACHE_KIND CACHE_REF WRITE_CACHE ATTEST
#        PROVENANCE PLATFORMS_JSON LABELS_JSON
write_build_file() {
  jq --null-input \
    --arg publish_service "$2" --arg test_service "$3" --argjson test_builds "$4" \
    --arg cache_kind "$5" --arg cache_ref "$6" --argjson write_cache "$7" \
    --argjson attest "$8" --arg provenance "$9" --argjson platforms "${10}" --argjson labels "${11}" '
    def compose_text: gsub("[\u0000-\u0008\u000b\u000c\u000e-\u001f]"; "") | gsub("\\$"; "$$");
    {provenance: false, sbom: false} as $no_attestations
    | (if $attest then {provenance: ($provenance | compose_text), sbom: false} else $no_attestations end)
      as $attestations
    | (if ($platforms | length) > 0 then {platforms: $platforms} else {} end) as $for_platforms
    | {
        registry: {
          from: ["type=registry,ref=\($cache_ref)"], to: ["type=registry,ref=\($cache_ref),mode=max,ignore-error=true"]
        },
        inline: {from: [$cache_ref], to: ["type=inline"]}
      }[$cache_kind] as $cache
    | ($cache | if . then {cache_from: (.from | map(compose_text))} else {} end) as $reads
    | ($cache | if . and $write_cache then {cache_to: (.to | map(compose_text))} else {} end) as $writes
    # On the classic store the test image is built under the cache name, so that push.sh pushes the very test
    # image whose layers were tested.
    | (if $cache_kind == "inline" and $write_cache then {image: ($cache_ref | compose_text)} else {} end) as $named
    | {services: {
        ($publish_service): {build: ({labels: ($labels | with_entries(.value |= compose_text))}
                                     + $attestations + $for_platforms + $reads)}
      }}
    | if $test_builds then .services[$test_service] = ({build: ($no_attestations + $reads + $writes)} + $named)
      else . end
  ' >"$1"
}

main() {
  : "${WORKING_DIRECTORY:?}" "${COMPOSE_FILE:?}" "${TEST_PROFILE:?}" "${TEST_SERVICE:?}" "${PUBLISH_SERVICE:?}"
  : "${PUSH?}" "${PUSH_BY_DIGEST?}" "${REGISTRY?}" "${IMAGE?}" "${USERNAME?}" "${PASSWORD?}" "${EXTRA_TAGS?}"
  : "${CACHE?}" "${PLATFORMS?}" "${COSIGN_PRIVATE_KEY?}" "${EVENT_NAME:?}" "${GIT_REF?}" "${COMMIT_SHA:?}"
  : "${RUN_ID?}" "${RUN_ATTEMPT?}" "${SERVER_URL?}" "${REPOSITORY?}" "${REPOSITORY_NAME?}"
  : "${REPOSITORY_DESCRIPTION?}" "${REPOSITORY_LICENSE?}" "${THROWAWAY_SECRETS?}"
  local default_branch=${DEFAULT_BRANCH:-}

  cd "$WORKING_DIRECTORY" 2>/dev/null || { error "working-directory '$WORKING_DIRECTORY' does not exist"; exit 1; }
  if [ ! -f "$COMPOSE_FILE" ]; then
    error "compose-file '$COMPOSE_FILE' not found in '$WORKING_DIRECTORY'"
    exit 1
  fi
  local config
  config=$(docker compose --file "$COMPOSE_FILE" --profile "$TEST_PROFILE" config --no-interpolate --format json) || {
    error "docker compose cannot read '$COMPOSE_FILE' with profile '$TEST_PROFILE'"
    exit 1
  }

  # The decisions, each from inputs whose problems are collected beside it.
  local push registry image image_name image_store test_builds=false both_build=false sign=false write_cache=false
  local -a extra_tags platforms throwaway_secrets tags=() refs=()
  push=$(push_decision "$PUSH" "$IMAGE" "$EVENT_NAME" "$GIT_REF" "$default_branch")
  [ "$PUSH" != auto ] || [ -n "$IMAGE" ] || echo "No image given: this run tests only."
  registry=$(normalised_registry "$REGISTRY")
  image_name=${IMAGE,,}
  image=$(qualified_name "$registry/$image_name")
  mapfile -t extra_tags < <(list_items <<<"$EXTRA_TAGS")
  mapfile -t platforms < <(tr ',' '\n' <<<"$PLATFORMS" | list_items)
  mapfile -t throwaway_secrets < <(list_items <<<"$THROWAWAY_SECRETS")
  # The containerd image store holds an index of several platforms, and attestations; the classic store neither.
  image_store=$(engine_image_store)
  if builds "$config" "$TEST_SERVICE"; then test_builds=true; fi
  if [ "$test_builds" = true ] && builds "$config" "$PUBLISH_SERVICE"; then both_build=true; fi
  # A push by tag goes to the git ref's tags (lib.sh's publish_tags) and the extra tags; by digest, to none.
  if [ "$push" = true ] && [ "$PUSH_BY_DIGEST" = false ]; then
    mapfile -t tags < <(publish_tags "$GIT_REF" "$default_branch" "$COMMIT_SHA" || true)
    local tag
    for tag in "${tags[@]}" "${extra_tags[@]}"; do refs+=("$image:$tag"); done
    [ -z "$COSIGN_PRIVATE_KEY" ] || sign=true
  fi
  local cache_ref
  cache_ref=$(layer_cache_ref "$CACHE" "$IMAGE" "$image" "$both_build" "${platforms[@]}")
  if [ -n "$cache_ref" ] && [ "$push" = true ] && is_default_branch "$GIT_REF" "$default_branch"; then
    write_cache=true
  fi

  # Every problem, on every event (pull requests included: a bad tag or key fails the pull request, not the first
  # push after it), reported at once.
  local -a problems
  mapfile -d '' -t problems < <(
    service_problems "$config" "$COMPOSE_FILE" "$TEST_SERVICE" "$PUBLISH_SERVICE"
    push_problems "$PUSH" "$EVENT_NAME"
    boolean_problems push-by-digest "$PUSH_BY_DIGEST"
    registry_problems "$registry" "$REGISTRY"
    [ -z "$IMAGE" ] || image_problems "$image_name" "$IMAGE"
    tag_problems "${extra_tags[@]}"
    # One platform's image pushed by digest carries no tag: the merge action tags the index of all platforms.
    [ "$PUSH_BY_DIGEST" != true ] || ((${#extra_tags[@]} == 0)) ||
      report_problem "tags cannot be given with push-by-digest: the merge action tags the index"
    [ "$push" = false ] || push_needs_problems "$IMAGE" "$registry" "$USERNAME" "$PASSWORD" "$GIT_REF"
    tag_problems "${tags[@]}"
    platform_problems "$image_store" "$PLATFORMS" "${platforms[@]}"
    [ "$PUSH_BY_DIGEST" != true ] ||
      push_by_digest_problems "$image_store" "$PLATFORMS" "${#platforms[@]}" "$COSIGN_PRIVATE_KEY"
    # A given key is checked on every run; the key itself is never printed.
    [ -z "$COSIGN_PRIVATE_KEY" ] || cosign_key_problems "$COSIGN_PRIVATE_KEY"
    boolean_problems cache "$CACHE"
    throwaway_secret_problems "${throwaway_secrets[@]}"
  )
  wait "$!" # a check that failed unexpectedly fails the step, instead of leaving its problems out
  if ((${#problems[@]})); then
    local message
    for message in "${problems[@]}"; do error "$message"; done
    exit 1
  fi

  local source_url="" release builder_id="" attest=false build_file labels kind
  kind=$(cache_kind "$cache_ref" "$image_store")
  [ -z "$SERVER_URL" ] || [ -z "$REPOSITORY" ] || source_url="$SERVER_URL/$REPOSITORY"
  release=$(release_version "$GIT_REF")
  mapfile -d '' -t labels < <(oci_labels "$source_url" "$COMMIT_SHA" "$release" "$REPOSITORY_NAME" \
    "$REPOSITORY_DESCRIPTION" "$REPOSITORY_LICENSE")
  [ "$image_store" != containerd ] || attest=true
  [ -z "$source_url" ] || [ -z "$RUN_ID" ] || builder_id="$source_url/actions/runs/$RUN_ID/attempts/${RUN_ATTEMPT:-1}"
  build_file=$(temp_path --suffix=.json tracker-ci-build.XXXXXX)
  write_build_file "$build_file" "$PUBLISH_SERVICE" "$TEST_SERVICE" "$test_builds" \
    "$kind" "$cache_ref" "$write_cache" "$attest" \
    "mode=max${builder_id:+,builder-id=$builder_id}" \
    "$(jq --null-input '$ARGS.positional' --args "${platforms[@]}")" \
    "$(jq --null-input '$ARGS.named' "${labels[@]}")"

  local job call
  job=$(tr '[:upper:]' '[:lower:]' <<<"${GITHUB_JOB:-job}" | tr -c 'a-z0-9\n' '-')
  call=$(random_hex 4)
  set_output compose-project "tracker-ci-${RUN_ID:-local}-${RUN_ATTEMPT:-1}-${job}-${call}"
  set_output push "$push"
  set_output registry "$registry"
  set_output image "$image"
  set_output refs "$(printf '%s\n' "${refs[@]}")"
  set_output push-by-digest "$PUSH_BY_DIGEST"
  set_output build-file "$build_file"
  set_output write-cache "$write_cache"
  set_output cache-ref "$cache_ref"
  set_output cache-kind "$kind"
  set_output platforms "$(IFS=,; echo "${platforms[*]}")"
  set_output attest "$attest"
  set_output sign "$sign"
  set_output throwaway-secrets "$(printf '%s\n' "${throwaway_secrets[@]}")"
  echo "Inputs are valid; this run pushes: $push"
}

main "$@"
