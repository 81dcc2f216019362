"""ReKOGAN Studio: handwritten Korean from a class-conditional GAN (Gradio UI; Hugging Face Spaces entry).

    python app.py      # serves on $GRADIO_SERVER_NAME (default 127.0.0.1) : $GRADIO_SERVER_PORT (default 7860)

Runs are read from $REKOGAN_CHECKPOINTS (default ./checkpoints): one folder per run with
epoch_NNN.safetensors files. All model work lives in the rekogan/studio/ package; this file is layout
and wiring only. API endpoints (gradio_client): /write, /compare, /evolution, /sheet, /diagnostics, /walk,
/write_svg, /font, /imitate (My hand: a drawing -> a writer code). A `weight` (stroke weight, WEIGHT_RANGE) is
the last input of /evolution, /sheet, /walk, an input of /font, and the input before `writer` of /write, /compare
and /write_svg. `writer` (default empty), the input after `weight` of those three and the input before
`alternates` of /font, is a writer code that replaces the seed (the weight then moves the writer's own); runs
without the weight control ignore the weight. /font's last input `alternates` (1-4, default 1) is glyphs per
syllable. /write, /compare and /write_svg end with `size` (pixels per glyph: 64, 128 or 256, default
conventions.DEFAULT_GLYPH_SIZE; 128 and 256 drawn by the glyph upscaler) and `natural` (0..1, default
conventions.NATURAL_DEFAULT: every occurrence its own, a hand's spacing and baseline; 0 = a font's identical
repeats in fixed cells), so positional callers written before them keep working. /evolution and /sheet end
with `size` after `weight`, /walk with `size` and `natural` after `weight` (a walk's frames are lines as /write
draws them, one variation for the whole walk).
"""
from __future__ import annotations

