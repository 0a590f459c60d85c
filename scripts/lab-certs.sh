#!/usr/bin/env bash
# Creates the lab's certificates in DIR with the openssl CLI: a CA and the leaf certificates the
# lab store (config/sslcert.txt) and the CCS folder refer to. Idempotent: a file that exists is
# left alone, so thumbprints stay stable across runs. Prints one line per file it creates.
#
#   scripts/lab-certs.sh DIR        (CCS_PASSWORD sets the .pfx password; default "lab")
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
ccs_password=${CCS_PASSWORD:-lab}
mkdir -p "$dir/ccs"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

created() { echo "created $1"; }

# Files are written under a temporary name and renamed, so an interrupted run never leaves a
# half-written file that the next run would take as done.
make_ca() {
  if [[ -e $dir/ca.pem && -e $dir/ca.key ]]; then return; fi
  if [[ -e $dir/ca.pem || -e $dir/ca.key ]]; then
    echo "$0: $dir has only one of ca.pem and ca.key; remove it or restore the other" >&2
    exit 1
  fi
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/ca.key" -out "$work/ca.pem" -days 3650 -subj "/CN=snibind lab CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null
  chmod 600 "$work/ca.key"
  mv "$work/ca.key" "$dir/ca.key" && created "$dir/ca.key"
  mv "$work/ca.pem" "$dir/ca.pem" && created "$dir/ca.pem"
}

# leaf NAME CN SAN: a P-256 key and certificate signed by the CA, in $work/NAME.{key,crt}.
leaf() {
  local name=$1 cn=$2 san=$3
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/$name.key" -out "$work/$name.csr" -subj "/CN=$cn" 2>/dev/null
  cat >"$work/$name.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=$san
EOF
  # A random serial instead of -CAcreateserial: no ca.srl file in DIR.
  openssl x509 -req -in "$work/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 \
    -extfile "$work/$name.ext" -out "$work/$name.crt" 2>/dev/null
}

# pem FILE CN SAN: DIR/FILE holding the leaf, then the CA chain, then the key.
pem() {
  local file=$1 cn=$2 san=$3 name=${1%.pem}
  [[ -e $dir/$file ]] && return
  leaf "$name" "$cn" "$san"
  cat "$work/$name.crt" "$dir/ca.pem" "$work/$name.key" >"$work/$file"
  chmod 600 "$work/$file"
  mv "$work/$file" "$dir/$file" && created "$dir/$file"
}

# ccs_pfx HOST: DIR/ccs/HOST.pfx for the central certificate store. PBE-SHA1-3DES and a SHA-1
# MAC, unlike OpenSSL 3's AES default, so older Windows (2012-2016) can import the same file.
ccs_pfx() {
  local host=$1 file=$dir/ccs/$1.pfx
  [[ -e $file ]] && return
  leaf "$host" "$host" "DNS:$host"
  CCS_PASSWORD_VALUE=$ccs_password openssl pkcs12 -export -in "$work/$host.crt" \
    -inkey "$work/$host.key" -certfile "$dir/ca.pem" -name "$host" \
    -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 \
    -passout env:CCS_PASSWORD_VALUE -out "$work/$host.pfx"
  mv "$work/$host.pfx" "$file" && created "$file"
}

make_ca
pem default.pem sitev1.mysite.com "DNS:sitev1.mysite.com"
pem sitev2.pem sitev2.mysite.com "DNS:sitev2.mysite.com"
pem ip2.pem "lab 127.0.0.2" "IP:127.0.0.2,DNS:ip2.mysite.com"
pem wildcard.pem "*.wild.mysite.com" "DNS:*.wild.mysite.com"
ccs_pfx sitev3.mysite.com
