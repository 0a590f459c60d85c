#!/usr/bin/env python3
"""Capture real TLS ClientHello bytes from real clients into test fixtures.

    scripts/capture-hellos.py                 capture every client found, write fixtures + manifest
    scripts/capture-hellos.py --only curl java  re-capture just those (other manifest rows are kept)
    scripts/capture-hellos.py --require-all   a missing client tool is an error (exit 1)
    scripts/capture-hellos.py --summary       parse the stored .bin files and print one line each
    scripts/capture-hellos.py --list          print the client table

How it works: a raw TCP listener on 127.0.0.1 (ephemeral port; only loopback is ever used) accepts one
connection per client and reads until the first TLS handshake message (the ClientHello) is complete,
reassembled across TLS records and TCP reads, or until READ_TIMEOUT passes. It then closes the
connection; the client fails its handshake, which is expected, and is killed (whole process group).
Every subprocess has a timeout, so nothing hangs.

Output: tests/data/clienthello/<name>.bin holds the bytes exactly as received (record headers
included); tests/data/clienthello/manifest.tsv has columns file, client, sni, alpn, notes. The notes
column holds the exact command line (PORT stands for the ephemeral port of the run).

Standard library only. The script never installs anything: `scripts/deps.sh capture` installs the
clients (openssl, curl, gnutls-bin, chromium, nodejs, default-jre-headless).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "tests" / "data" / "clienthello"
MANIFEST = "manifest.tsv"
MANIFEST_HEADER = ["file", "client", "sni", "alpn", "notes"]

HOST = "127.0.0.1"
SNI = "www.example.com"
# 203 characters: long enough that the ClientHello below no longer fits one 512-byte record.
LONG_SNI = ".".join(["a" * 63, "b" * 63, "c" * 63, "example", "com"])
ACCEPT_TIMEOUT = 45.0  # seconds for the client to connect (java compiles its source first; chromium starts)
READ_TIMEOUT = 3.0  # seconds from accept until we give up on a complete ClientHello
KILL_TIMEOUT = 5.0  # seconds to wait for a killed client to be reaped
VERSION_TIMEOUT = 20.0  # seconds for a `--version` style probe

JAVA_SOURCE = """\
import java.util.List;
import javax.net.ssl.*;

// java Hello.java PORT SNI : one TLS handshake attempt to 127.0.0.1:PORT with the given SNI.
public class Hello {
    public static void main(String[] args) throws Exception {
        SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket s = (SSLSocket) factory.createSocket("127.0.0.1", Integer.parseInt(args[0]))) {
            SSLParameters p = s.getSSLParameters();
            p.setServerNames(List.of(new SNIHostName(args[1])));
            s.setSSLParameters(p);
            s.startHandshake();
        }
    }
}
"""

NODE_SOURCE = """\
const tls = require('tls');
const s = tls.connect({host: '127.0.0.1', port: Number(process.argv[2]), servername: process.argv[3]});
s.on('error', () => process.exit(0));
"""

PYTHON_SOURCE = """\
import socket, ssl, sys
ctx = ssl.create_default_context()
with socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10) as raw:
    try:
        ctx.wrap_socket(raw, server_hostname=sys.argv[2])
    except (OSError, ssl.SSLError):
        pass
