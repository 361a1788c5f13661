#!/usr/bin/env bash
# Deploys or updates this project's stack (deploy/compose.stack.yml) on Docker Swarm, then waits until every service
# has converged: all its tasks running and healthy, or rolled back. Exits non-zero with the failing service's
# tasks and log tail when it has not. Runs on a manager or against one: DOCKER_HOST=ssh://user@manager.
#
#   deploy/deploy.sh IMAGE        IMAGE: the pushed image, repository@sha256:<digest> (or repository:tag)
#
# Environment: STACK_NAME ({{ cookiecutter.__package_name }}), WEB_REPLICAS (3), WEB_PORT ({{ cookiecutter.web_port }}), REDIS_APPENDFSYNC,
# DEPLOY_TIMEOUT (seconds, 300), RESOLVE_IMAGE (always; never when the nodes already hold the image).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# This project's names (from the template's answers).
default_stack={{ cookiecutter.__package_name }}
redis_label={{ cookiecutter.__package_name }}.redis
max_replicas={{ cookiecutter.__max_web_replicas }}  # the server slots of deploy/haproxy.cfg
{% raw -%}

fail() {
  printf 'deploy: %s\n' "$*" >&2
  exit 1
}

# Validated once; only these values are used below.
image=${1:-}
stack=${STACK_NAME:-$default_stack}
timeout=${DEPLOY_TIMEOUT:-300}
[[ $image =~ ^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(@sha256:[0-9a-f]{64}|:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})$ ]] ||
  fail "usage: deploy/deploy.sh IMAGE, where IMAGE is repository@sha256:<digest> or repository:tag (got '$image')"
[[ $stack =~ ^[a-z0-9][a-z0-9_-]{0,39}$ ]] || fail "STACK_NAME must be lower-case letters, digits, - and _ (got '$stack')"
replicas=${WEB_REPLICAS:-3}
if ! [[ $replicas =~ ^[0-9]{1,2}$ ]] || ((10#$replicas > max_replicas)); then
  fail "WEB_REPLICAS must be a number from 0 to $max_replicas, the proxy's server slots (got '$replicas')"
fi
[[ $timeout =~ ^[1-9][0-9]*$ ]] || fail "DEPLOY_TIMEOUT must be a number of seconds (got '$timeout')"
[ -s ../secrets/redis-password ] || fail "secrets/redis-password is missing or empty (README.md, 'Configuration and secrets')"
[ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] ||
  fail "the engine (${DOCKER_HOST:-local}) is not a swarm manager: run 'docker swarm init' there first"

export IMAGE=$image WEB_REPLICAS=$((10#$replicas))
# Secrets and configs are immutable: a changed one deploys under a new name.
REDIS_PASSWORD_VERSION=$(sha256sum <../secrets/redis-password | cut -c1-12)
HAPROXY_CONFIG_VERSION=$(sha256sum <haproxy.cfg | cut -c1-12)
export REDIS_PASSWORD_VERSION HAPROXY_CONFIG_VERSION

# Redis's volume stays on one node: the one labelled $redis_label=true, by default this manager.
if [ -z "$(docker node ls --quiet --filter "node.label=$redis_label=true")" ]; then
  docker node update --label-add "$redis_label=true" "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
  echo "deploy: Redis will live on this manager (node label $redis_label=true)"
fi

# Go templates for docker's --format, written once.
task_template='{{json .Spec.TaskTemplate}}'
# "<state> <started at>" of the service's last update; empty when it never had one.
update_status='{{if .UpdateStatus}}{{.UpdateStatus.State}} {{.UpdateStatus.StartedAt}}{{end}}'
name_and_replicas='{{.Name}} {{.Replicas}}'

services() { docker stack services --format '{{.Name}}' "$stack" 2>/dev/null || true; }

# A service whose task definition changes goes through a rolling update, which must end "completed" (the update
# started after this deploy: the previous one's status stays until then); one that is new or only scaled must
# reach all its replicas. Swarm counts a task with a health check only once healthy.
declare -A before update_started_before
for service in $(services); do
  # One inspect for both: "<state> <started at>|<task template>" (a status has no "|").
  inspected=$(docker service inspect --format "$update_status|$task_template" "$service")
  status=${inspected%%|*}
  update_started_before[$service]=${status#* }
  before[$service]=${inspected#*|}
done

echo "deploy: $image as stack $stack, $WEB_REPLICAS web replicas"
docker stack deploy --prune --with-registry-auth --resolve-image "${RESOLVE_IMAGE:-always}" \
  --compose-file compose.stack.yml "$stack"

# Which services must go through a rolling update, decided now: a rollback puts the old definition back.
declare -A rolling
for service in $(services); do
  if [ -n "${before[$service]:-}" ] && [ "$(docker service inspect --format "$task_template" "$service")" != "${before[$service]}" ]; then
    rolling[$service]=yes
  fi
done

all_replicas() {
  local counts
  counts=$(docker service ls --filter "name=$1" --format "$name_and_replicas" | awk -v name="$1" '$1 == name { print $2 }')
  [[ $counts =~ ^([0-9]+)/([0-9]+) ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
}

report() {
  echo "::group::$1: tasks"
  docker service ps --no-trunc "$1" || true
  echo "::endgroup::"
  echo "::group::$1: last 50 log lines"
  docker service logs --no-task-ids --tail 50 "$1" 2>&1 || true
  echo "::endgroup::"
}

# Prints converged or failed: <why> once the service has settled; nothing while it has not.
settled() {
  local service=$1 status state
  status=$(docker service inspect --format "$update_status" "$service")
  state=${status%% *}
  if [ -n "${rolling[$service]:-}" ]; then
    [ "${status#* }" != "${update_started_before[$service]}" ] || return 0
    case $state in
      completed) all_replicas "$service" && echo converged ;;
      rollback_completed) echo "failed: rolled back to the previous version" ;;
      paused | rollback_paused) echo "failed: update $state" ;;
    esac
  elif all_replicas "$service"; then
    echo converged
  fi
}

deadline=$((SECONDS + timeout))
failed=()
for service in $(services); do
  until outcome=$(settled "$service") && [ -n "$outcome" ]; do
    if ((SECONDS >= deadline)); then
      outcome="failed: not converged within ${timeout}s"
      break
    fi
    sleep 1
  done
  echo "deploy: $service $outcome"
  if [ "$outcome" != converged ]; then
    failed+=("$service")
    report "$service" >&2
  fi
done
((${#failed[@]} == 0)) || fail "not deployed: ${failed[*]}"
echo "deploy: stack $stack converged"
{%- endraw %}
