# shellcheck shell=bash
# .ci/redis.sh: install (Debian's redis-server, if missing) and start a throwaway Redis on
# 127.0.0.1:$REDIS_PORT (default 16379, no persistence) for the fleet tests.
#
# Usage: `source .ci/redis.sh` exports REDIS_URL and stops the server when the shell exits
# (an EXIT trap chained after any existing one), unless a Redis already answered on the port,
# which is then reused and left running. The tests that stop and restart Redis start their own
# redis-server processes on other ports, so the binary must be on PATH (or REDIS_SERVER set);
# the TLS test also runs `openssl` to make its certificates.

_redis_log() { printf 'redis.sh: %s\n' "$*" >&2; }

_redis_install() {
  # openssl makes the certificates of the TLS test's Redis.
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && command -v openssl >/dev/null && return 0
  local sudo=''
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  _redis_log "installing redis-server and openssl with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server openssl >&2 || return 1
  command -v redis-server >/dev/null && command -v openssl >/dev/null
}

redis_start() {
  local port=${REDIS_PORT:-16379} dir i
  if ((port < 1024 || port > 32767)); then
    _redis_log "ERROR: REDIS_PORT=$port must be in 1024..32767"
    return 1
  fi
  _redis_install || { _redis_log "ERROR: cannot install redis-server"; return 1; }
  export REDIS_URL="redis://127.0.0.1:$port"
  if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
    _redis_log "reusing the Redis already answering on 127.0.0.1:$port"
    return 0
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tower-cdn-redis.XXXXXX") || return 1
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" || return 1
  for i in $(seq 100); do
    redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  if ! redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
    _redis_log "ERROR: redis-server did not start; see $dir/redis.log"
    return 1
  fi
  _redis_log "redis-server ready on 127.0.0.1:$port"
  _REDIS_DIR=$dir
  _REDIS_PORT=$port
  local prev words=()
  prev=$(trap -p EXIT)
  [[ -n $prev ]] && eval "words=($prev)"
  prev=${words[2]:-}
  # shellcheck disable=SC2064 # expand now, on purpose
  trap "redis_stop${prev:+; $prev}" EXIT
}

redis_stop() {
  [[ -n ${_REDIS_PORT:-} ]] || return 0
  redis-cli -p "$_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  [[ -n ${_REDIS_DIR:-} && $_REDIS_DIR == */tower-cdn-redis.* ]] && rm -rf "$_REDIS_DIR"
  _redis_log "stopped redis-server on port $_REDIS_PORT"
  _REDIS_PORT=''
}

redis_start
