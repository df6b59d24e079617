#!/usr/bin/env python3
"""Clients and the report for benches/load.sh (standard library only).

Subcommands (all traffic goes to the URLs given, which load.sh keeps on
127.0.0.1; every request has a timeout):

  ttfb URL                       one cold GET: head_ms body_ms total_ms
  coalesce URL N COUNT_URL       N concurrent cold GETs of URL; prints the
                                 origin fetch count for URL's path+query and
                                 each client's first body byte relative to the
                                 origin's first byte
  rss PID URL N                  N concurrent downloads of URL (curl) while
                                 sampling PID's VmRSS every 50 ms
  idle URL N PIDS                N keep-alive connections, one GET of URL on
                                 each, then idle: the summed VmRSS of PIDS
                                 (comma-separated) before and after
  wrk FILE                       parse `wrk --latency` output (and the
                                 `percentiles_us` line of load.sh's Lua)
  report TSV                     medians, ratios and targets; text + markdown
"""

import asyncio
import select
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit

TIMEOUT_S = 20.0


# --------------------------------------------------------------------- HTTP


async def timed_get(url):
    """GET url over a new HTTP/1.1 connection. Returns (start_ns, head_ns,
    body_ns, end_ns, status, body_bytes) as absolute time.time_ns() values;
    body_ns is when the first byte after the head arrived."""
    u = urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    start = time.time_ns()
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUser-Agent: load_client\r\n"
        f"Accept: */*\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    buf = b""
    head_ns = body_ns = None
    total = 0
    while True:
        data = await reader.read(65536)
        if not data:
            break
        now = time.time_ns()
        if head_ns is None:
            head_ns = now
        if body_ns is None:
            buf += data
            end = buf.find(b"\r\n\r\n")
            if end >= 0 and len(buf) > end + 4:
                body_ns = now
                total = len(buf) - end - 4
        else:
            total += len(data)
    end_ns = time.time_ns()
    writer.close()
    status = int(buf.split(b" ", 2)[1]) if buf.startswith(b"HTTP/") else 0
    return start, head_ns or end_ns, body_ns or end_ns, end_ns, status, total


def ms(ns):
    return ns / 1e6


def cmd_ttfb(url):
    start, head, body, end, status, _ = asyncio.run(asyncio.wait_for(timed_get(url), TIMEOUT_S))
    if status != 200:
        sys.exit(f"ttfb: {url} answered {status}")
    print(f"{ms(head - start):.3f}\t{ms(body - start):.3f}\t{ms(end - start):.3f}")


def origin_record(count_url, url):
    """(hits, first_byte_unix_ns) the origin logged for url's path+query."""
    u = urlsplit(url)
    key = u.path + ("?" + u.query if u.query else "")
    text = subprocess.run(
        ["curl", "-sS", "--max-time", "5", count_url], check=True, capture_output=True, text=True
    ).stdout
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == key:
            return int(parts[1]), int(parts[2])
    return 0, 0


def cmd_coalesce(url, n, count_url):
    async def run():
        return await asyncio.wait_for(asyncio.gather(*(timed_get(url) for _ in range(n))), TIMEOUT_S)

    results = asyncio.run(run())
    bad = [r[4] for r in results if r[4] != 200]
    if bad:
        sys.exit(f"coalesce: {len(bad)} of {n} answers were not 200: {bad[:5]}")
    fetches, origin_first = origin_record(count_url, url)
    head = sorted(ms(r[1] - origin_first) for r in results)
    body = sorted(ms(r[2] - origin_first) for r in results)
    # fetches, worst and median first-byte delays (head, then body) after
    # the origin's first byte.
    print(f"{fetches}\t{head[-1]:.3f}\t{statistics.median(head):.3f}\t{body[-1]:.3f}\t{statistics.median(body):.3f}")


