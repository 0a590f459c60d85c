#!/usr/bin/env bash
# Runs the README's two commands on a bare Debian 12, as a new user would: builds a minimal root
# with debootstrap (--variant=minbase: no compiler, no cmake, no git, no curl) from Debian's own
# registry, copies this working tree in (the files git tracks and the untracked ones it does not
# ignore), then inside it:
#   1. scripts/run-lab.sh, until the lab serves; then each command it printed for the user to
#      try, which must succeed and answer (curl: the lab responder's JSON; openssl: a subject);
#   2. scripts/test.sh, the whole suite (CI=true).
# Prints PASS/FAIL per step and exits non-zero when any failed; the logs stay in $ROOT.log/.
# Run it before resolving an issue that changes dependencies. Needs root (debootstrap, chroot,
# mounts) and about 40 minutes on 2 cores, most of it scripts/test.sh.
#   scripts/fresh-check.sh [--lab-only] [--keep] [ROOT]   ROOT defaults to /var/tmp/snibind-fresh
#     --lab-only  step 1 only          --keep  keep ROOT afterwards (it is removed by default)
set -euo pipefail
cd "$(dirname "$0")/.."
lab_only=0 keep=0 root=/var/tmp/snibind-fresh
for a in "$@"; do
  case "$a" in
    --lab-only) lab_only=1 ;;
    --keep) keep=1 ;;
    -*) sed -n '2,15p' "$0" >&2; exit 2 ;;
    *) root="$a" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-check.sh: needs root (debootstrap, chroot)" >&2; exit 2; }
mirror=http://deb.debian.org/debian
logs="$root.log"
tree=/root/snibind

command -v debootstrap >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

unmount_all() {
  # Everything the chroot still runs, then its mounts, deepest first.
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$root" ] && kill -9 "$pid" 2>/dev/null || true
  done
  { grep -o " $root/[^ ]*" /proc/mounts || true; } | sort -r |
    while read -r m; do umount -l "$m" || true; done
}
cleanup() {
  unmount_all
  [ "$keep" -eq 1 ] || rm -rf --one-file-system "$root"
}
trap cleanup EXIT

unmount_all
rm -rf --one-file-system "$root" "$logs"
mkdir -p "$logs"
echo "== fresh-check: debootstrap --variant=minbase bookworm $root (log: $logs/debootstrap.log)"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$logs/debootstrap.log" 2>&1
# What a fresh Debian 12 installation's sources list holds: the release, its updates, security.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A network that inspects TLS (as this workplace's does) signs with a CA of its own, which the
# host trusts through /usr/local/share/ca-certificates. It is the network's, not a package: hand
# it to the root's Node (npm ci reaches the npm registry over TLS). A plain network needs none.
extra_ca=/etc/fresh-check-extra-ca.pem
cat /usr/local/share/ca-certificates/*.crt >"$root$extra_ca" 2>/dev/null || true
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"  # Chromium needs a shared-memory mount

echo "== fresh-check: copying the working tree to $tree"
mkdir -p "$root$tree"
git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$root$tree"

in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 CI=true NODE_EXTRA_CA_CERTS="$extra_ca" bash -c "cd $tree && $1"; }
results=()

echo "== fresh-check: scripts/run-lab.sh (log: $logs/run-lab.log)"
setsid chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 bash -c "cd $tree && exec scripts/run-lab.sh" >"$logs/run-lab.log" 2>&1 &
lab=$!
# The lab prints "serving" once it listens; it first installs and builds (minutes). Bounded.
for _ in $(seq 3600); do
  grep -q "serving" "$logs/run-lab.log" && break
  kill -0 "$lab" 2>/dev/null || break
  sleep 1
done
if grep -q "serving" "$logs/run-lab.log"; then
  results+=("PASS run-lab.sh serves the lab")
  # The commands it printed for the user, run exactly as printed.
  mapfile -t commands < <(grep -E '^  (curl|echo \|)' "$logs/run-lab.log" | sed 's/^  //')
  [ "${#commands[@]}" -gt 0 ] || results+=("FAIL run-lab.sh printed no command to try")
  i=0
  for c in "${commands[@]}"; do
    i=$((i + 1))
    if out=$(in_root "timeout 30 $c" 2>&1) && [ -n "$out" ] &&
       { grep -q '"step"' <<<"$out" || grep -q '^subject' <<<"$out"; }; then
      results+=("PASS printed command $i: $c")
    else
      results+=("FAIL printed command $i: $c")
    fi
    printf '$ %s\n%s\n\n' "$c" "$out" >>"$logs/printed-commands.log"
  done
else
  results+=("FAIL run-lab.sh did not serve (see $logs/run-lab.log)")
fi
kill -- -"$lab" 2>/dev/null || true
wait "$lab" 2>/dev/null || true

if [ "$lab_only" -eq 0 ]; then
  echo "== fresh-check: scripts/test.sh (log: $logs/test.log)"
  if in_root "scripts/test.sh" >"$logs/test.log" 2>&1; then
    results+=("PASS test.sh ($(grep -E 'tests passed' "$logs/test.log" | tr '\n' ';'))")
  else
    results+=("FAIL test.sh (see $logs/test.log)")
  fi
fi

echo "== fresh-check: results (logs in $logs/)"
printf '  %s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q '^FAIL'
