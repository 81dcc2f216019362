"""The Gradio components the app's tabs share: range-checked sliders, run and epoch selectors, images.

UI only, like app.py (which builds the tabs from these); the run and epoch choices come from the
app's Studio, passed in as `studio`.
"""
from __future__ import annotations

import json

import gradio as gr

from .conventions import DEFAULT_GLYPH_SIZE, GLYPH_SIZES, NATURAL_DEFAULT, NATURAL_RANGE
from .studio import MAX_SEED, WEIGHT_RANGE, StudioError


def free_slider(minimum, maximum, **kw) -> gr.Slider:
    """A gr.Slider whose value the studio range-checks, so an API caller's out-of-range seed gets the
    studio's message ("The seed must be in 0..2,147,483,647") rather than Gradio's generic one.
    (An instance attribute, not a subclass: subclassing a component makes Gradio write a .pyi file.)"""
    slider = gr.Slider(minimum, maximum, **kw)
    slider.preprocess = _unchecked
    return slider


def _unchecked(payload):
    return payload


def epoch_options(run, *, studio) -> list[tuple[str, object]]:
    """A run's epoch choices, led by 'best' (the run's default epoch, named): an epoch selector's value
    is 'best', not a number, so an API caller who names a run and omits the epoch gets that run's
    default epoch (a number would belong to the run the page started with)."""
    best = studio.registry.run(run).best
    return [(f"best · {best.label}", "best"), *studio.epoch_choices(run=run)]


def run_selector(value, label="Run · 실행", *, studio, **kw):
    return gr.Dropdown(choices=studio.run_names(), value=value, label=label, allow_custom_value=True, **kw)


def epoch_selector(run, *, studio, **kw):
    try:
        choices = epoch_options(run, studio=studio) if run else []
    except StudioError:
        choices = []
    return gr.Dropdown(choices=choices, value="best", label="Checkpoint · 체크포인트 (epoch · readability)",
                       allow_custom_value=True, **kw)


def seed_slider(value=42, label="Seed (writer) · 시드 (필체)"):
    return free_slider(0, MAX_SEED, value=value, step=1, label=label)


def psi_slider():
    return free_slider(0.0, 1.0, value=0.8, step=0.05, label="Truncation ψ · 절단 (0 = average writer · 1 = full variety)")


WEIGHT_INFO = "Runs trained with a stroke-weight control (hangul) use it; the others ignore it and say so."


def weight_slider(**kw):
    lo, hi = WEIGHT_RANGE
    return free_slider(lo, hi, value=0.0, step=0.25, label=f"Stroke weight · 획 굵기 (thin {lo:g} ↔ {hi:+g} bold)",
                       info=WEIGHT_INFO, **kw)


def size_radio(**kw) -> gr.Radio:
    """Pixels per glyph (conventions.GLYPH_SIZES; 128 and 256 through the glyph upscaler). Unchecked by
    Gradio, so an API caller's size=100 gets the studio's message, not Gradio's list of choices."""
    radio = gr.Radio(choices=[(f"{s} px", s) for s in GLYPH_SIZES], value=DEFAULT_GLYPH_SIZE,
                     label="Size · 크기 (px per glyph; 128 and 256 are drawn sharp by the upscaler)", **kw)
    radio.preprocess = _unchecked
    return radio


def natural_slider(**kw) -> gr.Slider:
    """How much a hand varies: 0 = a font (identical repeats, fixed cells) .. 1."""
    lo, hi = NATURAL_RANGE
    return free_slider(lo, hi, value=NATURAL_DEFAULT, step=0.05,
                       label="Natural · 자연스럽게 (0 = identical repeats, like a font · 1 = a loose hand)", **kw)


def writer_code_box(**kw):
    """A pasted writer code (from the My hand tab) that replaces the seed; empty: the seed is the writer."""
    return gr.Textbox(value="", max_lines=2,
                      label="Writer code · 필체 코드 (optional: from the My hand tab; replaces the seed)",
                      placeholder="rkw1.… (empty: the seed is the writer · 비우면 시드를 씁니다)", **kw)


def writer_rows(run, *, studio):
    """The rows a one-panel tab starts with: run and epoch, then seed, psi and stroke weight."""
    with gr.Row():
        run_box, epoch_box = run_selector(run, studio=studio), epoch_selector(run, studio=studio)
    with gr.Row():
        seed, psi, weight = seed_slider(), psi_slider(), weight_slider()
    return run_box, epoch_box, seed, psi, weight


def result_image(label, **kw):
    return gr.Image(label=label, format="png", type="numpy", interactive=False,
                    buttons=["download", "fullscreen"], **kw)


def notice(**kw):
    return gr.Markdown(label="Notice · 알림", **kw)


# Gradio 6.31's Sketchpad opens with no tool selected ("select the draw tool to start"; a stroke then
# draws nothing), and Clear canvas brings that state back. Whenever the editor shows that hint (its
# .empty.wrap), this clicks its brush. The brush button is found by its label or, in a browser whose
# language translates the label, by its icon.
_BRUSH_READY_JS = """
const pick = () => {
  const pad = document.getElementById(%s);
  if (!pad || !pad.querySelector('.empty.wrap')) return;
  const brush = Array.from(pad.querySelectorAll('button')).find(b => b.getAttribute('aria-label') === 'Brush'
    || b.querySelector('path[d^="M28.828 3.172"]'));
  if (brush && !brush.classList.contains('highlight')) brush.click();
};
new MutationObserver(pick).observe(document.body, {childList: true, subtree: true});
pick();
"""


def brush_ready(canvas_id: str) -> gr.HTML:
    """An empty gr.HTML whose js_on_load keeps the Sketchpad `canvas_id` (its elem_id) ready to draw."""
    return gr.HTML(value="", js_on_load=_BRUSH_READY_JS % json.dumps(canvas_id), container=False, padding=False,
                   elem_id=f"{canvas_id}-ready")
