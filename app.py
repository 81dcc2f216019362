"""ReKOGAN Studio: handwritten Korean from a class-conditional GAN (Gradio UI; Hugging Face Spaces entry).

    python app.py      # serves on $GRADIO_SERVER_NAME (default 127.0.0.1) : $GRADIO_SERVER_PORT (default 7860)

Runs are read from $REKOGAN_CHECKPOINTS (default ./checkpoints): one folder per run with
epoch_NNN.safetensors files. All model work lives in the rekogan/studio/ package; this file is layout
and wiring only. API endpoints (gradio_client): /write, /compare, /evolution, /sheet, /diagnostics, /walk.
"""
from __future__ import annotations

import functools
import html
import logging
import os
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# one torch thread per request: requests run side by side (queue concurrency below); on a busy 2-core
# machine a 2-thread forward pass waits on a descheduled thread and is several times slower
os.environ.setdefault("REKOGAN_THREADS", "1")

import gradio as gr  # noqa: E402

from rekogan.studio import (HOW_TO_GET_CHECKPOINTS, MAX_SEED, SHEET_MAX_CELLS, WALK_MAX_STEPS,  # noqa: E402
                            WALK_MAX_TEXT, Studio, StudioError)

log = logging.getLogger("rekogan.app")
CONCURRENCY = int(os.environ.get("REKOGAN_CONCURRENCY", "4"))   # events run at once (2 CPU cores: 2..4)
QUEUE_SIZE = int(os.environ.get("REKOGAN_QUEUE_SIZE", "256"))
DEFAULT_TEXT = "한글 손글씨\n가나다라마바사"
DESCRIPTION = """# ReKOGAN · 손글씨 한글
A class-conditional GAN that writes the 520 most common Hangul syllables (SERI95) by hand, 64×64.
The **seed** is the writer (필체); **truncation ψ** trades variety for legibility.
Left: the original recipe (a 10-d label condition), which *collapsed*: asked for 가, the shipped run draws
던, 재, 겠, 내…; right: the *fixed* recipe.
· 시드는 글쓴이, ψ는 다양성과 가독성 사이의 균형입니다. 왼쪽은 붕괴한 원래 모델, 오른쪽은 고친 모델입니다."""

studio = Studio()


def free_slider(minimum, maximum, **kw) -> gr.Slider:
    """A gr.Slider whose value the studio range-checks, so an API caller's out-of-range seed gets the
    studio's message ("The seed must be in 0..2,147,483,647") rather than Gradio's generic one.
    (An instance attribute, not a subclass: subclassing a component makes Gradio write a .pyi file.)"""
    slider = gr.Slider(minimum, maximum, **kw)
    slider.preprocess = _unchecked
    return slider


def _unchecked(payload):
    return payload


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
def write(text, seed, truncation, run, epoch):
    page = studio.write(text=text, seed=seed, truncation=truncation, run=run, epoch=epoch)
    return page.image, _panel_notice(page)


@friendly
def compare(text, seed, truncation, run_left, epoch_left, run_right, epoch_right):
    text, seed, psi = studio.check_inputs(text=text, seed=seed, truncation=truncation)   # shared: checked once

    def panel(run, epoch):
        page = studio.page(model=studio.generator(run=run, epoch=epoch), text=text, seed=seed, truncation=psi)
        return page.image, _panel_notice(page)
    return _two_panels(panel, [(run_left, epoch_left), (run_right, epoch_right)])


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
def evolution(syllable, seed, truncation, run_a, run_b):
    def panel(run):
        evo = studio.evolution(run=run, syllable=syllable, seed=seed, truncation=truncation)
        note = f"**{evo.run}** · {len(evo.epochs)} epochs"
        if evo.problems:
            note += "\n\n" + "\n".join(f"- ⚠️ {html.escape(p, quote=False)}" for p in evo.problems)
        return evo.image, note
    return _two_panels(panel, [(run_a,), (run_b,)])


