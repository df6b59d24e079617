#!/usr/bin/env bash
# Load benchmark: the tower-cdn dev proxy against nginx `proxy_cache` and
# Varnish, in one run, all on 127.0.0.1. See benches/README.md.
#
#   bash benches/load.sh                 # ~5 minutes on 2 cores
#   DURATION=3s REPS=1 bash benches/load.sh   # a quick smoke run
#
# Installs nginx-light, varnish and wrk from apt when missing, builds the
# release binary and the bench origin (examples/bench_origin.rs), then:
#   1. hits: wrk against each server for /1k and /100k, the servers
#      interleaved, REPS times; CPU time of each server's processes;
#   2. cold-miss time to first byte of a slow streaming object, each server
#      and the origin directly;
#   3. 50 concurrent cold requests for one object: origin fetches and each
#      client's first byte after the origin's;
#   4. peak RSS of tower-cdn (--capacity 16MiB) while 4 clients download a
#      cold 100 MiB object at once;
#   5. hits over TLS (TLS=0 skips it): tower-cdn --tls-cert and nginx
#      `listen ... ssl` with the same ECDSA P-256 certificate (openssl),
#      wrk over HTTPS (keep-alive), interleaved REPS times.
# Prints a markdown report at the end (also kept in $WORK/report.md).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
REPS=${REPS:-3}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
BASE_PORT=${BASE_PORT:-18080}
# nginx's fastest setting here: sendfile on. `off` (nginx's default) serves
# 100 KiB hits about 40% slower; `tcp_nopush on` with sendfile stalls every
# response ~40 ms on loopback (delayed ACK), so it stays off.
NGINX_SENDFILE=${NGINX_SENDFILE:-on}
ORIGIN_PORT=$((BASE_PORT + 1))
TOWER_PORT=$((BASE_PORT + 2))
SMALL_PORT=$((BASE_PORT + 3))
NGINX_PORT=$((BASE_PORT + 4))
VARNISH_PORT=$((BASE_PORT + 5))
TOWER_TLS_PORT=$((BASE_PORT + 6))
NGINX_TLS_PORT=$((BASE_PORT + 7))
TLS=${TLS:-1}
export PATH="$PATH:/usr/sbin:/sbin"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tower-cdn-load.XXXXXX")
chmod 755 "$WORK"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
CLIENT=(python3 benches/load_client.py)
PIDS=()

log() { printf '[load %s] %s\n' "$(date +%T)" "$*" >&2; }
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

# ------------------------------------------------------------------ set-up

install_missing() {
    local need=()
    command -v nginx >/dev/null || need+=(nginx-light)
    command -v varnishd >/dev/null || need+=(varnish)
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

# Starts a program that prints `listening on http(s)://ADDR` first; sets STARTED.
start_listening() {
    local name=$1 port=$2
    shift 2
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    local pid=$!
    PIDS+=("$pid")
    for _ in $(seq 200); do
        grep -q '^listening on https\?://' "$WORK/$name.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || die "$name exited: $(cat "$WORK/$name.err")"
        sleep 0.05
    done
    wait_port "$port" "$pid"
    STARTED=$pid
}

write_nginx_conf() {
    mkdir -p "$WORK/nginx/cache" "$WORK/nginx/client" "$WORK/nginx/proxy"
    local user_line=""
    [[ $(id -u) == 0 ]] && user_line="user root;"
    cat >"$WORK/nginx/nginx.conf" <<EOF
$user_line
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile $NGINX_SENDFILE;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/client;
    proxy_temp_path $WORK/nginx/proxy;
    proxy_cache_path $WORK/nginx/cache levels=1:2 keys_zone=bench:16m max_size=1g inactive=1h use_temp_path=off;
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
$(nginx_cache_location)
    }
$(nginx_tls_server)
}
EOF
}

# The cache every nginx server block uses (cleartext and TLS alike).
nginx_cache_location() {
    cat <<EOF
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_lock on;
            proxy_buffering on;
            add_header X-Cache-Status \$upstream_cache_status;
        }
EOF
}

# The TLS server block (stage 5): the same cache, the bench certificate.
nginx_tls_server() {
    [[ $TLS == 1 ]] || return 0
    cat <<EOF
    server {
        listen 127.0.0.1:$NGINX_TLS_PORT ssl;
        ssl_certificate $WORK/tls/cert.pem;
        ssl_certificate_key $WORK/tls/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
$(nginx_cache_location)
    }
EOF
}

