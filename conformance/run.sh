#!/usr/bin/env bash
# Runs the HTTP caching test suite (https://cache-tests.fyi, npm package
# http-cache-tests) against the dev proxy, in CloudFront mode (defaults,
# with the suite's bookkeeping headers forwarded by an origin request
# policy) and in standards mode (--default-ttl 0), and fails if a required test
# fails that is not listed in known-*.txt. Everything on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
PORT=${CONFORMANCE_PORT:-18700}

if [ ! -d node_modules/http-cache-tests ]; then
  npm ci --no-audit --no-fund --omit=dev --silent >/dev/null
fi
SUITE=node_modules/http-cache-tests
if [ -z "${TOWER_CDN_BIN:-}" ]; then
  # Always built (a no-op when up to date), so a stale binary is never
  # tested; found where cargo puts it (CARGO_TARGET_DIR may point outside
  # the checkout, as CI's does).
  (cd "$ROOT" && cargo build --locked --quiet)
  TARGET_DIR=${CARGO_TARGET_DIR:-target}
  case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
  BIN="$TARGET_DIR/debug/tower-cdn"
else
  BIN=$TOWER_CDN_BIN
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

(cd "$SUITE" && npm_config_port=$PORT npm_package_config_protocol=http \
  npm_package_config_pidfile="$WORK/server.pid" exec node server/server.mjs) >"$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.1; done

status=0
# CloudFront mode forwards only what the cache key holds (and a neutral
# set): the suite's own bookkeeping headers (which request of a test this
# is) reach its server through an origin request policy, as any origin
# that needs a header must ask for it. They do not select a representation.
cat >"$WORK/cloudfront.toml" <<TOML
[[distributions]]
id = "suite"
[distributions.origins.suite]
kind = "http"
url = "http://127.0.0.1:$PORT"
[distributions.default_behavior]
origin = "suite"
allowed_methods = "all"
origin_request_policy = { headers = { only = ["req-num", "test-id", "test-name"] } }
TOML

run_mode() {
  local name=$1 port=$2 known=$3; shift 3
  "$BIN" --listen "127.0.0.1:$port" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  PIDS+=($!)
  for _ in $(seq 50); do grep -q "listening on" "$WORK/$name.out" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q "listening on" "$WORK/$name.out" 2>/dev/null; then
    echo "== $name mode: the proxy did not start ($BIN):" >&2
    cat "$WORK/$name.err" >&2
    status=1
    return 0
  fi
  (cd "$SUITE" && npm_config_base="http://127.0.0.1:$port" npm_package_config_id= \
    node --no-warnings cli.mjs) >"$WORK/$name.json" 2>/dev/null
  echo "== $name mode ($*)"
  if ! node summarize.mjs "$WORK/$name.json" "$known" "$WORK/$name.unexpected"; then
    # The suite pauses for seconds between requests; on a loaded machine a
    # test can miss its timing. Each unexpected failure gets one rerun.
    while read -r id; do
      if (cd "$SUITE" && npm_config_base="http://127.0.0.1:$port" npm_config_id="$id" \
        node --no-warnings cli.mjs 2>/dev/null) | grep -q "✅"; then
        echo "   $id passes on a rerun"
      else
        echo "   $id fails again"
        status=1
      fi
    done <"$WORK/$name.unexpected"
  fi
  [ -n "${OUT_DIR:-}" ] && cp "$WORK/$name.json" "$OUT_DIR/results-$name.json"
  return 0
}
run_mode cloudfront $((PORT + 1)) known-cloudfront.txt --config "$WORK/cloudfront.toml"
run_mode standards $((PORT + 2)) known-standards.txt --origin "http://127.0.0.1:$PORT" --default-ttl 0
exit $status
