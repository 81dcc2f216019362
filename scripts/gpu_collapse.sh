#!/usr/bin/env bash
# The collapse at the original's scale, on one lent GPU, as one call (docs/RESULTS.md, "The collapse
# at the original's scale"): the `collapsed` (10-d condition) and `original50` (50-d) presets,
# unchanged (ngf = ndf = 64, batch 128), trained side by side on the GPU, every epoch evaluated
# on the CPU cores beside it by scripts/follow_eval.py (train.py's own evaluation would stop the GPU).
#   0. the CUDA tests, beside the runs (tests/test_cuda.py, tests/test_packed.py)
#   1. both runs to EPOCHS x EPOCH_IMAGES images (default 32 x 131,072 = 4.19 M), or until
#      TRAIN_SECONDS, whichever comes first; the resume states stay on the machine
#   2. the evaluation catches up (until EVAL_SECONDS from the start)
#   3. per run: its records and a few grids, and its chosen checkpoints, packed into $OUT
# The machine needs no fonts: make the data here first with
#   python -m rekogan pack --data fonts --out .gpu/fonts64.npz
# Usage: OUT=out/gpu bash scripts/gpu_collapse.sh .gpu/fonts64.npz
# A second call on the still-warm machine continues both runs: RESUME=1 EPOCHS=N ... (same command).
set -u
DATA=${1:?usage: gpu_collapse.sh PACKED.npz}
OUT=${OUT:-out/gpu}
EPOCHS=${EPOCHS:-32}
EPOCH_IMAGES=${EPOCH_IMAGES:-131072}
TRAIN_SECONDS=${TRAIN_SECONDS:-470}
EVAL_SECONDS=${EVAL_SECONDS:-525}
RESUME=${RESUME:-0}
TESTS=${TESTS:-1}
DEVICE=${DEVICE:-cuda}
RUNS=${RUNS:-runs/h200}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
mkdir -p "$OUT" "$RUNS"
rm -f "$RUNS/.done"
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 )) s] $*" | tee -a "$OUT/log.txt"; }

stamp "machine"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())"; } >> "$OUT/log.txt" 2>&1

if [ "$TESTS" = 1 ]; then
  ( OMP_NUM_THREADS=2 timeout 200 python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_packed.py -k "not cli" \
      > "$OUT/tests.txt" 2>&1; echo "tests exit $?" >> "$OUT/tests.txt" ) &
  testpid=$!
fi
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader -l 20 > "$OUT/gpu_util.txt" 2>&1 &
util=$!

pids=()
for preset in collapsed original50; do
  if [ "$RESUME" = 1 ]; then
    args=(--resume --out "$RUNS/$preset" --epochs "$EPOCHS")
  else
    args=(--preset "$preset" --device "$DEVICE" --data "packed:$DATA" --epoch-images "$EPOCH_IMAGES" --epochs "$EPOCHS"
          --eval-every 0 --threads 2 --out "$RUNS/$preset")
  fi
  ( timeout -s KILL "$TRAIN_SECONDS" python3 train.py "${args[@]}" 2>&1 | tr '\r' '\n' | grep -v "step/s\|s/step" \
      > "$OUT/train_$preset.txt"; echo "exit ${PIPESTATUS[0]}" >> "$OUT/train_$preset.txt" ) &
  pids+=($!)
done
stamp "training collapsed and original50 (${EPOCHS} x ${EPOCH_IMAGES} images, at most ${TRAIN_SECONDS} s)"
evalpids=()
for preset in collapsed original50; do        # one follower per run: each keeps pace with its own run
  python3 scripts/follow_eval.py "$RUNS/$preset" --stop-file "$RUNS/.done" \
      --deadline $(( EVAL_SECONDS - ($(date +%s) - t0) )) --threads 6 > "$OUT/eval_$preset.txt" 2>&1 &
  evalpids+=($!)
done
wait "${pids[@]}"
touch "$RUNS/.done"
stamp "training ended: $(tail -qn1 "$OUT"/train_*.txt | tr '\n' ' ')"
wait "${evalpids[@]}"
kill $util 2>/dev/null
stamp "evaluation ended: $(tail -qn1 "$OUT"/eval_*.txt | tr '\n' ' ')"
cat "$OUT"/eval_*.txt >> "$OUT/log.txt" && rm "$OUT"/eval_*.txt
for preset in collapsed original50; do tail -n 4 "$OUT/train_$preset.txt" >> "$OUT/log.txt"; done
[ "$TESTS" = 1 ] && wait $testpid && cat "$OUT/tests.txt" >> "$OUT/log.txt" && rm "$OUT/tests.txt"
echo "GPU utilisation, memory (every 20 s):" >> "$OUT/log.txt"; cat "$OUT/gpu_util.txt" >> "$OUT/log.txt"

stamp "packing"
python3 - "$RUNS" "$OUT" <<'PY' >> "$OUT/log.txt" 2>&1
# per run: its records (config, data, metrics, evaluation, plots) and grids of some epochs in one
# .tgz; its chosen checkpoints in .tar files of at most two (8 files, 16 MiB each, come back)
import json, sys, tarfile
from pathlib import Path
sys.path.insert(0, ".")
from rekogan.records import best_epoch
runs, out = Path(sys.argv[1]), Path(sys.argv[2])
for name, n_ckpt in (("collapsed", 4), ("original50", 2)):
    run = runs / name
    epochs = sorted(int(p.stem.split("_")[1]) for p in run.glob("epoch_*.safetensors"))
    if not epochs:
        print(name, "no epochs"); continue
    ev = [json.loads(l) for l in (run / "evaluation.jsonl").read_text().splitlines()] if (run / "evaluation.jsonl").exists() else []
    best = best_epoch(ev)
    must = [e for e in ((best or {}).get("epoch"), epochs[-1], epochs[0]) if e]   # in order of need
    pick = []
    for e in must + [epochs[len(epochs) * i // n_ckpt] for i in range(1, n_ckpt)]:
        if e not in pick and len(pick) < n_ckpt:
            pick.append(e)
    pick.sort()
    grids = {e for e in epochs if e in (1, 2, 3, 4, 6, 8) or e % 4 == 0} | set(pick)
    print(name, "epochs", epochs[0], "..", epochs[-1], "evaluated", len(ev), "best", best and best["epoch"],
          best and best["readability"], "picked", pick)
    with tarfile.open(out / f"{name}_records.tgz", "w:gz") as t:
        for p in sorted(run.iterdir()):
            if p.suffix in (".json", ".jsonl") or p.name in ("loss_curve.png", "evaluation.png") or \
               (p.name.startswith("grid_") and int(p.stem.split("_")[1]) in grids):
                t.add(p, arcname=p.name)
    for k in range(0, len(pick), 2):
        with tarfile.open(out / f"{name}_ckpt{k // 2}.tar", "w") as t:
            for e in pick[k:k + 2]:
                t.add(run / f"epoch_{e:03d}.safetensors", arcname=f"epoch_{e:03d}.safetensors")
PY
rm -f "$OUT/gpu_util.txt"      # at most 8 files come back: log, 2 training logs, 2 records, 3 checkpoint tars
ls -la "$OUT" | tee -a "$OUT/log.txt"
stamp "done"