write_vcl() {
    cat >"$WORK/bench.vcl" <<EOF
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "$ORIGIN_PORT"; }
sub vcl_backend_response { set beresp.do_stream = true; }
sub vcl_deliver {
    if (obj.hits > 0) { set resp.http.X-Cache = "HIT"; } else { set resp.http.X-Cache = "MISS"; }
}
EOF
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

# CPU ticks charged to processes on the whole machine (user, nice, system,
# steal), and ticks spent in interrupts and softirqs, which the kernel
# charges to no process (most loopback TCP processing lands there).
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $9 }' /proc/stat; }
softirq_ticks() { awk '$1 == "cpu" { print $7 + $8 }' /proc/stat; }
# CPU ticks of this shell's reaped children (wrk, once it has exited).
children_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"; }

record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

# A GET that must be a cache hit, judged by the server's own header.
expect_hit() {
    local name=$1 url=$2 pattern=$3 headers
    headers=$(curl -ksS --max-time 5 -D - -o /dev/null "$url")
    grep -qiE "$pattern" <<<"$headers" || die "$name: $url is not a hit: $headers"
}

# One measured wrk run against a warm object: KIND (`wrk` for stage 1,
# `tls` for stage 5) WHO SIZE REP URL and the server's root pid; records
# throughput, latency and the CPU each party spent.
measure_hits() {
    local kind=$1 who=$2 size=$3 rep=$4 url=$5 root=$6
    local out=$WORK/wrk-$kind-$who-$size-$rep.txt m0 s0 w0 c0 m1 s1 w1 c1 rps p50 p99 requests errors
    wait_quiet
    m0=$(machine_ticks) s0=$(softirq_ticks) w0=$(children_ticks) c0=$(cpu_ticks "$root")
    wrk "-t$THREADS" "-c$CONNS" "-d$DURATION" --latency "$url" >"$out"
    c1=$(cpu_ticks "$root") w1=$(children_ticks) s1=$(softirq_ticks) m1=$(machine_ticks)
    IFS=$'\t' read -r rps p50 p99 requests errors < <("${CLIENT[@]}" wrk "$out")
    local cpu_s wrk_s softirq_s other_s
    cpu_s=$(python3 -c "print(($c1 - $c0) / $CLK_TCK)")
    wrk_s=$(python3 -c "print(($w1 - $w0) / $CLK_TCK)")
    softirq_s=$(python3 -c "print(($s1 - $s0) / $CLK_TCK)")
    # CPU other processes took meanwhile: noise from other work.
    other_s=$(python3 -c "print(max(0, ($m1 - $m0) - ($c1 - $c0) - ($w1 - $w0)) / $CLK_TCK)")
    log "$kind rep $rep $size $who: $rps req/s, p50 $p50 ms, p99 $p99 ms, $requests requests on $cpu_s CPU-s (wrk $wrk_s, softirq $softirq_s, others $other_s), $errors errors"
    local at=("$kind" "$who" "$size" "$rep")
    record "${at[@]}" rps "$rps"
    record "${at[@]}" p50_ms "$p50"
    record "${at[@]}" p99_ms "$p99"
    record "${at[@]}" requests "$requests"
    record "${at[@]}" errors "$errors"
    record "${at[@]}" cpu_s "$cpu_s"
    record "${at[@]}" wrk_cpu_s "$wrk_s"
    record "${at[@]}" softirq_cpu_s "$softirq_s"
    record "${at[@]}" other_cpu_s "$other_s"
}

# ------------------------------------------------------------------- start

for port in "$ORIGIN_PORT" "$TOWER_PORT" "$SMALL_PORT" "$NGINX_PORT" "$VARNISH_PORT" "$TOWER_TLS_PORT" "$NGINX_TLS_PORT"; do
    port_free "$port" || die "port $port is in use (set BASE_PORT)"
done
install_missing
log "building (release)"
# Two commands: building the example with the binary would unify the
# dev-dependencies' features into the binary under test.
cargo build --release --locked --quiet
cargo build --release --locked --quiet --example bench_origin
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
TOWER_BIN=$TARGET/release/tower-cdn
ORIGIN_BIN=$TARGET/release/examples/bench_origin
CLK_TCK=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

