#!/usr/bin/env bash
# snibind side by side with HAProxy, nginx and sniproxy (issue 4), on this machine, in one run.
#
#   bench/compare.sh [--rounds N] [--duration 10s] [--warmup 2s] [--scenarios 1,2,3,4,5]
#                    [--idle N] [--syscall-connections N] [--tls openssl|boringssl]
#                    [--threads N] [--out DIR]
#
# --tls picks the TLS stack of the snibind server measured (README "Choosing the TLS stack"):
# openssl (the default, build/release) or boringssl (build/boringssl). The peers always use the
# system's OpenSSL 3, and the load generator is always the OpenSSL build, so that only the
# server differs between two runs.
#
# --threads N (default 1) runs each server that can on N threads or processes (snibind
# --threads, HAProxy nbthread, nginx worker_processes) on cores 0..N-1; sniproxy and the floor
# program have one thread and are left out of scenario 1 then. On this 2-core machine --threads 2
# shares core 1 with the load and the backend: the figures say how the servers scale against
# each other, not what two free cores would give (that is the 16-core device run).
#
# Installs the peers from Debian (scripts/deps.sh bench; their services are not started), builds
# snibind and the bench backend, writes equivalent configurations for every server (same
# certificates, same names, same backend, no access log, one thread/process), then runs the same
# `snibind load` against each, alternating servers within each round, and prints medians and
# ratios. The server runs on core 0, the load generator and the backend on core 1; server CPU
# is read from /proc (--server-pid), which is the fairest figure on a 2-core machine.
#
# Scenarios (bench/README.md has the table of the last run):
#   1 forward: route by SNI to a backend that answers 64 bytes and closes (hello mode)
#   2 terminate ECDSA P-256, TLS 1.3, full handshake, one HTTP request to a keep-alive backend
#   3 the same, resumed (TLS 1.3 ticket)
#   4 the same as 2 with RSA-2048
#   5 1 000 000 records: startup time and memory, then scenario 1 with names drawn from all of
#     them (peer: HAProxy with a map of 1 000 000 names)
#   6 system calls per forwarded connection: each forwarder under `strace -c -f` for a fixed
#     --syscall-connections (2000) connections, calls per connection by name
# and for 1 and 2: server memory with --idle (10 000) idle connections.
# Scenarios 1 and 6 also run the floor (bench/floor_forwarder.c): the smallest correct
# forwarder the kernel allows, no SNI, one fixed backend; every forwarder's distance to it is
# what its own design costs.
# Only 127.0.0.1 is used. Everything started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

rounds=3 duration=10s warmup=2s scenarios=1,2,3,4,5,6 idle=10000 out=/tmp/snibind-compare
syscall_connections=2000 tls=openssl threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --syscall-connections) syscall_connections=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --tls) tls=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
want() { [[ ",$scenarios," == *",$1,"* ]]; }
case "$threads" in ''|*[!0-9]*|0) echo "compare.sh: --threads wants a positive number" >&2; exit 2 ;; esac
server_cpus=0-$((threads - 1))
[ "$threads" = 1 ] && server_cpus=0

scripts/deps.sh bench
scripts/build.sh release snibind bench_backend floor_forwarder >/dev/null
snibind=$repo/build/release/src/snibind   # the load generator, and the server on OpenSSL
case "$tls" in
  openssl) server_bin=$snibind ;;
  boringssl)
    scripts/build.sh boringssl snibind >/dev/null
    server_bin=$repo/build/boringssl/src/snibind ;;
  *) echo "compare.sh: --tls is openssl or boringssl, not '$tls'" >&2; exit 2 ;;
esac
backend_bin=$repo/build/release/bench/bench_backend
floor_bin=$repo/build/release/bench/floor_forwarder

port=19443                                   # every server listens here, one at a time
reply_port=19000 http_port=19001 silent_port=19002
names=(a.bench.test b.bench.test c.bench.test)
appid="{5e1b0000-0000-4000-8000-00000000be7c}"
rm -rf "$out"
mkdir -p "$out/conf" "$out/raw" "$out/log"
conf=$out/conf

# ---- processes --------------------------------------------------------------------------------
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# Connects until something accepts on the port (or 60 s pass).
wait_port() {
  local deadline=$((SECONDS + 60))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "compare.sh: nothing listens on port $1" >&2; return 1; }
    sleep 0.05
  done
}

