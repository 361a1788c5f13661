#!/usr/bin/env bash
# "Push the tested image": with login.sh's Docker config, tags the tested image ID -- no rebuild -- with every
# reference, pushes, reads the digest the registry reports and checks that it is the tested image's (failing before
# any signing when it is not); on a run that writes an inline layer cache also pushes it as CACHE_REF, from
# CACHE_IMAGE_ID (test.sh's record of the test image as built, inline cache metadata included), checked alike; a
# registry cache was written by the build. With push-by-digest, pushes the tested image under its digest alone, no
# tag, for the merge action.
# REGISTRY, IMAGE, REFS, PUSH_BY_DIGEST, WRITE_CACHE, CACHE_KIND and CACHE_REF are validate.sh's normalised outputs.
# Outputs: pushed, refs, digest.
# This step handles the registry password (push-by-digest hands it to the engine): never trace it.
set +x
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${REGISTRY:?}" "${IMAGE:?}" "${IMAGE_ID:?}" "${REFS?}" "${PUSH_BY_DIGEST:?}" "${DOCKER_CONFIG:?}" "${WRITE_CACHE:?}"
: "${CACHE_REF?}" "${CACHE_KIND?}" "${CACHE_IMAGE_ID?}" "${USERNAME?}" "${PASSWORD?}"
export DOCKER_CONFIG

