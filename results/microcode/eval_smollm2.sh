#!/usr/bin/env bash
# SmolLM2-135M-Instruct with and without microcode (adapters/smollm2-135m-instruct)
# on arc_easy and hellaswag (first 200 documents) and wikitext (first 5
# articles), native beside each ISA so that every run pairs its documents.
# Usage: eval_smollm2.sh <isa>[,<isa>...]   e.g. chars,permuted
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
isas=${1//,/ }
run() {  # run <name> <limit> <model_args> <tasks>
  /usr/bin/time -v -o "results/microcode/logs/$1.time" \
    lm_eval --model llmcpu --model_args "$3" --batch_size 8 --limit "$2" \
    --tasks "$4" --output_path "results/smollm2-135m-instruct/$5" --log_samples \
    > "results/microcode/logs/$1.log" 2>&1
}
for bench in arc_easy hellaswag; do
  tasks="isa_native_$bench"
  for isa in $isas; do tasks+=",isa_${isa}_$bench"; done
  run "micro_${1//,/_}_$bench" 200 microcode=adapters/smollm2-135m-instruct "$tasks" microcode
done
tasks="isa_native_wikitext"
for isa in $isas; do tasks+=",isa_${isa}_wikitext"; done
run "bare_${1//,/_}_wikitext" 5 pretrained=SmolLM2-135M-Instruct "$tasks" bare
run "micro_${1//,/_}_wikitext" 5 microcode=adapters/smollm2-135m-instruct "$tasks" microcode