def vm_kib(pid, field):
    """A field of /proc/PID/status in KiB: VmRSS (now) or VmHWM (peak so far)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cmd_rss(pid, url, n):
    idle = vm_kib(pid, "VmRSS")
    procs = [
        subprocess.Popen(
            ["curl", "-sS", "-o", "/dev/null", "--max-time", "60", "-w", "%{http_code} %{size_download}", url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    start = time.monotonic()
    peak = idle
    while any(p.poll() is None for p in procs):
        peak = max(peak, vm_kib(pid, "VmRSS"))
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    # The 50 ms samples can miss a short peak; the kernel's high-water mark
    # cannot (the process is fresh, so its mark is this test's).
    peak = max(peak, vm_kib(pid, "VmRSS"), vm_kib(pid, "VmHWM"))
    outs = [p.communicate()[0].split() for p in procs]
    sizes = {o[1] for o in outs if o and o[0] == "200"}
    if len(outs) != n or any(not o or o[0] != "200" for o in outs):
        sys.exit(f"rss: downloads failed: {outs}")
    # idle MiB, peak MiB, delta MiB, seconds, bytes per client
    print(f"{idle / 1024:.1f}\t{peak / 1024:.1f}\t{(peak - idle) / 1024:.1f}\t{elapsed:.2f}\t{','.join(sorted(sizes))}")


def read_response(sock):
    """Reads one HTTP/1.1 response with Content-Length from a blocking socket
    and leaves the connection open; returns its status, or 0 if the
    connection closed before the end of the body."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            return 0
        buf += data
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = next((int(l.split(b":", 1)[1]) for l in lines[1:] if l.lower().startswith(b"content-length:")), -1)
    if length < 0:
        sys.exit(f"idle: no Content-Length in {head[:300]!r}")
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            return 0
        body += data
    return status


