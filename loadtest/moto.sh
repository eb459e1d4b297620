#!/usr/bin/env bash
# Installs moto's S3-compatible server (its server mode, from PyPI) in a
# virtual environment of its own, once, and prints the path of moto_server.
# Used by .ci/run (for tests/remote.rs) and by loadtest/fleet.sh.
#
#   moto_server=$(bash loadtest/moto.sh)    # TRACESCAN_MOTO_VENV picks the directory
#
# python3-venv comes from Debian when venv is missing (as root).
set -euo pipefail
venv=${TRACESCAN_MOTO_VENV:-/tmp/tracescan-moto-5.2.5}
if [ ! -x "$venv/bin/moto_server" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
  fi
  "$venv/bin/pip" install -q 'moto[server]==5.2.5' >&2
fi
echo "$venv/bin/moto_server"
