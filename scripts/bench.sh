#!/usr/bin/env bash
# Runs the benchmarks; the tables they print go into docs/BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
cd "$root"
"$build/bench/ttft_bench" --context-tokens 2000 --reps 5 --out-dir bench/out --out bench/out/ttft.json