"""


# --------------------------------------------------------------------------------------------------
# Client table
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Client:
    name: str  # fixture base name: <name>.bin
    tool: str  # executable that must be on PATH
    command: Callable[[int, Path], list[str]]  # (port, scratch dir) -> argv
    version: Callable[[], str]  # "client name and version"
    sni: str  # what the client was told to send, "-" for none
    alpn: str  # comma separated ALPN list the client was told to offer, "-" for none
    note: str = ""  # extra words for the manifest, before the command line


def _run_version(argv: list[str], stream: str = "stdout") -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=VERSION_TIMEOUT,
                           stdin=subprocess.DEVNULL, env=client_env())
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (r.stdout if stream == "stdout" else r.stderr) or r.stdout or r.stderr
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else "?"


def openssl_version() -> str:
    # "OpenSSL 3.0.22 25 Aug 2026 (Library: ...)" -> "openssl s_client 3.0.22"
    words = _run_version(["openssl", "version"]).split()
    return f"openssl s_client {words[1] if len(words) > 1 else '?'}"


def curl_version() -> str:
    # "curl 7.88.1 (x86_64-pc-linux-gnu) libcurl/7.88.1 OpenSSL/3.0.22 ..." -> "curl 7.88.1 OpenSSL/3.0.22"
    words = _run_version(["curl", "--version"]).split()
    tls = next((w for w in words if "SSL/" in w or "GnuTLS/" in w or "wolfSSL/" in w), "")
    return " ".join(x for x in ["curl", words[1] if len(words) > 1 else "?", tls] if x)


def python_version() -> str:
    # "python 3.11.2 ssl OpenSSL 3.0.22 25 Aug 2026" -> "python 3.11.2 ssl OpenSSL 3.0.22"
    words = _run_version(["python3", "-c", "import ssl, platform; "
                          "print('python', platform.python_version(), 'ssl', ssl.OPENSSL_VERSION)"]).split()
    return " ".join(words[:5])


def node_version() -> str:
    return _run_version(["node", "-e", "console.log('node ' + process.version + ' openssl ' + process.versions.openssl)"])


def java_version() -> str:
    # `java -version` prints to stderr: 'openjdk version "17.0.15" 2025-04-15'
    words = _run_version(["java", "-version"], stream="stderr").replace('"', "").split()
    return f"java {words[0]} {words[2] if len(words) > 2 else '?'} SSLSocket"


def gnutls_version() -> str:
    return _run_version(["gnutls-cli", "--version"])  # "gnutls-cli 3.7.9"


def chromium_version() -> str:
    # "Chromium 156.0.8078.79 built on Debian GNU/Linux 12 (bookworm)" -> "Chromium 156.0.8078.79"
    return " ".join(_run_version(["chromium", "--version"]).split()[:2])


def openssl_cmd(*extra: str) -> Callable[[int, Path], list[str]]:
    return lambda port, _tmp: ["openssl", "s_client", "-connect", f"{HOST}:{port}", *extra]


def curl_cmd(*extra: str) -> Callable[[int, Path], list[str]]:
    return lambda port, _tmp: ["curl", "-sS", "-o", "/dev/null", "--max-time", "10", "--noproxy", "*",
                               *extra, "--resolve", f"{SNI}:{port}:{HOST}", f"https://{SNI}:{port}/"]


def python_cmd(port: int, tmp: Path) -> list[str]:
    src = tmp / "hello.py"
    src.write_text(PYTHON_SOURCE)
    return ["python3", str(src), str(port), SNI]


def node_cmd(port: int, tmp: Path) -> list[str]:
    src = tmp / "hello.js"
    src.write_text(NODE_SOURCE)
    return ["node", str(src), str(port), SNI]


def java_cmd(port: int, tmp: Path) -> list[str]:
    src = tmp / "Hello.java"
    src.write_text(JAVA_SOURCE)
    return ["java", str(src), str(port), SNI]


def gnutls_cmd(port: int, tmp: Path) -> list[str]:
    return ["gnutls-cli", "--port", str(port), "--sni-hostname", SNI, HOST]


def chromium_cmd(port: int, tmp: Path) -> list[str]:
    profile = tmp / "chromium-profile"
    profile.mkdir()
    # The first rule sends www.example.com to our listener; the second makes every other name fail
    # to resolve, so the browser can reach nothing but loopback.
    rules = f"MAP {SNI} {HOST}:{port}, MAP * ~NOTFOUND"
    return ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-proxy-server", f"--user-data-dir={profile}", f"--host-resolver-rules={rules}",
            f"https://{SNI}/"]


CLIENTS: list[Client] = [
    Client("openssl-sni", "openssl", openssl_cmd("-servername", SNI), openssl_version, SNI, "-"),
    Client("openssl-nosni", "openssl", openssl_cmd("-noservername"), openssl_version, "-", "-"),
    Client("openssl-tls12", "openssl", openssl_cmd("-servername", SNI, "-tls1_2"), openssl_version, SNI, "-",
           "TLS 1.2 only"),
    Client("openssl-alpn", "openssl", openssl_cmd("-servername", SNI, "-alpn", "h2,http/1.1"), openssl_version,
           SNI, "h2,http/1.1"),
    Client("openssl-idn", "openssl", openssl_cmd("-servername", "xn--bcher-kva.example"), openssl_version,
           "xn--bcher-kva.example", "-", "IDN (A-label of bücher.example)"),
    Client("openssl-mixedcase", "openssl", openssl_cmd("-servername", "WwW.Example.COM"), openssl_version,
           "WwW.Example.COM", "-", "mixed case, sent as given"),
    Client("openssl-trailingdot", "openssl", openssl_cmd("-servername", f"{SNI}."), openssl_version,
           f"{SNI}.", "-", "trailing dot, sent as given"),
    Client("openssl-fragmented", "openssl",
           openssl_cmd("-servername", LONG_SNI, "-alpn", "h2,http/1.1", "-max_send_frag", "512"), openssl_version,
           LONG_SNI, "h2,http/1.1", "long SNI + max_send_frag 512: the ClientHello spans 2 TLS records"),
    Client("curl", "curl", curl_cmd(), curl_version, SNI, "h2,http/1.1", "curl's default ALPN"),
    Client("curl-http11", "curl", curl_cmd("--http1.1"), curl_version, SNI, "http/1.1"),
    Client("python", "python3", python_cmd, python_version, SNI, "-",
           "ssl.create_default_context().wrap_socket(server_hostname=...); hello.py is PYTHON_SOURCE in scripts/capture-hellos.py"),
    Client("node", "node", node_cmd, node_version, SNI, "-",
           "tls.connect({servername}); hello.js is NODE_SOURCE in scripts/capture-hellos.py"),
    Client("java", "java", java_cmd, java_version, SNI, "-",
           "SSLSocket + SNIHostName; Hello.java is JAVA_SOURCE in scripts/capture-hellos.py"),
    Client("gnutls", "gnutls-cli", gnutls_cmd, gnutls_version, SNI, "-"),
    Client("chromium", "chromium", chromium_cmd, chromium_version, SNI, "h2,http/1.1",
           "headless browser defaults (GREASE, ECH GREASE, hybrid PQ key share)"),
]


# --------------------------------------------------------------------------------------------------
# Capture
# --------------------------------------------------------------------------------------------------


def client_env() -> dict[str, str]:
    """The environment for clients: no proxy settings, so nothing leaves loopback."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


