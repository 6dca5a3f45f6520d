#!/usr/bin/env bash
# QLoRA (nf4 base) beside LoRA on the float32 base: SmolLM2-135M-Instruct,
# chars ISA, same corpus, settings, seed and token budget, one after the
# other on 2 CPU cores. Adapters go to .cache/qlora-check (not kept in git);
# manifests, learning curves and logs to results/microcode/qlora/.
# Usage: qlora_smollm2.sh <max_tokens>
set -euo pipefail
cd "$(dirname "$0")/../.."
tokens=$1 out=results/microcode/qlora
mkdir -p "$out"
for base in float32 nf4; do
  extra=(); [ "$base" = nf4 ] && extra=(--load_in_4bit)
  adapter=.cache/qlora-check/$base/chars
  /usr/bin/time -v -o "$out/train_$base.time" \
    llmcpu-eval train --isa chars --corpus bundled --max_tokens "$tokens" \
    --batch_size 4 --seq_len 256 --learning_rate 1e-3 --eval_every 10 \
    --save_every 20 --heldout_bytes 3000 --seed 0 --overwrite \
    --output_path "$adapter" "${extra[@]}" > "$out/train_$base.log" 2>&1
  cp "$adapter/llmcpu_manifest.json" "$out/manifest_$base.json"
  cp "$adapter/learning_curve.json" "$out/learning_curve_$base.json"
  cp "$adapter/learning_curve.png" "$out/learning_curve_$base.png"
done
