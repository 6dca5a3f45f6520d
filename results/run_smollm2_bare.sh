#!/usr/bin/env bash
# First real measurement: SmolLM2-135M-Instruct (embedded default model),
# bare (no microcode), every ISA of hellaswag, arc_easy and piqa, on the
# first 200 documents of each, from the data bundled in the package.
set -euo pipefail
cd "$(dirname "$0")"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
for group in isa_arc_easy isa_piqa isa_hellaswag; do
  /usr/bin/time -v -o "logs/$group.time" \
    lm_eval --model llmcpu --batch_size 8 \
    --tasks "$group" --limit 200 \
    --output_path smollm2-135m-instruct/bare --log_samples \
    > "logs/$group.log" 2>&1
done
