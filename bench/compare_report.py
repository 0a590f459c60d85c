#!/usr/bin/env python3
"""Tables of a bench/compare.sh run: medians over rounds, and snibind's ratio to the best peer.

usage: compare_report.py OUT-DIR   (the --out of compare.sh; reads OUT-DIR/raw/*.json)
"""
import json
import pathlib
import re
import statistics
import sys

SCENARIOS = {
    "1": "forward: SNI route, 64-byte backend reply (hello mode, -c 32)",
    "2": "terminate ECDSA P-256, TLS 1.3 full handshake + 1 HTTP request (-c 16)",
    "3": "terminate ECDSA P-256, TLS 1.3 resumed + 1 HTTP request (-c 16)",
    "4": "terminate RSA-2048, TLS 1.3 full handshake + 1 HTTP request (-c 16)",
    "5": "forward with 1 000 000 records, names drawn uniformly from all (-c 32)",
}
PEERS = ["snibind", "haproxy", "nginx", "sniproxy", "floor"]
# The floor (bench/floor_forwarder.c) is a reference, not a peer: never "the best peer".
REFERENCES = {"floor"}


def load(path):
    with open(path) as f:
        return json.load(f)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}".replace(",", " ")


def main(out):
    raw = pathlib.Path(out) / "raw"
    runs = {}  # (scenario, peer) -> [report]
    for path in sorted(raw.glob("s*-r*.json")):
        m = re.fullmatch(r"s(\d+)-(\w+)-r(\d+)\.json", path.name)
        if m:
            runs.setdefault((m[1], m[2]), []).append(load(path))

    print("| scenario | server | conn/s | p99 µs | server CPU µs/conn | errors | runs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    ratios = []
    distances = []  # (scenario, server, CPU per connection / the floor's)
    for sid, title in SCENARIOS.items():
        rows = {}
        for peer in PEERS:
            reports = runs.get((sid, peer))
            if not reports:
                continue
            rows[peer] = {
                "rate": median([r["connections_per_second"] for r in reports]),
                "p99": median([r["latency_us"]["p99"] for r in reports]),
                "cpu": median([r.get("server", {}).get("cpu_us_per_connection") for r in reports]),
                "errors": sum(r["errors"] for r in reports),
                "runs": len(reports),
            }
        for peer, row in rows.items():
            print(f"| {sid}: {title if peer == next(iter(rows)) else ''} | {peer} | "
                  f"{fmt(row['rate'])} | {fmt(row['p99'])} | {fmt(row['cpu'], 1)} | "
                  f"{row['errors']} | {row['runs']} |")
        floor_cpu = rows.get("floor", {}).get("cpu")
        if floor_cpu:
            distances += [(sid, p, r["cpu"] / floor_cpu) for p, r in rows.items()
                          if p != "floor" and r["cpu"] is not None]
        peers = {p: r for p, r in rows.items() if p != "snibind" and p not in REFERENCES}
        if "snibind" in rows and peers:
            best_rate = max(peers.items(), key=lambda kv: kv[1]["rate"] or 0)
            best_cpu = min(peers.items(), key=lambda kv: kv[1]["cpu"] or float("inf"))
            s = rows["snibind"]
            ratios.append((sid, s["rate"] / best_rate[1]["rate"] if best_rate[1]["rate"] else None,
                           best_rate[0], s["cpu"] / best_cpu[1]["cpu"] if best_cpu[1]["cpu"] else None,
                           best_cpu[0]))

    if ratios:
        print("\n| scenario | snibind conn/s ÷ best peer's | snibind CPU/conn ÷ best peer's |")
        print("|---|---:|---:|")
        for sid, rate, rate_peer, cpu, cpu_peer in ratios:
            print(f"| {sid} | {fmt(rate, 2)} ({rate_peer}) | {fmt(cpu, 2)} ({cpu_peer}) |")

    if distances:
        print("\n| scenario | server | CPU/conn ÷ the floor's |")
        print("|---|---|---:|")
        for sid, peer, ratio in distances:
            print(f"| {sid} | {peer} | {fmt(ratio, 2)} |")

    syscalls = sorted(raw.glob("syscalls-*.txt"))
    if syscalls:
        # strace -c: "% time seconds usecs/call calls errors syscall", then a "total" row.
        table, connections = {}, {}
        for path in syscalls:
            peer = path.stem.split("-", 1)[1]
            report = raw / f"syscalls-{peer}.json"
            connections[peer] = load(report).get("connections", 0) if report.exists() else 0
            for line in path.read_text().splitlines():
                cols = line.split()
                if len(cols) >= 5 and cols[0][0].isdigit() and cols[-1] != "total":
                    errors = int(cols[4]) if len(cols) == 6 else 0
                    table.setdefault(peer, {})[cols[-1]] = (int(cols[3]), errors)
        peers = [p for p in PEERS if p in table]
        names = sorted({n for p in peers for n in table[p]},
                       key=lambda n: (-max(table[p].get(n, (0, 0))[0] for p in peers), n))
        print("\n| system calls per connection | " + " | ".join(peers) + " |")
        print("|---|" + "---:|" * len(peers))
        per = lambda p, v: v / connections[p] if connections.get(p) else None
        print("| **total** | " + " | ".join(
            fmt(per(p, sum(c for c, _ in table[p].values())), 1) for p in peers) + " |")
        print("| (failed) | " + " | ".join(
            fmt(per(p, sum(e for _, e in table[p].values())), 1) for p in peers) + " |")
        for n in names:
            cells = [per(p, table[p].get(n, (0, 0))[0]) for p in peers]
            if max(c or 0 for c in cells) >= 0.05:
                print(f"| {n} | " + " | ".join(fmt(c, 1) for c in cells) + " |")

    idle = sorted(raw.glob("idle*-*.json"))
    if idle:
        print("\n| idle connections | server | held | RSS before MiB | RSS held MiB | KiB per connection |")
        print("|---|---|---:|---:|---:|---:|")
        for path in idle:
            m = re.fullmatch(r"idle(\d+)-(\w+)\.json", path.name)
            r = load(path)
            server = r.get("server", {})
            per = server.get("rss_per_held_connection_bytes")
            kind = "forwarded (hello sent)" if m[1] == "1" else "terminated (TLS 1.3, ECDSA)"
            print(f"| {kind} | {m[2]} | {r.get('held', 0)} | "
                  f"{fmt(server.get('rss_before_bytes', 0) / 2**20, 1)} | "
                  f"{fmt(server.get('rss_end_bytes', 0) / 2**20, 1)} | "
                  f"{fmt(None if per is None else per / 1024, 1)} |")

    startup = sorted(raw.glob("startup-*.json"))
    if startup:
        print("\n| records | server | startup s | RSS MiB | bytes per record (vs 3 names) |")
        print("|---|---|---:|---:|---:|")
        by = {(s["peer"], s["size"]): s for s in map(load, startup)}
        for (peer, size), s in sorted(by.items()):
            base = by.get((peer, "forward"))
            per = None
            if size == "1m" and base:
                per = (s["rss_kib"] - base["rss_kib"]) * 1024 / 1_000_000
            count = "1 000 000" if size == "1m" else "3"
            print(f"| {count} | {peer} | {s['startup_s']:.2f} | {fmt(s['rss_kib'] / 1024, 1)} | "
                  f"{fmt(per)} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
