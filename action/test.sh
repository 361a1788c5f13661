#!/usr/bin/env bash
# "Build, start and run the end-to-end tests": builds every service (test profile included) in one build -- the
# publish service for each of PLATFORMS -- while the services that need no build and depend on nothing (e.g. Redis)
# already start and become healthy; then, for each platform in turn (the engine's own when none is given), starts the
# others but the test service with the publish service on that platform, waits until all are healthy, runs the test
# service alone and takes ITS exit code, and tears the services down; the first failure ends it, showing each
# service's state and log tail. Build and test output comes from the code under test, so it is printed fenced (it
# cannot issue workflow commands), exit codes kept. Outputs: image-id (of the tested publish service: one image, an
# index where it holds several platforms), tested-platforms, e2e-exit-code, failing-service, and cache-image-id (the
# test image as built, where it is the inline layer cache to write: WRITE_CACHE, CACHE_KIND and CACHE_REF).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${WORKING_DIRECTORY:?}" "${COMPOSE_FILE:?}" "${COMPOSE_PROJECT:?}" "${TEST_PROFILE:?}" "${TEST_SERVICE:?}"
: "${PUBLISH_SERVICE:?}" "${PLATFORMS?}" "${WRITE_CACHE?}" "${CACHE_KIND?}" "${CACHE_REF?}" "${THROWAWAY_SECRETS?}"
cd "$WORKING_DIRECTORY"

# The Compose secret files the tests need and the checkout lacks (validate.sh checked each lies inside the working
# directory): a random value each, readable by the containers' users, in a private folder where one is made.
# Usage: make_throwaway_secrets FILE...
make_throwaway_secrets() {
  local file folder
  for file in "$@"; do
    [ ! -e "$file" ] || continue
    folder=$(dirname "$file")
    if [ ! -d "$folder" ]; then
      mkdir -p "$folder"
      chmod 700 "$folder"
    fi
    (umask 022 && random_hex 24 >"$file")
  done
}
mapfile -t throwaway_secrets < <(list_items <<<"$THROWAWAY_SECRETS")
make_throwaway_secrets "${throwaway_secrets[@]}"

# The services' published ports, cleared for the test run (Compose's !reset): the end-to-end tests reach the services
# on the project's network, and two runs on one engine (matrix jobs on a shared self-hosted runner, act) would
# otherwise fight over the same host ports.
# Ref: https://docs.docker.com/reference/compose-file/merge/#reset-value
ports_file=$(temp_path --suffix=.yml tracker-ci-ports.XXXXXX)
docker compose --file "$COMPOSE_FILE" --profile "$TEST_PROFILE" config --no-interpolate --format json |
  jq --raw-output '[.services | to_entries[] | select(.value.ports) | .key] |
    if length == 0 then "services: {}" else "services:", (.[] | "  \(@json):\n    ports: !reset []") end' \
    >"$ports_file"

# The compose command of the project under test, derived once: its test profile active, with the build settings
# that validate.sh wrote (OCI labels, layer cache, platforms) when there are any, and no published ports.
compose=(docker compose --project-name "$COMPOSE_PROJECT" --file "$COMPOSE_FILE" ${BUILD_FILE:+--file "$BUILD_FILE"}
  --file "$ports_file" --profile "$TEST_PROFILE")
readonly compose

# The EXIT trap: waits for the early start (its PID, if it may still run) so that `down` sees every container it
# made, then removes everything the run made.
tear_down() {
  local early_start=$1 early_start_log=$2
  group "Tear down"
  [ -z "$early_start" ] || wait "$early_start" || true
  rm -f "$early_start_log"
  # Nothing of a test run is kept: no graceful stops to wait for.
  "${compose[@]}" down --volumes --remove-orphans --timeout 0 || true
  rm -f "$ports_file"
  endgroup
}
early_start="" early_start_log=""
trap 'tear_down "$early_start" "$early_start_log"' EXIT

