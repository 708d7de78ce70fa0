#!/usr/bin/env bash
# Prints the path of a Chromium for the dashboard's browser tests. Uses CHROMIUM_PATH or one on
# the PATH; otherwise installs Debian's `chromium` package (as root, or through passwordless
# sudo) and prints its path. Fails with a plain message when neither works.
set -euo pipefail
if [ -n "${CHROMIUM_PATH:-}" ]; then
  if [ -x "$CHROMIUM_PATH" ]; then echo "$CHROMIUM_PATH"; exit 0; fi
  echo "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
  exit 1
fi
find_chromium() {
  for name in chromium chromium-browser google-chrome-stable google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}
if find_chromium; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo -n); fi
  echo "flightdeck: installing Debian's chromium for the dashboard's browser tests" >&2
  if "${sudo[@]}" apt-get update -qq >&2 &&
     DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
       chromium >&2; then
    if find_chromium; then exit 0; fi
  fi
fi
echo "flightdeck: no Chromium found and none could be installed; install Debian's chromium" \
  "package or set CHROMIUM_PATH to a Chromium or Chrome binary" >&2
exit 1