def cmd_idle(url, n, pids):
    """Opens n keep-alive connections one after another, each with one GET of
    url read to its end, then leaves them idle for a second and sums the
    VmRSS of pids. Prints before_kib, after_kib, bytes per connection,
    seconds taken to open them all, seconds from the first response to the
    measurement, and how many the server had closed by then."""
    u = urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    request = f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUser-Agent: load_client\r\nAccept: */*\r\n\r\n".encode()

    def rss_kib():
        return sum(vm_kib(p, "VmRSS") for p in pids)

    before = rss_kib()
    socks = []
    start = time.monotonic()
    first = None
    try:
        for _ in range(n):
            s = socket.create_connection((u.hostname, u.port), timeout=TIMEOUT_S)
            socks.append(s)
            s.sendall(request)
            status = read_response(s)
            if status != 200:
                sys.exit(f"idle: connection {len(socks)} got status {status}")
            first = first or time.monotonic()
        opened = time.monotonic() - start
        # Let the server finish whatever it does after a response (buffers
        # released or kept) before measuring.
        time.sleep(1.0)
        after = rss_kib()
        window = time.monotonic() - first
        # A connection the server closed is readable (EOF); an open idle one
        # is not.
        poller = select.poll()
        for s in socks:
            poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
        closed = len(poller.poll(0))
    finally:
        for s in socks:
            s.close()
    per_conn = (after - before) * 1024 / n
    print(f"{before}\t{after}\t{per_conn:.0f}\t{opened:.2f}\t{window:.2f}\t{closed}")


# ---------------------------------------------------------------------- wrk


def to_ms(text):
    for unit, factor in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def cmd_wrk(path):
    rps = requests = errors = 0.0
    p50 = p99 = p999 = float("nan")
    for line in open(path):
        f = line.split()
        if line.startswith("percentiles_us"):
            # percentiles_us 50 X 99 Y 99.9 Z (load.sh's Lua `done()`), in µs
            p999 = dict(zip(f[1::2], f[2::2])).get("99.9", "nan")
            p999 = float(p999) / 1e3
        elif line.startswith("Requests/sec:"):
            rps = float(f[1])
        elif len(f) >= 2 and f[0] == "50%":
            p50 = to_ms(f[1])
        elif len(f) >= 2 and f[0] == "99%":
            p99 = to_ms(f[1])
        elif "requests in" in line:
            requests = float(f[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            errors += float(f[-1])
        elif line.strip().startswith("Socket errors:"):
            # Socket errors: connect 0, read 0, write 0, timeout 0
            errors += sum(float(x.rstrip(",")) for x in f[3::2])
    print(f"{rps}\t{p50}\t{p99}\t{int(requests)}\t{int(errors)}\t{p999}")


# ------------------------------------------------------------------- report

CONTENDERS = ["tower-cdn", "nginx", "varnish"]
# The servers of the hit stages: the caches, and nginx serving the same bytes
# as static files (the ceiling).
HIT_SERVERS = CONTENDERS + ["nginx-static"]
# size -> (min ratio vs nginx, min ratio vs varnish)
# Issue 19's targets, tower-cdn ÷ nginx proxy_cache: (req/s, req per CPU-s,
# req/s ÷ nginx static files); None where the issue sets none.
HIT_TARGETS = {"1k": (1.3, None, 0.9), "100k": (1.1, 1.2, None)}


def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def cmd_report(path):
    # data[kind][contender][size][metric] -> {rep: value}
    data = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(dict))))
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) != 6:
            continue
        kind, who, size, rep, metric, value = f
        data[kind][who][size][metric][rep] = float(value)
    wrk = data["wrk"]

    def series(who, size, metric):
        return wrk[who][size][metric]

    def per_cpu(who, size):
        req, cpu = series(who, size, "requests"), series(who, size, "cpu_s")
        return {r: req[r] / cpu[r] for r in req if cpu.get(r)}

    def median_ratio(a, b):
        return med([a[r] / b[r] for r in a if b.get(r)])

    lines, checks = [], []
    reps = len({r for who in wrk.values() for size in who.values() for r in size["rps"]})
    lines.append(f"### Hits (`wrk --latency`, medians of {reps} interleaved runs)")
    lines.append("")
    lines.append(
        "| object | server | req/s | p50 ms | p99 ms | req per CPU-s "
        "| server µs/req | wrk µs/req | softirq µs/req | others' CPU-s | errors |"
    )
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ceilings = []
    for size in ("1k", "100k"):
        for who in HIT_SERVERS:
            if not series(who, size, "rps"):
                continue
            req = series(who, size, "requests")

            def us_per_req(metric):
                cpu = series(who, size, metric)
                return med([1e6 * cpu[r] / req[r] for r in req if req[r] and r in cpu])

            client_us = us_per_req("wrk_cpu_s") + us_per_req("softirq_cpu_s")
            ceilings.append((size, who, 2e6 / client_us if client_us else float("nan")))
            lines.append(
                f"| {size} | {who} | {med(series(who, size, 'rps').values()):,.0f} "
                f"| {med(series(who, size, 'p50_ms').values()):.2f} "
                f"| {med(series(who, size, 'p99_ms').values()):.2f} "
                f"| {med(per_cpu(who, size).values()):,.0f} "
                f"| {us_per_req('cpu_s'):.1f} | {us_per_req('wrk_cpu_s'):.1f} | {us_per_req('softirq_cpu_s'):.1f} "
                f"| {med(series(who, size, 'other_cpu_s').values()):.1f} "
                f"| {int(sum(series(who, size, 'errors').values()))} |"
            )
    lines.append("")
    lines.append(
        "Ceiling set by the client: wrk and the kernel's softirq work share the same 2 cores, so even a server "
        "that cost no CPU could not exceed 2 cores ÷ (wrk + softirq µs per request): "
        + "; ".join(f"{size} via {who} ≈ {c:,.0f} req/s" for size, who, c in ceilings if who != "varnish")
        + "."
    )
    lines.append("")
    others = ["nginx", "varnish"] + (["nginx-static"] if wrk["nginx-static"] else [])
    lines.append(
        "| object | tower-cdn ÷ (median of per-run ratios) | vs nginx | vs Varnish |"
        + (" vs nginx static files |" if len(others) > 2 else "")
    )
    lines.append("|---|---|" + "---:|" * len(others))
    for size in ("1k", "100k"):
        t = "tower-cdn"
        row = {}
        for metric, name in (("rps", "req/s"), ("cpu", "req per CPU-s"), ("p50_ms", "p50 latency"), ("p99_ms", "p99 latency")):
            vals = []
            for other in others:
                if metric == "cpu":
                    vals.append(median_ratio(per_cpu(t, size), per_cpu(other, size)))
                else:
                    vals.append(median_ratio(series(t, size, metric), series(other, size, metric)))
            row[metric] = vals
            lines.append(f"| {size} | {name} | " + " | ".join(f"{v:.2f}×" for v in vals) + " |")
        want_rps, want_cpu, want_static = HIT_TARGETS[size]
        checks.append((f"{size} hit req/s ≥ {want_rps}× nginx", row["rps"][0] >= want_rps, f"{row['rps'][0]:.2f}×"))
        if want_cpu is not None:
            checks.append((f"{size} req per CPU-s ≥ {want_cpu}× nginx", row["cpu"][0] >= want_cpu, f"{row['cpu'][0]:.2f}×"))
        if want_static is not None and len(others) > 2:
            checks.append(
                (f"{size} hit req/s ≥ {want_static}× nginx static files", row["rps"][2] >= want_static, f"{row['rps'][2]:.2f}×")
            )
        checks.append((f"{size} p50 ≤ nginx", row["p50_ms"][0] <= 1.0, f"{row['p50_ms'][0]:.2f}× nginx's"))
        checks.append((f"{size} p99 ≤ nginx", row["p99_ms"][0] <= 1.0, f"{row['p99_ms'][0]:.2f}× nginx's"))

    ttfb = data["ttfb"]
    if ttfb:
        lines.append("")
        lines.append("### Cold miss of `/slow` (origin: first byte after 100 ms, then 10 × 1 KiB over ~1 s)")
        lines.append("")
        lines.append("| via | head ms | first body byte ms | whole body ms | first body byte − direct |")
        lines.append("|---|---:|---:|---:|---:|")
        direct = ttfb["direct"]["slow"]
        for who in ["direct"] + CONTENDERS:
            s = ttfb[who]["slow"]
            if not s:
                continue
            delta = med([s["body_ms"][r] - direct["body_ms"][r] for r in s["body_ms"] if r in direct["body_ms"]])
            lines.append(
                f"| {who} | {med(s['head_ms'].values()):.1f} | {med(s['body_ms'].values()):.1f} "
                f"| {med(s['total_ms'].values()):.1f} | {'' if who == 'direct' else f'{delta:+.1f} ms'} |"
            )
            if who == "tower-cdn":
                checks.append(("cold-miss first byte within 5 ms of the origin's", delta <= 5.0, f"{delta:+.1f} ms"))

    co = data["coalesce"]
    if co:
        lines.append("")
        lines.append("### 50 concurrent cold requests for one `/slow` object")
        lines.append("")
        lines.append(
            "| via | origin fetches (each run) | worst client head after origin's first byte ms "
            "| worst first body byte ms | median first body byte ms |"
        )
        lines.append("|---|---|---:|---:|---:|")
        worst = {}
        for who in CONTENDERS:
            s = co[who]["slow"]
            if not s:
                continue
            fetches = ",".join(str(int(s["fetches"][r])) for r in sorted(s["fetches"]))
            worst[who] = med(s["body_max_ms"].values())
            lines.append(
                f"| {who} | {fetches} | {med(s['head_max_ms'].values()):.1f} | {worst[who]:.1f} "
                f"| {med(s['body_p50_ms'].values()):.1f} |"
            )
        if "tower-cdn" in worst:
            t = co["tower-cdn"]["slow"]
            one = all(v == 1 for v in t["fetches"].values())
            checks.append(("50 concurrent cold → exactly 1 origin fetch", one, "fetches " + ",".join(str(int(v)) for v in t["fetches"].values())))
            w = worst["tower-cdn"]
            better = all(w < worst[o] for o in worst if o != "tower-cdn")
            checks.append(("every client's first byte within 5 ms of the origin's", w <= 5.0, f"worst {w:.1f} ms"))
            checks.append(("… and better than nginx and Varnish", better, ", ".join(f"{o} {v:.1f} ms" for o, v in worst.items())))

    rss = data["rss"]
    if rss:
        s = rss["tower-cdn"]["big100m"]
        lines.append("")
        lines.append("### Memory: 4 clients download one cold 100 MiB object at once (`--capacity 16MiB`)")
        lines.append("")
        lines.append("| idle RSS MiB | peak RSS MiB | peak − idle MiB | seconds | origin fetches |")
        lines.append("|---:|---:|---:|---:|---:|")
        lines.append(
            f"| {med(s['idle_mib'].values()):.1f} | {med(s['peak_mib'].values()):.1f} | {med(s['delta_mib'].values()):.1f} "
            f"| {med(s['seconds'].values()):.2f} | {int(med(s['fetches'].values()))} |"
        )
        d = med(s["delta_mib"].values())
        checks.append(("100 MiB × 4 clients raises RSS ≤ 32 MiB", d <= 32.0, f"{d:.1f} MiB"))

    tls = data["tls"]
    if tls:
        lines.append("")
        lines.append("### Hits over TLS (same certificate, ECDSA P-256; wrk over HTTPS, keep-alive)")
        lines.append("")
        lines.append("| object | server | req/s | p50 ms | p99 ms | req per CPU-s | errors |")
        lines.append("|---|---|---:|---:|---:|---:|---:|")
        for size in ("1k", "100k"):
            for who in ("tower-cdn", "nginx"):
                s = tls[who][size]
                if not s["rps"]:
                    continue
                cpu = {r: s["requests"][r] / s["cpu_s"][r] for r in s["requests"] if s["cpu_s"].get(r)}
                lines.append(
                    f"| {size} | {who} | {med(s['rps'].values()):,.0f} | {med(s['p50_ms'].values()):.2f} "
                    f"| {med(s['p99_ms'].values()):.2f} | {med(cpu.values()):,.0f} | {int(sum(s['errors'].values()))} |"
                )
        lines.append("")
        lines.append("| object | tower-cdn ÷ nginx over TLS (median of per-run ratios): req/s | req per CPU-s | p50 | p99 |")
        lines.append("|---|---:|---:|---:|---:|")
        for size in ("1k", "100k"):
            t, n = tls["tower-cdn"][size], tls["nginx"][size]
            if not t["rps"] or not n["rps"]:
                continue

            def ratio(metric):
                return med([t[metric][r] / n[metric][r] for r in t[metric] if n[metric].get(r)])

            cpu_ratio = med(
                [
                    (t["requests"][r] / t["cpu_s"][r]) / (n["requests"][r] / n["cpu_s"][r])
                    for r in t["requests"]
                    if t["cpu_s"].get(r) and n["cpu_s"].get(r) and n["requests"].get(r)
                ]
            )
            lines.append(
                f"| {size} | {ratio('rps'):.2f}× | {cpu_ratio:.2f}× | {ratio('p50_ms'):.2f}× | {ratio('p99_ms'):.2f}× |"
            )

    def runs(kind):
        return len({r for who in data[kind].values() for size in who.values() for r in size.get("rps", {})})

    def ratio(kind, a, b, metric, size):
        x, y = data[kind][a][size][metric], data[kind][b][size][metric]
        return med([x[r] / y[r] for r in x if y.get(r)])

    def latency_cells(s):
        return (
            f"{med(s['rps'].values()):,.0f} | {med(s['p50_ms'].values()):.3f} | {med(s['p99_ms'].values()):.3f} "
            f"| {med(s['p999_ms'].values()):.3f}"
        )

    paced = data["paced"]
    if paced:
        lines.append("")
        lines.append(
            f"### Paced hits, light load (`wrk -t2 -c8 --latency`, each connection pausing 2 ms between its requests, "
            f"/1k; medians of {runs('paced')} interleaved runs)"
        )
        lines.append("")
        lines.append("| server | req/s | p50 ms | p99 ms | p99.9 ms | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for who in HIT_SERVERS:
            s = paced[who]["1k"]
            if s["rps"]:
                lines.append(f"| {who} | {latency_cells(s)} | {int(sum(s['errors'].values()))} |")
        others = [o for o in HIT_SERVERS[1:] if paced[o]["1k"]["rps"]]
        lines.append("")
        lines.append("| tower-cdn ÷ (median of per-run ratios) | " + " | ".join(f"vs {o}" for o in others) + " |")
        lines.append("|---|" + "---:|" * len(others))
        for metric, name in (("p50_ms", "p50 latency"), ("p99_ms", "p99 latency"), ("p999_ms", "p99.9 latency")):
            vals = [ratio("paced", "tower-cdn", o, metric, "1k") for o in others]
            lines.append(f"| {name} | " + " | ".join(f"{v:.2f}×" for v in vals) + " |")
            if metric != "p999_ms" and "nginx" in others:
                checks.append((f"paced 1k {name} ≤ nginx", vals[0] <= 1.0, f"{vals[0]:.2f}× nginx's"))

    mixed = data["mixed"]
    if mixed:
        lines.append("")
        lines.append(
            "### Mixed load: 90% hits (/1k), 10% misses (a new `/delay?…` each, the origin answers after 20 ms) "
            f"(`wrk -t2 -c64 --latency`; medians of {runs('mixed')} interleaved runs)"
        )
        lines.append("")
        lines.append("| server | req/s | p50 ms | p99 ms | p99.9 ms | origin fetches ÷ requests | errors |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for who in CONTENDERS:
            s = mixed[who]["mix"]
            if not s["rps"]:
                continue
            share = med([s["origin_fetches"][r] / s["requests"][r] for r in s["requests"] if s["requests"][r] and r in s["origin_fetches"]])
            lines.append(f"| {who} | {latency_cells(s)} | {share:.3f} | {int(sum(s['errors'].values()))} |")
        others = [o for o in CONTENDERS[1:] if mixed[o]["mix"]["rps"]]
        lines.append("")
        lines.append("| tower-cdn ÷ (median of per-run ratios) | " + " | ".join(f"vs {o}" for o in others) + " |")
        lines.append("|---|" + "---:|" * len(others))
        for metric, name in (("rps", "req/s"), ("p50_ms", "p50 latency"), ("p99_ms", "p99 latency"), ("p999_ms", "p99.9 latency")):
            vals = [ratio("mixed", "tower-cdn", o, metric, "mix") for o in others]
            lines.append(f"| {name} | " + " | ".join(f"{v:.2f}×" for v in vals) + " |")
            if metric == "p99_ms" and "nginx" in others:
                checks.append(("mixed load p99 ≤ nginx", vals[0] <= 1.0, f"{vals[0]:.2f}× nginx's"))

    idle = data["idle"]
    if idle:
        n = int(next(iter(idle.values()))["1k"]["conns"]["1"])
        lines.append("")
        lines.append(
            f"### Idle keep-alive connections: {n:,} connections, one /1k hit on each, then idle; the server's RSS "
            "(all its processes) before and 1 s after"
        )
        lines.append("")
        lines.append(
            "| server | RSS before MiB | RSS after MiB | bytes per connection | seconds to open | "
            "seconds from the first response to the measurement | closed by the server by then |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for who in CONTENDERS:
            s = idle[who]["1k"]
            if not s["conns"]:
                continue
            lines.append(
                f"| {who} | {s['before_kib']['1'] / 1024:.1f} | {s['after_kib']['1'] / 1024:.1f} "
                f"| {s['per_conn_bytes']['1']:,.0f} | {s['open_s']['1']:.2f} | {s['window_s']['1']:.2f} | {int(s['closed']['1'])} |"
            )

    layer = data["layer"]
    if layer:
        lines.append("")
        lines.append(
            "### The layer's own cost (`examples/layer_bench.rs`, one process: (a) a bare axum handler, "
            f"(b) the same router in `CdnLayer`, every request a hit; medians of {runs('layer')} interleaved runs)"
        )
        lines.append("")
        lines.append(
            "| | req/s (-t2 -c64) | process µs/req (-c64) | req/s (-t1 -c1) | p50 ms (-c1) | p99 ms (-c1) "
            "| p99.9 ms (-c1) | errors |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")

        def us_req(who):
            s = layer[who]["c64"]
            return {r: 1e6 * s["cpu_s"][r] / s["requests"][r] for r in s["requests"] if s["requests"][r] and r in s["cpu_s"]}

        for who, name in (("bare", "(a) bare axum"), ("cdn", "(b) in CdnLayer")):
            c64, c1 = layer[who]["c64"], layer[who]["c1"]
            errors = int(sum(c64["errors"].values()) + sum(c1["errors"].values()))
            lines.append(
                f"| {name} | {med(c64['rps'].values()):,.0f} | {med(us_req(who).values()):.1f} | {med(c1['rps'].values()):,.0f} "
                f"| {med(c1['p50_ms'].values()):.3f} | {med(c1['p99_ms'].values()):.3f} | {med(c1['p999_ms'].values()):.3f} | {errors} |"
            )
        a, b = us_req("bare"), us_req("cdn")
        lines.append(
            f"| (b) ÷ (a), median of per-run ratios | {ratio('layer', 'cdn', 'bare', 'rps', 'c64'):.2f}× "
            f"| {med([b[r] / a[r] for r in b if a.get(r)]):.2f}× | {ratio('layer', 'cdn', 'bare', 'rps', 'c1'):.2f}× "
            f"| {ratio('layer', 'cdn', 'bare', 'p50_ms', 'c1'):.2f}× | {ratio('layer', 'cdn', 'bare', 'p99_ms', 'c1'):.2f}× "
            f"| {ratio('layer', 'cdn', 'bare', 'p999_ms', 'c1'):.2f}× | |"
        )
        c64 = ratio("layer", "cdn", "bare", "rps", "c64")
        checks.append(("layer hits ≥ 0.9× the bare handler's req/s (-c64)", c64 >= 0.9, f"{c64:.2f}×"))
        c1 = ratio("layer", "cdn", "bare", "p50_ms", "c1")
        checks.append(("layer p50 ≤ 1.1× the bare handler's (-c1)", c1 <= 1.1, f"{c1:.2f}×"))

    fill = data["scalefill"]["tower-cdn"]["tiny"]
    if fill:
        f = {k: v["1"] for k, v in fill.items()}
        keys = int(f["keys"])
        lines.append("")
        lines.append(f"### {keys:,} small objects (64-byte bodies) in a fresh tower-cdn: hits on 1,000 keys vs on all")
        lines.append("")
        lines.append(
            f"Fill (wrk -t2 -c64, every request a miss): {int(f['origin_requests']):,} origin requests in {f['seconds']:.1f} s "
            f"({f['fills_per_s']:,.0f}/s); {int(f['entries']):,} entries, {int(f['cached_bytes']) / max(1, f['entries']):.0f} "
            f"bytes each as the cache counts them, {int(f['evictions'])} evictions; RSS after the fill {f['rss_mib']:,.1f} MiB. "
            + (
                f"Origin requests during the hit runs: {int(f['hit_run_misses'])}."
                if "hit_run_misses" in f
                else "**The fill did not complete: no hit runs.**"
            )
        )
        scale = data["scale"]["tower-cdn"]
        if scale:
            lines.append("")
            lines.append(
                f"| keys drawn uniformly from (`wrk -t2 -c64`; medians of {runs('scale')} interleaved runs) "
                "| req/s | p50 ms | p99 ms | p99.9 ms | req per CPU-s | errors |"
            )
            lines.append("|---|---:|---:|---:|---:|---:|---:|")
            for size in sorted(scale, key=int):
                s = scale[size]
                cpu = {r: s["requests"][r] / s["cpu_s"][r] for r in s["requests"] if s["cpu_s"].get(r)}
                lines.append(
                    f"| {int(size):,} | {latency_cells(s)} | {med(cpu.values()):,.0f} | {int(sum(s['errors'].values()))} |"
                )
            x, y = scale[str(keys)], scale["1000"]

            def r(metric):
                return med([x[metric][k] / y[metric][k] for k in x[metric] if y[metric].get(k)])

            lines.append(f"| {keys:,} ÷ 1,000 (median of per-run ratios) | {r('rps'):.2f}× | {r('p50_ms'):.2f}× | {r('p99_ms'):.2f}× | {r('p999_ms'):.2f}× | | |")
            checks.append((f"hits over {keys:,} entries within 5% of 1,000", r("rps") >= 0.95, f"{r('rps'):.2f}×"))

    lines.append("")
    lines.append("### Targets")
    lines.append("")
    lines.append("| target | measured | met |")
    lines.append("|---|---|---|")
    for name, ok, value in checks:
        lines.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")

    times = {who: v["-"]["seconds"]["1"] for who, v in data["time"].items() if v["-"]["seconds"]}
    if times:
        lines.append("")
        lines.append(
            "Stage times (wall clock): "
            + ", ".join(f"{who} {t:.0f} s" for who, t in times.items())
            + f"; {sum(times.values()):.0f} s in all."
        )
    print("\n".join(lines))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ttfb":
        cmd_ttfb(args[0])
    elif cmd == "coalesce":
        cmd_coalesce(args[0], int(args[1]), args[2])
    elif cmd == "rss":
        cmd_rss(int(args[0]), args[1], int(args[2]))
    elif cmd == "idle":
        cmd_idle(args[0], int(args[1]), [int(p) for p in args[2].split(",") if p])
    elif cmd == "wrk":
        cmd_wrk(args[0])
    elif cmd == "report":
        cmd_report(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
