#!/usr/bin/env bash
# SmolLM2-135M-Instruct with and without microcode (adapters/smollm2-135m-instruct)
# on arc_easy and hellaswag (first 200 documents) and wikitext (first 3
# articles, batch size 1: a batch of 8 windows of 8192 chars-ISA ids needs
# more than 23 GB of float32 logits), native beside each ISA so that every
# run pairs its documents.
# Usage: eval_smollm2.sh <isa>[,<isa>...] [wikitext]   e.g. chars,permuted
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
isas=${1//,/ }
run() {  # run <name> <limit> <model_args> <tasks> <folder> [batch size]
  /usr/bin/time -v -o "results/microcode/logs/$1.time" \
    lm_eval --model llmcpu --model_args "$3" --batch_size "${6:-8}" --limit "$2" \
    --tasks "$4" --output_path "results/smollm2-135m-instruct/$5" --log_samples \
    > "results/microcode/logs/$1.log" 2>&1
}
only=${2:-all}
[ "$only" = wikitext ] || for bench in arc_easy hellaswag; do
  tasks="isa_native_$bench"
  for isa in $isas; do tasks+=",isa_${isa}_$bench"; done
  run "micro_${1//,/_}_$bench" 200 microcode=adapters/smollm2-135m-instruct "$tasks" microcode
done
tasks="isa_native_wikitext"
for isa in $isas; do tasks+=",isa_${isa}_wikitext"; done
run "bare_${1//,/_}_wikitext" 3 pretrained=SmolLM2-135M-Instruct "$tasks" bare 1
run "micro_${1//,/_}_wikitext" 3 microcode=adapters/smollm2-135m-instruct "$tasks" microcode 1
