"""Ablation: EMA generator vs raw generator at the same step, from a run's resume state.

  python scripts/ema_ablation.py runs/fixed
"""
import sys, glob, json, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rekogan.config import from_dict
from rekogan.models import build_generator, build_discriminator
from rekogan.checkpoints import load_state
from rekogan.steps import standing_stats
from rekogan.evaluation import evaluate_generator, real_reference
from rekogan.classifier import load_classifier
from rekogan.hangul import parse_classes
torch.set_num_threads(1)
run = sys.argv[1]
cfg = from_dict(json.load(open(f"{run}/config.json")))
classes = parse_classes(cfg.classes); m = cfg.model_config(len(classes))
G, D, Ge = build_generator(m), build_discriminator(m), build_generator(m)
oG, oD = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
st = sorted(glob.glob(f"{run}/state_*.safetensors"))[-1]
c, _ = load_state(st, modules={"G": G, "D": D, "G_ema": Ge}, optimizers={"opt_g": oG, "opt_d": oD})
clf, _ = load_classifier("checkpoints/classifier/classifier.safetensors")
ref = real_reference(clf, classes=classes, size=cfg.size, seeds=8, augment=cfg.augment)
out = {"state": st, "epoch": c["epoch"]}
for name, g in (("raw G (standing stats)", G), ("EMA G", Ge)):
    standing_stats(g, n_classes=len(classes)); g.eval()
    r = evaluate_generator(g, classes=classes, classifier=clf, reference=ref)
    out[name] = {"readability": round(r["readability"], 4), "diversity": round(r["diversity"], 3)}
print(json.dumps(out, ensure_ascii=False))