ORIGIN=http://127.0.0.1:$ORIGIN_PORT
start_listening origin "$ORIGIN_PORT" "$ORIGIN_BIN" "127.0.0.1:$ORIGIN_PORT"
declare -A ROOT PORT HIT
start_listening tower "$TOWER_PORT" env RUST_LOG=warn "$TOWER_BIN" \
    --listen "127.0.0.1:$TOWER_PORT" --origin "$ORIGIN" --capacity 256MiB
ROOT[tower-cdn]=$STARTED
PORT[tower-cdn]=$TOWER_PORT
HIT[tower-cdn]='^x-cache: Hit from tower-cdn'

if [[ $TLS == 1 ]]; then
    mkdir -p "$WORK/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>"$WORK/tls/openssl.err" ||
        die "openssl: $(cat "$WORK/tls/openssl.err")"
    start_listening tower-tls "$TOWER_TLS_PORT" env RUST_LOG=warn "$TOWER_BIN" \
        --listen "127.0.0.1:$TOWER_TLS_PORT" --origin "$ORIGIN" --capacity 256MiB \
        --tls-cert "$WORK/tls/cert.pem" --tls-key "$WORK/tls/key.pem"
    ROOT[tower-cdn-tls]=$STARTED
fi

write_nginx_conf
nginx -t -q -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' 2>"$WORK/nginx-t.err" ||
    die "nginx config: $(cat "$WORK/nginx-t.err")"
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' >"$WORK/nginx.out" 2>&1 &
ROOT[nginx]=$!
PIDS+=("${ROOT[nginx]}")
wait_port "$NGINX_PORT" "${ROOT[nginx]}"
PORT[nginx]=$NGINX_PORT
HIT[nginx]='^x-cache-status: HIT'

write_vcl
varnishd -F -f "$WORK/bench.vcl" -a "127.0.0.1:$VARNISH_PORT" -s malloc,256m -n "$WORK/varnish" \
    >"$WORK/varnish.out" 2>&1 &
ROOT[varnish]=$!
PIDS+=("${ROOT[varnish]}")
wait_port "$VARNISH_PORT" "${ROOT[varnish]}"
PORT[varnish]=$VARNISH_PORT
HIT[varnish]='^x-cache: HIT'
CONTENDERS=(tower-cdn nginx varnish)

log "versions: $("$TOWER_BIN" --version), $(nginx -v 2>&1), $(varnishd -V 2>&1 | head -1), $(wrk -v 2>&1 | head -1)"

# ------------------------------------------------------------------- hits

curl -sS --max-time 5 "$ORIGIN/reset" >/dev/null
for who in "${CONTENDERS[@]}"; do
    for size in 1k 100k; do
        url="http://127.0.0.1:${PORT[$who]}/$size"
        curl -sS --max-time 5 -o /dev/null "$url"
        expect_hit "$who" "$url" "${HIT[$who]}"
    done
done

for rep in $(seq "$REPS"); do
    for size in 1k 100k; do
        for who in "${CONTENDERS[@]}"; do
            measure_hits wrk "$who" "$size" "$rep" "http://127.0.0.1:${PORT[$who]}/$size" "${ROOT[$who]}"
        done
    done
done
# Every request of the hit runs must have been a hit: one origin fetch per
# server and object, from the warm-up.
origin_hits=$(curl -sS --max-time 5 "$ORIGIN/count" | awk '$1 == "/1k" || $1 == "/100k" { n += $2 } END { print n + 0 }')
log "origin requests for /1k and /100k during the hit runs (3 servers x 2 objects warmed): $origin_hits"

# --------------------------------------------------------- cold-miss TTFB

for rep in $(seq "$REPS"); do
    for who in direct "${CONTENDERS[@]}"; do
        port=${PORT[$who]:-$ORIGIN_PORT}
        url="http://127.0.0.1:$port/slow?ttfb=$who-$rep-$RANDOM$RANDOM"
        IFS=$'\t' read -r head body total < <("${CLIENT[@]}" ttfb "$url")
        log "cold /slow via $who: head $head ms, first body byte $body ms, whole $total ms"
        record ttfb "$who" slow "$rep" head_ms "$head"
        record ttfb "$who" slow "$rep" body_ms "$body"
        record ttfb "$who" slow "$rep" total_ms "$total"
    done
done

# ------------------------------------------------ 50 concurrent cold misses

