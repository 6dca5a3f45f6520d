#!/usr/bin/env bash
# Microcode for SmolLM2-135M-Instruct (embedded default model) on the
# bundled WikiText-2 validation corpus, 2 CPU cores, float32.
# Usage: train_smollm2.sh <isa> <max_tokens>
set -euo pipefail
cd "$(dirname "$0")/../.."
isa=$1 tokens=$2
/usr/bin/time -v -o "results/microcode/logs/train_$isa.time" \
  llmcpu-eval train --isa "$isa" --corpus bundled --max_tokens "$tokens" \
  --batch_size 4 --seq_len 256 --learning_rate 1e-3 --eval_every 25 \
  --save_every 20 --heldout_bytes 3000 --seed 0 \
  --output_path "adapters/smollm2-135m-instruct/$isa" "${@:3}" \
  > "results/microcode/logs/train_$isa.log" 2>&1
