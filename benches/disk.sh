#!/usr/bin/env bash
# Load benchmark of the disk tier (`--cache-dir`), on 127.0.0.1 only:
#   1. disk-hit throughput for a 100 KiB and a 10 MiB object: tower-cdn
#      with a memory tier too small to hold them (`--capacity 4MiB
#      --max-object-size 64KiB`), so every hit is read from its file,
#      against nginx `proxy_cache` (its cache is always on disk), the
#      servers interleaved over REPS rounds; req/s, body MB/s, latency and
#      CPU per request, medians and the tower/nginx ratio. tower-cdn's own
#      counters (admin `/metrics`) and one more short, unmeasured wrk run
#      per server and object whose Lua script classifies every response's
#      cache header check that the hits were disk hits;
#   2. cold start with ENTRIES (100 000) small entries on disk: fill, wait
#      until the files are written, stop, start again on the same
#      directory and port; time from the process start to `listening on`,
#      to the first disk hit on an old object, and to `disk tier: index
#      loaded`; nginx the same way (time to its port, to the first HIT);
#   3. HERD (5) concurrent cold requests for one 100 MiB object through a
#      fresh tower-cdn with a fresh `--cache-dir`: origin fetches and peak
#      RSS (VmHWM); nginx's origin fetches for comparison.
# Prints a markdown report at the end (also kept in $WORK/report.md).
#
#   bash benches/disk.sh                        # defaults, ~6-8 minutes
#   DURATION=3s REPS=1 bash benches/disk.sh     # smoke run
#   ENTRIES=20000 bash benches/disk.sh          # smaller cold-start store
#   OUT_DIR=some/dir bash benches/disk.sh       # keep results.tsv, report.md, wrk outputs
#
# Settings (environment): DURATION (10s), REPS (3), THREADS (2),
# CONNS_100K (16), CONNS_10M (8), ENTRIES (100000), FILL_CONNS (64),
# HERD (5), CHECK_DURATION (2s), MEM_CAPACITY (4MiB), MEM_MAX_OBJECT
# (64KiB), DISK_CAPACITY (4GiB), BASE_PORT (18180; uses +1 … +9),
# NGINX_SENDFILE (on), QUIET_BUDGET_S (60), KEEP=1 to keep the temporary
# directory (TMPDIR, default /tmp: the caches live there), CARGO_TARGET_DIR
# (/var/tmp/tower-cdn-ci-target, as .ci/run).
#
# The page cache is warm in every measurement (the files were just written
# and nothing here drops caches): these are disk-tier numbers with the
# kernel's cache in front, as on a server whose working set fits in RAM.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
CONNS_100K=${CONNS_100K:-16}
CONNS_10M=${CONNS_10M:-8}
ENTRIES=${ENTRIES:-100000}
FILL_CONNS=${FILL_CONNS:-64}
HERD=${HERD:-5}
# Length of the unmeasured run per server and object whose Lua script
# classifies every response's cache header.
CHECK_DURATION=${CHECK_DURATION:-2s}
# The memory tier: small enough that 100 KiB and 10 MiB objects are never
# promoted to it (larger than --max-object-size), so their hits are disk hits.
MEM_CAPACITY=${MEM_CAPACITY:-4MiB}
MEM_MAX_OBJECT=${MEM_MAX_OBJECT:-64KiB}
DISK_CAPACITY=${DISK_CAPACITY:-4GiB}
BASE_PORT=${BASE_PORT:-18180}
NGINX_SENDFILE=${NGINX_SENDFILE:-on}
ORIGIN_PORT=$((BASE_PORT + 1))     # bench_origin: /100k, /1k, /big100m, /count
STATIC_PORT=$((BASE_PORT + 2))     # nginx serving files: /10m
TOWER_PORT=$((BASE_PORT + 3))
ADMIN_PORT=$((BASE_PORT + 4))      # tower-cdn's admin API (/metrics)
NGINX_PORT=$((BASE_PORT + 5))
COLD_TOWER_PORT=$((BASE_PORT + 6))
COLD_NGINX_PORT=$((BASE_PORT + 7))
HERD_PORT=$((BASE_PORT + 8))
COLD_ADMIN_PORT=$((BASE_PORT + 9)) # the restarted tower-cdn's admin API
export PATH="$PATH:/usr/sbin:/sbin"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/tower-cdn-ci-target}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tower-cdn-disk.XXXXXX")
chmod 755 "$WORK"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
CLIENT=(python3 benches/load_client.py)
DCLIENT=(python3 "$WORK/disk_client.py")
PIDS=()
SCRIPT_START=$SECONDS

