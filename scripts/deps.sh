#!/usr/bin/env bash
# Installs the Debian 12 packages snibind needs. Idempotent and quiet when all is present.
# Each list is what a bare Debian 12 (debootstrap --variant=minbase) lacks for that job;
# scripts/check-deps.sh fails CI when the build uses a package that no list names or pulls in,
# and scripts/fresh-check.sh runs the README's two commands on such a bare root.
#   scripts/deps.sh build    what `snibind` needs to build and run
#   scripts/deps.sh lab      + what the commands scripts/run-lab.sh prints need (curl)
#   scripts/deps.sh test     + what the test suite needs (clang for the fuzzers, real clients,
#                            Chromium and Node for the console's browser test; `npm ci` then
#                            installs playwright-core into tests/browser, see scripts/test.sh;
#                            BoringSSL, on which the suite runs a second time)
#   scripts/deps.sh capture  + the real clients that tests/data/clienthello is captured from
#   scripts/deps.sh bench    + the peers bench/compare.sh measures (HAProxy, nginx with the
#                            stream module, sniproxy; their services are not started) and
#                            BoringSSL for bench/tls_bakeoff.cpp and `compare.sh --tls boringssl`
#   scripts/deps.sh --list JOB   prints JOB's packages, one a line, and installs nothing
set -euo pipefail
build=(cmake ninja-build g++ pkg-config libboost1.81-dev libssl-dev openssl node-llhttp liburcu-dev liburing-dev
       libabsl-dev libcli11-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev
       libidn2-dev libxml2-dev libgtest-dev libgmock-dev libbenchmark-dev)
lab=(curl)
test=(clang libclang-rt-14-dev curl python3 chromium android-libboringssl-dev)
capture=(gnutls-bin default-jre-headless)
bench=(haproxy nginx libnginx-mod-stream sniproxy python3 android-libboringssl-dev strace)
want=("${build[@]}")
# Node and npm for the browser test: Debian's packages, unless a node with npm is already there
# (a NodeSource nodejs ships npm itself and conflicts with Debian's npm package).
node_pkgs=()
command -v node >/dev/null || node_pkgs+=(nodejs)
command -v npm >/dev/null || node_pkgs+=(npm)
list_only=0
if [ "${1:-}" = "--list" ]; then list_only=1; shift; fi
case "${1:-build}" in
  build) ;;
  lab) want+=("${lab[@]}") ;;
  test) want+=("${test[@]}" "${node_pkgs[@]}") ;;
  capture) want+=("${test[@]}" "${node_pkgs[@]}" "${capture[@]}") ;;
  bench) want+=("${bench[@]}") ;;
  *) echo "usage: $0 [--list] build|lab|test|capture|bench" >&2; exit 2 ;;
esac
if [ "$list_only" -eq 1 ]; then printf '%s\n' "${want[@]}"; exit 0; fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# Packages with a service (nginx, haproxy, sniproxy) would start it on install, listening on
# every address; invoke-rc.d asks policy-rc.d first, and 101 means "do not start".
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  trap '$sudo rm -f "$policy"' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