# Each server runs as one single-threaded process in the foreground, so its PID is the one to
# charge (--server-pid) and to stop.
server=""
start_server() {  # PEER CONFIG
  local peer=$1 cfg=$2 log="$out/log/$1.log"
  case "$peer" in
    snibind) taskset -c "$server_cpus" "$server_bin" serve "$cfg" --threads "$threads" >>"$log" 2>&1 & ;;
    haproxy) taskset -c "$server_cpus" haproxy -db -f "$cfg" >>"$log" 2>&1 & ;;
    nginx) taskset -c "$server_cpus" nginx -c "$cfg" -e "$out/log/nginx-error.log" >>"$log" 2>&1 & ;;
    sniproxy) taskset -c "$server_cpus" sniproxy -f -c "$cfg" >>"$log" 2>&1 & ;;
    floor) taskset -c "$server_cpus" "$floor_bin" "127.0.0.1:$port" "$(cat "$cfg")" >>"$log" 2>&1 & ;;
  esac
  server=$!
  pids+=("$server")
  wait_port "$port"
}
stop_server() {
  kill -TERM "$server" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  # The next server binds the same port: wait until nothing answers there any more.
  local deadline=$((SECONDS + 30))
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "compare.sh: port $port is still taken" >&2; return 1; }
    sleep 0.05
  done
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

start_backend() {  # MODE PORT
  taskset -c 1 "$backend_bin" "127.0.0.1:$2" "$1" 64 >>"$out/log/backend.log" 2>&1 &
  pids+=("$!")
  wait_port "$2"
}

# The load generator runs as worker processes, one per core it is given (issue 14): here
# `taskset -c 1` gives it one core, so one worker; the JSON also holds its own CPU per connection
# (load_cpu), next to the server's.
load() {  # FILE ARGS...: one measured run, its JSON kept
  local file=$1; shift
  taskset -c 1 "$snibind" load --target "127.0.0.1:$port" --server-pid "$server" --json "$@" \
    >"$out/raw/$file.json" 2>>"$out/log/load.log"
}

# A forwarded connection holds two descriptors in the server (HAProxy reserves two per
# connection even when terminating), so the open-file hard limit caps the idle count for all.
fd_limit=$(ulimit -Hn)
ulimit -n "$fd_limit"
maxconn=$(((fd_limit - 200) / 2))
if [ "$idle" -gt "$maxconn" ]; then
  echo "compare.sh: the open-file limit is $fd_limit, so $maxconn idle connections, not $idle" >&2
  idle=$maxconn
fi

# ---- certificates and configurations ---------------------------------------------------------
san=$(printf 'DNS:%s,' "${names[@]}"); san=${san%,}
for kind in ecdsa rsa; do
  if [ $kind = ecdsa ]; then key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256); else key=(-newkey rsa:2048); fi
  openssl req -x509 "${key[@]}" -nodes -days 30 -subj "/CN=${names[0]}" -addext "subjectAltName=$san" \
    -keyout "$conf/$kind.key" -out "$conf/$kind.crt" 2>/dev/null
  cat "$conf/$kind.crt" "$conf/$kind.key" >"$conf/$kind.pem"
