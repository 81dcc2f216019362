"""Korean web fonts from the npm registry, as extra writers for evaluation only.

No model is trained on these: they are hands the shipped runs never saw, which widens the
writer evaluation (scripts/eval_writer.py --extra-faces) beyond the 8 held-out system faces.
Fontsource packages ship each Google Fonts family cut into ~90-120 unicode-range subsets (one
.woff per subset and weight); `merge_subsets` joins one weight's subsets back into one TrueType
file that the font loader (fonts.py) opens like any installed face.

  python scripts/fetch_eval_faces.py            # -> ~/.cache/rekogan/eval_faces/*.ttf + faces.json
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..records import atomic_path, write_text_atomic

# Fontsource families with Hangul whose designs are NOT among the Debian faces the runs train
# on (jua, do-hyeon, kirang-haerang, yeon-sung, nanum-* are the BM / Nanum faces already
# installed, so they are left out). Pinned versions: the same files on every machine.
PACKAGES = {   # Fontsource's own categories (faces.json): 4 handwriting, 7 display, 10 sans-serif, 6 serif
    "gaegu": "5.3.0", "hi-melody": "5.3.0", "gamja-flower": "5.3.0", "cute-font": "5.2.8",
    "single-day": "5.3.1", "east-sea-dokdo": "5.3.0", "stylish": "5.3.1", "poor-story": "5.3.0",
    "song-myung": "5.2.8", "dongle": "5.2.7", "diphylleia": "5.2.7", "moirai-one": "5.3.0",
    "grandiflora-one": "5.3.0", "gasoek-one": "5.3.0", "bagel-fat-one": "5.3.0",
    "black-and-white-picture": "5.3.0", "orbit": "5.3.0", "sunflower": "5.3.1", "gugi": "5.3.0",
    "black-han-sans": "5.3.0", "gothic-a1": "5.3.0", "gowun-batang": "5.3.0", "gowun-dodum": "5.3.0",
    "hahmlet": "5.3.0", "ibm-plex-sans-kr": "5.3.0", "noto-sans-kr": "5.3.0", "noto-serif-kr": "5.3.0",
}
DEFAULT_DIR = "~/.cache/rekogan/eval_faces"


def merge_subsets(files: list[str | Path], out: str | Path) -> int:
    """Merge one weight's subset fonts (.woff/.ttf of the same family) into one TrueType file at
    `out`, written atomically. Returns how many Hangul syllables the merged face maps."""
    from fontTools.merge import Merger
    from fontTools.ttLib import TTFont
    assert files, "no subset files to merge"
    merged = Merger().merge([str(f) for f in files])
    merged.flavor = None                                  # plain TrueType, not WOFF
    # keep the subsets' own timestamp: the same subsets give the same file, byte for byte, so
    # the sha256 in faces.json identifies the face on any machine
    merged.recalcTimestamp = False
    heads = [TTFont(str(f), lazy=True)["head"] for f in files]
    merged["head"].created = min(h.created for h in heads)
    merged["head"].modified = max(h.modified for h in heads)
    syllables = sum(1 for c in merged.getBestCmap() if 0xAC00 <= c <= 0xD7A3)
    with atomic_path(Path(out)) as tmp:
        merged.save(str(tmp))
    return syllables


def subset_files(package_dir: Path, family_id: str, weight: int) -> list[Path]:
    """The .woff subset files of one weight, normal style (numbered subsets and latin ones)."""
    pat = re.compile(rf"^{re.escape(family_id)}-[a-z0-9-]+-{weight}-normal\.woff$")
    return sorted(p for p in (package_dir / "files").iterdir() if pat.match(p.name))


def fetch_package(name: str, version: str, dest: Path, *, weight: int | None = None) -> dict:
    """npm pack one Fontsource package, merge its regular weight into dest/<name>.ttf (or, given
    `weight`, that weight into dest/<name>-<weight>.ttf, refusing a package without it); returns
    its manifest entry (package, version, family, category, licence, file, sha256, syllables)."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = f"@fontsource/{name}@{version}"
        r = subprocess.run(["npm", "pack", spec, "--pack-destination", tmp, "--silent"],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"npm pack {spec} failed: {r.stderr.strip()[-300:]}")
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tf:
            tf.extractall(tmp, filter="data")
        pkg = Path(tmp) / "package"
        meta = json.loads((pkg / "metadata.json").read_text(encoding="utf-8"))
        weights = meta.get("weights") or [400]
        stem = name if weight is None else f"{name}-{weight}"
        if weight is None:
            weight = 400 if 400 in weights else weights[0]
        elif weight not in weights:
            raise RuntimeError(f"{spec} has no weight {weight} (it has {weights})")
        files = subset_files(pkg, meta["id"], weight)
        if not files:
            raise RuntimeError(f"{spec}: no .woff files for weight {weight}")
        out = dest / f"{stem}.ttf"
        syllables = merge_subsets(files, out)
        if (pkg / "LICENSE").exists():
            shutil.copyfile(pkg / "LICENSE", dest / f"{stem}.LICENSE")
    lic = meta.get("license") or {}
    return {"package": f"@fontsource/{name}", "version": version, "family": meta.get("family"),
            "category": meta.get("category"), "weight": weight, "licence": lic.get("type"),
            "attribution": lic.get("attribution"), "file": out.name, "syllables": syllables,
            "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}


def fetch_all(dest: str | Path = DEFAULT_DIR, *, packages: dict[str, str] | None = None, log=print) -> list[dict]:
    """Fetch every package not already in dest (its .ttf present and listed in faces.json). The
    manifest is rewritten (atomically) after each package, so an interrupted fetch keeps what it got."""
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    manifest_file = dest / "faces.json"
    have = {m["package"]: m for m in (json.loads(manifest_file.read_text()) if manifest_file.exists() else [])}

    def write_manifest():
        write_text_atomic(manifest_file, json.dumps(list(have.values()), ensure_ascii=False, indent=1))

    out = []
    for name, version in (packages or PACKAGES).items():
        m = have.get(f"@fontsource/{name}")
        if not (m and m["version"] == version and (dest / m["file"]).exists()):
            m = fetch_package(name, version, dest)
            have[m["package"]] = m
            write_manifest()
            log(f"{name} {version}: {m['syllables']} syllables ({m['category']}, {m['licence']})")
        out.append(m)
    return out
