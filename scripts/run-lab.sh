#!/usr/bin/env bash
# The main job on the built-in lab: installs what is missing, builds snibind, creates the lab
# certificates on first run (config/lab-certs/), and serves config/lab.yaml in the foreground:
# two sites on one IP:port, a default 0.0.0.0 record, an SNI record, a wildcard record, a CCS
# folder, and a second loopback address (127.0.0.2) with its own IP record. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh lab  # the build's packages and curl, which the commands printed below use
scripts/build.sh release snibind
scripts/lab-certs.sh config/lab-certs

ca=config/lab-certs/ca.pem
cat <<EOT
Three connections, three HTTP.sys decisions (run them in another terminal):

  # SNI record (L1 step 1): sitev2's own certificate
  curl --cacert $ca --resolve sitev2.mysite.com:8443:127.0.0.1 https://sitev2.mysite.com:8443/
  # no SNI record for sitev1: falls through to 0.0.0.0:8443 (L4), the shared site certificate
  curl --cacert $ca --resolve sitev1.mysite.com:8443:127.0.0.1 https://sitev1.mysite.com:8443/
  # no SNI at all, to 127.0.0.2: the exact IP record (L3, L1 step 4)
  echo | openssl s_client -connect 127.0.0.2:8443 -noservername 2>/dev/null | grep subject

Each answer (and the access log below) says which step decided and which record won.

EOT
exec build/release/src/snibind serve config/lab.yaml
