"""Ship a style encoder and its fine-tuned generator (issue 25) as a run the app lists: a "hand" run.

  python scripts/ship_writer_run.py resume/writer_enc.safetensors \\
      --base checkpoints/hangul/epoch_068.safetensors --out checkpoints/hangul-hand [--evaluate] [--force]
  python scripts/ship_writer_run.py runs/writer_enc_fixed --base checkpoints/fixed/epoch_186.safetensors --out checkpoints/fixed-hand

SRC is a run directory of scripts/train_writer_encoder.py (config.json, encoder_last.safetensors,
generator_last.safetensors, metrics.jsonl, state.safetensors for its step and CPU time; --which picks
another tag than `last`) or one resume file of `E.*` and `G.*` tensors with the run's config in its
metadata (resume/writer_enc.safetensors; its log, NAME_metrics.jsonl, beside it).

The run folder OUT gets:
  epoch_NNN.safetensors  the base checkpoint's format and metadata (its epoch, classes, config), the
                         generator weights replaced by the fine-tuned ones (fp16), plus `writer_tag`
                         (OUT's name @ 8 hex digits of the weights' SHA-256: a writer fitted on this
                         run carries it and is drawn by no other generator) and `hand` (provenance)
  encoder.safetensors    E, fp16 (rekogan.writer.encoder.FORMAT): the fit starts from E(references)
  config.json, data.json, split.json   the base run's (what the generator was trained on and holds out)
  provenance.json        the base run's (faces, packages, licences) + `writer_encoder`: the base, the
                         training faces and their licences, the command(s), the CPU minutes, the step
                         (+ `extra_train`: what drew --extra-train faces and their sources' licences;
                         `base_writer_encoder`: the base's own record when it was a hand run)
  encoder_metrics.jsonl  the encoder's training log (when SRC has one)
  README.md              the same provenance in words
  fit.json               with --fit KEY=VALUE (repeatable): the run's fit defaults, FitConfig fields
                         (rekogan/writer/fit.py), {"fit": {...}, "chosen_on": --fit-chosen-on, "command":
                         --fit-command}: the app, `imitate`, eval_writer and bench_writer fit this run with
                         them (an explicit --fit on a command goes on top)
--evaluate then records the run's readability the project's way (`python -m rekogan evaluate OUT
--write`), so the app's run selector shows it. OUT is written in a temporary folder beside it and
renamed into place: never half a run. An existing OUT is refused unless --force.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rekogan.checkpoints import CheckpointError, read_metadata, read_tensors, save_tensors  # noqa: E402
from rekogan.conventions import epoch_file  # noqa: E402
from rekogan.records import read_jsonl, write_text_atomic  # noqa: E402
from rekogan.writer.encoder import ENCODER_FILE, StyleEncoder, save_encoder  # noqa: E402

RUN_FILES = ("config.json", "data.json", "split.json")
FIT_FILE = "fit.json"


class ShipError(ValueError):
    """A source, base or destination that cannot be shipped; the message says why."""


def _rel(p: Path) -> str:
    p = p.resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def read_source(src: Path, *, which: str = "last") -> dict:
    """{'E': tensors, 'G': tensors, 'config': the training run's config, 'log': records, 'step', 'cpu_min'}."""
    if src.is_dir():
        need = [src / "config.json", src / f"encoder_{which}.safetensors", src / f"generator_{which}.safetensors"]
        missing = [p.name for p in need if not p.is_file()]
        if missing:
            raise ShipError(f"{src} is not a train_writer_encoder.py run: missing {', '.join(missing)}")
        config = json.loads(need[0].read_text())
        E, _ = read_tensors(need[1])
        G, _ = read_tensors(need[2])
        counters = {}
        if (src / "state.safetensors").is_file() and which == "last":
            from safetensors import safe_open
            with safe_open(str(src / "state.safetensors"), framework="pt") as f:
                counters = json.loads((f.metadata() or {}).get("counters", "{}"))
        log = read_jsonl(src / "metrics.jsonl") if (src / "metrics.jsonl").is_file() else []
        if which == "best":               # the best weights: the last evaluation that was marked best
            best = [r for r in log if r.get("event") == "eval" and r.get("best")]
            if best:
                return {"E": E, "G": G, "config": config, "log": log, "step": best[-1].get("step"),
                        "cpu_min": round(best[-1]["cpu_min"], 1) if "cpu_min" in best[-1] else None}
        return {"E": E, "G": G, "config": config, "log": log, "step": counters.get("step"),
                "cpu_min": round(counters["cpu_s"] / 60, 1) if "cpu_s" in counters else None}
    if not src.is_file():
        raise ShipError(f"{src} not found")
    tensors, meta = read_tensors(src)
    E = {k[2:]: v for k, v in tensors.items() if k.startswith("E.")}
    G = {k[2:]: v for k, v in tensors.items() if k.startswith("G.")}
    if not E or not G or "config" not in meta:
        raise ShipError(f"{src} is not a writer-encoder file: it needs E.* and G.* tensors and a 'config' in its metadata")
    log_path = src.with_name(src.stem + "_metrics.jsonl")
    return {"E": E, "G": G, "config": json.loads(meta["config"]),
            "log": read_jsonl(log_path) if log_path.is_file() else [],
            "step": int(meta["step"]) if meta.get("step") else None,
            "cpu_min": float(meta["cpu_min"]) if meta.get("cpu_min") else None}


def generator_tensors(G: dict, base: dict) -> dict:
    """The fine-tuned weights in the base file's names, shapes and dtypes; ShipError when they differ."""
    missing, extra = sorted(set(base) - set(G)), sorted(set(G) - set(base))
    shaped = sorted(k for k in set(base) & set(G) if base[k].shape != G[k].shape)
    if missing or extra or shaped:
        raise ShipError(f"the fine-tuned generator does not fit the base (missing {missing[:3]}, unexpected {extra[:3]}, "
                        f"other shapes {shaped[:3]})")
    out = {k: G[k].to(base[k].dtype).contiguous() for k in sorted(base)}
    bad = [k for k, v in out.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ShipError(f"the fine-tuned generator holds non-finite numbers ({bad[:3]})")
    return out


def fingerprint(tensors: dict) -> str:
    """8 hex digits of SHA-256 over the weights (sorted names, raw bytes): which generator a writer belongs to."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:8]


def licences(provenance: dict, faces: list[str], *, others: dict | None = None) -> dict:
    """{package: {'licence', 'faces'}} of the faces, as the base run's provenance.json records them; a
    face the base run skipped (its provenance names no package for it) is looked up in `others`
    ({run: provenance} of the runs beside it), and the entry says which run recorded it."""
    out, left = {}, list(faces)
    for run, prov in [(None, provenance)] + sorted((others or {}).items()):
        for pkg, rec in (prov.get("packages") or {}).items():
            mine = [f for f in left if f in set(rec.get("train_faces", [])) | set(rec.get("heldout_faces", []))]
            if mine:
                entry = out.setdefault(pkg, {"licence": rec.get("licence"), "faces": []})
                entry["faces"] += mine
                if run is not None:
                    entry.setdefault("recorded_by", {}).update({f: f"{run}/provenance.json" for f in mine})
                left = [f for f in left if f not in mine]
    return out


def extra_train_provenance(extra: dict, provenance: dict, *, others: dict) -> dict:
    """config.json's extra_train (train_writer_encoder.py --extra-train: faces drawn by another generator)
    with what drew them and the licences of the faces they were mixed from, read from the .npz's recipe
    (scripts/make_hand_faces.py). The file must be there, unchanged: a shipped run says where every
    face it learnt from came from."""
    import numpy as np
    path = Path(extra["path"]) if Path(extra["path"]).is_absolute() else REPO / extra["path"]
    if not path.is_file():
        raise ShipError(f"the run trained on extra faces from {extra['path']}, which is not here: its provenance "
                        f"cannot be recorded (make it again with: {extra.get('command')})")
    if hashlib.sha256(path.read_bytes()).hexdigest() != extra.get("sha256"):   # as train_writer_encoder recorded it
        raise ShipError(f"{extra['path']} is not the file the run trained on (sha256 differs)")
    with np.load(path) as z:
        recipe = json.loads(str(z["recipe"]))
    sources = sorted({f[k] for f in recipe["faces"] for k in ("a", "b")})
    lic = licences(provenance, sources, others=others)
    unknown = [f for f in sources if not any(f in v["faces"] for v in lic.values())]
    if provenance and unknown:                  # as for the training faces: a base run without records is not checked
        raise ShipError(f"extra faces mixed from faces whose package and licence no provenance.json records: {unknown[:5]}")
    return dict(extra, drawn_by=recipe.get("checkpoint"), reader=recipe.get("reader"),
                source_faces=sources, source_faces_licences=lic)


def commands(log: list[dict]) -> list[str]:
    return [r["command"] for r in log if r.get("event") == "start" and r.get("command")]


def fit_defaults(pairs, *, chosen_on: str, command: str) -> dict | None:
    """fit.json's content for --fit KEY=VALUE pairs (None without any); ShipError for a field FitConfig
    lacks or a value it refuses, or when the choice is not said (where and how the values were chosen)."""
    if not pairs:
        return None
    from rekogan.writer.fit import FitConfig
    try:
        fit = FitConfig.overrides(pairs)
    except (ValueError, TypeError) as e:
        raise ShipError(str(e)) from None
    if not chosen_on.strip() or not command.strip():
        raise ShipError("--fit needs --fit-chosen-on (which faces, how) and --fit-command (the command that chose it)")
    return {"fit": fit, "chosen_on": chosen_on.strip(), "command": command.strip()}


def build(src: Path, *, base: Path, out: Path, which: str = "last", argv=None, fit: dict | None = None) -> Path:
    """Write the hand run into a temporary folder beside `out`; returns it (the caller renames it)."""
    s = read_source(src, which=which)
    trained_from = s["config"].get("checkpoint")
    if trained_from and (REPO / trained_from).resolve() != base.resolve() and Path(trained_from).resolve() != base.resolve():
        raise ShipError(f"{src} was trained from {trained_from}, not from --base {_rel(base)}")
    meta_parsed = read_metadata(base)
    base_tensors, base_meta = read_tensors(base)
    G = generator_tensors(s["G"], base_tensors)
    E = StyleEncoder(**s["config"]["encoder"])
    try:
        E.load_state_dict({k: v.float() for k, v in s["E"].items()})
    except RuntimeError as e:
        raise ShipError(f"the encoder's tensors do not fit its config: {str(e).splitlines()[0]}") from None
    tag = f"{out.name}@{fingerprint(G)}"
    base_dir = base.parent
    base_prov = json.loads((base_dir / "provenance.json").read_text()) if (base_dir / "provenance.json").is_file() else {}
    faces = list(s["config"].get("train_faces", []))
    others = {p.parent.name: json.loads(p.read_text()) for p in sorted(base_dir.parent.glob("*/provenance.json"))
              if p.parent != base_dir and p.parent.name != out.name}
    hand = {"base": _rel(base), "base_run": base_dir.name, "base_epoch": meta_parsed["epoch"], "writer_tag": tag,
            "source": _rel(src), "step": s["step"], "cpu_minutes": s["cpu_min"],
            "commands": commands(s["log"]), "training": {k: s["config"].get(k) for k in ("paired", "feature_reader", "bf16", "threads", "seed", "reader", "init")},
            "encoder": E.config, "encoder_parameters": sum(p.numel() for p in E.parameters()),
            "training_faces": faces, "training_faces_licences": licences(base_prov, faces, others=others),
            "shipped_with": "python scripts/ship_writer_run.py " + shlex.join(argv if argv is not None else sys.argv[1:])}
    unknown = [f for f in faces if not any(f in v["faces"] for v in hand["training_faces_licences"].values())]
    if base_prov and unknown:
        raise ShipError(f"training faces whose package and licence no provenance.json records: {unknown[:5]}")
    if s["config"].get("extra_train"):
        hand["extra_train"] = extra_train_provenance(s["config"]["extra_train"], base_prov, others=others)
    if base_prov.get("writer_encoder"):
        # a hand run fine-tuned again from a hand run: its own training is part of the lineage
        hand["base_writer_encoder"] = base_prov["writer_encoder"]
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        meta = dict(base_meta, writer_tag=tag, hand=json.dumps(hand, ensure_ascii=False))
        save_tensors(tmp / epoch_file(meta_parsed["epoch"]), G, meta)
        save_encoder(tmp / ENCODER_FILE, E, metadata={"writer_tag": tag, "base": _rel(base),
                                                      "step": s["step"] or "", "cpu_min": s["cpu_min"] or ""})
        for name in RUN_FILES:
            if (base_dir / name).is_file():
                shutil.copyfile(base_dir / name, tmp / name)
        # the base run's own shipped-file notes (removed_epochs) are not this run's: it ships one epoch
        prov = dict({k: v for k, v in base_prov.items() if k != "removed_epochs"}, writer_encoder=hand)
        write_text_atomic(tmp / "provenance.json", json.dumps(prov, indent=1, ensure_ascii=False) + "\n")
        if s["log"]:
            write_text_atomic(tmp / "encoder_metrics.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in s["log"]))
        if fit is not None:
            write_text_atomic(tmp / FIT_FILE, json.dumps(fit, indent=1, ensure_ascii=False) + "\n")
        write_text_atomic(tmp / "README.md", readme(hand, out.name, fit=fit))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def licence_line(lic: dict) -> str:
    """licences()'s result in words: 'package (licence): number of faces; ...'."""
    return "; ".join(f"{p} ({v['licence']}): {len(v['faces'])}" for p, v in lic.items())


def readme(hand: dict, name: str, *, fit: dict | None = None) -> str:
    lic = licence_line(hand["training_faces_licences"])
    cmds = "\n".join(hand["commands"]) or "(not recorded)"
    return (f"# {name}: the {hand['base_run']} run, fine-tuned for writers, with its style encoder\n\n"
            f"`{epoch_file(hand['base_epoch'])}` is `{hand['base']}` (same metadata, classes and epoch) with the generator "
            f"weights fine-tuned jointly with the style encoder `{ENCODER_FILE}` (rekogan/writer/encoder.py, "
            f"{hand['encoder_parameters']:,} parameters, fp16) on paired glyphs of "
            f"{len(hand['training_faces'])} training faces of the base run's font source (system fonts; the "
            f"held-out faces never; packages and licences, faces per package: {lic}). "
            f"Step {hand['step']}, {hand['cpu_minutes']} CPU-minutes, from `{hand['source']}`.\n\n"
            + ("" if not hand.get("extra_train") else
               f"Also trained on {hand['extra_train']['faces']} faces drawn by `{hand['extra_train']['drawn_by']}` "
               f"(`{hand['extra_train']['command']}`: writers mixed from {len(hand['extra_train']['source_faces'])} "
               "of its training faces, the encoder run's validation faces excluded; packages and licences of those "
               f"faces: {licence_line(hand['extra_train']['source_faces_licences'])}).\n\n")
            + ("" if not hand.get("base_writer_encoder") else
               f"`{hand['base']}` was itself a hand run (step {hand['base_writer_encoder'].get('step')}, "
               f"{hand['base_writer_encoder'].get('cpu_minutes')} CPU-minutes from "
               f"`{hand['base_writer_encoder'].get('base')}`; `provenance.json` keeps its record).\n\n")
            + f"A writer fitted on this run starts from the encoder's writer and is tagged `{hand['writer_tag']}`: "
            "it is drawn by this run only.\n\n"
            "Trained with (as the training log records it: a resumed run logs only its first start):"
            f"\n\n```bash\n{cmds}\n```\n\nShipped with:\n\n```bash\n{hand['shipped_with']}\n```\n"
            + ("" if fit is None else
               f"\nIts fit defaults (`{FIT_FILE}`: the app, `imitate`, eval_writer and bench_writer fit this run with "
               f"them): `{json.dumps(fit['fit'])}`, chosen on {fit['chosen_on']} with\n\n```bash\n{fit['command']}\n```\n"))


def place(tmp: Path, out: Path, *, force: bool) -> None:
    """Rename the finished folder onto `out` (the old one, with --force, removed only after)."""
    old = None
    if out.exists():
        if not force:
            raise ShipError(f"{out} exists: pass --force to replace it")
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="a train_writer_encoder.py run folder, or a resume file of E.* and G.* tensors")
    ap.add_argument("--base", required=True, help="the epoch checkpoint the generator was fine-tuned from")
    ap.add_argument("--out", required=True, help="the run folder to write, e.g. checkpoints/hangul-hand")
    ap.add_argument("--which", default="last", help="a run folder's weights tag (encoder_TAG / generator_TAG)")
    ap.add_argument("--force", action="store_true", help="replace an existing OUT")
    ap.add_argument("--evaluate", action="store_true", help="then `python -m rekogan evaluate OUT --write`")
    ap.add_argument("--threads", type=int, default=1, help="threads of --evaluate")
    ap.add_argument("--fit", action="append", default=[], metavar="KEY=VALUE",
                    help="a fit default of this run (a FitConfig field), into OUT/fit.json; repeatable")
    ap.add_argument("--fit-chosen-on", default="", metavar="TEXT", help="with --fit: on which faces, and how, they were chosen")
    ap.add_argument("--fit-command", default="", metavar="CMD", help="with --fit: the command that measured the choice")
    args = ap.parse_args(argv)
    out, base = Path(args.out), Path(args.base)
    try:
        if out.exists() and not args.force:
            raise ShipError(f"{out} exists: pass --force to replace it")
        if not base.is_file():
            raise ShipError(f"--base {base} not found")
        fit = fit_defaults(args.fit, chosen_on=args.fit_chosen_on, command=args.fit_command)
        tmp = build(Path(args.src), base=base, out=out, which=args.which, argv=argv, fit=fit)
        place(tmp, out, force=args.force)
    except (ShipError, CheckpointError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"shipped {out} ({size / 1e6:.1f} MB): {', '.join(sorted(p.name for p in out.iterdir()))}")
    if args.evaluate:
        cmd = [sys.executable, "-m", "rekogan", "evaluate", str(out), "--write", "--threads", str(args.threads)]
        print("$ " + " ".join(cmd), flush=True)
        return subprocess.call(cmd, cwd=REPO)
    print(f"next: python -m rekogan evaluate {out} --write --threads 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
