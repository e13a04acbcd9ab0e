#!/usr/bin/env bash
# Trains the shipped demo model from random weights: one command, three stages, resumable.
#
#   scripts/train_demo.sh [OUT.gguf]        (default models/sleeptime-demo.gguf)
#
# Stage 1 learns the reasoning language with the long traces (curriculum of small problems first);
# stage 2 fine-tunes those weights with the short traces from notes (`--short-from-notes`), which a
# run from scratch did not learn (models/README.md, runs 18-30), with notes in 70% of its answer
# examples and a sleep example for every problem (run 40); its notes state each derived quantity's
# factor to every ancestor and a hypothetical from notes reads it there, writing the change units
# first (run 45); stage 3 runs 1,000 more steps of stage 2's mix at a lower learning rate (run 46).
# All checkpoint every 5 minutes under $SLEEPTIME_TRAIN_DIR (default /tmp/sleeptime-train/demo46); run
# the same command again after an interruption and each stage resumes where it stopped (a finished
# stage only re-exports its file).
# Measured on 2 cores: 3,000 + 2,400 + 1,000 steps, about 54 + 40 + 20 minutes (1 to 1.2 s a step), some
# 6-8 minutes under 2 hours; on a slow day of this noisy machine it would take longer.
# Nothing else should share the cores: ggml's threads wait for each other every step, so any other
# load slows training a lot (an evaluation run beside it made steps 8 times slower).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-models/sleeptime-demo.gguf}
work=${SLEEPTIME_TRAIN_DIR:-/tmp/sleeptime-train/demo46}
bin=${SLEEPTIME_BIN:-build/sleeptime}
[[ -x $bin ]] || { echo "train_demo: $bin not found; run 'make build' first" >&2; exit 1; }

common=(--threads 2 --n-embd 256 --n-layer 4 --n-head 4 --n-ff 768 --n-ctx 512 --batch 8
  --name-tokens --op-tokens --factor-op-tokens --queries-per-example 4 --lookup-rate 0.7 --pack-window 32
  --value-lines --reversed-results --notes-every-fact
  --snapshot-minutes 10 --checkpoint-minutes 5 --eval-problems 30)

echo "== stage 1 of 3: the language, long traces (3,000 steps)"
"$bin" train-demo "${common[@]}" --seed 1 --out "$work/base.gguf" --checkpoint-dir "$work/base" \
  --tokens 12288000 --lr 1e-3 --warmup 50 --eval-minutes 10 \
  --curriculum-problems 4000 --curriculum-facts 4 --curriculum-depth 2 --curriculum-lookup-rate 1.0

echo "== stage 2 of 3: short traces from notes (2,400 steps from stage 1's weights)"
short=(--short-from-notes --short-named-operands --notes-factors --factor-block --reversed-changes
  --keep-notes --notes-rate 0.7 --sleep-rate 1.0 --eval-minutes 100 --curriculum-problems 0)
"$bin" train-demo "${common[@]}" "${short[@]}" --seed 20 --out "$work/short.gguf" --checkpoint-dir "$work/short" \
  --init-from "$work/base" --tokens 9830400 --lr 3e-4 --warmup 20

echo "== stage 3 of 3: 1,000 more steps of stage 2's mix at a lower learning rate"
"$bin" train-demo "${common[@]}" "${short[@]}" --seed 40 --out "$out" --checkpoint-dir "$work/more" \
  --init-from "$work/short" --tokens 4096000 --lr 1e-4 --warmup 20

sha256sum "$out"