done
thumb() { openssl x509 -in "$conf/$1.crt" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g'; }

# A store of N host records n0.bench.test..., all of one application (scenario 5), plus the
# `names` for scenarios 1-4.
write_store() {  # FILE N
  python3 - "$1" "$2" "$(thumb ecdsa)" "$appid" "$port" "${names[@]}" <<'EOF'
import sys
path, n, thumb, app, port, *names = sys.argv[1:]
with open(path, "w") as f:
    f.write("\nSSL Certificate bindings:\n-------------------------\n\n")
    for name in names + [f"n{i}.bench.test" for i in range(int(n))]:
        f.write(f"    Hostname:port                : {name}:{port}\n"
                f"    Certificate Hash             : {thumb}\n"
                f"    Application ID               : {app}\n"
                f"    Certificate Store Name       : My\n\n")
EOF
}

# snibind: forwarded names come from the store through `applications:`, as a hosting front end
# would keep them; terminated names are `records:` with their certificate and one IIS-style site.
snibind_forward() {  # FILE BACKEND_PORT [STORE]
  cat >"$1" <<EOF
listen: ["127.0.0.1:$port"]
admin: off
access_log: off
store: ${3:-$conf/store-3.txt}
limits: { max_connections: $maxconn }
applications:
  "$appid": { action: forward, backend: "127.0.0.1:$2" }
EOF
}
snibind_terminate() {  # FILE KIND
  {
    echo "listen: [\"127.0.0.1:$port\"]"
    echo "admin: off"
    echo "access_log: off"
    echo "limits: { max_connections: $maxconn }"
    echo "records:"
    for n in "${names[@]}"; do echo "  \"hostnameport=$n:$port\": { certificate: $conf/$2.pem }"; done
    echo "sites:"
    echo "  - name: bench"
    echo "    bindings: [\"https/*:$port:\"]"
    echo "    backend: \"http://127.0.0.1:$http_port\""
  } >"$1"
}
haproxy_global() {
  cat <<EOF
global
  nbthread $threads
  maxconn $maxconn
  tune.ssl.default-dh-param 2048
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
EOF
}
haproxy_forward() {  # FILE BACKEND_PORT [MAP]
  {
    haproxy_global
    echo "frontend fe"
    echo "  mode tcp"
    echo "  bind 127.0.0.1:$port"
    echo "  tcp-request inspect-delay 5s"
    echo "  tcp-request content accept if { req_ssl_hello_type 1 }"
    if [ -n "${3:-}" ]; then
      echo "  use_backend %[req_ssl_sni,lower,map($3)]"
    else
      echo "  use_backend be if { req_ssl_sni -i ${names[*]} }"
    fi
    echo "backend be"
    echo "  mode tcp"
    echo "  server s1 127.0.0.1:$2"
  } >"$1"
}
haproxy_terminate() {  # FILE KIND
  {
    haproxy_global
    echo "frontend fe"
    echo "  mode http"
    echo "  bind 127.0.0.1:$port ssl crt $conf/$2.pem alpn http/1.1"
    echo "  default_backend be"
    echo "backend be"
    echo "  mode http"
    echo "  http-reuse always"
    echo "  server s1 127.0.0.1:$http_port"
  } >"$1"
}
nginx_head() {
  cat <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process $([ "$threads" = 1 ] && echo off || echo on);
worker_processes $threads;
worker_rlimit_nofile $fd_limit;
pid $out/nginx.pid;
error_log $out/log/nginx-error.log;
events { worker_connections $fd_limit; }
EOF
}
nginx_forward() {  # FILE BACKEND_PORT
  {
    nginx_head
    echo "stream {"
    echo "  map \$ssl_preread_server_name \$upstream {"
    for n in "${names[@]}"; do echo "    $n 127.0.0.1:$2;"; done
    echo "  }"
    echo "  server { listen 127.0.0.1:$port; ssl_preread on; proxy_pass \$upstream; }"
    echo "}"
  } >"$1"
}
nginx_terminate() {  # FILE KIND
  {
    nginx_head
    cat <<EOF
http {
  access_log off;
  upstream be { server 127.0.0.1:$http_port; keepalive 32; }
  server {
    listen 127.0.0.1:$port ssl;
    server_name ${names[*]};
    ssl_certificate $conf/$2.crt;
    ssl_certificate_key $conf/$2.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
  } >"$1"
}
sniproxy_forward() {  # FILE BACKEND_PORT
  {
    echo "user nobody"
    echo "pidfile $out/sniproxy.pid"
    echo "error_log { filename $out/log/sniproxy-error.log }"
    echo "listener 127.0.0.1:$port { protocol tls; table bench }"
    echo "table bench {"
    for n in "${names[@]}"; do echo "  $n 127.0.0.1:$2"; done
    echo "}"
  } >"$1"
}

# The floor's whole configuration: its one backend.
floor_forward() { echo "127.0.0.1:$2" >"$1"; }  # FILE BACKEND_PORT

# Where PEER's configuration for SETUP lives (snibind's is YAML).
config() { local ext=cfg; [ "$1" = snibind ] && ext=yaml; echo "$conf/$1-$2.$ext"; }

write_store "$conf/store-3.txt" 0
for p in snibind haproxy nginx sniproxy floor; do
  "${p}_forward" "$(config $p forward)" "$reply_port"
  "${p}_forward" "$(config $p idle)" "$silent_port"
done
for kind in ecdsa rsa; do
  for p in snibind haproxy nginx; do "${p}_terminate" "$(config $p $kind)" "$kind"; done
done

start_backend reply "$reply_port"
start_backend http "$http_port"
start_backend silent "$silent_port"

name_args=(); for n in "${names[@]}"; do name_args+=(--name "$n"); done
timing=(-d "$duration" --warmup "$warmup")

# ---- runs -------------------------------------------------------------------------------------
# One scenario: every round runs every peer once, in a rotating order.
scenario() {  # ID CONFIG-SUFFIX "PEERS" LOAD-ARGS...
  local id=$1 suffix=$2; local -a peers=($3); shift 3
  for round in $(seq "$rounds"); do
    local n=${#peers[@]}
    for i in $(seq 0 $((n - 1))); do
      local peer=${peers[$(((i + round) % n))]}
      echo "scenario $id, round $round/$rounds: $peer" >&2
      start_server "$peer" "$(config "$peer" "$suffix")"
      load "s$id-$peer-r$round" "$@"
      stop_server
    done
  done
}
idle_memory() {  # ID COUNT CONFIG-SUFFIX "PEERS" LOAD-ARGS...
  local id=$1 count=$2 suffix=$3; local -a peers=($4); shift 4
  for peer in "${peers[@]}"; do
    echo "scenario $id: $count idle connections to $peer" >&2
    start_server "$peer" "$(config "$peer" "$suffix")"
    load "idle$id-$peer" -c "$count" --hold -d 10s --timeout 30s "$@"
    stop_server
  done
}


if want 1; then
  forwarders="snibind haproxy nginx sniproxy floor"
  [ "$threads" = 1 ] || forwarders="snibind haproxy nginx"  # sniproxy and the floor: 1 thread
  scenario 1 forward "$forwarders" --mode hello -c 32 "${name_args[@]}" "${timing[@]}"
  idle_memory 1 "$idle" idle "snibind haproxy nginx sniproxy floor" --mode hello "${name_args[@]}"
fi
if want 2; then
  scenario 2 ecdsa "snibind haproxy nginx" --mode request --tls 1.3 -c 16 "${name_args[@]}" "${timing[@]}"
  idle_memory 2 "$idle" ecdsa "snibind haproxy nginx" --mode handshake --tls 1.3 "${name_args[@]}"
fi
if want 3; then
  scenario 3 ecdsa "snibind haproxy nginx" --mode request --resume --tls 1.3 -c 16 "${name_args[@]}" "${timing[@]}"
fi
if want 4; then
  scenario 4 rsa "snibind haproxy nginx" --mode request --tls 1.3 -c 16 "${name_args[@]}" "${timing[@]}"
fi
if want 5; then
  echo "scenario 5: writing 1 000 000 records" >&2
  write_store "$conf/store-1m.txt" 1000000
  python3 -c "
import sys
with open('$conf/names-1m.txt', 'w') as f, open('$conf/haproxy-1m.map', 'w') as m:
    for i in range(1000000):
        f.write(f'n{i}.bench.test\n'); m.write(f'n{i}.bench.test be\n')"
  snibind_forward "$(config snibind 1m)" "$reply_port" "$conf/store-1m.txt"
  haproxy_forward "$(config haproxy 1m)" "$reply_port" "$conf/haproxy-1m.map"
  for peer in snibind haproxy; do
    for size in forward 1m; do  # startup and memory: 3 names, then 1 000 000
      t0=$(date +%s.%N)
      start_server "$peer" "$(config "$peer" "$size")"
      t1=$(date +%s.%N)
      echo "{\"peer\": \"$peer\", \"size\": \"$size\", \"startup_s\": $(python3 -c "print(round($t1 - $t0, 3))"), \"rss_kib\": $(rss_kib "$server")}" \
        >"$out/raw/startup-$peer-$size.json"
      stop_server
    done
  done
  scenario 5 1m "snibind haproxy" --mode hello -c 32 --names "$conf/names-1m.txt" "${timing[@]}"
fi

if want 6; then
  # strace slows the traced server many times over: these runs count calls, not time.
  for peer in snibind haproxy nginx sniproxy floor; do
    echo "scenario 6: system calls of $peer over $syscall_connections connections" >&2
    start_server "$peer" "$(config "$peer" forward)"
    strace -c -f -qq -o "$out/raw/syscalls-$peer.txt" -p "$server" &
    tracer=$!
    # strace prints nothing when attached; one connection that it must see proves it is.
    for _ in $(seq 100); do
      grep -q "TracerPid:[[:space:]]*[1-9]" "/proc/$server/status" && break; sleep 0.05
    done
    load "syscalls-$peer" --mode hello -c 8 --connections "$syscall_connections" "${name_args[@]}"
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    stop_server
  done
fi

{ echo "snibind measured: $("$server_bin" --version)"
  echo
  python3 "$repo/bench/compare_report.py" "$out"; } | tee "$out/results.md"
