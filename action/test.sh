#!/usr/bin/env bash
# Steps 2-4: builds every service (test profile included), starts the services and waits until they are
# healthy, runs the test service and takes ITS exit code; on failure shows each service's state and log
# tail; always tears the project down. Outputs: image-id (of the tested publish service), e2e-exit-code,
# failing-service.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${WORKING_DIRECTORY:?}" "${COMPOSE_FILE:?}" "${COMPOSE_PROJECT:?}" "${TEST_PROFILE:?}" "${TEST_SERVICE:?}"
: "${PUBLISH_SERVICE:?}"
cd "$WORKING_DIRECTORY"

tear_down() {
  group "Tear down"
  compose down --volumes --remove-orphans || true
  endgroup
}
trap tear_down EXIT

show_failure() {
  local service
  set_output failing-service "$1"
  group "Services after the failure"
  compose ps --all | print_untrusted
  endgroup
  for service in $(compose config --services); do
    group "Log of $service (last 200 lines)"
    compose logs --no-color --tail 200 "$service" 2>&1 | print_untrusted
    endgroup
  done
}

# Prints the services that are running but not healthy (or not running at all).
unhealthy_services() {
  compose ps --all --format '{{.Service}} {{.State}} {{.Health}}' | awk '$2 != "running" || ($3 != "" && $3 != "healthy") {print $1}'
}

group "Build images"
# The published service first: a test image that shares its layers then builds from cache.
compose build "$PUBLISH_SERVICE"
compose build
endgroup

group "Start services and wait until they are healthy"
if ! docker compose --project-name "$COMPOSE_PROJECT" --file "$COMPOSE_FILE" up --detach --wait; then
  endgroup
  unhealthy=$(unhealthy_services)
  error "services did not become healthy: $(tr '\n' ' ' <<<"$unhealthy")"
  show_failure "$(head -n 1 <<<"$unhealthy")"
  exit 1
fi
endgroup

publish_container=$(compose ps --quiet "$PUBLISH_SERVICE")
image_id=$(docker inspect --format '{{.Image}}' "$publish_container")
set_output image-id "$image_id"

group "End-to-end tests ($TEST_SERVICE)"
set +e
compose run --rm "$TEST_SERVICE"
exit_code=$?
set -e
endgroup
set_output e2e-exit-code "$exit_code"

if [ "$exit_code" -ne 0 ]; then
  error "end-to-end tests failed: $TEST_SERVICE exited $exit_code"
  show_failure "$TEST_SERVICE"
  exit "$exit_code"
fi
echo "End-to-end tests passed against image $image_id"
