#!/usr/bin/env bash
# Helpers and constants shared by the step scripts of both actions. Sourced, never run.
# shellcheck disable=SC2034 # the constants are read by the scripts that source this file

# Folds a block of the log under a title.
group() { printf '::group::%s\n' "$1"; }
endgroup() { printf '::endgroup::\n'; }

# An annotation (error or warning); %, CR and LF are escaped as the workflow-command format requires, so
# a message that quotes an input can neither end the annotation early nor start another command.
annotate() {
  local level=$1 message="${*:2}"
  message=${message//'%'/%25}
  message=${message//$'\r'/%0D}
  message=${message//$'\n'/%0A}
  printf '::%s::%s\n' "$level" "$message"
}
error() { annotate error "$@"; }
warning() { annotate warning "$@"; }

# Prints BYTES random bytes as hex, for delimiters, tokens, names and throwaway secrets.
# Usage: random_hex BYTES
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# Writes a step output; a value with a newline goes between random delimiters.
set_output() {
  local name=$1 value=$2
  if [[ $value == *$'\n'* ]]; then
    local delimiter
    delimiter="EOF_$(random_hex 8)"
    printf '%s<<%s\n%s\n%s\n' "$name" "$delimiter" "$value" "$delimiter" >>"$GITHUB_OUTPUT"
  else
    printf '%s=%s\n' "$name" "$value" >>"$GITHUB_OUTPUT"
  fi
}

# Prints the items of a list read from stdin, one per line: each trimmed of surrounding white space, empty ones
# dropped.
list_items() { sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | grep -v '^$' || true; }

# Prints untrusted text (container logs, build and test output) so it cannot issue workflow commands.
print_untrusted() {
  local token
  token=$(random_hex 16)
  printf '::stop-commands::%s\n' "$token"
  cat
  printf '::%s::\n' "$token"
}

# Makes a new file (or, with -d, a folder) in the runner's temporary folder, the system's where there is none, and
# prints its path; NAME ends in XXXXXX, which mktemp fills in.
# Usage: temp_path [MKTEMP_OPTION...] NAME
temp_path() {
  mktemp "${@:1:$#-1}" "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/${*: -1}"
}

# Prints the image store of the engine that answers: containerd or classic. The one check of it: validate.sh's, the
# bootstrap's (which sources this file) and the tests' (testkit/harness.py runs it).
# (No pipe into grep -q: under pipefail, grep's early exit can kill docker info with SIGPIPE and fail the check.)
engine_image_store() {
  local driver_status
  driver_status=$(docker info --format '{{json .DriverStatus}}' || true)
  if [[ $driver_status == *io.containerd.snapshotter* ]]; then
    echo containerd
  else
    echo classic
  fi
}

# An image name in full, as Docker resolves it: docker.io/ for names without a registry host,
# docker.io/library/ for Docker Hub's one-component names. Docker prints the short form, so names are
# compared only in this form.
qualified_name() {
  local name=$1 domain=${1%%/*}
  if [[ $name != */* ]] || [[ $domain != *[.:]* && $domain != localhost ]]; then
    name=docker.io/$name
  fi
  if [[ $name == docker.io/* && ${name#docker.io/} != */* ]]; then
    name=docker.io/library/${name#docker.io/}
  fi
  printf '%s\n' "$name"
}

# What an input must look like, for the action and the merge action alike.
readonly image_name_pattern='^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$'
readonly registry_pattern='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?$'
readonly tag_pattern='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
readonly platform_pattern='^[a-z0-9]+/[a-z0-9_]+(/v[0-9]+)?$'
# The publishing rule, for the action's push (auto and true) and the merge action alike: the events that may publish
# at all, those that run the repository's own code at a maintainer's word or on a schedule; any other
# (pull_request, pull_request_target, issue_comment, workflow_run, ...) never does.
readonly publishing_events=(push workflow_dispatch schedule release)
# A release tag: vX.Y.Z (the v optional), a prerelease (-rc.1) and build metadata (+build.5) allowed.
readonly semver_pattern='^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'

# Whether an event may publish (the exit status): one of publishing_events.
# Usage: publishes_on EVENT
publishes_on() {
  local event
  for event in "${publishing_events[@]}"; do
    [ "$event" != "$1" ] || return 0
  done
  return 1
}

# Whether a git ref is the default branch (the exit status); with the default branch unknown, no ref is.
# Usage: is_default_branch GIT_REF DEFAULT_BRANCH
is_default_branch() {
  [ -n "$2" ] && [ "$1" = "refs/heads/$2" ]
}

# Whether push: auto publishes a run (the exit status): of the events that may publish, only a push, and only of the
# default branch or of a git tag.
# Usage: auto_publishes EVENT GIT_REF DEFAULT_BRANCH
auto_publishes() {
  local event=$1 git_ref=$2 default_branch=$3
  publishes_on "$event" && [ "$event" = push ] || return 1
  [[ $git_ref == refs/tags/* ]] || is_default_branch "$git_ref" "$default_branch"
}

# The registry host as the action names it once validated: lower-cased, index.docker.io read as docker.io.
normalised_registry() {
  local registry=${1,,}
  [ "$registry" != index.docker.io ] || registry=docker.io
  printf '%s\n' "$registry"
}

# Prints one problem with the inputs, ended by a NUL byte: a message may hold any other character, a line break
# from a hostile input included, and is read back whole (`read -d ''`, `mapfile -d ''`) to be reported by `error`.
# Usage: report_problem MESSAGE...
report_problem() { printf '%s\0' "$*"; }

# Reports what is wrong with a registry input, normalised then as given (nothing for a registry host). Docker reads
# a first name component without a dot or a port (but localhost) as a Docker Hub user, not as a host.
# Usage: registry_problems NORMALISED GIVEN
registry_problems() {
  local registry=$1 given=$2
  if [[ ! $registry =~ $registry_pattern ]]; then
    report_problem "registry '$given' is not a host name with an optional :port"
  elif [[ $registry != *[.:]* && $registry != localhost ]]; then
    report_problem "registry '$given' is no host to Docker, which would push to Docker Hub: give its full name or" \
      "host:port (e.g. $registry.example.com or $registry:5000)"
  fi
}

# Reports what is wrong with an image input, lower-cased then as given (nothing for a repository name).
# Usage: image_problems LOWER_CASED GIVEN
image_problems() {
  local image_name=$1 given=$2 domain=${1%%/*}
  if [[ ! $image_name =~ $image_name_pattern ]]; then
    report_problem "image '$given' is not a valid repository name (e.g. user/page-tracker)"
  elif [[ $image_name == */* && ($domain == *[.:]* || $domain == localhost) ]]; then
    report_problem "image '$given' starts with a registry host: give the host in registry and the image without it" \
      "(${image_name#*/})"
  fi
}

# Reports what is wrong with a cosign-key input (nothing for a cosign private key with cosign installed); the key
# itself is never printed.
cosign_key_problems() {
  grep -qE '^-----BEGIN ENCRYPTED (SIGSTORE|COSIGN) PRIVATE KEY-----$' <<<"$1" ||
    report_problem "cosign-key is not a cosign private key (the contents of cosign.key from cosign generate-key-pair)"
  command -v cosign >/dev/null ||
    report_problem "cosign-key is given but cosign is not installed: run sigstore/cosign-installer before this action"
}

# Prints the version a git ref releases: X.Y.Z for a tag vX.Y.Z (the v optional), its prerelease and build metadata
# included; nothing for a branch. Fails, printing nothing, for a git tag that is not a release version.
# Usage: release_version GIT_REF
release_version() {
  [[ $1 == refs/tags/* ]] || return 0
  local git_tag=${1#refs/tags/}
  [[ $git_tag =~ $semver_pattern ]] || return 1
  printf '%s\n' "${git_tag#v}"
}

# Prints the tags a publishing run of a git ref pushes, one per line: the commit SHA; latest on the default branch
# (a tag, a release or another branch never moves it); for a release tag vX.Y.Z also X.Y.Z, X.Y and X, for a
# prerelease or a build only its version (a Docker tag cannot hold +, so build metadata is joined with _).
# Fails, printing nothing, for a git tag that is not a release version.
# Usage: publish_tags GIT_REF DEFAULT_BRANCH COMMIT_SHA
publish_tags() {
  local git_ref=$1 default_branch=$2 commit_sha=$3 version
  version=$(release_version "$git_ref") || return 1
  printf '%s\n' "$commit_sha"
  if is_default_branch "$git_ref" "$default_branch"; then
    echo latest
  fi
  if [ -n "$version" ]; then
    printf '%s\n' "${version//+/_}"
    if [[ $version =~ ^([0-9]+)\.([0-9]+)\.[0-9]+$ ]]; then
      printf '%s\n' "${BASH_REMATCH[1]}.${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
    fi
  fi
}

# Links the CLI plugins (Compose, buildx) that the docker CLI finds under the current Docker config into the
# cli-plugins folder of another config, so that `docker compose` still works under that one. tests/conftest.py
# makes the suite's private configs with it too.
link_cli_plugins() {
  local config=$1 plugins plugin
  plugins=$(docker info --format '{{range .ClientInfo.Plugins}}{{println .Path}}{{end}}' 2>/dev/null || true)
  mkdir -p "$config/cli-plugins"
  while IFS= read -r plugin; do
    if [ -n "$plugin" ]; then
      ln -s "$plugin" "$config/cli-plugins/"
    fi
  done <<<"$plugins"
}
