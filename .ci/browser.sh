# shellcheck shell=bash
# .ci/browser.sh: install (Debian's chromium and chromium-driver, if missing) the headless
# browser and WebDriver server of the dashboard's browser test (tests/dashboard.rs).
#
# Usage: `source .ci/browser.sh` exports CHROME_BIN and CHROMEDRIVER. Nothing is started:
# the test runs a chromedriver of its own on a free loopback port and stops it.

_browser_log() { printf 'browser.sh: %s\n' "$*" >&2; }

_browser_install() {
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] && return 0
  local sudo=''
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  _browser_log "installing chromium and chromium-driver with apt-get"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2 || return 1
  [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]
}

if _browser_install; then
  export CHROME_BIN=/usr/bin/chromium
  export CHROMEDRIVER=/usr/bin/chromedriver
  _browser_log "$(/usr/bin/chromium --version 2>/dev/null || echo chromium), $(/usr/bin/chromedriver --version 2>/dev/null | cut -d' ' -f1-2)"
else
  _browser_log "ERROR: cannot install chromium and chromium-driver"
  return 1 2>/dev/null || exit 1
fi
