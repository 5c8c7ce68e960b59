#!/usr/bin/env bash
# Held-out loss of each base model as it is held (issue #22's native / nf4 / Float32 ablation, before any
# training): the mean next-token loss, in nats per answer token, of the 64 selection groups (select =
# dev[400:500]) that the main runs are selected on, for SmolLM2-135M (main_one_r48's prompts) and Gemma 3 270M
# (gemma_one_r48's prompts), with the base held as the GGUF's own blocks (native), re-quantized to NF4 with
# double quantization (nf4), or dequantized to Float32 (none).
# How: `autore train --steps 1` takes one step at learning rate 0 (the first step of the warm-up), so the
# LoRA update is zero (B starts at zero) and the evaluation after it scores the base alone.
#
#   bash Experiments/gemma/base_quantization/measure.sh [OUT_DIR]     # about 2 min per row on 2 cores
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
HERE="$ROOT/Experiments/gemma/base_quantization"
OUT="${1:-${TMPDIR:-/tmp}/autore-base-quantization}"
AUTORE="${AUTORE:-$ROOT/.build/release/autore}"
[ -x "$AUTORE" ] || { echo "measure.sh: no $AUTORE (swift build -c release first)" >&2; exit 1; }
mkdir -p "$OUT"
printf 'model\tquantization\theld_out_loss\n' > "$HERE/held_out_loss.tsv.new"
for model in smollm2 gemma3; do
    case "$model" in
        smollm2) config="$ROOT/Experiments/main_one_r48.yaml" ;;
        gemma3) config="$ROOT/Experiments/gemma/gemma_one_r48.yaml" ;;
    esac
    for q in native nf4 none; do
        run="$OUT/${model}_$q"
        rm -rf "$run"
        "$AUTORE" train --config "$config" --out "$run" --steps 1 --set quantization=$q \
            --set evaluation.loss_groups=64 --set evaluation.generation_documents=0 --set evaluation.select_by=loss \
            > "$run.log" 2>&1 || { echo "measure.sh: $model $q failed, see $run.log" >&2; exit 1; }
        loss="$(grep '"kind":"eval"' "$run/metrics.jsonl" | tail -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')"
        printf '%s\t%s\t%s\n' "$model" "$q" "$loss" | tee -a "$HERE/held_out_loss.tsv.new"
    done
done
mv "$HERE/held_out_loss.tsv.new" "$HERE/held_out_loss.tsv"
