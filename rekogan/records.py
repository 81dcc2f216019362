"""Run records on disk (metrics.jsonl, evaluation.jsonl): torch-free, so the app can read them
before it has imported torch."""
from __future__ import annotations

import json
from pathlib import Path


def read_jsonl(path: Path) -> list[dict]:
    """Records of a .jsonl file; lines that do not parse (e.g. cut by a kill) are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in text.splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict):
            out.append(r)
    return out
