#!/usr/bin/env bash
# Builds snibind and runs the lab demonstration on the built-in lab store (config/sslcert.txt):
# the same store, three connections, three different HTTP.sys decisions, each explained.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target snibind
bin=build/release/src/snibind
store=config/sslcert.txt

show() {
  echo "\$ snibind $*"
  "$bin" "$@"
  echo
}
show netsh http show sslcert --store "$store"
show explain --store "$store" --dst 127.0.0.1:8443 --sni sitev2.mysite.com
show explain --store "$store" --dst 127.0.0.1:8443 --sni sitev1.mysite.com
show explain --store "$store" --dst 127.0.0.2:8443
show explain --store "$store" --dst 127.0.0.2:8443 --sni sitev2.mysite.com --precedence ip-first
show explain --store "$store" --dst 127.0.0.1:8443 --sni sitev2.mysite.com --profile windows-2008r2
show hello tests/data/clienthello/chromium.bin