def hello_complete(data: bytes) -> bool | None:
    """True when `data` holds the whole first handshake message; None when it can never be one."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(data):
        ctype, _ver, length = struct.unpack("!BHH", data[pos:pos + 5])
        if ctype != 22:  # not a handshake record (e.g. an SSLv2 hello, or garbage)
            return None
        if pos + 5 + length > len(data):
            break  # record not complete yet
        handshake += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4:
            msg_len = int.from_bytes(handshake[1:4], "big")
            if len(handshake) >= 4 + msg_len:
                return True
    return False


def receive_hello(conn: socket.socket) -> tuple[bytes, int, str]:
    """Read until the ClientHello is complete or READ_TIMEOUT. Returns (bytes, number of reads, status)."""
    data = bytearray()
    reads = 0
    deadline = time.monotonic() + READ_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), reads, "timeout"
        conn.settimeout(left)
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            return bytes(data), reads, "timeout"
        except OSError as e:
            return bytes(data), reads, f"error: {e}"
        if not chunk:
            return bytes(data), reads, "closed by client"
        data += chunk
        reads += 1
        state = hello_complete(bytes(data))
        if state is True:
            return bytes(data), reads, "complete"
        if state is None:
            return bytes(data), reads, "not a TLS handshake record"


def stop(proc: subprocess.Popen) -> None:
    """Kill the client and everything it started (it runs in its own session / process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout=KILL_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"  warning: pid {proc.pid} did not exit after SIGKILL", file=sys.stderr)


