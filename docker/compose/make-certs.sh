#!/usr/bin/env bash
# Certificates for the compose lab: a CA and one certificate per legacy server (openssl CLI).
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p certs
../../scripts/lab-certs.sh certs >/dev/null
for name in legacy1 legacy2; do
  [ -f "certs/$name.pem" ] && continue
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name.lab" \
    -keyout "certs/$name.key" -out "certs/$name.csr" 2>/dev/null
  openssl x509 -req -in "certs/$name.csr" -CA certs/ca.pem -CAkey certs/ca.key -days 825 \
    -extfile <(printf "subjectAltName=DNS:%s.lab" "$name") -out "certs/$name.crt" 2>/dev/null
  cat "certs/$name.crt" certs/ca.pem "certs/$name.key" > "certs/$name.pem"
  rm -f "certs/$name.csr" "certs/$name.crt" "certs/$name.key"
  echo "created certs/$name.pem"
done
