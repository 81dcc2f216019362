#!/usr/bin/env bash
# The glyph upscaler's training on a lent GPU, as one call (the brief: after the collapse, the upscaler):
#   1. the CUDA tests of the upscaler and of train.py (tests/test_upscale_pack.py, tests/test_cuda.py)
#   2. stage A: the base recipe (the paired losses, from scratch) far longer than the CPU's 64 k glyphs
#   3. stage B: the shipped fine-tune recipe (consistency, the readers' keep-content margin, ...) from A's
#      last epoch, as checkpoints/upscaler/config.json records it
#   4. both runs' records and last upscaler files into $OUT (8 files at most come back)
# The machine has no Korean fonts and no generators: make the data here first, within the 64 MiB a call carries
# (42 MB; the tracked tree less the generators' *.safetensors, `git rm --cached` for the call, is ~23 MB; the
# readers, the upscaler and the runs' split.json must stay: the keep-content term reads with them):
#   python -m rekogan upscaler pack --out .gpu/upscale96.npz --syllables 96 --content-pool 2048
# Usage: OUT=out/gpu A_SECONDS=240 B_SECONDS=180 bash scripts/gpu_upscaler.sh .gpu/upscale96.npz
# Optional: DEVICE (default cuda), A_ARGS / B_ARGS (more `upscaler train` options), BATCH (default 64), TESTS=0, RESUME=1 (continue
# both stages' runs in $RUNS on a machine still warm: stage A resumes, stage B starts when A has ended).
# Back here: `python -m rekogan upscaler test --checkpoint FILE` and the issue 23 targets decide what ships.
set -u
DATA=${1:?usage: gpu_upscaler.sh PACK.npz}
OUT=${OUT:-out/gpu}
RUNS=${RUNS:-runs/gpu_upscaler}
A_SECONDS=${A_SECONDS:-240}
B_SECONDS=${B_SECONDS:-180}
BATCH=${BATCH:-64}
A_ARGS=${A_ARGS:-}
B_ARGS=${B_ARGS:-}
TESTS=${TESTS:-1}
DEVICE=${DEVICE:-cuda}          # DEVICE=cpu: a dry run of the whole call here (short stages, TESTS=0)
RESUME=${RESUME:-0}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
mkdir -p "$OUT" "$RUNS"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$OUT/log.txt"; }

stamp "machine"
{ nvidia-smi 2>&1 | head -15; nproc; python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"; } >> "$OUT/log.txt" 2>&1

if [ "$TESTS" = 1 ]; then
  stamp "1. CUDA tests"
  timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_upscale_pack.py tests/test_cuda.py >> "$OUT/log.txt" 2>&1
  stamp "tests exit $?"
fi

# the pack's syllables and pool size are the runs' (upscaler train --data takes them from it); the batch is
# 4x the CPU's, so an epoch is 250 steps of 64 glyphs; --minutes stops a stage with its resume state saved
train() {   # train RUN SECONDS ARGS...
  local run=$1 secs=$2; shift 2
  local minutes; minutes=$(python3 -c "print(max(0.5, ($secs - 30) / 60))")
  timeout -s KILL "$secs" python3 -m rekogan upscaler train --data "$DATA" --device "$DEVICE" --out "$run" \
      --minutes "$minutes" --threads 4 "$@" > "$run.txt" 2>&1
  echo "exit $?" >> "$run.txt"
}
stamp "2. stage A (base recipe, from scratch, batch $BATCH, at most $A_SECONDS s)"
if [ "$RESUME" = 1 ] && [ -f "$RUNS/A/config.json" ]; then
  train "$RUNS/A" "$A_SECONDS" --resume
else
  # shellcheck disable=SC2086
  train "$RUNS/A" "$A_SECONDS" --batch "$BATCH" --epochs 40 --epoch-steps 250 $A_ARGS
fi
stamp "stage A: $(tail -n 2 "$RUNS/A.txt" | tr '\n' ' ')"
last_a=$(ls "$RUNS"/A/upscaler_*.safetensors 2>/dev/null | sort | tail -n 1)
if [ -z "$last_a" ]; then
  stamp "stage A saved no epoch: stage B skipped"
else
  stamp "3. stage B (the shipped fine-tune recipe from $last_a, at most $B_SECONDS s)"
  if [ "$RESUME" = 1 ] && [ -f "$RUNS/B/config.json" ]; then
    train "$RUNS/B" "$B_SECONDS" --resume
  else
    # checkpoints/upscaler/config.json's fine-tune: lr 5e-4, consistency 1, smudge 0.2, level-min 0.3, grid 0.5,
    # keep-content 3 (margin 2, sharpness 2.5), content-grey 0.25
    # shellcheck disable=SC2086
    train "$RUNS/B" "$B_SECONDS" --init "$last_a" --batch "$BATCH" --epochs 8 --epoch-steps 250 --lr 0.0005 \
        --consistency 1 --smudge 0.2 --level-min 0.3 --grid 0.5 --keep-content 3 --content-loss margin \
        --content-margin 2 --content-sharpness 2.5 --content-grey 0.25 $B_ARGS
  fi
  stamp "stage B: $(tail -n 2 "$RUNS/B.txt" | tr '\n' ' ')"
fi

stamp "4. packing"
for stage in A B; do
  [ -d "$RUNS/$stage" ] || continue
  # records (config, metrics, the last samples) in one .tgz; the last upscaler file beside it (~0.6 MB)
  last=$(ls "$RUNS/$stage"/upscaler_*.safetensors 2>/dev/null | sort | tail -n 1)
  samples=$(ls "$RUNS/$stage"/samples_*.png 2>/dev/null | sort | tail -n 1)
  tar -czf "$OUT/${stage}_records.tgz" -C "$RUNS/$stage" config.json metrics.jsonl \
      ${samples:+$(basename "$samples")} -C "$RUNS" "$stage.txt" 2>> "$OUT/log.txt"
  [ -n "$last" ] && cp "$last" "$OUT/${stage}_$(basename "$last")"
done
ls -la "$OUT" | tee -a "$OUT/log.txt"
stamp "done"
