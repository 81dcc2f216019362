#!/usr/bin/env bash
# One lent-GPU session, end to end, as it was run for docs/RESULTS.md ("On a GPU"):
#   1. the CUDA tests (tests/test_cuda.py: training in bf16, CPU loading, resume on CUDA)
#   2. the training benchmark on the GPU (fixed vs the original recipe)
#   3. the fixed preset trained for TRAIN_SECONDS, then killed with SIGKILL and resumed for one epoch
#   4. the run's records, its best/first-80%/last checkpoints and its resume state packed into $OUT
# The machine needs no fonts: make the data here first with
#   python -m rekogan pack --data fonts --out .gpu/fonts64.npz
# Usage: OUT=out/gpu TRAIN_SECONDS=300 bash scripts/gpu_session.sh .gpu/fonts64.npz [DEVICE]
# Optional: TRAIN_ARGS="--batch 256" (more train.py options), RESUME=0 (skip the kill-and-resume
# epoch), STATE=0 (do not bring the resume state back), BENCH=0 (skip the benchmark).
set -u
DATA=${1:?usage: gpu_session.sh PACKED.npz [DEVICE]}
DEVICE=${2:-cuda}
OUT=${OUT:-out/gpu}
TRAIN_SECONDS=${TRAIN_SECONDS:-300}
EPOCH_IMAGES=${EPOCH_IMAGES:-131072}
RUN=${RUN:-runs/gpu}
TRAIN_ARGS=${TRAIN_ARGS:-}
RESUME=${RESUME:-1}
STATE=${STATE:-1}
BENCH=${BENCH:-1}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
mkdir -p "$OUT"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$OUT/log.txt"; }

stamp "machine"
{ nvidia-smi 2>&1 | head -15; nproc; python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"; } >> "$OUT/log.txt" 2>&1

stamp "1. CUDA tests"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_packed.py -k "not cli" >> "$OUT/log.txt" 2>&1
stamp "tests exit $?"

if [ "$BENCH" = 1 ]; then
  stamp "2. benchmark"
  timeout 200 python3 -m rekogan.bench --json "$OUT/bench.json" train --device "$DEVICE" --data "packed:$DATA" \
      --seconds 20 --threads "$(nproc)" >> "$OUT/log.txt" 2>&1
  stamp "bench exit $?"
fi

stamp "3. train fixed for $TRAIN_SECONDS s, then SIGKILL"
timeout -s KILL "$TRAIN_SECONDS" python3 train.py --preset fixed --device "$DEVICE" --data "packed:$DATA" \
    --epoch-images "$EPOCH_IMAGES" --epochs 10000 --out "$RUN" $TRAIN_ARGS 2>&1 | tr '\r' '\n' | grep -v "step/s\|s/step" >> "$OUT/train.txt"
stamp "train killed; epochs done: $(ls $RUN/epoch_*.safetensors 2>/dev/null | wc -l)"
last=$(ls $RUN/epoch_*.safetensors | sed 's/.*epoch_0*\([0-9]*\).safetensors/\1/' | sort -n | tail -1)
if [ "$RESUME" = 1 ]; then
  timeout 120 python3 train.py --resume --out "$RUN" --epochs $((last + 1)) 2>&1 | tr '\r' '\n' | grep -v "step/s\|s/step" >> "$OUT/train.txt"
  stamp "resume exit $?"
fi

stamp "4. pack results"
python3 - "$RUN" "$OUT" <<'PY' >> "$OUT/log.txt" 2>&1
import json, sys, tarfile
from pathlib import Path
run, out = Path(sys.argv[1]), Path(sys.argv[2])
ev = [json.loads(l) for l in (run / "evaluation.jsonl").read_text().splitlines() if l.strip()]
ev = {r["epoch"]: r for r in ev}
epochs = sorted(int(p.stem.split("_")[1]) for p in run.glob("epoch_*.safetensors"))
best = max(ev, key=lambda e: (ev[e]["readability"], e)) if ev else epochs[-1]
first80 = next((e for e in sorted(ev) if ev[e]["readability"] >= 0.8), None)
pick = sorted({e for e in (best, first80, epochs[-1]) if e is not None})
print("epochs", epochs[0], "..", epochs[-1], "best", best, ev.get(best, {}).get("readability"), "first80", first80, "picked", pick)
with tarfile.open(out / "run_records.tgz", "w:gz") as t:
    for p in sorted(run.iterdir()):
        if p.suffix in (".json", ".jsonl") or p.name in ("loss_curve.png", "evaluation.png") or \
           (p.name.startswith("grid_") and (int(p.stem.split("_")[1]) % 5 == 0 or int(p.stem.split("_")[1]) in pick)):
            t.add(p, arcname=p.name)
with tarfile.open(out / "checkpoints.tar", "w") as t:
    for e in pick:
        t.add(run / f"epoch_{e:03d}.safetensors", arcname=f"epoch_{e:03d}.safetensors")
PY
if [ "$STATE" = 1 ]; then
  state=$(ls $RUN/state_*.safetensors | tail -1)
  split -b 16000K -d "$state" "$OUT/$(basename $state).part"
fi
ls -la "$OUT" | tee -a "$OUT/log.txt"
stamp "done"
