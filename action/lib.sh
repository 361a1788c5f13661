#!/usr/bin/env bash
# Helpers shared by the action's step scripts. Sourced, never run.

# Folds a block of the log under a title.
group() { printf '::group::%s\n' "$1"; }
endgroup() { printf '::endgroup::\n'; }

error() { printf '::error::%s\n' "$*"; }

# Writes a step output; values are single-line by construction here, multi-line ones use a delimiter.
set_output() {
  local name=$1 value=$2
  if [[ $value == *$'\n'* ]]; then
    local delimiter
    delimiter="EOF_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s<<%s\n%s\n%s\n' "$name" "$delimiter" "$value" "$delimiter" >>"$GITHUB_OUTPUT"
  else
    printf '%s=%s\n' "$name" "$value" >>"$GITHUB_OUTPUT"
  fi
}

# Prints untrusted text (container logs) so it cannot issue workflow commands.
print_untrusted() {
  local token
  token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '::stop-commands::%s\n' "$token"
  cat
  printf '::%s::\n' "$token"
}

# The compose command of the project under test, its test profile active.
compose() {
  docker compose --project-name "$COMPOSE_PROJECT" --file "$COMPOSE_FILE" --profile "$TEST_PROFILE" "$@"
}
