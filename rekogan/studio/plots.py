"""The Diagnostics tab's pictures and table: curves against epoch, and a record's confusions.

Curves are matplotlib's object API (no pyplot: thread-safe), returned as (H, W, 3) uint8. The
confusion table reads exactly what rekogan.evaluation writes into evaluation.jsonl:
top_confusions [{"intended": "가", "read": "긴", "count": 3}] (a count of `seeds` draws) and
failing_classes.
"""
from __future__ import annotations

import numpy as np

from .pictures import mpl_font
from .registry import number


def line_plots(series: dict[str, list[dict]], panels: list[tuple[str, str]], *, title: str,
               percent: tuple[str, ...] = ()) -> np.ndarray:
    """A row of line plots (one per (key, name) panel), one line per run, as an (H, W, 3) uint8 image."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator
    fig = Figure(figsize=(4.2 * len(panels), 3.4), dpi=90)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    any_data = False
    for ax, (key, name) in zip(axes, panels):
        for color, (run, rows) in enumerate(series.items()):       # one colour per run in every panel
            pts = [(r["epoch"], r[key]) for r in rows
                   if isinstance(r.get("epoch"), int) and number(r.get(key)) is not None]
            if pts:
                any_data = True
                xs, ys = zip(*pts)
                ys = [100 * y for y in ys] if key in percent else ys
                ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=run, color=f"C{color}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if key in percent:
            ax.set_ylabel("%")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if not any_data:
        axes[0].text(0.5, 0.5, "no records yet", ha="center", va="center", transform=axes[0].transAxes)
    fig.suptitle(title, fontsize=11, fontproperties=mpl_font())
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def confusion_rows(record: dict) -> list[tuple[str, str, str]]:
    """(asked, read as, share) rows of an evaluation record, most frequent first."""
    items = record.get("top_confusions")
    if not isinstance(items, list):
        return []
    seeds = record.get("seeds")
    rows = []
    for it in items:
        if not isinstance(it, dict) or it.get("intended") is None or it.get("read") is None:
            continue
        count = it.get("count")
        if isinstance(count, int) and not isinstance(count, bool):
            share = f"{count} of {seeds} draws" if isinstance(seeds, int) and seeds > 0 else str(count)
        else:
            share = ""
        rows.append((str(it["intended"]), str(it["read"]), share))
    return rows


def failing_classes(record: dict) -> list | None:
    v = record.get("failing_classes")
    return v if isinstance(v, list) else None
