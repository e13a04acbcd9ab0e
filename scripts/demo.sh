#!/usr/bin/env bash
# The demo of `make demo`: one context, a sleep, questions with and without
# the learned context, and the cost accounting. Runs offline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ "$build" = /* ]] || build="$root/$build"
bin="$build/sleeptime"
work="$build/demo"
rm -rf "$work/data"
mkdir -p "$work"

model="$root/models/sleeptime-demo.gguf"
if [ ! -f "$model" ]; then
  # Until the project's trained demo model ships, a random-weight model of the
  # same architecture shows the machinery (answers are noise, the token and
  # KV accounting is real).
  model="$work/random-demo.gguf"
  [ -f "$model" ] || "$bin" gen-model --out "$model" --n-embd 128 --n-layer 4 --n-head 4 --n-ff 384 --seed 1
  echo "note: models/sleeptime-demo.gguf is not there yet; using a random-weight model, so answers are noise."
fi
st() { "$bin" --model "$model" --data-dir "$work/data" "$@"; }

echo
echo "== 1. add a context (known before any question)"
st context add --id orchard --file "$root/examples/orchard.txt"
echo
echo "== 2. sleep: think about it while idle, save the learned context and its KV state"
st sleep orchard --budget 200
echo
echo "== 3. ask from the learned context (small test-time budget, prefix restored from disk)"
# Each question with the answer the facts of examples/orchard.txt give (worked by hand: B=17, C=34,
# D=31; with A=15, B=20, C=40, D=37), so that a wrong answer shows as one.
for qa in "How many does C have?|34" "How many do B and D have together?|48" \
  "If A had 3 more, how many would D have?|37"; do
  q=${qa%|*}
  echo "Q: $q   (the facts give ${qa#*|})"
  st ask orchard "$q" --budget 24
done
echo
echo "== 4. the baseline: the same question from the raw context, larger budget"
st ask orchard "How many does C have?" --budget 200 --no-sleep
echo
echo "== 5. cost per query, sleep tokens amortized over N queries (test tokens weighted x10)"
st stats orchard
echo
echo "== 6. the paper's experiments on held-out problems: baseline vs sleep-time compute (sleeptime eval)"
# Settings sized to finish in a few minutes on 2 cores; scale up with -n and --k.
"$bin" --model "$model" --data-dir "$work/data" eval -n "${SLEEPTIME_DEMO_PROBLEMS:-24}" \
  --budgets 8,16,32,64,128 --k 1,2 --sleep-budget 200 -o "$work/eval"