@friendly
def sheet(run, epoch, seed, truncation):
    image = studio.sheet(run=run, epoch=epoch, seed=seed, truncation=truncation)
    m = studio.generator(run=run, epoch=epoch)
    n = len(m.classes)
    which = "every class" if n <= SHEET_MAX_CELLS else f"the first {SHEET_MAX_CELLS:,} of its {n:,} classes"
    return image, f"**{m.info.run}** · {m.info.label} · {which}, in class order"


@friendly
def diagnostics(run, epoch):
    info = studio.epoch_info(run=run, epoch=epoch)
    runs = [r for r in (*studio.default_runs(), info.run) if r]
    conf = studio.confusions(run=info.run, epoch=info.epoch)
    table = [list(r) for r in conf.rows] or [["—", "—", "—"]]
    return studio.loss_plot(runs=runs), studio.quality_plot(runs=runs), table, conf.note


@friendly
def walk(text, seed_a, seed_b, steps, truncation, run, epoch):
    w = studio.walk(text=text, seed_a=seed_a, seed_b=seed_b, steps=steps, truncation=truncation, run=run, epoch=epoch)
    note = f"**{w.info.run}** · {w.info.label} · {len(w.frames)} frames, seed {w.seeds[0]} → {w.seeds[1]}"
    return str(w.gif), w.strip, note + ("\n\n" + w.notice if w.notice else "")


def epoch_dropdown(run):
    """The epoch selector of `run`: its epochs with readability, the best (or last) one selected."""
    try:
        return gr.Dropdown(choices=studio.epoch_choices(run=run), value=studio.default_epoch(run=run))
    except StudioError as e:
        gr.Warning(safe(e))
        return gr.Dropdown(choices=[], value=None)


# ---- layout ------------------------------------------------------------------------------------

def run_selector(value, label="Run · 실행"):
    return gr.Dropdown(choices=studio.run_names(), value=value, label=label, allow_custom_value=True)


def epoch_selector(run):
    choices = studio.epoch_choices(run=run) if run else []
    value = studio.default_epoch(run=run) if run else None
    return gr.Dropdown(choices=choices, value=value, label="Checkpoint · 체크포인트 (epoch · readability)",
                       allow_custom_value=True)


def seed_slider(value=42, label="Seed (writer) · 시드 (필체)"):
    return free_slider(0, MAX_SEED, value=value, step=1, label=label)


def psi_slider():
    return free_slider(0.0, 1.0, value=0.8, step=0.05, label="Truncation ψ · 절단 (0 = average writer · 1 = full variety)")


def result_image(label, **kw):
    return gr.Image(label=label, format="png", type="numpy", interactive=False,
                    buttons=["download", "fullscreen"], **kw)


def notice(**kw):
    return gr.Markdown(label="Notice · 알림", **kw)


RANDOM_SEED_JS = f"() => Math.floor(Math.random() * {MAX_SEED + 1})"