show_failure() {
  local service
  set_output failing-service "$1"
  group "Services after the failure"
  "${compose[@]}" ps --all | print_untrusted
  endgroup
  for service in "${all_services[@]}"; do
    group "Log of $service (last 200 lines)"
    "${compose[@]}" logs --no-color --tail 200 "$service" 2>&1 | print_untrusted
    endgroup
  done
}

# Prints the services that are running but not healthy (or not running at all).
unhealthy_services() {
  "${compose[@]}" ps --all --format '{{.Service}} {{.State}} {{.Health}}' | awk '$2 != "running" || ($3 != "" && $3 != "healthy") {print $1}'
}

# Waits until the containers of the given services run and those with a health check are healthy; fails as
# soon as one stops or turns unhealthy. A health check's first probe runs one interval after the start: this
# sees its result within 0.1 s, Compose's `up --wait` only at its next look, every 0.5 s.
wait_until_healthy() {
  local states
  local -a containers
  (($#)) || return 0
  mapfile -t containers < <("${compose[@]}" ps --all --quiet "$@")
  while states=$(docker inspect --format '{{.State.Status}}{{with .State.Health}} {{.Status}}{{end}}' "${containers[@]}"); do
    grep --quiet --invert-match --line-regexp --regexp 'running' --regexp 'running healthy' <<<"$states" || return 0
    if grep --quiet --extended-regexp '^(exited|dead)|unhealthy$' <<<"$states"; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# The project's services, test profile included, as Compose reads them.
config=$("${compose[@]}" config --format json)
mapfile -t all_services < <(jq -r '.services | keys[]' <<<"$config")
readonly all_services
# Services that run an image as it is and depend on nothing (e.g. Redis): started, and waited for, while the
# images build.
mapfile -t ready_made < <(jq -r '.services | to_entries[]
  | select(.value.build == null and .value.depends_on == null and .value.profiles == null) | .key' <<<"$config")
readonly ready_made

# Prints the project's services other than the ones given.
services_except() {
  printf '%s\n' "${all_services[@]}" | grep --invert-match --line-regexp --fixed-strings --file <(printf '%s\n' "$@")
}

if ((${#ready_made[@]})); then
  early_start_log=$(temp_path tracker-ci-early-start.XXXXXX)
  "${compose[@]}" up --detach --wait --no-deps "${ready_made[@]}" >"$early_start_log" 2>&1 &
  early_start=$!
fi

group "Build images"
# One build of every service: BuildKit runs the stages they share (the test image is the builder stage) once.
if ! "${compose[@]}" build 2>&1 | print_untrusted; then
  endgroup
  error "building the images failed (a gate in a Dockerfile, or the build itself): see the build log"
  exit 1
fi
endgroup
# The inline layer cache is the test image the build just named CACHE_REF: push.sh pushes it from this ID, never
# from whatever the name points at by then.
if [ "$WRITE_CACHE" = true ] && [ "$CACHE_KIND" = inline ]; then
  set_output cache-image-id "$(docker image inspect --format '{{.Id}}' "$CACHE_REF")"
fi

# Everything the test service may need, its dependencies in the test profile included.
mapfile -t services < <(services_except "$TEST_SERVICE")
readonly services

# Starts the given services with the publish service on PLATFORM (empty: the engine's own), named LABEL in the log
# (--no-deps when DEPS_RUNNING is true: theirs are up and healthy), and waits until every one of `services` (derived
# once above, read-only) is healthy; on a failure, names the unhealthy services, shows the logs and exits.
# Usage: start_services PLATFORM LABEL DEPS_RUNNING [SERVICE...]
start_services() {
  local platform=$1 label=$2 deps_running=$3
  shift 3
  local started=true platform_file="" unhealthy
  local -a up_options=()
  # The publish service on that platform: a Compose override that only `up` needs, removed right after it.
  if [ -n "$platform" ]; then
    platform_file=$(temp_path --suffix=.json tracker-ci-platform.XXXXXX)
    jq --null-input --arg service "$PUBLISH_SERVICE" --arg platform "$platform" \
      '{services: {($service): {platform: $platform}}}' >"$platform_file"
  fi
  group "Start services and wait until they are healthy ($label)"
  if [ "$deps_running" = true ]; then
    up_options=(--no-deps)
  fi
  # `up` without services would start every one, the test service too.
  if (($#)) && ! "${compose[@]}" ${platform_file:+--file "$platform_file"} up --detach "${up_options[@]}" "$@"; then
    started=false
  fi
  if [ -n "$platform_file" ]; then
    rm -f "$platform_file"
  fi
  if [ "$started" = false ] || ! wait_until_healthy "${services[@]}"; then
    endgroup
    unhealthy=$(unhealthy_services)
    error "services did not become healthy on $label: $(tr '\n' ' ' <<<"$unhealthy")"
    show_failure "$(head -n 1 <<<"$unhealthy")"
    exit 1
  fi
  endgroup
}

# Runs the test service alone against the running services, named LABEL in the log; on a failure, shows the logs
# and exits with its exit code.
# Usage: run_end_to_end_tests LABEL
run_end_to_end_tests() {
  local label=$1 exit_code
  group "End-to-end tests on $label ($TEST_SERVICE)"
  set +e
  # --no-deps: its dependencies are up and healthy; checking them again would only wait for the next probe.
  "${compose[@]}" run --rm --no-deps "$TEST_SERVICE" 2>&1 | print_untrusted
  exit_code=${PIPESTATUS[0]}
  set -e
  endgroup
  set_output e2e-exit-code "$exit_code"
  if [ "$exit_code" -ne 0 ]; then
    error "end-to-end tests failed on $label: $TEST_SERVICE exited $exit_code"
    show_failure "$TEST_SERVICE"
    exit "$exit_code"
  fi
}

# The first platform starts only what the early start did not, if it went well (a failed early start is judged
# with the others); every later one, after a tear down, starts everything.
to_start=("${services[@]}")
deps_running=false
if [ -n "$early_start" ]; then
  group "Services that need no build, started during the build"
  early_start_status=0
  wait "$early_start" || early_start_status=$?
  early_start=""
  print_untrusted <"$early_start_log"
  endgroup
  if [ "$early_start_status" -eq 0 ]; then
    mapfile -t to_start < <(services_except "$TEST_SERVICE" "${ready_made[@]}")
    deps_running=true
  fi
fi

# Each platform in turn: one image, whose ID every platform's publish container must run (an index where it holds
# several platforms), tested end to end on each.
mapfile -t platforms < <(tr ',' '\n' <<<"$PLATFORMS" | list_items)
((${#platforms[@]})) || platforms=("")
tested_platforms=()
image_id=""
for platform in "${platforms[@]}"; do
  if ((${#tested_platforms[@]})); then
    group "Tear down before the next platform"
    "${compose[@]}" down --volumes --timeout 0 2>&1 | print_untrusted
    endgroup
    to_start=("${services[@]}")
    deps_running=false
  fi
  label=${platform:-$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}')}
  start_services "$platform" "$label" "$deps_running" "${to_start[@]}"

  container=$("${compose[@]}" ps --quiet "$PUBLISH_SERVICE")
  tested_id=$(docker inspect --format '{{.Image}}' "$container")
  if [ -n "$image_id" ] && [ "$tested_id" != "$image_id" ]; then
    error "$PUBLISH_SERVICE ran image $tested_id on $label but $image_id before: not one image"
    exit 1
  fi
  image_id=$tested_id
  set_output image-id "$image_id"
  # The manifest of the platform the container runs (on the containerd store; the classic store has one).
  manifest=$(docker inspect --format '{{with .ImageManifestDescriptor}}{{.Digest}}{{end}}' "$container" 2>/dev/null || true)

  run_end_to_end_tests "$label"
  echo "End-to-end tests passed on $label against image $image_id${manifest:+ (manifest $manifest)}"
  tested_platforms+=("$label")
done
set_output tested-platforms "$(IFS=,; echo "${tested_platforms[*]}")"
