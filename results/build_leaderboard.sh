#!/usr/bin/env bash
# The published leaderboard: every results JSON under results/ (SmolLM2 and
# Gemma 3, bare and with microcode) into results/leaderboard/.
set -euo pipefail
cd "$(dirname "$0")"
llmcpu-eval leaderboard smollm2-135m-instruct gemma-3-270m --output_path leaderboard