def build() -> gr.Blocks:
    left_run, right_run = studio.default_runs()
    with gr.Blocks(title="ReKOGAN · 손글씨 한글", analytics_enabled=False) as demo:
        gr.Markdown(DESCRIPTION)
        if not studio.run_names():
            gr.Markdown(f"### ⚠️ No checkpoints found · 체크포인트가 없습니다\nNothing under `{studio.root}`. "
                        + HOW_TO_GET_CHECKPOINTS)
        with gr.Tabs():
            with gr.Tab("Write · 쓰기"):
                text = gr.Textbox(value=DEFAULT_TEXT, lines=4, label="Korean text · 한국어 글 (Enter = new line · 줄바꿈)",
                                  elem_id="write-text")
                with gr.Row(equal_height=True):
                    seed = seed_slider()
                    dice = gr.Button("🎲 Random seed · 무작위 시드", scale=0, min_width=160)
                    psi = psi_slider()
                go = gr.Button("Write · 쓰기", variant="primary", elem_id="write-button")
                panels = []
                with gr.Row():
                    for side, run in (("left", left_run), ("right", right_run)):
                        with gr.Column():
                            r = run_selector(run)
                            e = epoch_selector(run)
                            img = result_image(f"{side.title()} · {'왼쪽' if side == 'left' else '오른쪽'}",
                                               elem_id=f"write-{side}")
                            note = notice(elem_id=f"write-{side}-notice")
                            panels.append((r, e, img, note))
                dice.click(None, None, seed, js=RANDOM_SEED_JS, api_visibility="private")
                (rl, el, il, nl), (rr, er, ir, nr) = panels
                go.click(compare, [text, seed, psi, rl, el, rr, er], [il, nl, ir, nr], api_name="compare")
                for i, (r, e, img, note) in enumerate(panels):
                    # choosing a checkpoint redraws that panel; this is also the one-panel API (/write)
                    e.input(write, [text, seed, psi, r, e], [img, note],
                            api_name="write" if i == 0 else "write_right",
                            api_visibility="public" if i == 0 else "undocumented")
                    r.input(epoch_dropdown, r, e, api_visibility="private").then(
                        write, [text, seed, psi, r, e], [img, note], api_visibility="private")

            with gr.Tab("Evolution · 학습 과정"):
                gr.Markdown("One syllable drawn by every saved epoch of each run, same writer. "
                            "· 같은 글쓴이가 쓴 한 글자를 에포크마다 보여 줍니다.")
                with gr.Row():
                    syl = gr.Textbox(value="가", label="Syllable · 글자", max_lines=1, scale=0, min_width=120)
                    evo_seed, evo_psi = seed_slider(), psi_slider()
                with gr.Row():
                    ra, rb = run_selector(left_run), run_selector(right_run)
                evo_go = gr.Button("Show evolution · 보기", variant="primary", elem_id="evolution-button")
                with gr.Row():
                    with gr.Column():
                        ia, na = result_image("Run A", elem_id="evolution-a"), notice()
                    with gr.Column():
                        ib, nb = result_image("Run B", elem_id="evolution-b"), notice()
                evo_go.click(evolution, [syl, evo_seed, evo_psi, ra, rb], [ia, na, ib, nb], api_name="evolution")

            with gr.Tab("Sheet · 전체 글자"):
                with gr.Row():
                    s_run = run_selector(right_run)
                    s_ep = epoch_selector(right_run)
                with gr.Row():
                    s_seed, s_psi = seed_slider(), psi_slider()
                s_go = gr.Button("Draw every class · 전체 그리기", variant="primary", elem_id="sheet-button")
                s_img, s_note = result_image("Sheet · 글자표", elem_id="sheet-image"), notice()
                s_run.input(epoch_dropdown, s_run, s_ep, api_visibility="private")
                s_go.click(sheet, [s_run, s_ep, s_seed, s_psi], [s_img, s_note], api_name="sheet")

            with gr.Tab("Diagnostics · 진단"):
                with gr.Row():
                    d_run = run_selector(right_run, label="Checkpoint's run · 실행")
                    d_ep = epoch_selector(right_run)
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
                with gr.Row():
                    w_run = run_selector(right_run)
                    w_ep = epoch_selector(right_run)
                w_go = gr.Button("Walk · 걷기", variant="primary", elem_id="walk-button")
                with gr.Row():
                    w_gif = gr.Image(label="Animation · 애니메이션 (GIF)", type="filepath", format="gif", interactive=False,
                                     elem_id="walk-gif")
                    w_strip = result_image("Strip · 단계별", elem_id="walk-strip")
                w_note = notice()
                w_run.input(epoch_dropdown, w_run, w_ep, api_visibility="private")
                w_go.click(walk, [w_text, w_a, w_b, w_steps, w_psi, w_run, w_ep], [w_gif, w_strip, w_note],
                           api_name="walk")
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
    demo.block_thread()
