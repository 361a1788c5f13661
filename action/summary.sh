#!/usr/bin/env bash
# "Write the job summary", the last step, always: a job summary of what was tested and what was pushed.
set -euo pipefail
: "${TEST_OUTCOME?}" "${PUSH_OUTCOME?}" "${E2E_EXIT_CODE?}" "${FAILING_SERVICE?}" "${IMAGE_ID?}"
: "${PUSHED?}" "${REFS?}" "${DIGEST?}" "${PUSH_DECISION?}" "${LOGIN_OUTCOME?}" "${CACHE_REF?}" "${WRITE_CACHE?}"
: "${CACHE_KIND?}" "${SIGNED?}" "${SIGN_OUTCOME?}" "${TESTED_PLATFORMS?}" "${ATTEST?}" "${PUSH_BY_DIGEST?}"

if [ "$TEST_OUTCOME" = success ] && [ "$LOGIN_OUTCOME" != failure ] && [ "$PUSH_OUTCOME" != failure ] &&
  [ "$SIGN_OUTCOME" != failure ]; then
  result="passed"
else
  result="failed"
fi
{
  printf '### tracker-ci: %s\n\n' "$result"
  printf '| | |\n| --- | --- |\n'
  printf '| end-to-end tests | %s (exit code %s) |\n' "$TEST_OUTCOME" "${E2E_EXIT_CODE:-none}"
  [ -z "$FAILING_SERVICE" ] || printf '| failing service | %s |\n' "\`$FAILING_SERVICE\`"
  printf '| tested image | %s |\n' "\`${IMAGE_ID:-none}\`"
  printf '| platforms tested end to end | %s |\n' "${TESTED_PLATFORMS:-none}"
  if [ "$PUSHED" = true ] && [ "$PUSH_BY_DIGEST" = true ]; then
    printf '| pushed | by digest alone, no tag: the merge action tags and signs the index |\n'
    printf '| digest | %s |\n' "\`$DIGEST\`"
  elif [ "$PUSHED" = true ]; then
    while IFS= read -r ref; do printf '| pushed | %s |\n' "\`$ref\`"; done <<<"$REFS"
    printf '| digest | %s |\n' "\`$DIGEST\`"
    if [ "$ATTEST" = true ]; then
      printf '| provenance | SLSA provenance attestation in the pushed index |\n'
    else
      printf '| provenance | none: the classic image store cannot hold an attestation |\n'
    fi
    case "$SIGNED:$SIGN_OUTCOME" in
      true:*) signature="cosign, with cosign-key" ;;
      *:failure) signature="none: signing failed" ;;
      *) signature="none (no cosign-key)" ;;
    esac
    printf '| signature | %s |\n' "$signature"
  elif [ "$PUSH_DECISION" != true ]; then
    printf '| pushed | no: not a push to the default branch, or push: false |\n'
  elif [ "$LOGIN_OUTCOME" = failure ]; then
    printf '| pushed | no: the login failed |\n'
  elif [ "$TEST_OUTCOME" != success ]; then
    printf '| pushed | no: the tests did not pass |\n'
  else
    printf '| pushed | no: the push failed |\n'
  fi
  if [ -z "$CACHE_REF" ]; then
    printf '| layer cache | none (no image, or cache: false) |\n'
  else
    # An inline cache goes out with the tested image; a registry cache is written by the build itself.
    written="not written"
    if [ "$WRITE_CACHE" = true ]; then
      case "$CACHE_KIND" in
        inline) [ "$PUSHED" != true ] || written="written (inline cache of the tested test image)" ;;
        registry) [ -z "$IMAGE_ID" ] || written="written by the build (registry cache, every stage)" ;;
      esac
    fi
    printf '| layer cache | read from %s; %s |\n' "\`$CACHE_REF\`" "$written"
  fi
} >>"$GITHUB_STEP_SUMMARY"
