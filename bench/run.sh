#!/bin/sh
# The benchmark in one command: installs the peers (into target/bench-peers),
# builds the release binaries, runs the benchmark. Arguments go to it:
#   bench/run.sh            # the full run (a few minutes)
#   bench/run.sh --quick    # fewer calls, noisier
#   bench/run.sh --soak 30  # 30 minutes of load; fails on a failed call, or RSS or
#                           # open fds growing past a bound after warm-up
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
peers="$(bench/install-peers.sh "$root/target/bench-peers")"
cargo build --release --quiet -p mcpist -p mcpist-bench
exec "$root/target/release/mcpist-bench" --peers "$peers" "$@"