# Pushes an image of the engine's containerd store to its repository under its digest alone, byte for byte: its
# index, manifest and provenance attestation as built and tested. The docker CLI refuses a digest reference; the
# engine pushes one it holds under that name. So the image is loaded again under the name <repository>@<digest>
# (docker save keeps every byte), and the Engine API's push of that name puts each manifest by digest, as BuildKit's
# push-by-digest does. The credentials travel in a header file, never on a command line.
# Ref: https://docs.docker.com/reference/api/engine/version/v1.47/#tag/Image/operation/ImagePush
push_by_digest() {
  local repository=$1 digest=$2 registry=$3 username=$4 password=$5 work host api
  work=$(temp_path -d tracker-ci-push.XXXXXX)
  mkdir "$work/layout"
  if ! docker save "$digest" | tar -x -C "$work/layout"; then
    rm -rf "$work"
    error "the engine holds no image $digest to push"
    return 1
  fi
  jq --arg name "$repository@$digest" '.manifests[0].annotations = {"io.containerd.image.name": $name}' \
    "$work/layout/index.json" >"$work/index.json"
  mv "$work/index.json" "$work/layout/index.json"
  tar -C "$work/layout" -c . | docker load --quiet >/dev/null
  rm -rf "$work/layout"

  host=$(docker context inspect --format '{{.Endpoints.docker.Host}}')
  if [[ $host != unix://* ]]; then
    rm -rf "$work"
    error "push-by-digest talks to the engine's API over its socket; this Docker context's engine is $host"
    return 1
  fi
  api=$(docker version --format '{{.Server.APIVersion}}')
  (umask 077 && printf 'X-Registry-Auth: %s\n' "$(AUTH_USERNAME=$username AUTH_PASSWORD=$password \
    jq --null-input --compact-output --arg registry "$registry" \
    '{username: env.AUTH_USERNAME, password: env.AUTH_PASSWORD, serveraddress: $registry}' |
    base64 -w0 | tr '+/' '-_')" >"$work/auth-header")
  local report status=0
  report=$(curl --silent --show-error --fail-with-body --unix-socket "${host#unix://}" --request POST \
    --header @"$work/auth-header" "http://engine/v$api/images/$repository@$digest/push") || status=$?
  rm -rf "$work"
  docker image rm "$repository@$digest" >/dev/null
  jq --raw-output '.status // empty' <<<"$report" | print_untrusted
  if ((status != 0)) || jq --exit-status 'select(.errorDetail)' <<<"$report" >/dev/null; then
    error "pushing $repository@$digest failed: $(jq --raw-output '.errorDetail.message // .message // empty' <<<"$report" | sed -n 1p)"
    return 1
  fi
}

if [ "$PUSH_BY_DIGEST" = true ]; then
  group "Push $IMAGE@$IMAGE_ID by digest"
  push_by_digest "$IMAGE" "$IMAGE_ID" "$REGISTRY" "$USERNAME" "$PASSWORD"
  endgroup
  # The registry's own answer: the pushed index, under the digest the tests ran against.
  docker buildx imagetools inspect --raw "$IMAGE@$IMAGE_ID" >/dev/null
  set_output pushed true
  set_output refs ""
  set_output digest "$IMAGE_ID"
  echo "Pushed the tested image $IMAGE@$IMAGE_ID, no tag"
  exit 0
fi

# Tags IMAGE_ID as REF, pushes it and prints the digest the registry reports for it ("<tag>: digest: sha256:... size:
# N"), never the engine's RepoDigests, which the containerd image store fills when an image is built or tagged, before
# any push; prints nothing when the registry reports none. The push's own report goes to stderr, fenced.
# Usage: tag_and_push IMAGE_ID REF
tag_and_push() {
  local image_id=$1 ref=$2 report tag
  docker tag "$image_id" "$ref"
  report=$(docker push "$ref")
  print_untrusted <<<"$report" >&2
  tag=${ref##*:}
  sed -nE "s/^${tag//./\\.}: digest: (sha256:[0-9a-f]{64}) size: [0-9]+$/\1/p" <<<"$report"
}

# Prints the digest of the engine's own platform's manifest in an image of the containerd store (nothing where the
# engine cannot say: the classic store, or a CLI older than Docker 28.1).
own_platform_manifest() {
  local platform
  platform=$(docker version --format '{{.Server.Os}}/{{.Server.Arch}}')
  docker image inspect --platform "$platform" --format '{{with .Descriptor}}{{.Digest}}{{end}}' "$1" 2>/dev/null || true
}

# Prints what the registry holds under DIGEST in REPOSITORY where it is not the image IMAGE_ID (nothing where it is),
# whatever retagged a reference between the tag and the push (a job of another run on a shared engine, a compose
# service named like the image): on the containerd store the pushed digest is the ID itself, or the manifest of the
# engine's platform in it (an index whose other platforms are not all present goes out as that one manifest); on the
# classic store the ID is the image's config, which the pushed manifest names.
# Usage: pushed_otherwise REPOSITORY DIGEST IMAGE_ID
pushed_otherwise() {
  local repository=$1 digest=$2 image_id=$3 config
  if [ "$digest" = "$image_id" ] || [ "$digest" = "$(own_platform_manifest "$image_id")" ]; then
    return 0
  fi
  config=$(docker buildx imagetools inspect --raw "$repository@$digest" | jq --raw-output '.config.digest // empty')
  [ "$config" = "$image_id" ] || echo "$digest (its config: ${config:-none, an index})"
}

mapfile -t refs <<<"$REFS"
# Every reference names the same image, so the registry must report one digest for all of them.
digest=""
for ref in "${refs[@]}"; do
  group "Push $ref"
  pushed_digest=$(tag_and_push "$IMAGE_ID" "$ref")
  endgroup
  if [ -z "$pushed_digest" ]; then
    error "the registry reported no digest for $ref"
    exit 1
  elif [ -n "$digest" ] && [ "$pushed_digest" != "$digest" ]; then
    error "the registry reported $pushed_digest for $ref but $digest for ${refs[0]}"
    exit 1
  fi
  digest=$pushed_digest
done
other=$(pushed_otherwise "$IMAGE" "$digest" "$IMAGE_ID")
if [ -n "$other" ]; then
  error "the registry holds $other under ${refs[*]}, not the tested image $IMAGE_ID: something retagged it before the push; nothing is signed"
  exit 1
fi
set_output pushed true
set_output refs "$REFS"
set_output digest "$digest"
echo "Pushed $IMAGE_ID as ${refs[*]} ($digest)"

if [ "$WRITE_CACHE" = true ] && [ "$CACHE_KIND" = inline ]; then
  group "Push the layer cache $CACHE_REF"
  # From the test image's ID recorded when it was built (test.sh), and checked as the tested image is: a cache that
  # another image took the name of would feed its layers to every later build. A push that fails only leaves the
  # next run cold: the cache is a speed-up.
  cache_digest=$(tag_and_push "$CACHE_IMAGE_ID" "$CACHE_REF") || true
  endgroup
  if [ -z "$cache_digest" ]; then
    warning "could not push the layer cache $CACHE_REF: the next run builds cold"
  else
    other=$(pushed_otherwise "$IMAGE" "$cache_digest" "$CACHE_IMAGE_ID")
    if [ -n "$other" ]; then
      error "the registry holds $other under $CACHE_REF, not the test image $CACHE_IMAGE_ID whose layers were tested: something retagged it before the push; nothing is signed"
      exit 1
    fi
  fi
fi
