#!/usr/bin/env bash
# "Sign the pushed image" (only when this run pushes and has a cosign key): signs the pushed digest -- the index,
# where the image is one -- with cosign and the key, as login.sh's Docker config allows, and stores the signature in
# the registry beside the image. No transparency log: the key is the trust root, and the signature can be checked
# offline with the public key (`cosign verify --key cosign.pub --insecure-ignore-tlog=true IMAGE`). Output: signed.
# This step handles the private key and its password: never trace them, even when a caller turned tracing on.
set +x
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${IMAGE:?}" "${DIGEST:?}" "${DOCKER_CONFIG:?}" "${COSIGN_PRIVATE_KEY:?}" "${COSIGN_PASSWORD?}"
export DOCKER_CONFIG COSIGN_PASSWORD

group "Sign $IMAGE@$DIGEST"
# cosign reads the key from the environment (env://), never from an argument list or a file.
if ! cosign sign --yes --key env://COSIGN_PRIVATE_KEY --use-signing-config=false --tlog-upload=false \
  "$IMAGE@$DIGEST" 2>&1 | print_untrusted; then
  endgroup
  error "signing $IMAGE@$DIGEST failed: check the cosign-key and cosign-password inputs"
  exit 1
fi
endgroup
set_output signed true
echo "Signed $IMAGE@$DIGEST"