for rep in $(seq "$REPS"); do
    for who in "${CONTENDERS[@]}"; do
        url="http://127.0.0.1:${PORT[$who]}/slow?herd=$who-$rep-$RANDOM$RANDOM"
        IFS=$'\t' read -r fetches head_max _ body_max body_p50 < <("${CLIENT[@]}" coalesce "$url" 50 "$ORIGIN/count")
        log "50 cold via $who: $fetches origin fetches; first byte after origin's: worst $body_max ms, median $body_p50 ms"
        record coalesce "$who" slow "$rep" fetches "$fetches"
        record coalesce "$who" slow "$rep" head_max_ms "$head_max"
        record coalesce "$who" slow "$rep" body_max_ms "$body_max"
        record coalesce "$who" slow "$rep" body_p50_ms "$body_p50"
    done
done

# ------------------------------------------------------------- memory

for rep in $(seq "$REPS"); do
    start_listening "small-$rep" "$SMALL_PORT" env RUST_LOG=warn "$TOWER_BIN" \
        --listen "127.0.0.1:$SMALL_PORT" --origin "$ORIGIN" --capacity 16MiB
    small=$STARTED
    # One small request so the idle figure includes a served connection.
    curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$SMALL_PORT/1k?idle=$rep"
    sleep 0.5
    url="http://127.0.0.1:$SMALL_PORT/big100m?rss=$rep-$RANDOM$RANDOM"
    IFS=$'\t' read -r idle peak delta seconds sizes < <("${CLIENT[@]}" rss "$small" "$url" 4)
    fetches=$(curl -sS --max-time 5 "$ORIGIN/count" | awk -v k="${url#http://127.0.0.1:"$SMALL_PORT"}" '$1 == k { print $2 }')
    log "4 x 100 MiB via tower-cdn (16 MiB cache): RSS idle $idle MiB, peak $peak MiB (+$delta), $seconds s, $sizes bytes each, $fetches origin fetches"
    [[ $sizes == 104857600 ]] || die "downloads were not 100 MiB each: $sizes"
    record rss tower-cdn big100m "$rep" idle_mib "$idle"
    record rss tower-cdn big100m "$rep" peak_mib "$peak"
    record rss tower-cdn big100m "$rep" delta_mib "$delta"
    record rss tower-cdn big100m "$rep" seconds "$seconds"
    record rss tower-cdn big100m "$rep" fetches "${fetches:-0}"
    kill "$small"
    wait "$small" 2>/dev/null || true
done

# -------------------------------------------------------- hits over TLS

if [[ $TLS == 1 ]]; then
    declare -A TLS_PORT=([tower-cdn]=$TOWER_TLS_PORT [nginx]=$NGINX_TLS_PORT)
    declare -A TLS_ROOT=([tower-cdn]=${ROOT[tower-cdn-tls]} [nginx]=${ROOT[nginx]})
    for who in tower-cdn nginx; do
        for size in 1k 100k; do
            url="https://127.0.0.1:${TLS_PORT[$who]}/$size"
            curl -ksS --max-time 5 -o /dev/null "$url"
            expect_hit "$who" "$url" "${HIT[$who]}"
        done
    done
    for rep in $(seq "$REPS"); do
        for size in 1k 100k; do
            for who in tower-cdn nginx; do
                measure_hits tls "$who" "$size" "$rep" "https://127.0.0.1:${TLS_PORT[$who]}/$size" "${TLS_ROOT[$who]}"
            done
        done
    done
fi

# ------------------------------------------------------------- report

{
    echo "## Load benchmark, $(date -u +%Y-%m-%d) ($(nproc) cores, $(uname -sr); load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg))"
    echo
    echo "\`DURATION=$DURATION REPS=$REPS NGINX_SENDFILE=$NGINX_SENDFILE bash benches/load.sh\`: wrk -t$THREADS -c$CONNS -d$DURATION --latency;" \
        "$("$TOWER_BIN" --version); $(nginx -v 2>&1 | sed 's/^nginx version: //'); $(varnishd -V 2>&1 | head -1 | sed 's/^varnishd (\(.*\) revision.*/\1/'); $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')." \
        "Origin requests for the hit objects during all hit runs: $origin_hits (6 = warm-ups only)."
    echo
    "${CLIENT[@]}" report "$RESULTS"
} | tee "$WORK/report.md"
# OUT_DIR=DIR keeps the raw numbers and the report.
if [[ -n ${OUT_DIR:-} ]]; then
    mkdir -p "$OUT_DIR"
    cp "$RESULTS" "$WORK/report.md" "$WORK"/wrk-*.txt "$OUT_DIR/"
fi