log() { printf '[disk %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Bounded wait, then force.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ the client

# Fill client, cold-start probe and report (standard library only).
cat >"$WORK/disk_client.py" <<'PY'
"""Clients and the report for benches/disk.sh.

  fill BASE_URL PATH_PREFIX N CONNS   N GETs of PATH_PREFIX0 .. PATH_PREFIX(N-1)
                                      over CONNS keep-alive connections:
                                      seconds, statuses, Cache-Status kinds
  coldstart CTL PORT OUT ERR PATH     creates CTL.ready, then waits for CTL
                                      to hold "T0 PID" (the server's start,
                                      epoch seconds, and its pid: written
                                      by the script once it has started
                                      it, so Python's own start-up is not
                                      timed); prints ms from T0 to
                                      `listening on` in OUT (or to the port
                                      accepting when OUT is -), to the
                                      first answer for PATH, its status and
                                      cache header, and to `index loaded`
                                      in ERR (with its entries and
                                      elapsed_ms) unless ERR is -
  report TSV                          the markdown tables
"""

import asyncio
import os
import re
import socket
import statistics
import sys
import time
from collections import Counter, defaultdict

TIMEOUT_S = 20.0


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    if "content-length" not in headers:
        raise RuntimeError(f"no content-length in {lines[0]}: {headers}")
    await reader.readexactly(int(headers["content-length"]))
    return status, headers


def cache_kind(headers):
    """A short name for what the cache said it did."""
    if "x-cache-status" in headers:  # nginx
        return headers["x-cache-status"]
    cs = headers.get("cache-status", "")
    parts = [p.strip() for p in cs.split(";")[1:]]
    if "hit" in parts:
        return "hit (disk)" if "detail=disk" in parts else "hit (memory)"
    return " ".join(p for p in parts if p.startswith("fwd=") or p == "stored") or cs or "none"


def cmd_fill(base, prefix, n, conns):
    host, port = base.split("//", 1)[1].split(":")
    port = int(port)
    keys = iter(range(n))
    statuses, kinds = Counter(), Counter()

    async def worker():
        reader = writer = None
        for i in keys:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {prefix}{i} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: disk_client\r\n\r\n".encode())
            status, headers = await asyncio.wait_for(read_response(reader), TIMEOUT_S)
            statuses[status] += 1
            kinds[cache_kind(headers)] += 1
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        if writer is not None:
            writer.close()

    async def run():
        await asyncio.gather(*(worker() for _ in range(conns)))

    start = time.monotonic()
    asyncio.run(run())
    elapsed = time.monotonic() - start
    fmt = lambda c: ",".join(f"{k}:{v}" for k, v in sorted(c.items(), key=str))
    print(f"{elapsed:.2f}\t{statuses.get(200, 0)}\t{fmt(statuses)}\t{fmt(kinds)}")


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def cmd_coldstart(ctl, port, out_path, err_path, path):
    open(ctl + ".ready", "w").close()
    deadline = time.time() + 30
    while True:
        try:
            with open(ctl) as f:
                t0, pid = f.read().split()
            break
        except (FileNotFoundError, ValueError):
            if time.time() > deadline:
                sys.exit("coldstart: the server was not started")
            time.sleep(0.0005)
    t0, pid = float(t0.replace(",", ".")), int(pid)
    deadline = time.time() + 120
    since = lambda: (time.time() - t0) * 1e3
    listen_ms = None
    if out_path != "-":
        while listen_ms is None:
            try:
                with open(out_path, errors="replace") as f:
                    if "listening on" in f.read():
                        listen_ms = since()
                        break
            except FileNotFoundError:
                pass
            if not alive(pid) or time.time() > deadline:
                sys.exit(f"coldstart: no `listening on` from {pid}")
            time.sleep(0.001)
    while True:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            s.close()
            if not alive(pid) or time.time() > deadline:
                sys.exit(f"coldstart: {pid} never accepted on {port}")
            time.sleep(0.001)
    if listen_ms is None:
        listen_ms = since()
    s.settimeout(TIMEOUT_S)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: disk_client\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    hit_ms = since()
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = head[0].split(" ", 2)[1] if head[0].startswith("HTTP/") else "0"
    cache = next(
        (l.split(":", 1)[1].strip() for l in head[1:] if l.lower().startswith(("cache-status:", "x-cache-status:"))), "none"
    )
    index_ms = entries = logged_ms = "nan"
    if err_path != "-":
        pattern = re.compile(r"index loaded.*entries=(\d+).*elapsed_ms=(\d+)")
        while True:
            with open(err_path, errors="replace") as f:
                m = pattern.search(f.read())
            if m:
                index_ms, entries, logged_ms = f"{since():.1f}", m.group(1), m.group(2)
                break
            if not alive(pid) or time.time() > deadline:
                break
            time.sleep(0.002)
    print(f"{listen_ms:.1f}\t{hit_ms:.1f}\t{status}\t{cache}\t{index_ms}\t{entries}\t{logged_ms}")


def no_ttl(texts):
    """Counts of header values, their changing ttl left out."""
    return Counter(re.sub(r"; ttl=-?\d+", "", t) for t in texts)


def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def cmd_report(path):
    # data[kind][who][obj][metric] -> {rep: value}; text[...] for strings
    data = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(dict))))
    text = defaultdict(list)
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) != 6:
            continue
        kind, who, obj, rep, metric, value = f
        try:
            data[kind][who][obj][metric][rep] = float(value)
        except ValueError:
            text[(kind, who, obj, metric)].append(value)
    out = []
    wrk = data["wrk"]
    sizes = {"100k": 100 * 1024, "10m": 10 * 1024 * 1024}
    reps = len({r for who in wrk.values() for o in who.values() for r in o["rps"]})
    out.append(f"### 1. Disk hits (wrk, medians of {reps} interleaved runs)")
    out.append("")
    out.append("| object | server | wrk | req/s | body MB/s | p50 ms | p99 ms | server CPU µs/req | errors |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for obj in ("100k", "10m"):
        for who in ("tower-cdn", "nginx"):
            s = wrk[who][obj]
            if not s["rps"]:
                continue
            conns = int(med(s["conns"].values()))
            rps = med(s["rps"].values())
            cpu_us = med([1e6 * s["cpu_s"][r] / s["requests"][r] for r in s["requests"] if s["requests"][r]])
            out.append(
                f"| {obj} | {who} | -t{int(med(s['threads'].values()))} -c{conns} | {rps:,.0f} | {rps * sizes[obj] / 1e6:,.0f} "
                f"| {med(s['p50_ms'].values()):.2f} | {med(s['p99_ms'].values()):.2f} | {cpu_us:,.1f} "
                f"| {int(sum(s['errors'].values()))} |"
            )
    out.append("")
    out.append("| object | tower-cdn / nginx (median of per-run ratios): req/s | p50 | p99 | CPU per request |")
    out.append("|---|---:|---:|---:|---:|")
    for obj in ("100k", "10m"):
        t, n = wrk["tower-cdn"][obj], wrk["nginx"][obj]
        if not t["rps"] or not n["rps"]:
            continue

        def ratio(metric):
            return med([t[metric][r] / n[metric][r] for r in t[metric] if n[metric].get(r)])

        def cpu_ratio():
            per = lambda s, r: s["cpu_s"][r] / s["requests"][r] if s["requests"].get(r) else float("nan")
            return med([per(t, r) / per(n, r) for r in t["requests"] if r in n["requests"] and per(n, r)])

        out.append(f"| {obj} | {ratio('rps'):.2f}× | {ratio('p50_ms'):.2f}× | {ratio('p99_ms'):.2f}× | {cpu_ratio():.2f}× |")
    out.append("")
    ver = data["verify"]["tower-cdn"]
    if ver:
        out.append("Were they disk hits? tower-cdn's counters over the measured runs (admin `/metrics`, all runs summed), and")
        out.append("the cache header of every response of one more, unmeasured, wrk run per server and object (Lua `response()`):")
        out.append("")
        out.append(
            "| object | wrk requests | hits counted | disk lookups that found the file | joined another request's disk hit "
            "| misses | origin fetches | tower-cdn check run | nginx check run |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---|---|")
        for obj in ("100k", "10m"):
            v = ver[obj]
            if not v:
                continue
            tot = lambda m: int(sum(v[m].values()))
            seen = lambda who: "; ".join(text[("check", who, obj, "seen")]) or "-"
            out.append(
                f"| {obj} | {int(sum(wrk['tower-cdn'][obj]['requests'].values())):,} | {tot('hits'):,} | {tot('disk_hits'):,} "
                f"| {tot('joined'):,} | {tot('misses'):,} | {tot('fetches'):,} | {seen('tower-cdn')} | {seen('nginx')} |"
            )
        out.append("")
        out.append(
            "A disk hit is served through a fill: requests for the same key that arrive while one is being looked up "
            "join it (one open and check of the file) and each then reads the body from the file itself; they are "
            "answered `detail=disk` too. wrk counts only completed requests; the server also counts those in flight "
            "when wrk stopped."
        )

    cold = data["cold"]
    if cold:
        n = med(data["fill"]["tower-cdn"]["small"]["entries"].values())
        out.append("")
        out.append(f"### 2. Cold start: restart with {n:,.0f} entries on disk (medians of restarts)")
        out.append("")
        out.append(
            "| server | fill: requests/s | fill statuses | cache said | files on disk "
            "| all counted, ms after the fill (incl. one `find`) |"
        )
        out.append("|---|---:|---|---|---:|---:|")
        for who in ("tower-cdn", "nginx"):
            f = data["fill"][who]["small"]
            if not f:
                continue
            g = lambda m: text[("fill", who, "small", m)][0] if text[("fill", who, "small", m)] else ""
            out.append(
                f"| {who} | {med(f['rate'].values()):,.0f} | {g('statuses')} | {g('kinds')} "
                f"| {int(med(f['files'].values())):,} | {med(f['files_wait_ms'].values()):,.0f} |"
            )
        out.append("")
        out.append(
            "| server | restarts | process start → listening ms | → first hit on an old object ms "
            "| first answers (status, cache header) | → index loaded ms | index scan (logged) ms | entries in the index |"
        )
        out.append("|---|---:|---:|---:|---|---:|---:|---:|")
        for who in ("tower-cdn", "nginx"):
            c = cold[who]["small"]
            if not c:
                continue
            answers = no_ttl(text[("cold", who, "small", "first")])
            na = lambda v, fmt: "n/a" if v != v else fmt.format(v)
            out.append(
                f"| {who} | {len(c['listen_ms'])} | {med(c['listen_ms'].values()):.1f} | {med(c['hit_ms'].values()):.1f} "
                f"| {'; '.join(f'{k} ×{v}' for k, v in answers.items())} "
                f"| {na(med(c['index_ms'].values()), '{:,.0f}')} | {na(med(c['logged_ms'].values()), '{:,.0f}')} "
                f"| {na(med(c['indexed'].values()), '{:,.0f}')} |"
            )
        out.append("")
        out.append(
            "nginx: `listening` is when its port first accepted a connection. Its cache loader starts 60 s after "
            "nginx does (fixed in nginx) and then loads `loader_files` (100) entries every `loader_sleep` (50 ms); "
            "until it is done, a request whose key is not in the zone yet looks for the file on disk, so the "
            "first hit does not wait for it. Its 'index loaded' time is not measured here."
        )

    herd = data["herd"]
    if herd:
        out.append("")
        out.append("### 3. Concurrent cold requests for one 100 MiB object")
        out.append("")
        out.append(
            "| server | clients | origin fetches (each run) | idle RSS MiB | peak RSS (VmHWM) MiB | peak − idle MiB "
            "| seconds | next request |"
        )
        out.append("|---|---:|---|---:|---:|---:|---:|---|")
        for who in ("tower-cdn", "nginx"):
            h = herd[who]["big100m"]
            if not h:
                continue
            fetches = ",".join(str(int(h["fetches"][r])) for r in sorted(h["fetches"]))
            m = lambda k, fmt: fmt.format(med(h[k].values())) if h[k] else ""
            after = no_ttl(text[("herd", who, "big100m", "after")])
            out.append(
                f"| {who} | {int(med(h['clients'].values()))} | {fetches} | {m('idle_mib', '{:.1f}')} | {m('peak_mib', '{:.1f}')} "
                f"| {m('delta_mib', '{:.1f}')} | {m('seconds', '{:.2f}')} | {'; '.join(f'{k} ×{v}' for k, v in after.items())} |"
            )
    print("\n".join(out))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "fill":
        cmd_fill(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "coldstart":
        cmd_coldstart(args[0], int(args[1]), args[2], args[3], args[4])
    elif cmd == "report":
        cmd_report(args[0])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
PY

# ------------------------------------------------------------------ set-up

install_missing() {
    local need=()
    command -v nginx >/dev/null || need+=(nginx-light)
    command -v wrk >/dev/null || need+=(wrk)
    command -v curl >/dev/null || need+=(curl)
    ((${#need[@]})) || return 0
    local sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    log "installing ${need[*]} from apt"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 pid=$2
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before listening on $port"
        sleep 0.05
    done
    die "nothing listens on $port after 10 s"
}

# Starts a program that prints `listening on http://ADDR` first; sets STARTED.
start_listening() {
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 200); do
        grep -q '^listening on http://' "$WORK/$name.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || die "$name exited: $(cat "$WORK/$name.err")"
        sleep 0.05
    done
    wait_port "$port" "$pid"
    STARTED=$pid
}

# Stops a process this script started (SIGTERM, bounded wait, then SIGKILL)
# and forgets it.
stop_pid() {
    local pid=$1 p keep=()
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# nginx as a cache with load.sh's settings: $1 = zone name, $2 = port,
# $3 = its directory, $4 = the origin's port.
write_nginx_conf() {
    local name=$1 port=$2 dir=$3 upstream=$4
    mkdir -p "$dir/cache" "$dir/client" "$dir/proxy"
    local user_line=""
    [[ $(id -u) == 0 ]] && user_line="user root;"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile $NGINX_SENDFILE;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $dir/client;
    proxy_temp_path $dir/proxy;
    proxy_cache_path $dir/cache levels=1:2 keys_zone=$name:32m max_size=4g inactive=1h use_temp_path=off;
    upstream origin {
        server 127.0.0.1:$upstream;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache $name;
            proxy_cache_lock on;
            proxy_buffering on;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
EOF
}

# The origin of the throughput objects /100k and /10m: nginx serving files
# with bench_origin's Cache-Control, and an access log to count fetches.
write_static_conf() {
    local dir=$WORK/static
    mkdir -p "$dir/root" "$dir/client" "$dir/proxy"
    head -c $((100 * 1024)) /dev/zero | tr '\0' b >"$dir/root/100k"
    head -c $((10 * 1024 * 1024)) /dev/zero | tr '\0' e >"$dir/root/10m"
    local user_line=""
    [[ $(id -u) == 0 ]] && user_line="user root;"
    cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log $dir/access.log;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $dir/client;
    proxy_temp_path $dir/proxy;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$STATIC_PORT;
        root $dir/root;
        add_header Cache-Control "max-age=3600";
    }
}
EOF
}

# Starts nginx in the foreground with DIR/nginx.conf ($1 = DIR, $2 = its
# port); sets STARTED.
start_nginx() {
    local dir=$1 port=$2
    nginx -t -q -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' 2>"$dir/nginx-t.err" ||
        die "nginx config $dir: $(cat "$dir/nginx-t.err")"
    nginx -c "$dir/nginx.conf" -p "$dir" -g 'daemon off;' >>"$dir/nginx.out" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
    wait_port "$port" "$STARTED"
}

# Sum of user+system CPU ticks of a process and all its descendants.
cpu_ticks() {
    local total=0 p
    for p in $(tree_pids "$1"); do
        [[ -r /proc/$p/stat ]] || continue
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat")))
    done
    echo "$total"
}
tree_pids() {
    local c
    echo "$1"
    for c in $(pgrep -P "$1" || true); do tree_pids "$c"; done
}

# The machine is shared: before each measured run, wait for a second in
# which other work used less than a quarter of the CPUs, spending at most
# QUIET_BUDGET_S seconds on waiting in the whole script.
QUIET_BUDGET_S=${QUIET_BUDGET_S:-60}
QUIET_SPENT=0
wait_quiet() {
    local busy start=$SECONDS
    while :; do
        busy=$(
            awk '$1 == "cpu" { print $2 + $3 + $4 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
            sleep 1
            awk '$1 == "cpu" { print $2 + $3 + $4 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
        )
        busy=$(awk 'NR == 1 { b = $1; t = $2 } NR == 2 { print int(100 * ($1 - b) / ($2 - t + 1)) }' <<<"$busy")
        ((busy < 25)) && break
        if ((QUIET_SPENT + SECONDS - start >= QUIET_BUDGET_S)); then
            log "machine ${busy}% busy with other work; measuring anyway"
            break
        fi
    done
    QUIET_SPENT=$((QUIET_SPENT + SECONDS - start))
}

record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

# The value of a header in the answer to one GET (empty if none).
header_of() {
    local url=$1 name=$2
    curl -sS --max-time 30 -D - -o /dev/null "$url" | tr -d '\r' |
        awk -v n="$(tr 'A-Z' 'a-z' <<<"$name")" 'tolower($0) ~ "^" n ":" { sub(/^[^:]*: */, ""); print; exit }'
}

# A GET that must be a hit of the given kind; retried for a few seconds
# (a disk write is committed just after its fill ends).
expect() {
    local what=$1 url=$2 name=$3 pattern=$4 value=""
    for _ in $(seq 50); do
        value=$(header_of "$url" "$name")
        grep -qE "$pattern" <<<"$value" && return 0
        sleep 0.1
    done
    die "$what: $url: $name is '$value', not /$pattern/"
}
DISK_HIT='(^|; )hit(;.*)?; detail=disk'

# tower-cdn's counters from its admin /metrics: disk hits (lookups that
# found the file), hits, misses, origin fetches, and requests that joined
# another request's fill (a disk hit is served through a fill: requests for
# the same key meanwhile share its lookup, and each reads the file itself).
tower_counters() {
    curl -sS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '
        $1 == "tower_cdn_disk_hits_total" { d = $2 }
        $1 ~ /^tower_cdn_requests_total\{result_type="Hit",/ { h += $2 }
        $1 ~ /^tower_cdn_requests_total\{result_type="Miss",/ { m += $2 }
        $1 == "tower_cdn_origin_fetches_total" { f = $2 }
        $1 == "tower_cdn_coalesced_waiters_total" { c = $2 }
        END { printf "%d %d %d %d %d\n", d, h, m, f, c }'
}

# Files under a directory (what the disk tier or nginx's cache holds).
count_files() { find "$1" -type f 2>/dev/null | wc -l; }

# ------------------------------------------------------------------- start

for port in "$ORIGIN_PORT" "$STATIC_PORT" "$TOWER_PORT" "$ADMIN_PORT" "$NGINX_PORT" "$COLD_TOWER_PORT" \
    "$COLD_NGINX_PORT" "$HERD_PORT" "$COLD_ADMIN_PORT"; do
    port_free "$port" || die "port $port is in use (set BASE_PORT)"
done
install_missing
log "building (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
# What is built: the commit, and whether the work tree differs from it.
REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock examples/bench_origin.rs 2>/dev/null || REVISION="$REVISION + uncommitted changes"
# Two commands: building the example with the binary would unify the
# dev-dependencies' features into the binary under test.
cargo build --release --locked --quiet
cargo build --release --locked --quiet --example bench_origin
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
TOWER_BIN=$TARGET/release/tower-cdn
ORIGIN_BIN=$TARGET/release/examples/bench_origin
CLK_TCK=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MEASURE_START=$SECONDS
TOWER_ARGS=(--capacity "$MEM_CAPACITY" --max-object-size "$MEM_MAX_OBJECT" --disk-capacity "$DISK_CAPACITY")

ORIGIN=http://127.0.0.1:$ORIGIN_PORT
start_listening origin "$ORIGIN_PORT" "$ORIGIN_BIN" "127.0.0.1:$ORIGIN_PORT"
write_static_conf
start_nginx "$WORK/static" "$STATIC_PORT"


ORIGIN=http://127.0.0.1:$ORIGIN_PORT
STATIC=http://127.0.0.1:$STATIC_PORT

log "versions: $("$TOWER_BIN" --version), $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1)"

# ------------------------------------------------------- 1. disk hits

declare -A ROOT PORT HIT
start_listening tower "$TOWER_PORT" env RUST_LOG=warn "$TOWER_BIN" \
    --listen "127.0.0.1:$TOWER_PORT" --origin "$STATIC" --admin "127.0.0.1:$ADMIN_PORT" \
    --cache-dir "$WORK/tower-cache" "${TOWER_ARGS[@]}"
ROOT[tower-cdn]=$STARTED
PORT[tower-cdn]=$TOWER_PORT
wait_port "$ADMIN_PORT" "$STARTED"
write_nginx_conf hits "$NGINX_PORT" "$WORK/nginx" "$STATIC_PORT"
start_nginx "$WORK/nginx" "$NGINX_PORT"
ROOT[nginx]=$STARTED
PORT[nginx]=$NGINX_PORT
CONTENDERS=(tower-cdn nginx)
declare -A CONNS=([100k]=$CONNS_100K [10m]=$CONNS_10M)

for size in 100k 10m; do
    for who in "${CONTENDERS[@]}"; do
        url="http://127.0.0.1:${PORT[$who]}/$size"
        curl -sS --max-time 30 -o /dev/null "$url"
    done
    expect "tower-cdn warm-up" "http://127.0.0.1:$TOWER_PORT/$size" cache-status "$DISK_HIT"
    expect "nginx warm-up" "http://127.0.0.1:$NGINX_PORT/$size" x-cache-status '^HIT$'
done
# The memory tier holds neither object: what it holds now stays the same.
mem_entries=$(curl -sS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')
log "tower-cdn memory tier entries after the warm-up: $mem_entries (the disk holds $(count_files "$WORK/tower-cache/v1/objects") files)"

for rep in $(seq "$REPS"); do
    for size in 100k 10m; do
        for who in "${CONTENDERS[@]}"; do
            url="http://127.0.0.1:${PORT[$who]}/$size"
            out=$WORK/wrk-$who-$size-$rep.txt
            wait_quiet
            [[ $who == tower-cdn ]] && read -r d0 h0 m0 f0 j0 < <(tower_counters)
            c0=$(cpu_ticks "${ROOT[$who]}")
            wrk "-t$THREADS" "-c${CONNS[$size]}" "-d$DURATION" --latency "$url" >"$out"
            c1=$(cpu_ticks "${ROOT[$who]}")
            IFS=$'\t' read -r rps p50 p99 requests errors < <("${CLIENT[@]}" wrk "$out")
            cpu_s=$(python3 -c "print(($c1 - $c0) / $CLK_TCK)")
            extra=""
            if [[ $who == tower-cdn ]]; then
                read -r d1 h1 m1 f1 j1 < <(tower_counters)
                sample=$(header_of "$url" cache-status)
                grep -qE "$DISK_HIT" <<<"$sample" || log "warning: tower-cdn $size sample after the run: Cache-Status '$sample'"
                record verify tower-cdn "$size" "$rep" disk_hits $((d1 - d0))
                record verify tower-cdn "$size" "$rep" hits $((h1 - h0))
                record verify tower-cdn "$size" "$rep" misses $((m1 - m0))
                record verify tower-cdn "$size" "$rep" fetches $((f1 - f0))
                record verify tower-cdn "$size" "$rep" joined $((j1 - j0))
                record verify tower-cdn "$size" "$rep" sample "$sample"
                extra=", $((h1 - h0)) hits: $((d1 - d0)) disk lookups + $((j1 - j0)) joined; $((m1 - m0)) misses, $((f1 - f0)) origin fetches; sample: $sample"
            else
                sample=$(header_of "$url" x-cache-status)
                [[ $sample == HIT ]] || log "warning: nginx $size sample after the run: X-Cache-Status '$sample'"
                extra=", sample X-Cache-Status: $sample"
            fi
            log "rep $rep $size $who: $rps req/s, p50 $p50 ms, p99 $p99 ms, $requests requests on $cpu_s CPU-s, $errors errors$extra"
            record wrk "$who" "$size" "$rep" rps "$rps"
            record wrk "$who" "$size" "$rep" p50_ms "$p50"
            record wrk "$who" "$size" "$rep" p99_ms "$p99"
            record wrk "$who" "$size" "$rep" requests "$requests"
            record wrk "$who" "$size" "$rep" errors "$errors"
            record wrk "$who" "$size" "$rep" cpu_s "$cpu_s"
            record wrk "$who" "$size" "$rep" threads "$THREADS"
            record wrk "$who" "$size" "$rep" conns "${CONNS[$size]}"
        done
    done
done
# Not measured: one more short wrk run per server and object whose Lua
# script classifies the cache header of every response.
cat >"$WORK/status.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body)
    local v
    for name, value in pairs(headers) do
        local n = string.lower(name)
        if n == "cache-status" or n == "x-cache-status" then v = value end
    end
    local kind
    if v == nil then
        kind = "no cache header"
    elseif v:find("; hit") then
        kind = v:find("detail=disk") and "hit (disk)" or "hit (memory)"
    else
        kind = v:gsub("; ttl=%-?%d+", "")
    end
    kind = status .. " " .. kind
    counts[kind] = (counts[kind] or 0) + 1
end
function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for k, n in pairs(t:get("counts")) do total[k] = (total[k] or 0) + n end
    end
    for k, n in pairs(total) do io.write(string.format("status\t%d\t%s\n", n, k)) end
end
LUA
for size in 100k 10m; do
    for who in "${CONTENDERS[@]}"; do
        out=$WORK/check-$who-$size.txt
        wrk "-t$THREADS" "-c${CONNS[$size]}" "-d$CHECK_DURATION" -s "$WORK/status.lua" \
            "http://127.0.0.1:${PORT[$who]}/$size" >"$out"
        seen=$(awk -F'\t' '$1 == "status" { printf "%s%s ×%d", sep, $3, $2; sep = "; " }' "$out")
        log "check $size $who: $seen"
        record check "$who" "$size" 0 seen "$seen"
    done
done
# Every request of the runs was a hit: the static origin saw each object
# fetched once per server (the warm-ups).
static_fetches=$(awk '$7 == "/100k" || $7 == "/10m" { n++ } END { print n + 0 }' "$WORK/static/access.log")
mem_entries_after=$(curl -sS --max-time 5 "http://127.0.0.1:$ADMIN_PORT/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"])')
log "origin requests for /100k and /10m (2 servers x 2 objects warmed): $static_fetches; tower-cdn memory entries: $mem_entries_after"
stop_pid "${ROOT[tower-cdn]}"
stop_pid "${ROOT[nginx]}"

# ------------------------------------------------------- 2. cold start

COLD_DIR=$WORK/cold-cache
start_tower_cold() {
    # The time the process starts, taken just before the fork.
    COLD_T0=$EPOCHREALTIME
    RUST_LOG=info "$TOWER_BIN" --listen "127.0.0.1:$COLD_TOWER_PORT" --origin "$ORIGIN" \
        --admin "127.0.0.1:$COLD_ADMIN_PORT" --cache-dir "$COLD_DIR" "${TOWER_ARGS[@]}" >"$WORK/cold-$1.out" 2>"$WORK/cold-$1.err" &
    STARTED=$!
    PIDS+=("$STARTED")
}
start_nginx_cold() {
    COLD_T0=$EPOCHREALTIME
    nginx -c "$WORK/nginx-cold/nginx.conf" -p "$WORK/nginx-cold" -g 'daemon off;' >>"$WORK/nginx-cold/nginx.out" 2>&1 &
    STARTED=$!
    PIDS+=("$STARTED")
}
declare -A COLD
start_tower_cold fill
COLD[tower-cdn]=$STARTED
wait_port "$COLD_TOWER_PORT" "$STARTED"
write_nginx_conf cold "$COLD_NGINX_PORT" "$WORK/nginx-cold" "$ORIGIN_PORT"
start_nginx "$WORK/nginx-cold" "$COLD_NGINX_PORT"
declare -A COLD_PORT=([tower-cdn]=$COLD_TOWER_PORT [nginx]=$COLD_NGINX_PORT)
declare -A COLD_FILES=([tower-cdn]=$COLD_DIR/v1/objects [nginx]=$WORK/nginx-cold/cache)
COLD[nginx]=$STARTED
record fill tower-cdn small 0 entries "$ENTRIES"

for who in "${CONTENDERS[@]}"; do
    IFS=$'\t' read -r secs ok statuses kinds < <("${DCLIENT[@]}" fill "http://127.0.0.1:${COLD_PORT[$who]}" "/1k?n=" "$ENTRIES" "$FILL_CONNS")
    log "fill $who: $ENTRIES requests in $secs s, statuses $statuses, cache said $kinds"
    ((ok == ENTRIES)) || die "fill $who: only $ok of $ENTRIES answers were 200 ($statuses)"
    record fill "$who" small 0 rate "$(python3 -c "print($ENTRIES / $secs)")"
    record fill "$who" small 0 statuses "$statuses"
    record fill "$who" small 0 kinds "$kinds"
    # Wait until the files are written (the disk tier's writers run behind
    # the responses): the count reaches ENTRIES, or stops growing for 10 s.
    # The time includes the first count (`find` over ENTRIES files).
    t0=$SECONDS us0=${EPOCHREALTIME/[.,]/} last=-1 same_since=$SECONDS
    while :; do
        files=$(count_files "${COLD_FILES[$who]}")
        ((files >= ENTRIES)) && break
        if ((files != last)); then last=$files same_since=$SECONDS; fi
        if ((SECONDS - same_since >= 10 || SECONDS - t0 >= 300)); then
            log "warning: $who holds $files files of $ENTRIES"
            break
        fi
        sleep 0.2
    done
    waited=$(((${EPOCHREALTIME/[.,]/} - us0) / 1000))
    log "$who: $files files on disk, counted $waited ms after the fill ended"
    record fill "$who" small 0 files "$files"
    record fill "$who" small 0 files_wait_ms "$waited"
done

for rep in $(seq "$REPS"); do
    for who in "${CONTENDERS[@]}"; do
        stop_pid "${COLD[$who]}"
        key=$((RANDOM * 32768 + RANDOM))
        path="/1k?n=$((key % ENTRIES))"
        if [[ $who == tower-cdn ]]; then
            out=$WORK/cold-$rep.out err=$WORK/cold-$rep.err
        else
            out=- err=-
        fi
        # The watcher first (its start-up is not timed), then the server.
        ctl=$WORK/cold-$who-$rep.ctl
        "${DCLIENT[@]}" coldstart "$ctl" "${COLD_PORT[$who]}" "$out" "$err" "$path" >"$ctl.result" &
        watcher=$!
        for _ in $(seq 600); do [[ -e $ctl.ready ]] && break; sleep 0.05; done
        [[ -e $ctl.ready ]] || die "the cold-start watcher did not start"
        if [[ $who == tower-cdn ]]; then start_tower_cold "$rep"; else start_nginx_cold; fi
        COLD[$who]=$STARTED
        # One write by the shell itself: no fork before the watcher reads it.
        echo "$COLD_T0 $STARTED" >"$ctl"
        wait "$watcher" || die "cold-start watcher for $who failed"
        IFS=$'\t' read -r listen_ms hit_ms status cache index_ms entries logged_ms <"$ctl.result"
        log "restart $rep $who: listening after $listen_ms ms, $path answered $status ($cache) after $hit_ms ms, index loaded after $index_ms ms ($entries entries, scan $logged_ms ms)"
        record cold "$who" small "$rep" listen_ms "$listen_ms"
        record cold "$who" small "$rep" hit_ms "$hit_ms"
        record cold "$who" small "$rep" first "$status $cache"
        record cold "$who" small "$rep" index_ms "$index_ms"
        record cold "$who" small "$rep" entries "$entries"
        record cold "$who" small "$rep" logged_ms "$logged_ms"
        if [[ $who == tower-cdn ]]; then
            # The index once loaded (the scan's own count leaves out what
            # requests indexed before it got there: the first hit).
            indexed=$(curl -sS --max-time 5 "http://127.0.0.1:$COLD_ADMIN_PORT/metrics" | awk '$1 == "tower_cdn_disk_entries" { print $2 }')
            log "restart $rep tower-cdn: the index holds ${indexed:-?} entries"
            record cold "$who" small "$rep" indexed "${indexed:-nan}"
            grep -qE "$DISK_HIT" <<<"$cache" || log "warning: the first answer after the restart was not a disk hit: $status $cache"
        else
            [[ $cache == HIT ]] || log "warning: nginx's first answer after the restart was not a HIT: $status $cache"
        fi
    done
done
stop_pid "${COLD[tower-cdn]}"

# --------------------------------------- 3. concurrent cold 100 MiB requests

for rep in $(seq "$REPS"); do
    start_listening "herd-$rep" "$HERD_PORT" env RUST_LOG=warn "$TOWER_BIN" \
        --listen "127.0.0.1:$HERD_PORT" --origin "$ORIGIN" --cache-dir "$WORK/herd-cache-$rep" "${TOWER_ARGS[@]}"
    herd=$STARTED
    # One small request so the idle figure includes a served connection.
    curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$HERD_PORT/1k?idle=$rep"
    sleep 0.5
    for who in tower-cdn nginx; do
        port=$HERD_PORT
        [[ $who == nginx ]] && port=$COLD_NGINX_PORT
        key="/big100m?herd=$who-$rep-$RANDOM$RANDOM"
        url="http://127.0.0.1:$port$key"
        if [[ $who == tower-cdn ]]; then
            IFS=$'\t' read -r idle peak delta seconds sizes < <("${CLIENT[@]}" rss "$herd" "$url" "$HERD")
            hwm=$(awk '$1 == "VmHWM:" { printf "%.1f", $2 / 1024 }' "/proc/$herd/status")
            after=$(header_of "$url" cache-status)
            if ! grep -qE "$DISK_HIT" <<<"$after"; then
                # The file is committed just after the fill: once more, later.
                sleep 1
                after=$(header_of "$url" cache-status)
            fi
        else
            t0=$EPOCHREALTIME
            sizes=$(for _ in $(seq "$HERD"); do
                curl -sS -o /dev/null --max-time 60 -w '%{http_code} %{size_download}\n' "$url" &
            done
            wait)
            seconds=$(python3 -c "import time; print(f'{time.time() - float(\"${t0/,/.}\"):.2f}')")
            [[ $(sort -u <<<"$sizes") == "200 104857600" ]] || die "nginx herd downloads: $sizes"
            sizes=104857600
            after=$(header_of "$url" x-cache-status)
        fi
        fetches=$(curl -sS --max-time 5 "$ORIGIN/count" | awk -v k="$key" '$1 == k { print $2 }')
        [[ $sizes == 104857600 ]] || die "$who: downloads were not 100 MiB each: $sizes"
        record herd "$who" big100m "$rep" clients "$HERD"
        record herd "$who" big100m "$rep" fetches "${fetches:-0}"
        record herd "$who" big100m "$rep" seconds "$seconds"
        record herd "$who" big100m "$rep" after "$after"
        if [[ $who == tower-cdn ]]; then
            record herd "$who" big100m "$rep" idle_mib "$idle"
            record herd "$who" big100m "$rep" peak_mib "$peak"
            record herd "$who" big100m "$rep" delta_mib "$delta"
            log "$HERD x 100 MiB via tower-cdn: ${fetches:-0} origin fetches, RSS idle $idle MiB, peak $peak MiB (VmHWM $hwm, +$delta), $seconds s; next request: $after"
        else
            log "$HERD x 100 MiB via nginx: ${fetches:-0} origin fetches, $seconds s; next request: $after"
        fi
    done
    stop_pid "$herd"
done

# ------------------------------------------------------------- report

{
    echo "## Disk-tier benchmark, $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -sr); load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    echo "\`DURATION=$DURATION REPS=$REPS ENTRIES=$ENTRIES NGINX_SENDFILE=$NGINX_SENDFILE bash benches/disk.sh\`:" \
        "$("$TOWER_BIN" --version) (commit $REVISION) \`${TOWER_ARGS[*]} --cache-dir DIR\`; $(nginx -v 2>&1 | sed 's/^nginx version: //') \`proxy_cache_path\` on the same file system, sendfile $NGINX_SENDFILE;" \
        "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'). Page cache warm throughout." \
        "Origin requests for /100k and /10m during all hit runs: $static_fetches (4 = warm-ups only);" \
        "tower-cdn's memory tier held $mem_entries_after entries after the runs ($mem_entries before)." \
        "Measured part: $((SECONDS - MEASURE_START)) s."
    echo
    "${DCLIENT[@]}" report "$RESULTS"
} | tee "$WORK/report.md"
# OUT_DIR=DIR keeps the raw numbers and the report.
if [[ -n ${OUT_DIR:-} ]]; then
    mkdir -p "$OUT_DIR"
    cp "$RESULTS" "$WORK/report.md" "$WORK"/wrk-*.txt "$OUT_DIR/"
fi
