#!/usr/bin/env bash
# The README's test command: sets up what the tests need on a fresh machine,
# then runs the whole workspace's tests. Extra arguments go to `cargo test`
# (for example `bash scripts/test.sh -p mcpist-core`).
#
# What it sets up, only when missing:
# - Chromium and ChromeDriver (the web UI tests drive a real browser), from
#   Debian's packages; needs root or sudo.
# - A running PostgreSQL server on 127.0.0.1:5432 (the PostgreSQL store's
#   tests); started with pg_ctlcluster when installed but down. Point
#   MCPIST_TEST_PG_URL elsewhere to use another server.
# - The official MCP Python SDK (tests/clients/requirements.txt, pinned) in a
#   virtualenv at .ci/py, for the tests that drive mcpist with a client
#   nobody on the team wrote; remade when the requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

chrome=${CHROME_BIN:-/usr/bin/chromium}
driver=${CHROMEDRIVER:-chromedriver}
if ! [ -x "$chrome" ] || ! command -v "$driver" >/dev/null 2>&1; then
  say "installing chromium and chromium-driver (the web UI tests)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if [ -z "${MCPIST_TEST_PG_URL:-}" ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || ! [ -d /etc/postgresql ]; then
    say "the PostgreSQL store's tests need a server on 127.0.0.1:5432 (user postgres, trust auth)"
    say "install one (apt-get install postgresql) or set MCPIST_TEST_PG_URL"
    exit 1
  fi
  say "starting PostgreSQL (the PostgreSQL store's tests)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  pg_isready -h 127.0.0.1 -p 5432
fi

py=.ci/py
if ! cmp -s tests/clients/requirements.txt "$py/requirements.txt" 2>/dev/null; then
  say "installing the MCP Python SDK into $py (tests/clients/requirements.txt)"
  rm -rf "$py"
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet --disable-pip-version-check -r tests/clients/requirements.txt
  cp tests/clients/requirements.txt "$py/requirements.txt"
fi

exec cargo test --workspace --locked "$@"