def capture(client: Client) -> tuple[bytes, str]:
    """Run one client against a fresh listener. Returns (bytes, command line with PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener, \
            tempfile.TemporaryDirectory(prefix=f"hello-{client.name}-") as tmp:
        listener.bind((HOST, 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        argv = client.command(port, Path(tmp))
        shown = shlex.join(argv).replace(str(port), "PORT").replace(tmp, "$TMP")
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=client_env(), cwd=tmp,
                                start_new_session=True)
        try:
            listener.settimeout(ACCEPT_TIMEOUT)
            try:
                conn, _peer = listener.accept()
            except socket.timeout:
                raise RuntimeError(f"client did not connect within {ACCEPT_TIMEOUT:.0f}s") from None
            with conn:
                data, reads, status = receive_hello(conn)
        finally:
            stop(proc)
            if proc.stdin:
                proc.stdin.close()
    if status != "complete":
        raise RuntimeError(f"no complete ClientHello ({status}, {len(data)} bytes in {reads} reads)")
    print(f"  {len(data)} bytes in {reads} TCP read(s)")
    return data, shown


def read_manifest(out: Path) -> dict[str, list[str]]:
    path = out / MANIFEST
    if not path.exists():
        return {}
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        cols = line.split("\t")
        if cols and cols[0]:
            rows[cols[0]] = cols
    return rows


def write_manifest(out: Path, rows: dict[str, list[str]]) -> None:
    order = {f"{c.name}.bin": i for i, c in enumerate(CLIENTS)}
    files = sorted(rows, key=lambda f: (order.get(f, len(order)), f))
    lines = ["\t".join(MANIFEST_HEADER)] + ["\t".join(rows[f]) for f in files]
    (out / MANIFEST).write_text("\n".join(lines) + "\n")


def tsv_safe(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


def run_captures(out: Path, selected: list[Client], require_all: bool) -> int:
    absent = [c.tool for c in selected if shutil.which(c.tool) is None]
    if require_all and absent:
        print(f"--require-all: missing tool(s) {', '.join(sorted(set(absent)))}; "
              "scripts/deps.sh capture installs them", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    rows = read_manifest(out)
    missing, failed = [], []
    for client in selected:
        print(f"{client.name}:")
        if shutil.which(client.tool) is None:
            print(f"  missing tool '{client.tool}' (scripts/deps.sh capture installs it); skipped")
            missing.append(client.name)
            continue
        try:
            data, shown = capture(client)
        except (RuntimeError, OSError) as e:
            print(f"  FAILED: {e}")
            failed.append(client.name)
            continue
        file = f"{client.name}.bin"
        (out / file).write_bytes(data)
        notes = "; ".join(x for x in [client.note, f"command: {shown}"] if x)
        rows[file] = [file, tsv_safe(client.version()), client.sni, client.alpn, tsv_safe(notes)]
    write_manifest(out, rows)
    kept = len([f for f in rows if f not in {f"{c.name}.bin" for c in selected}])
    print(f"\nwrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}/{MANIFEST}"
          f" ({len(rows)} captures{f', {kept} of them kept from the earlier manifest' if kept else ''})")
    if missing:
        print(f"missing tools, skipped: {', '.join(missing)}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    if failed or (missing and require_all):
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# Summary: a small parser independent of the capture code above
# --------------------------------------------------------------------------------------------------


class Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"truncated at offset {self.pos} (need {n})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec(self, len_bytes: int) -> bytes:
        return self.take(int.from_bytes(self.take(len_bytes), "big"))

    def done(self) -> bool:
        return self.pos == len(self.data)


GROUP_NAMES = {0x001d: "x25519", 0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1",
               0x001e: "x448", 0x11ec: "X25519MLKEM768", 0x6399: "X25519Kyber768Draft00", 0x0100: "ffdhe2048"}


def is_grease(v: int) -> bool:
    return (v & 0x0f0f) == 0x0a0a and (v >> 8) == (v & 0xff)


def summarize(data: bytes) -> dict:
    # Records: concatenate the payloads of the handshake records.
    records = 0
    payload = bytearray()
    r = Reader(data)
    while not r.done():
        ctype = r.u8()
        version = r.u16()
        body = r.vec(2)
        records += 1
        if ctype != 0x16:
            raise ValueError(f"record {records} has content type {ctype}, not handshake")
        if records == 1:
            record_version = version
        payload += body
    h = Reader(bytes(payload))
    if h.u8() != 1:
        raise ValueError("first handshake message is not a ClientHello")
    hello = Reader(h.take(h.u24()))
    if not h.done():
        raise ValueError(f"{len(payload) - h.pos} bytes after the ClientHello")
    legacy_version = hello.u16()
    hello.take(32)  # random
    hello.vec(1)  # legacy_session_id
    suites = hello.vec(2)
    hello.vec(1)  # compression methods
    exts = Reader(hello.vec(2)) if not hello.done() else Reader(b"")
    if not hello.done():
        raise ValueError("bytes after the extensions")
    sni, alpn, ext_types, groups, versions = [], [], [], [], []
    while not exts.done():
        etype = exts.u16()
        body = Reader(exts.vec(2))
        ext_types.append(etype)
        if etype == 0x0000:  # server_name
            names = Reader(body.vec(2))
            while not names.done():
                kind = names.u8()
                name = names.vec(2)
                if kind == 0:
                    sni.append(name.decode("ascii", "backslashreplace"))
        elif etype == 0x0010:  # application_layer_protocol_negotiation
            protos = Reader(body.vec(2))
            while not protos.done():
                alpn.append(protos.vec(1).decode("ascii", "backslashreplace"))
        elif etype == 0x0033:  # key_share
            shares = Reader(body.vec(2))
            while not shares.done():
                g = shares.u16()
                shares.vec(2)
                groups.append("GREASE" if is_grease(g) else GROUP_NAMES.get(g, f"0x{g:04x}"))
        elif etype == 0x002b:  # supported_versions
            vs = Reader(body.vec(1))
            while not vs.done():
                v = vs.u16()
                if not is_grease(v):
                    versions.append({0x0304: "1.3", 0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0"}.get(v, f"0x{v:04x}"))
    if not versions:
        versions = [{0x0303: "1.2", 0x0302: "1.1", 0x0301: "1.0"}.get(legacy_version, f"0x{legacy_version:04x}")]
    return {
        "size": len(data), "records": records, "record_version": record_version,
        "hello_len": len(payload), "suites": len(suites) // 2, "exts": len(ext_types),
        "sni": ",".join(sni) or "-", "alpn": ",".join(alpn) or "-",
        "ech": "yes" if 0xfe0d in ext_types else "no",
        "grease": "yes" if any(is_grease(t) for t in ext_types) else "no",
        "versions": ",".join(versions), "key_shares": ",".join(groups) or "-",
    }


def print_summary(out: Path) -> int:
    files = sorted(out.glob("*.bin"))
    if not files:
        print(f"no .bin files in {out}")
        return 1
    manifest = read_manifest(out)
    # sni last: some names are long
    cols = ["file", "size", "records", "alpn", "ech", "grease", "versions", "key_shares", "suites", "exts", "sni"]
    rows, bad = [], 0
    for f in files:
        try:
            s = summarize(f.read_bytes())
            row = [f.name] + [str(s[c]) for c in cols[1:]]
            m = manifest.get(f.name)
            if m is None:
                row.append("NOT IN MANIFEST")
                bad += 1
            elif m[2] != s["sni"] or m[3] != s["alpn"]:
                row.append(f"MANIFEST MISMATCH (sni {m[2]}, alpn {m[3]})")
                bad += 1
        except ValueError as e:
            row = [f.name, str(f.stat().st_size), f"PARSE ERROR: {e}"]
            bad += 1
        rows.append(row)
    for name in manifest:
        if not (out / name).exists():
            rows.append([name, "MISSING FILE (listed in manifest)"])
            bad += 1
    widths = [max(len(r[i]) for r in [cols] + rows if i < len(r)) for i in range(len(cols))]
    for r in [cols] + rows:
        print("  ".join(c.ljust(widths[i]) if i < len(widths) else c for i, c in enumerate(r)).rstrip())
    return 1 if bad else 0


# --------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR, help=f"fixture directory (default {OUT_DIR})")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="capture only these clients (see --list)")
    ap.add_argument("--require-all", action="store_true", help="a missing client tool is an error")
    ap.add_argument("--summary", action="store_true", help="parse the stored captures and print a summary")
    ap.add_argument("--list", action="store_true", help="list the clients")
    args = ap.parse_args()
    out = args.out.resolve()
    if args.list:
        for c in CLIENTS:
            print(f"{c.name:20} {c.tool:11} sni={c.sni} alpn={c.alpn}")
        return 0
    if args.summary:
        return print_summary(out)
    selected = CLIENTS
    if args.only:
        known = {c.name: c for c in CLIENTS}
        unknown = [n for n in args.only if n not in known]
        if unknown:
            ap.error(f"unknown client(s): {', '.join(unknown)}; see --list")
        selected = [known[n] for n in args.only]
    return run_captures(out, selected, args.require_all)


if __name__ == "__main__":
    sys.exit(main())
