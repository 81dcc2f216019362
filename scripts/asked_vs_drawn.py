"""What does a generator draw when asked for a syllable? The project classifier's reading of
each seed's glyph, and how many distinct syllables each seed draws over all classes.

  python scripts/asked_vs_drawn.py checkpoints/collapsed/epoch_037.safetensors [--syllable 가] [--seeds 8]

A model that uses its label draws ~all 520 distinct syllables per seed (a writer); label collapse
shows as few distinct readings per seed (z decides the glyph), or as many readings that are the
wrong syllables (the label picks *a* glyph, not its own): the original ReKOGAN's '가' → '차'.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="+")
    p.add_argument("--syllable", default="가")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--classifier", default="checkpoints/classifier/classifier.safetensors")
    a = p.parse_args()
    from rekogan.checkpoints import load_generator
    from rekogan.classifier import features_and_logits
    from rekogan.evaluation import as_classifier, class_map, generate_grid
    clf = as_classifier(a.classifier)
    for path in a.checkpoint:
        G, meta = load_generator(path)
        classes = meta["class_list"]
        if a.syllable not in classes:
            sys.exit(f"{a.syllable!r} is not one of the model's classes")
        n = len(classes)
        _, logits = features_and_logits(clf, generate_grid(G, n, a.seeds).clamp(-1, 1))
        pred = logits.argmax(1).view(a.seeds, n)                              # (K, C): seed-major
        asked = [clf.class_list.syllable(int(v)) for v in pred[:, classes.index(a.syllable)]]
        right = (pred == class_map(classes, clf)[None]).float().mean()
        distinct = [len(set(row.tolist())) for row in pred]
        top = Counter(pred.flatten().tolist()).most_common(5)
        print(f"{path} (epoch {meta['epoch']}): asked for {a.syllable}, seeds 0-{a.seeds - 1} draw {''.join(asked)}; "
              f"readable {right:.1%}; distinct syllables per seed {distinct} of {n}; most drawn "
              + ", ".join(f"{clf.class_list.syllable(k)}×{v}" for k, v in top))


if __name__ == "__main__":
    main()