import functools
import html
import logging
import os
import threading
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio recomputes its monitoring summary (a pandas DataFrame of the last GRADIO_ANALYTICS_MAX_EVENTS
# events) after every event by default: 1.6 ms of CPU at 300 events, 7.6 ms at its cap of 10,000,
# holding the GIL on the request path (issue 22). This app does not enable monitoring, where alone
# the summary is read: once every 1,000 events, over the last 1,000
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
# one torch thread per request: requests run side by side (queue concurrency below); on a busy 2-core
# machine a 2-thread forward pass waits on a descheduled thread and is several times slower
os.environ.setdefault("REKOGAN_THREADS", "1")

from rekogan.studio import memory  # noqa: E402

# bounded memory: two glibc arenas for all worker threads, set before any thread starts (see memory.py)
memory.limit_arenas()
memory.limit_mmap_threshold()           # blocks of >= 8 MiB are mmapped: freed back to the system at once
memory.limit_trim_threshold()           # smaller ones are reused from the heap; the trimmer returns them
OUTPUT_TTL = memory.output_ttl()        # $REKOGAN_OUTPUT_TTL: seconds an answer's file stays on disk

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from rekogan.studio import (HOW_TO_GET_CHECKPOINTS, MAX_SEED, WALK_MAX_STEPS,  # noqa: E402
                            WALK_MAX_TEXT, Studio, StudioError)
from rekogan.studio import FONT_SETS, SHEET_PAGE, SHEET_SETS  # noqa: E402
from rekogan.studio.hand import HAND_PROMPT  # noqa: E402
from rekogan.conventions import DEFAULT_GLYPH_SIZE  # noqa: E402
from rekogan import widgets  # noqa: E402

log = logging.getLogger("rekogan.app")
CONCURRENCY = int(os.environ.get("REKOGAN_CONCURRENCY", "4"))   # events run at once (2 CPU cores: 2..4)
# /write and /compare: their glyphs are drawn by the studio's one batcher thread, and a request's own
# work (layout, PNG) is a few ms, so many may wait at once: the more that wait, the fuller each pass
WRITE_CONCURRENCY = int(os.environ.get("REKOGAN_WRITE_CONCURRENCY", "16"))
WRITE_EVENTS = {"concurrency_id": "write", "concurrency_limit": WRITE_CONCURRENCY}
QUEUE_SIZE = int(os.environ.get("REKOGAN_QUEUE_SIZE", "256"))
DEFAULT_TEXT = "한글 손글씨\n가나다라마바사"
# two short lines, English then Korean: what the app does today, and the collapse story (left panel)
DESCRIPTION = """# ReKOGAN · 손글씨 한글
Handwritten Korean from a GAN: **any syllable** (all 11,172), as an installable **font**, or in **your own hand**
(My hand). Left: the original recipe, which *collapsed*: at its best epoch it writes a third of the syllables, the same
way for every writer; later, asked for 가, every writer draws 키.

GAN이 쓰는 손글씨 한글: 11,172자 모두, **글꼴**로도, **내 손글씨**로도. 왼쪽은 붕괴한 원래 모델입니다 (가장 좋은 에폭에서도 셋 중 하나만 맞고, 나중에는 가 대신 키)."""

# pages are written as PNGs into Gradio's cache, which then serves them as they are (no second
# encoding, no hashing, no copy); REKOGAN_BATCHER=0: each request draws its own glyphs (for comparison)
studio = Studio(output_ttl=OUTPUT_TTL, png_dir=Path(get_upload_folder()) / "rekogan-pages",
                batcher=os.environ.get("REKOGAN_BATCHER", "1") != "0")
# the shared components, bound to this app's studio (rekogan/widgets.py)
free_slider, _unchecked, notice, result_image = widgets.free_slider, widgets._unchecked, widgets.notice, widgets.result_image
seed_slider, psi_slider, weight_slider = widgets.seed_slider, widgets.psi_slider, widgets.weight_slider
writer_code_box = widgets.writer_code_box
run_selector = functools.partial(widgets.run_selector, studio=studio)
epoch_selector = functools.partial(widgets.epoch_selector, studio=studio)
epoch_options = functools.partial(widgets.epoch_options, studio=studio)
writer_rows = functools.partial(widgets.writer_rows, studio=studio)


def friendly(fn):
    """Studio errors become a short message for the user (gr.Error), never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return fn(*args)
        except StudioError as e:
            raise gr.Error(safe(e), title="ReKOGAN", print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:  # a bug: log it here, tell the user briefly, keep serving
            log.exception("%s failed", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}). The app is still running; "
                           "try again or change the input. · 오류가 발생했습니다.", title="ReKOGAN",
                           print_exception=False) from None
    return wrapper


def safe(e: Exception) -> str:
    """An error message as text for an HTML/Markdown display (it may quote user input)."""
    return html.escape(str(e), quote=False)


# ---- handlers (thin: validate through the studio, format for the UI) -----------------------------

def _panel_notice(page) -> str:
    head = f"**{page.info.run}** · {page.info.label} · {page.seconds * 1000:.0f} ms"
    return head + ("\n\n" + page.notice if page.notice else "")


@friendly
def write(text, seed, truncation, run, epoch, weight=0.0, writer="", size=None, natural=None):
    page = studio.write(text=text, seed=seed, truncation=truncation, run=run, epoch=epoch, weight=weight,
                        writer=writer, size=size, natural=natural)
    return page.image, _panel_notice(page)


@friendly
def write_svg(text, seed, truncation, run, epoch, weight=0.0, writer="", size=None, natural=None):
    return str(studio.write_svg(text=text, seed=seed, truncation=truncation, run=run, epoch=epoch, weight=weight,
                                writer=writer, size=size, natural=natural))


@friendly
def compare(text, seed, truncation, run_left, epoch_left, run_right, epoch_right, weight=0.0, writer="", size=None,
            natural=None):
    text, seed, psi = studio.check_inputs(text=text, seed=seed, truncation=truncation)   # shared: checked once
    weight = studio.check_weight(weight)
    code = studio.check_writer(writer)           # a writer code replaces the seed (None: the seed is the writer)
    size, natural = studio.check_size(size), studio.check_natural(natural)              # both panels alike

    def panel(run, epoch):
        page = studio.page(model=studio.generator(run=run, epoch=epoch), text=text, seed=seed, truncation=psi,
                           weight=weight, writer=code, size=size, natural=natural)
        return page.image, _panel_notice(page)
    return _two_panels(panel, [(run_left, epoch_left), (run_right, epoch_right)])


def as_png(fn):
    """A page handler as the Write tab's events call it: its page arrays become PNG files the studio
    writes into Gradio's cache (Studio.png), which Gradio then serves as they are, without encoding,
    hashing and copying each answer again (issue 22: ~3-5 ms of CPU a page). The handler itself
    still returns arrays, for callers in Python."""
    @functools.wraps(fn)
    def wrapper(*args):
        out = fn(*args)
        try:
            return tuple(studio.png(x) if isinstance(x, np.ndarray) else x for x in out)
        except OSError as e:
            log.exception("writing a page failed")
            raise gr.Error(f"The page could not be saved ({type(e).__name__}); try again. · 저장하지 못했습니다.",
                           title="ReKOGAN", print_exception=False) from None
    return wrapper


def _two_panels(render, args) -> tuple:
    """Render both panels; one bad panel shows its message beside the other's image, and only
    when both fail is it an error for the whole request."""
    out, errors = [], []
    for a in args:
        try:
            out += list(render(*a))
        except StudioError as e:
            out += [None, f"⚠️ {safe(e)}"]
            errors.append(str(e))
    if len(errors) == len(args):
        raise StudioError(errors[0] if len(set(errors)) == 1 else " · ".join(errors))
    return tuple(out)


@friendly
def evolution(syllable, seed, truncation, run_a, run_b, weight=0.0, size=None):
    size = studio.check_size(size)                  # checked once: a bad size is one message, not two panels'

    def panel(run):
        evo = studio.evolution(run=run, syllable=syllable, seed=seed, truncation=truncation, weight=weight, size=size)
        note = f"**{evo.run}** · {len(evo.epochs)} epochs"
        if evo.problems:
            note += "\n\n" + "\n".join(f"- ⚠️ {html.escape(p, quote=False)}" for p in evo.problems)
        if evo.notes:
            note += "\n\n" + "\n\n".join(evo.notes)
        return evo.image, note
    return _two_panels(panel, [(run_a,), (run_b,)])


@friendly
def sheet(run, epoch, seed, truncation, syllables="classes", page=1, weight=0.0, size=None):
    s = studio.sheet_page(run=run, epoch=epoch, seed=seed, truncation=truncation, syllables=syllables, page=page,
                          weight=weight, size=size)
    return s.image, s.notice


@friendly
def diagnostics(run, epoch):
    info = studio.epoch_info(run=run, epoch=epoch)
    runs = [r for r in (*studio.story_runs(), info.run) if r]
    conf = studio.confusions(run=info.run, epoch=info.epoch)
    table = [list(r) for r in conf.rows] or [["—", "—", "—"]]
    return studio.loss_plot(runs=runs), studio.quality_plot(runs=runs), table, conf.note


@friendly
def walk(text, seed_a, seed_b, steps, truncation, run, epoch, weight=0.0, size=None, natural=None):
    w = studio.walk(text=text, seed_a=seed_a, seed_b=seed_b, steps=steps, truncation=truncation, run=run, epoch=epoch,
                    weight=weight, size=size, natural=natural)
    note = f"**{w.info.run}** · {w.info.label} · {len(w.frames)} frames, seed {w.seeds[0]} → {w.seeds[1]}"
    return str(w.gif), w.strip, note + ("\n\n" + w.notice if w.notice else "")


def font(run, epoch, seed, truncation, weight, syllables, text, preview_text, writer="", alternates=1,
         progress=gr.Progress()):
    """Build the font (gr.Progress from build_font's progress callback), then its browser preview."""
    return _font(run, epoch, seed, truncation, weight, syllables, text, preview_text, writer, alternates,
                 lambda done, total: progress((done, total), desc="Generating and tracing glyphs · 글자 만드는 중",
                                              unit="glyphs"))


@friendly
def _font(run, epoch, seed, truncation, weight, syllables, text, preview_text, writer, alternates, report):
    f = studio.font(run=run, epoch=epoch, seed=seed, truncation=truncation, weight=weight, syllables=syllables,
                    text=text, progress=report, writer=writer, alternates=alternates)
    preview = studio.font_preview(path=f.path, family=f.family, text=preview_text)
    return str(f.path), preview, f.notice, {"path": str(f.path), "family": f.family}


@friendly
def font_preview(built, preview_text):
    built = built or {}
    return studio.font_preview(path=built.get("path"), family=built.get("family", ""), text=preview_text)


def imitate(text, drawing, uploads, run, epoch, size=DEFAULT_GLYPH_SIZE, progress=gr.Progress()):
    """My hand: fit a writer to the canvas drawing or the uploads (seconds on a CPU); the pair view
    `size` px per glyph."""
    progress(0.1, desc="Fitting your hand · 필체 맞추는 중")
    return _imitate(text, drawing, uploads, run, epoch, size)


@friendly
def _imitate(text, drawing, uploads, run, epoch, size=DEFAULT_GLYPH_SIZE):
    f = studio.imitate(text=text, drawing=drawing, uploads=uploads, run=run, epoch=epoch, size=size)
    return f.pair, f.code, str(f.path), f.notice, {"code": f.code, "run": f.run, "epoch": f.epoch}


@friendly
def open_writer(file, run, epoch):
    """My hand: an uploaded writer file (writer.safetensors, or an older writer.json) -> its code, ready
    for 'Use this writer'; on its own run and epoch when this app has them, else the tab's."""
    from rekogan.studio.hand import open_writer as read_writer_file
    w = read_writer_file(file)
    try:
        known = bool(w.run) and w.epoch in [v for _, v in epoch_options(w.run)]
    except (StudioError, KeyError, ValueError):
        known = False
    run, epoch = (w.run, w.epoch) if known else (run, epoch)
    return w.code, w.notice, {"code": w.code, "run": run, "epoch": epoch}


@friendly
def use_writer(fitted):
    """'Use this writer': the fitted code into the writer boxes of the Write and Font tabs, and its
    run/epoch into the Write tab's right panel and the Font tab (the left panel tries it too, and
    says so when its run cannot draw it)."""
    if not fitted or not fitted.get("code"):
        raise StudioError("Fit a writer first (draw or upload, then press Fit). · 먼저 필체를 맞추세요.")
    run = fitted["run"]
    gr.Info(f"The Write and Font tabs now use your hand ({run}, epoch {fitted['epoch']}). "
            "· 쓰기와 글꼴 탭이 이 필체를 씁니다.")
    code, epochs = fitted["code"], epoch_options(run)
    return (code, gr.Dropdown(value=run), gr.Dropdown(choices=epochs, value=fitted["epoch"]),
            code, gr.Dropdown(value=run), gr.Dropdown(choices=epochs, value=fitted["epoch"]))


def epoch_dropdown(run):
    """The epoch selector of `run`: its epochs with readability, 'best' (its default epoch) selected."""
    try:
        return gr.Dropdown(choices=epoch_options(run), value="best")
    except StudioError as e:
        gr.Warning(safe(e))
        return gr.Dropdown(choices=[], value=None)


RANDOM_SEED_JS = f"() => Math.floor(Math.random() * {MAX_SEED + 1})"


def build() -> gr.Blocks:
    # Write's right panel, Font and Sheet open on the best run that writes any syllable (hangul), My hand
    # on the best hand run (hangul-hand: a style encoder starts the fit) when one is shipped;
    # Write's left panel, Evolution, Diagnostics and Walk on the collapse story's runs (collapsed, fixed)
    left_run, right_run = studio.default_runs()
    hand_run = studio.hand_run()        # My hand: a hand run (a style encoder starts the fit) when shipped
    story_left, story_right = studio.story_runs()
    # answers (PNGs, GIFs) older than $REKOGAN_OUTPUT_TTL are deleted from Gradio's cache by the server
    with gr.Blocks(title="ReKOGAN · 손글씨 한글", analytics_enabled=False,
                   delete_cache=memory.delete_cache_setting(OUTPUT_TTL)) as demo:
        gr.Markdown(DESCRIPTION)
        if not studio.run_names():
            gr.Markdown(f"### ⚠️ No checkpoints found · 체크포인트가 없습니다\nNothing under `{studio.root}`. "
                        + HOW_TO_GET_CHECKPOINTS)
        bad = studio.registry.problems()         # corrupt epoch files are named, and the good ones served
        if bad:
            log.warning("unreadable checkpoint files (not offered as defaults): %s", "; ".join(bad))
            gr.Markdown("⚠️ Unreadable checkpoint files, skipped · 읽을 수 없는 체크포인트: "
                        + "; ".join(f"`{html.escape(p, quote=False)}`" for p in bad[:10])
                        + (f" (+{len(bad) - 10} more)" if len(bad) > 10 else ""), elem_id="bad-checkpoints")
        with gr.Tabs():
            with gr.Tab("Write · 쓰기"):
                text = gr.Textbox(value=DEFAULT_TEXT, lines=4, label="Korean text · 한국어 글 (Enter = new line · 줄바꿈)",
                                  elem_id="write-text")
                with gr.Row(equal_height=True):
                    seed = seed_slider()
                    dice = gr.Button("Random seed · 무작위 시드", scale=0, min_width=160)   # no emoji: needs no emoji font
                    psi = psi_slider()
                weight = weight_slider(elem_id="write-weight")
                with gr.Row(equal_height=True):
                    size = widgets.size_radio(elem_id="write-size")
                    natural = widgets.natural_slider(elem_id="write-natural")
                writer = writer_code_box(elem_id="write-writer")
                go = gr.Button("Write · 쓰기", variant="primary", elem_id="write-button")
                panels = []
                with gr.Row():
                    for side, run in (("left", left_run), ("right", right_run)):
                        with gr.Column():
                            r = run_selector(run, elem_id=f"write-{side}-run")
                            e = epoch_selector(run)
                            img = result_image(f"{side.title()} · {'왼쪽' if side == 'left' else '오른쪽'}",
                                               elem_id=f"write-{side}")
                            note = notice(elem_id=f"write-{side}-notice")
                            svg_go = gr.Button("SVG of this panel's line · SVG로 내려받기", size="sm",
                                               elem_id=f"write-{side}-svg-button")
                            svg = gr.File(label="SVG (traced outlines · 윤곽선)", interactive=False,
                                          elem_id=f"write-{side}-svg")
                            panels.append((r, e, img, note, svg_go, svg))
                dice.click(None, None, seed, js=RANDOM_SEED_JS, api_visibility="private")
                (rl, el, il, nl, _, _), (rr, er, ir, nr, _, _) = panels
                go.click(as_png(compare), [text, seed, psi, rl, el, rr, er, weight, writer, size, natural], [il, nl, ir, nr], api_name="compare",
                         **WRITE_EVENTS)
                for i, (r, e, img, note, svg_go, svg) in enumerate(panels):
                    # choosing a checkpoint redraws that panel; this is also the one-panel API (/write)
                    e.input(as_png(write), [text, seed, psi, r, e, weight, writer, size, natural], [img, note],
                            api_name="write" if i == 0 else "write_right",
                            api_visibility="public" if i == 0 else "undocumented", **WRITE_EVENTS)
                    r.input(epoch_dropdown, r, e, api_visibility="private").then(
                        as_png(write), [text, seed, psi, r, e, weight, writer, size, natural], [img, note], api_visibility="private",
                        **WRITE_EVENTS)
                    svg_go.click(write_svg, [text, seed, psi, r, e, weight, writer, size, natural], svg,
                                 api_name="write_svg" if i == 0 else "write_svg_right",
                                 api_visibility="public" if i == 0 else "undocumented")

            with gr.Tab("My hand · 내 손글씨"):
                gr.Markdown("Write the syllables below **on the canvas, left to right in one row**, with a clear "
                            "space between them (a new line in the box is a new row), or upload one picture per "
                            "syllable, or one photo of a row or grid. **Fit** learns your hand in seconds; the code "
                            "it gives is your writer: **Use this writer** takes it to the Write and Font tabs (the "
                            "API: `writer`). With a run that writes any syllable (hangul-hand, the default: its "
                            "style encoder reads your hand first), your hand then writes all 11,172. · 아래 글자를 캔버스에 한 줄로 쓰고 맞추기를 누르세요. 내 필체로 "
                            "모든 글자를 씁니다.")
                with gr.Row():
                    h_text = gr.Textbox(value=HAND_PROMPT, max_lines=4, elem_id="hand-text",
                                        label="The syllables you write, in order · 쓸 글자 (copy this prompt)")
                    h_run = run_selector(hand_run)
                    h_ep = epoch_selector(hand_run)
                    h_size = widgets.size_radio(elem_id="hand-size")      # the pair view's glyphs
                h_canvas = gr.Sketchpad(label="Write here · 여기에 쓰세요", type="numpy", image_mode="RGBA",
                                        canvas_size=(800, 240), layers=False, elem_id="hand-canvas",
                                        brush=gr.Brush(colors=["#000000"], default_size=6, color_mode="fixed"))
                widgets.brush_ready("hand-canvas")   # the canvas opens (and stays after Clear) ready to draw
                h_files = gr.File(label="…or upload pictures · 사진 올리기 (one per syllable, or one of a row/grid)",
                                  file_count="multiple", file_types=["image"], type="filepath", elem_id="hand-files")
                h_go = gr.Button("Fit · 필체 맞추기", variant="primary", elem_id="hand-button")
                with gr.Row():
                    h_pair = result_image("Yours (top) · fitted (bottom) · 위: 내 글씨, 아래: 맞춘 필체",
                                          elem_id="hand-pair")
                    with gr.Column():
                        h_code = gr.Textbox(label="Writer code · 필체 코드", lines=3, max_lines=6, interactive=False,
                                            buttons=["copy"], elem_id="hand-code")
                        h_file = gr.File(label="writer.safetensors", interactive=False, elem_id="hand-file")
                        h_open = gr.File(label="…or open a writer file · 필체 파일 열기", file_types=[".safetensors", ".json"],
                                         type="filepath", elem_id="hand-open")
                        h_use = gr.Button("Use this writer · 이 필체로 쓰기", elem_id="hand-use")
                h_note = notice(elem_id="hand-notice")
                h_fitted = gr.State(None)
                h_run.input(epoch_dropdown, h_run, h_ep, api_visibility="private")
                h_go.click(imitate, [h_text, h_canvas, h_files, h_run, h_ep, h_size], [h_pair, h_code, h_file, h_note, h_fitted],
                           api_name="imitate", concurrency_limit=1)
                h_open.upload(open_writer, [h_open, h_run, h_ep], [h_code, h_note, h_fitted], api_visibility="private")

            with gr.Tab("Evolution · 학습 과정"):
                gr.Markdown("One syllable drawn by every saved epoch of each run, same writer. "
                            "· 같은 글쓴이가 쓴 한 글자를 에포크마다 보여 줍니다.")
                with gr.Row():
                    syl = gr.Textbox(value="가", label="Syllable · 글자", max_lines=1, scale=0, min_width=120)
                    evo_seed, evo_psi = seed_slider(), psi_slider()
                    evo_weight = weight_slider()
                evo_size = widgets.size_radio(elem_id="evolution-size")
                with gr.Row():
                    ra, rb = run_selector(story_left), run_selector(story_right)     # the story: collapsed vs fixed
                evo_go = gr.Button("Show evolution · 보기", variant="primary", elem_id="evolution-button")
                with gr.Row():
                    with gr.Column():
                        ia, na = result_image("Run A", elem_id="evolution-a"), notice()
                    with gr.Column():
                        ib, nb = result_image("Run B", elem_id="evolution-b"), notice()
                evo_go.click(evolution, [syl, evo_seed, evo_psi, ra, rb, evo_weight, evo_size], [ia, na, ib, nb],
                             api_name="evolution")

            with gr.Tab("Sheet · 전체 글자"):
                s_run, s_ep, s_seed, s_psi, s_weight = writer_rows(right_run)
                with gr.Row():
                    s_set = gr.Dropdown(choices=[(label, key) for key, label in SHEET_SETS.items()], value="classes",
                                        label="Syllables · 글자 (a set of up to 520 is one page; larger sets are "
                                              f"paged, {SHEET_PAGE} a page)", elem_id="sheet-set")
                    s_page = gr.Number(value=1, precision=0, minimum=1, step=1, label="Page · 쪽", elem_id="sheet-page")
                    s_page.preprocess = _unchecked          # the studio checks it and names the last page
                    s_set.preprocess = _unchecked           # ... and an unknown set, without a server traceback
                    s_size = widgets.size_radio(elem_id="sheet-size")   # a 520-syllable page: at most 128 px (views.py)
                s_go = gr.Button("Draw · 그리기", variant="primary", elem_id="sheet-button")
                s_img, s_note = result_image("Sheet · 글자표", elem_id="sheet-image"), notice(elem_id="sheet-notice")
                s_run.input(epoch_dropdown, s_run, s_ep, api_visibility="private")
                s_go.click(sheet, [s_run, s_ep, s_seed, s_psi, s_set, s_page, s_weight, s_size], [s_img, s_note],
                           api_name="sheet")

            with gr.Tab("Diagnostics · 진단"):
                with gr.Row():
                    d_run = run_selector(story_right, label="Checkpoint's run · 실행")
                    d_ep = epoch_selector(story_right)
                d_go = gr.Button("Show diagnostics · 보기", variant="primary", elem_id="diagnostics-button")
                d_loss = gr.Image(label="Losses · 손실", format="png", interactive=False, elem_id="diagnostics-loss")
                d_quality = gr.Image(label="Readability & diversity · 가독성과 다양성", format="png", interactive=False,
                                     elem_id="diagnostics-quality")
                d_note = notice()
                d_table = gr.Dataframe(headers=["asked · 요청", "read as · 인식", "share · 비율"],
                                       label="Most confused classes · 가장 많이 혼동한 글자", interactive=False)
                d_run.input(epoch_dropdown, d_run, d_ep, api_visibility="private")
                d_go.click(diagnostics, [d_run, d_ep], [d_loss, d_quality, d_table, d_note], api_name="diagnostics")

            with gr.Tab("Walk · 잠재 공간 산책"):
                gr.Markdown(f"From one writer to another along a great circle in latent space (slerp), "
                            f"up to {WALK_MAX_TEXT} characters. · 두 필체 사이를 천천히 걸어갑니다.")
                w_text = gr.Textbox(value="가나다라", label="Text · 글", max_lines=2)
                with gr.Row():
                    w_a, w_b = seed_slider(1, "From seed · 시작 시드"), seed_slider(2, "To seed · 끝 시드")
                with gr.Row():
                    w_steps = free_slider(2, WALK_MAX_STEPS, value=12, step=1, label="Steps · 단계")
                    w_psi = psi_slider()
                    w_weight = weight_slider()
                with gr.Row(equal_height=True):
                    w_size = widgets.size_radio(elem_id="walk-size")
                    w_natural = widgets.natural_slider(elem_id="walk-natural")
                with gr.Row():
                    w_run = run_selector(story_right)
                    w_ep = epoch_selector(story_right)
                w_go = gr.Button("Walk · 걷기", variant="primary", elem_id="walk-button")
                with gr.Row():
                    w_gif = gr.Image(label="Animation · 애니메이션 (GIF)", type="filepath", format="gif", interactive=False,
                                     elem_id="walk-gif")
                    w_strip = result_image("Strip · 단계별", elem_id="walk-strip")
                w_note = notice()
                w_run.input(epoch_dropdown, w_run, w_ep, api_visibility="private")
                w_go.click(walk, [w_text, w_a, w_b, w_steps, w_psi, w_run, w_ep, w_weight, w_size, w_natural],
                           [w_gif, w_strip, w_note],
                           api_name="walk")

            with gr.Tab("Font · 글꼴"):
                gr.Markdown("One writer of a checkpoint as an installable TrueType font: every syllable of the set is "
                            "generated, sharpened to 256 px by the glyph upscaler, traced to smooth outlines and "
                            "assembled. Typed text or SERI95 takes seconds, KS X 1001 (2,350) about 15–25 s, **all "
                            "11,172 one to two minutes** on 2 free cores (longer on a busy machine; alternates "
                            "multiply it); one font is built at a time, so a second build waits in the queue. "
                            "**Alternates**: 2–4 glyphs per syllable, each a little different, which typed repeats "
                            "cycle through (OpenType calt; salt / aalt pick one). "
                            "A writer code from the My hand tab replaces the seed. The font's name table states the "
                            "run, the epoch, the writer and the training fonts' licences; ReKOGAN claims no rights "
                            "in it. · 한 필체를 설치할 수 있는 글꼴로 만듭니다 (11,172자는 1분쯤 걸립니다).")
                f_run, f_ep, f_seed, f_psi, f_weight = writer_rows(right_run)
                f_writer = writer_code_box(elem_id="font-writer")
                with gr.Row():
                    f_set = gr.Radio(choices=[(label, key) for key, label in FONT_SETS.items()], value="text",
                                     label="Syllables · 글자", elem_id="font-set")
                    f_set.preprocess = _unchecked           # the studio names the sets (no Gradio traceback)
                    f_text = gr.Textbox(value="한글 손글씨 가나다라마바사 안녕하세요", max_lines=3,
                                        label="Typed text (its syllables, for 'the typed text') · 넣을 글자",
                                        elem_id="font-text")
                f_alts = gr.Radio(choices=[1, 2, 3, 4], value=1, label="Alternates · 이체자 (glyphs per syllable: "
                                  "typed repeats cycle through them)", elem_id="font-alternates")
                f_alts.preprocess = _unchecked              # the studio names the range (no Gradio traceback)
                f_go = gr.Button("Build font · 글꼴 만들기", variant="primary", elem_id="font-button")
                f_note = notice(elem_id="font-notice")
                f_file = gr.File(label="Font file · 글꼴 파일 (.ttf)", interactive=False, elem_id="font-file")
                with gr.Row():
                    f_preview_text = gr.Textbox(value="안녕하세요 가나다", label="Preview text · 미리 보기 글",
                                                max_lines=2, elem_id="font-preview-input")
                    f_preview_go = gr.Button("Preview · 미리 보기", scale=0, min_width=140, elem_id="font-preview-button")
                f_preview = gr.HTML(elem_id="font-preview")
                f_built = gr.State(None)
                f_run.input(epoch_dropdown, f_run, f_ep, api_visibility="private")
                f_go.click(font, [f_run, f_ep, f_seed, f_psi, f_weight, f_set, f_text, f_preview_text, f_writer, f_alts],
                           [f_file, f_preview, f_note, f_built], api_name="font", concurrency_limit=1)
                for trigger in (f_preview_go.click, f_preview_text.submit):
                    trigger(font_preview, [f_built, f_preview_text], f_preview, api_visibility="private")
            # "Use this writer" (My hand): the code into the Write and Font tabs, with its run and epoch
            h_use.click(use_writer, h_fitted, [writer, rr, er, f_writer, f_run, f_ep], api_visibility="private").success(
                as_png(compare), [text, seed, psi, rl, el, rr, er, weight, writer, size, natural], [il, nl, ir, nr], api_visibility="private",
                **WRITE_EVENTS)
        gr.Markdown("Checkpoints are safetensors only (no pickles are ever loaded). · 체크포인트는 safetensors만 읽습니다.")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


demo = build()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    port = os.environ.get("GRADIO_SERVER_PORT")
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                server_port=int(port) if port else None, prevent_thread_lock=True)
    threading.Thread(target=studio.warm_up, name="warm-up", daemon=True).start()   # torch + default models
    memory.start_trimmer()                 # malloc_trim(0) every $REKOGAN_TRIM_SECONDS
    memory.start_sweeper(demo, ttl=OUTPUT_TTL, also=(studio.prune_outputs,))   # answers older than the TTL
    demo.block_thread()
