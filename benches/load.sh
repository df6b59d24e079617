#!/usr/bin/env bash
# Load benchmark: the tower-cdn dev proxy against nginx `proxy_cache` and
# Varnish, in one run, all on 127.0.0.1. See benches/README.md.
#
#   bash benches/load.sh                 # ~18 minutes on 2 cores
#   DURATION=3s REPS=1 bash benches/load.sh   # a quick smoke run
#
# Installs nginx-light, varnish and wrk from apt when missing, builds the
# release binary, the bench origin (examples/bench_origin.rs) and the layer
# bench (examples/layer_bench.rs), then:
#   1. hits: wrk against each server for /1k and /100k, the servers
#      interleaved, REPS times; CPU time of each server's processes; with
#      nginx serving the same bytes as static files ("nginx-static", no
#      cache: the ceiling) as a fourth contender (STATIC=0 leaves it out);
#   2. cold-miss time to first byte of a slow streaming object, each server
#      and the origin directly;
#   3. 50 concurrent cold requests for one object: origin fetches and each
#      client's first byte after the origin's;
#   4. peak RSS of tower-cdn (--capacity 16MiB) while 4 clients download a
#      cold 100 MiB object at once;
#   5. hits over TLS (TLS=0 skips it): tower-cdn --tls-cert and nginx
#      `listen ... ssl` with the same ECDSA P-256 certificate (openssl),
#      wrk over HTTPS (keep-alive), interleaved REPS times;
#   6. paced hits, light load (PACED=0 skips it): wrk -t2 -c8, each
#      connection pausing 2 ms between its requests, /1k, every server of
#      stage 1 interleaved REPS times: p50/p99 latency;
#   7. mixed load (MIXED=0 skips it): wrk -t2 -c64, each request /1k (a hit)
#      with probability 0.9, else a new /delay?KEY (a miss; the origin answers
#      after 20 ms), the three caches interleaved REPS times: p50/p99/p99.9;
#   8. idle keep-alive connections (IDLE=0 skips it): IDLE_CONNS (10,000)
#      connections to each cache, one /1k hit on each, then idle: the
#      server's RSS before and after, per connection;
#   9. the layer's own cost (LAYER=0 skips it): examples/layer_bench.rs
#      serves a bare axum handler and the same router inside CdnLayer; wrk
#      -t2 -c64 (req/s) and -t1 -c1 (latency) against both, REPS times;
#  10. scale (SCALE=0 skips it): a fresh tower-cdn filled with SCALE_KEYS
#      (1,000,000) 64-byte objects, then hits on keys drawn uniformly from
#      the first 1,000 vs from all of them, interleaved REPS times.
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
NGINX_STATIC_PORT=$((BASE_PORT + 8))
LAYER_BARE_PORT=$((BASE_PORT + 9))
LAYER_CDN_PORT=$((BASE_PORT + 10))
SCALE_PORT=$((BASE_PORT + 11))
SCALE_ADMIN_PORT=$((BASE_PORT + 12))
SCALE_ORIGIN_PORT=$((BASE_PORT + 13))
TLS=${TLS:-1}
STATIC=${STATIC:-1}
PACED=${PACED:-1}
MIXED=${MIXED:-1}
IDLE=${IDLE:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
LAYER=${LAYER:-1}
SCALE=${SCALE:-1}
SCALE_KEYS=${SCALE_KEYS:-1000000}
# The fill stops here if it has not finished (its rate is reported).
SCALE_FILL_MAX_S=${SCALE_FILL_MAX_S:-150}
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
events { worker_connections $NGINX_WORKER_CONNECTIONS; }
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
$(nginx_static_server)
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

# The ceiling of stage 1 (STATIC=1): no cache, the origin's bytes as files
# (fetched from it, so they are identical), the same http-level settings
# (sendfile, nodelay, keepalive) as the cache. No open_file_cache, as for
# the cache block, whose hits open their file on every request too.
nginx_static_server() {
    [[ $STATIC == 1 ]] || return 0
    cat <<EOF
    server {
        listen 127.0.0.1:$NGINX_STATIC_PORT;
        root $WORK/static;
        location / {
            default_type application/octet-stream;
            add_header Cache-Control "max-age=3600";
        }
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

# Wall-clock seconds of each stage, for the report: `stage NAME` ends the
# previous one and starts NAME (`stage ""` ends the last).
STAGE="" STAGE_START=$SECONDS
stage() {
    [[ -z $STAGE ]] || record time "$STAGE" - 1 seconds $((SECONDS - STAGE_START))
    STAGE=$1 STAGE_START=$SECONDS
    [[ -z $STAGE ]] || log "stage: $STAGE"
}

# A GET that must be a cache hit, judged by the server's own header.
expect_hit() {
    local name=$1 url=$2 pattern=$3 headers
    headers=$(curl -ksS --max-time 5 -D - -o /dev/null "$url")
    grep -qiE "$pattern" <<<"$headers" || die "$name: $url is not a hit: $headers"
}

# A GET that must answer 200 with the bytes of FILE.
expect_same() {
    local name=$1 url=$2 file=$3 got
    got=$(curl -sS --max-time 5 -o "$WORK/same.body" -w '%{http_code} %{size_download}' "$url")
    if [[ $got != "200 $(stat -c %s "$file")" ]] || ! cmp -s "$WORK/same.body" "$file"; then
        die "$name: $url answered $got, not the $(stat -c %s "$file") bytes of $file"
    fi
}

# One measured wrk run against a warm object: KIND (`wrk` for stage 1,
# `tls` for stage 5, ...) WHO SIZE REP URL and the server's root pid, then
# wrk's options (default: -tTHREADS -cCONNS) and, after `--`, the Lua
# script's arguments; records throughput, latency (p99.9 too when the
# script prints it) and the CPU each party spent.
measure_hits() {
    local kind=$1 who=$2 size=$3 rep=$4 url=$5 root=$6
    shift 6
    local opts=() args=()
    while (($#)) && [[ $1 != -- ]]; do
        opts+=("$1")
        shift
    done
    (($#)) && shift && args=(-- "$@")
    ((${#opts[@]})) || opts=("-t$THREADS" "-c$CONNS")
    local out=$WORK/wrk-$kind-$who-$size-$rep.txt m0 s0 w0 c0 m1 s1 w1 c1 rps p50 p99 requests errors p999
    wait_quiet
    m0=$(machine_ticks) s0=$(softirq_ticks) w0=$(children_ticks) c0=$(cpu_ticks "$root")
    wrk "${opts[@]}" "-d$DURATION" --latency "$url" "${args[@]}" >"$out"
    c1=$(cpu_ticks "$root") w1=$(children_ticks) s1=$(softirq_ticks) m1=$(machine_ticks)
    IFS=$'\t' read -r rps p50 p99 requests errors p999 < <("${CLIENT[@]}" wrk "$out")
    local cpu_s wrk_s softirq_s other_s
    cpu_s=$(python3 -c "print(($c1 - $c0) / $CLK_TCK)")
    wrk_s=$(python3 -c "print(($w1 - $w0) / $CLK_TCK)")
    softirq_s=$(python3 -c "print(($s1 - $s0) / $CLK_TCK)")
    # CPU other processes took meanwhile: noise from other work.
    other_s=$(python3 -c "print(max(0, ($m1 - $m0) - ($c1 - $c0) - ($w1 - $w0)) / $CLK_TCK)")
    log "$kind rep $rep $size $who: $rps req/s, p50 $p50 ms, p99 $p99 ms, p99.9 $p999 ms, $requests requests on $cpu_s CPU-s (wrk $wrk_s, softirq $softirq_s, others $other_s), $errors errors"
    local at=("$kind" "$who" "$size" "$rep")
    record "${at[@]}" rps "$rps"
    record "${at[@]}" p50_ms "$p50"
    record "${at[@]}" p99_ms "$p99"
    [[ $p999 == nan ]] || record "${at[@]}" p999_ms "$p999"
    record "${at[@]}" requests "$requests"
    record "${at[@]}" errors "$errors"
    record "${at[@]}" cpu_s "$cpu_s"
    record "${at[@]}" wrk_cpu_s "$wrk_s"
    record "${at[@]}" softirq_cpu_s "$softirq_s"
    record "${at[@]}" other_cpu_s "$other_s"
}

# The wrk scripts of stages 6, 7, 9 and 10. Each ends with percentiles_lua:
# `wrk --latency` prints percentiles up to p99 only, so the script's summary
# prints p50/p99/p99.9 (µs) on a line load_client.py reads.
percentiles_lua() {
    cat <<'EOF'
function done(summary, latency, requests)
    io.write(string.format("percentiles_us 50 %d 99 %d 99.9 %d\n",
        latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
EOF
}
# Gives each thread an `id` (0, 1, ...) for its keys and random seed.
thread_ids_lua() {
    cat <<'EOF'
local next_id = 0
function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
end
EOF
}
write_lua() {
    percentiles_lua >"$WORK/percentiles.lua"
    {
        cat <<'EOF'
-- Stage 6: a 2 ms pause before each request of a connection. wrk starts a
-- request's latency clock when it writes the request, after the pause, so
-- the pause is not in the latency.
function delay()
    return 2
end
EOF
        percentiles_lua
    } >"$WORK/paced.lua"
    {
        cat <<'EOF'
-- Stage 7: each request is /1k (a hit) with probability 0.9, else
-- /delay?TAG-THREAD-N, a key no server has seen (a miss of 20 ms at the
-- origin). TAG, the script's argument, is new for every run.
function init(args)
    tag = args[1]
    n = 0
    hit = wrk.format("GET", "/1k")
    math.randomseed(os.time() * 100 + id)
end
function request()
    if math.random() < 0.9 then
        return hit
    end
    n = n + 1
    return wrk.format("GET", "/delay?" .. tag .. "-" .. id .. "-" .. n)
end
EOF
        thread_ids_lua
        percentiles_lua
    } >"$WORK/mixed.lua"
    {
        cat <<'EOF'
-- Stage 10, the fill: /tiny/0 .. /tiny/(KEYS-1), each once (thread i takes
-- i, i + THREADS, ...), then /tiny/KEYS over and over (one miss, then hits)
-- until load.sh sees the fill done and stops wrk. Arguments: KEYS THREADS.
function init(args)
    keys = tonumber(args[1])
    step = tonumber(args[2])
    k = id
    first = true
    after = wrk.format("GET", "/tiny/" .. keys)
end
function request()
    -- wrk calls request() once on its first thread to check the script and
    -- sends nothing: every thread starts with /tiny/KEYS, so no key is lost.
    if first or k >= keys then
        first = false
        return after
    end
    local r = wrk.format("GET", "/tiny/" .. k)
    k = k + step
    return r
end
EOF
        thread_ids_lua
        percentiles_lua
    } >"$WORK/fill.lua"
    {
        cat <<'EOF'
-- Stage 10, the hits: a key drawn uniformly from /tiny/0 .. /tiny/(KEYS-1).
-- The request is built each time for every KEYS alike, so wrk's own cost
-- per request is the same in both runs. Argument: KEYS.
function init(args)
    keys = tonumber(args[1])
    math.randomseed(os.time() * 100 + id)
end
function request()
    return wrk.format("GET", "/tiny/" .. math.random(0, keys - 1))
end
EOF
        thread_ids_lua
        percentiles_lua
    } >"$WORK/tiny.lua"
}

# ------------------------------------------------------------------- start

for port in "$ORIGIN_PORT" "$TOWER_PORT" "$SMALL_PORT" "$NGINX_PORT" "$VARNISH_PORT" "$TOWER_TLS_PORT" "$NGINX_TLS_PORT" \
    "$NGINX_STATIC_PORT" "$LAYER_BARE_PORT" "$LAYER_CDN_PORT" "$SCALE_PORT" "$SCALE_ADMIN_PORT" "$SCALE_ORIGIN_PORT"; do
    port_free "$port" || die "port $port is in use (set BASE_PORT)"
done
install_missing

# Stage 8 holds IDLE_CONNS connections at once. The servers inherit this
# shell's open-files limit, and each of them (and the client) takes one
# descriptor per connection, so the limit must be IDLE_CONNS and some.
# nginx also needs as many worker_connections (a worker may take them all),
# which it allocates at start (about 4 MiB per worker for 10k; in every
# stage's RSS).
NGINX_WORKER_CONNECTIONS=4096
if [[ $IDLE == 1 ]]; then
    nofile=$((IDLE_CONNS + 1024))
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((hard < nofile)) && ! ulimit -Hn "$nofile" 2>/dev/null; then
        log "open files: the hard limit is $hard (and cannot be raised here), $nofile are needed for $IDLE_CONNS idle connections: stage 8 opens $((hard - 1024))"
        IDLE_CONNS=$((hard - 1024))
        ((IDLE_CONNS > 0)) || die "no room for idle connections (IDLE=0 skips them)"
        nofile=$hard
    fi
    soft=$(ulimit -Sn)
    [[ $soft == unlimited ]] || ((soft >= nofile)) || ulimit -Sn "$nofile"
    ((IDLE_CONNS + 1024 <= NGINX_WORKER_CONNECTIONS)) || NGINX_WORKER_CONNECTIONS=$((IDLE_CONNS + 1024))
fi

stage build
log "building (release)"
# OUT_DIR (a setting of this script) is also the variable cargo sets for
# build scripts, and ring's build script asks to rerun when it changes: with
# it exported, every run with a new OUT_DIR (or none) rebuilt ring and all
# that depends on it, minutes on 2 cores. Cargo does not see it.
export -n OUT_DIR
# Separate commands: building an example with the binary would unify the
# dev-dependencies' features into the binary under test.
cargo build --release --locked --quiet
cargo build --release --locked --quiet --example bench_origin
[[ $LAYER == 1 ]] && cargo build --release --locked --quiet --example layer_bench
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
TOWER_BIN=$TARGET/release/tower-cdn
ORIGIN_BIN=$TARGET/release/examples/bench_origin
LAYER_BIN=$TARGET/release/examples/layer_bench
CLK_TCK=$(getconf CLK_TCK)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

stage start
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

if [[ $STATIC == 1 ]]; then
    mkdir -p "$WORK/static"
    for size in 1k 100k; do
        curl -sS --max-time 5 -o "$WORK/static/$size" "$ORIGIN/$size"
    done
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
# The same nginx processes serve the static files.
ROOT[nginx-static]=${ROOT[nginx]}
PORT[nginx-static]=$NGINX_STATIC_PORT

write_vcl
# timeout_idle=60: Varnish closes a client connection idle for 5 s by
# default, sooner than stage 8 takes to open its connections and measure
# (nginx keeps them 75 s, tower-cdn 10 s). Busy connections never idle, so
# no other stage sees it.
varnishd -F -f "$WORK/bench.vcl" -a "127.0.0.1:$VARNISH_PORT" -s malloc,256m -n "$WORK/varnish" -p timeout_idle=60 \
    >"$WORK/varnish.out" 2>&1 &
ROOT[varnish]=$!
PIDS+=("${ROOT[varnish]}")
wait_port "$VARNISH_PORT" "${ROOT[varnish]}"
PORT[varnish]=$VARNISH_PORT
HIT[varnish]='^x-cache: HIT'
# The caches, and the servers of the hit stages (the caches and the ceiling).
CONTENDERS=(tower-cdn nginx varnish)
HIT_SERVERS=("${CONTENDERS[@]}")
[[ $STATIC == 1 ]] && HIT_SERVERS+=(nginx-static)
write_lua

log "versions: $("$TOWER_BIN" --version), $(nginx -v 2>&1), $(varnishd -V 2>&1 | head -1), $(wrk -v 2>&1 | head -1)"

# ------------------------------------------------------------------- hits

stage hits

curl -sS --max-time 5 "$ORIGIN/reset" >/dev/null
for who in "${HIT_SERVERS[@]}"; do
    for size in 1k 100k; do
        url="http://127.0.0.1:${PORT[$who]}/$size"
        curl -sS --max-time 5 -o /dev/null "$url"
        if [[ $who == nginx-static ]]; then
            # Not a cache: no hit to check, but the same bytes as the origin's.
            expect_same "$who" "$url" "$WORK/static/$size"
        else
            expect_hit "$who" "$url" "${HIT[$who]}"
        fi
    done
done

for rep in $(seq "$REPS"); do
    for size in 1k 100k; do
        for who in "${HIT_SERVERS[@]}"; do
            measure_hits wrk "$who" "$size" "$rep" "http://127.0.0.1:${PORT[$who]}/$size" "${ROOT[$who]}"
        done
    done
done
# Every request of the hit runs must have been a hit: one origin fetch per
# server and object, from the warm-up.
origin_hits=$(curl -sS --max-time 5 "$ORIGIN/count" | awk '$1 == "/1k" || $1 == "/100k" { n += $2 } END { print n + 0 }')
log "origin requests for /1k and /100k during the hit runs (3 servers x 2 objects warmed): $origin_hits"

# --------------------------------------------------------- cold-miss TTFB

stage cold-miss

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

stage herd

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

stage memory

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
    stage tls
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

# ------------------------------------------- paced hits (light load latency)

# Eight connections, each pausing 2 ms after every response: the servers are
# mostly idle, so this is the latency of one hit, not of a queue.
if [[ $PACED == 1 ]]; then
    stage paced
    for rep in $(seq "$REPS"); do
        for who in "${HIT_SERVERS[@]}"; do
            measure_hits paced "$who" 1k "$rep" "http://127.0.0.1:${PORT[$who]}/1k" "${ROOT[$who]}" \
                -t2 -c8 -s "$WORK/paced.lua"
        done
    done
fi

# ------------------------------------------------------- mixed hits + misses

# 90% hits, 10% misses whose origin takes 20 ms: do the misses in flight slow
# the hits down? Every run uses new /delay keys (TAG), so each is a miss.
if [[ $MIXED == 1 ]]; then
    stage mixed
    for rep in $(seq "$REPS"); do
        for who in "${CONTENDERS[@]}"; do
            tag=m$rep-$who-$RANDOM
            measure_hits mixed "$who" mix "$rep" "http://127.0.0.1:${PORT[$who]}/1k" "${ROOT[$who]}" \
                "-t$THREADS" "-c$CONNS" -s "$WORK/mixed.lua" -- "$tag"
            # What the origin saw of this run's misses: keys, and fetches
            # (as many, unless a server fetched a key twice).
            read -r keys fetches < <(curl -sS --max-time 5 "$ORIGIN/count" |
                awk -v p="/delay?$tag-" 'index($1, p) == 1 { k++; n += $2 } END { print k + 0, n + 0 }')
            log "mixed rep $rep $who: the origin saw $keys /delay keys, $fetches fetches"
            record mixed "$who" mix "$rep" miss_keys "$keys"
            record mixed "$who" mix "$rep" origin_fetches "$fetches"
        done
    done
fi

# ------------------------------------------- idle keep-alive connections

# RSS per idle client connection: IDLE_CONNS connections, one hit each, then
# idle (tower-cdn closes a connection idle for 10 s, Varnish runs with
# timeout_idle=60 (above), nginx's keepalive_timeout is 75 s; the client
# counts the ones closed by the time it measures). Once per server: after
# the connections close, the freed memory stays with the allocator, so a
# second round would measure its reuse.
if [[ $IDLE == 1 ]]; then
    stage idle
    for who in "${CONTENDERS[@]}"; do
        url="http://127.0.0.1:${PORT[$who]}/1k"
        expect_hit "$who" "$url" "${HIT[$who]}"
        wait_quiet
        pids=$(tree_pids "${ROOT[$who]}" | paste -sd, -)
        IFS=$'\t' read -r before after per_conn open_s window_s closed < <("${CLIENT[@]}" idle "$url" "$IDLE_CONNS" "$pids")
        log "idle: $IDLE_CONNS connections to $who (pids $pids): RSS $before -> $after KiB, $per_conn bytes each; opened in $open_s s, measured $window_s s after the first response; $closed closed by the server by then"
        record idle "$who" 1k 1 conns "$IDLE_CONNS"
        record idle "$who" 1k 1 before_kib "$before"
        record idle "$who" 1k 1 after_kib "$after"
        record idle "$who" 1k 1 per_conn_bytes "$per_conn"
        record idle "$who" 1k 1 open_s "$open_s"
        record idle "$who" 1k 1 window_s "$window_s"
        record idle "$who" 1k 1 closed "$closed"
    done
fi

# ---------------------------------------------------- the layer's own cost

# One process, one runtime: (a) a bare axum handler, (b) the same router in
# CdnLayer with the app as origin (examples/layer_bench.rs).
if [[ $LAYER == 1 ]]; then
    stage layer
    start_listening layer "$LAYER_BARE_PORT" "$LAYER_BIN" "127.0.0.1:$LAYER_BARE_PORT" "127.0.0.1:$LAYER_CDN_PORT"
    layer=$STARTED
    wait_port "$LAYER_CDN_PORT" "$layer"
    declare -A LAYER_URL=([bare]="http://127.0.0.1:$LAYER_BARE_PORT/1k" [cdn]="http://127.0.0.1:$LAYER_CDN_PORT/1k")
    # The first request to (b) is a miss (the app answers); the next must be
    # a hit; (a) answers the same bytes.
    curl -sS --max-time 5 -o /dev/null "${LAYER_URL[cdn]}"
    expect_hit layer "${LAYER_URL[cdn]}" '^(x-cache: hit|cache-status: .*; hit)'
    curl -sS --max-time 5 -o "$WORK/layer-cdn.body" "${LAYER_URL[cdn]}"
    expect_same layer-bare "${LAYER_URL[bare]}" "$WORK/layer-cdn.body"
    for rep in $(seq "$REPS"); do
        for conns in c64 c1; do
            for who in bare cdn; do
                if [[ $conns == c64 ]]; then opts=("-t$THREADS" "-c$CONNS"); else opts=(-t1 -c1); fi
                measure_hits layer "$who" "$conns" "$rep" "${LAYER_URL[$who]}" "$layer" \
                    "${opts[@]}" -s "$WORK/percentiles.lua"
            done
        done
    done
    kill "$layer"
    wait "$layer" 2>/dev/null || true
fi

# -------------------------------------------------- 1,000 vs 1,000,000 keys

# A fresh tower-cdn and origin: SCALE_KEYS small objects filled by wrk (all
# misses), then hits on keys drawn from the first 1,000 or from all of them.
# --capacity: the cache counts 1,289 bytes for each of these entries (the
# key, the stored head and 64-byte body, the per-entry overhead: the admin
# API's cached_bytes ÷ entries, 2026-12-07); twice that leaves the store's
# shards room, so none evicts (checked: `evictions` must stay 0).
SCALE_ENTRY_BYTES=${SCALE_ENTRY_BYTES:-1300}
# The scale proxy's admin /stats (JSON), fields of it, and the scale origin's
# request count.
scale_stats() { curl -sS --max-time 5 "http://127.0.0.1:$SCALE_ADMIN_PORT/stats"; }
json_fields() { python3 -c 'import json,sys; d = json.load(sys.stdin); print(*(d[k] for k in sys.argv[1:]))' "$@"; }
origin_total() { curl -sS --max-time 5 "http://127.0.0.1:$SCALE_ORIGIN_PORT/total"; }
if [[ $SCALE == 1 ]]; then
    stage scale
    start_listening scale-origin "$SCALE_ORIGIN_PORT" "$ORIGIN_BIN" "127.0.0.1:$SCALE_ORIGIN_PORT"
    scale_capacity=$((2 * SCALE_KEYS * SCALE_ENTRY_BYTES))
    start_listening scale "$SCALE_PORT" env RUST_LOG=warn "$TOWER_BIN" \
        --listen "127.0.0.1:$SCALE_PORT" --origin "http://127.0.0.1:$SCALE_ORIGIN_PORT" \
        --capacity "$scale_capacity" --admin "127.0.0.1:$SCALE_ADMIN_PORT"
    scale=$STARTED
    wait_port "$SCALE_ADMIN_PORT" "$scale"
    url="http://127.0.0.1:$SCALE_PORT/"
    log "scale: filling a tower-cdn --capacity $scale_capacity with $SCALE_KEYS keys (at most $SCALE_FILL_MAX_S s)"
    wait_quiet
    start_ns=$(date +%s%N)
    wrk "-t$THREADS" "-c$CONNS" "-d${SCALE_FILL_MAX_S}s" -s "$WORK/fill.lua" "$url" -- "$SCALE_KEYS" "$THREADS" \
        >"$WORK/wrk-scale-fill.txt" &
    fill=$!
    # Done when the origin has answered every key (and the one after) and
    # no fill is still being stored; wrk would run for its whole -d, so it
    # is stopped with SIGINT (it then prints its summary).
    while kill -0 "$fill" 2>/dev/null; do
        sleep 0.5
        read -r in_flight < <(scale_stats | json_fields fills_in_flight)
        (($(origin_total) > SCALE_KEYS && ${in_flight:-1} == 0)) && break
    done
    fill_s=$(python3 -c "print(($(date +%s%N) - $start_ns) / 1e9)")
    kill -INT "$fill" 2>/dev/null || true
    wait "$fill" || true
    read -r entries evictions cached < <(scale_stats | json_fields entries evictions cached_bytes)
    fetched=$(origin_total)
    rss_mib=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$scale/status")
    rate=$(python3 -c "print(round($fetched / $fill_s))")
    log "scale fill: $fetched origin requests in $fill_s s ($rate/s); $entries entries, $cached bytes cached ($((cached / (entries + 1))) per entry), $evictions evictions; RSS $rss_mib MiB"
    record scalefill tower-cdn tiny 1 keys "$SCALE_KEYS"
    record scalefill tower-cdn tiny 1 seconds "$fill_s"
    record scalefill tower-cdn tiny 1 fills_per_s "$rate"
    record scalefill tower-cdn tiny 1 origin_requests "$fetched"
    record scalefill tower-cdn tiny 1 entries "$entries"
    record scalefill tower-cdn tiny 1 evictions "$evictions"
    record scalefill tower-cdn tiny 1 cached_bytes "$cached"
    record scalefill tower-cdn tiny 1 rss_mib "$rss_mib"
    if ((entries <= SCALE_KEYS || evictions > 0)); then
        log "scale: the fill did not complete ($entries of $((SCALE_KEYS + 1)) entries, $evictions evictions, $rate fills/s): no hit runs"
    else
        for rep in $(seq "$REPS"); do
            for keys in 1000 "$SCALE_KEYS"; do
                measure_hits scale tower-cdn "$keys" "$rep" "$url" "$scale" \
                    "-t$THREADS" "-c$CONNS" -s "$WORK/tiny.lua" -- "$keys"
            done
        done
        # Every request of the hit runs must have been a hit.
        misses=$(($(origin_total) - fetched))
        read -r evictions < <(scale_stats | json_fields evictions)
        log "scale: origin requests during the hit runs: $misses; evictions $evictions"
        record scalefill tower-cdn tiny 1 hit_run_misses "$misses"
        ((misses == 0)) || die "scale: the hit runs sent $misses requests to the origin"
    fi
    kill "$scale"
    wait "$scale" 2>/dev/null || true
fi

# ------------------------------------------------------------- report

stage ""

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
