#!/usr/bin/env bash
# Makes (once) a throw-away test CA and a certificate for the stand-in Docker Hub and GHCR that the tests
# run on 127.0.0.1:443 under the real host names, plus a bundle of the system CAs and the test CA for
# dockerd's SSL_CERT_FILE. Prints the bundle's path. Usage: test-ca.sh DIR
# Nothing here touches the system's trust store: only dockerd started with the bundle trusts the test CA.
set -euo pipefail

dir=${1:?usage: test-ca.sh DIR}
system_bundle=/etc/ssl/certs/ca-certificates.crt
# The names the stand-in answers for (the tests point them at 127.0.0.1 through a hosts entry).
hub_names=(registry-1.docker.io index.docker.io docker.io ghcr.io)
mkdir -p "$dir"
cd "$dir"

if [ ! -s ca.crt ] || [ ! -s ca.key ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tracker-ci test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.crt 2>/dev/null
  rm -f hub.crt
fi
if [ ! -s hub.crt ] || [ ! -s hub.key ]; then
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$(printf 'DNS:%s,' "${hub_names[@]}" | sed 's/,$//')" >hub.ext
  openssl req -newkey rsa:2048 -nodes -subj "/CN=${hub_names[0]}" -keyout hub.key -out hub.csr 2>/dev/null
  openssl x509 -req -in hub.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile hub.ext \
    -out hub.crt 2>/dev/null
  rm -f hub.csr
fi
chmod 600 ca.key hub.key
cat "$system_bundle" ca.crt >bundle.crt.partial
mv bundle.crt.partial bundle.crt
printf '%s\n' "$dir/bundle.crt"
