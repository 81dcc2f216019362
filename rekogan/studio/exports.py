"""Files a user takes home from the app: a writer's font (build_font), its browser preview, a line as SVG.

  build         one checkpoint + writer + syllable set ('seri95', 'ksx1001', 'all', or 'text' with
                the typed text) -> a .ttf under the studio's folder, with gr.Progress-style progress;
                traced from `size` px glyphs (default 256, the upscaler's), `alternates` glyphs a syllable
  preview_html  an HTML snippet that shows typed text in the built font, drawn by the browser: an
                @font-face whose src is a data: URL of the font's bytes (a font over PREVIEW_EMBED_MAX
                is first subset to the preview's characters, with fontTools' subsetter)
  write_svg     a line's glyphs as an SVG file (rekogan.export.svg.natural_svg)

Export errors (rekogan.export.ExportError) become StudioError. Old files are pruned: the newest
KEEP_FILES are kept, and none older than the studio's output TTL when one is set.
"""
from __future__ import annotations

import base64
import html
import io
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .cache import mtime
from .inputs import StudioError, check_natural, check_size
from .registry import EpochInfo

FONT_SETS = {"seri95": "SERI95 (520)", "ksx1001": "KS X 1001 (2,350)", "all": "all 11,172", "text": "the typed text"}
PREVIEW_EMBED_MAX = 2 * 2**20      # bytes: a larger font is subset to the preview text before embedding
PREVIEW_MAX_TEXT = 500
KEEP_FILES = 16


@dataclass(frozen=True)
class FontBuild:
    """A built font as the Font tab shows it: the file, its family name, what it holds and took."""

    path: Path
    family: str
    written: int                     # syllables in the font
    missing: tuple[str, ...]         # asked for, but the run cannot write them
    size_bytes: int
    seconds: float
    lines: tuple[str, ...]           # build_font's report, paths left out
    notes: tuple[str, ...] = ()
    alternates: int = 1              # glyphs per syllable

    @property
    def notice(self) -> str:
        alts = f" × {self.alternates} alternates (이체자)" if self.alternates > 1 else ""
        head = (f"**{self.family}** · {self.written:,} syllables{alts} · {self.size_bytes / 1e6:.2f} MB · "
                f"built in {self.seconds:.1f} s")
        return "\n\n".join([head, *self.lines, *self.notes])


def prune(folder: Path, pattern: str, *, keep: int = KEEP_FILES, ttl: float | None = None) -> None:
    """Delete all but the newest `keep` files matching `pattern` (and any older than ttl seconds)."""
    files = sorted(folder.glob(pattern), key=mtime)
    old = files[:-keep] if keep else files
    if ttl is not None:
        cutoff = time.time_ns() - int(ttl * 1e9)
        old += [p for p in files[-keep:] if mtime(p) < cutoff]
    for p in old:
        try:
            if p.is_dir():
                for q in p.iterdir():
                    q.unlink(missing_ok=True)
                p.rmdir()
            else:
                p.unlink(missing_ok=True)
        except OSError:
            pass


def syllable_spec(syllables, text) -> str:
    """The build_font syllable set for the UI's choice: a named set, or the typed text."""
    key = syllables.strip().lower() if isinstance(syllables, str) else syllables
    if key not in FONT_SETS:
        raise StudioError(f"Unknown syllable set {syllables!r}: choose one of {', '.join(FONT_SETS)}.")
    if key != "text":
        return key
    if not isinstance(text, str) or not text.strip():
        raise StudioError("Type the syllables the font should have (e.g. 가나다), or choose a named set. "
                          "· 글꼴에 넣을 글자를 입력하세요.")
    if len(text) > 20_000:
        raise StudioError(f"The text has {len(text):,} characters; the limit is 20,000 (choose 'all' for every syllable).")
    return text


def check_alternates(alternates) -> int:
    """Glyphs per syllable, 1..ALTERNATES[1] (None: 1; integral floats and digit strings accepted), or StudioError."""
    from ..export.alternates import ALTERNATES
    value = 1 if alternates is None else alternates
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    lo, hi = ALTERNATES
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise StudioError(f"Alternates must be a whole number in {lo}..{hi} (glyphs per syllable), got {alternates!r}. "
                          f"· 이체자는 {lo}–{hi}개입니다.")
    return value


def build(*, info: EpochInfo, seed: int, truncation: float, weight: float | None, syllables, text, folder: Path,
          progress=None, notes: tuple[str, ...] = (), ttl: float | None = None, writer: str | None = None,
          size=None, alternates=1, natural=None) -> FontBuild:
    """Build the font of one writer (checked inputs) into a fresh sub-folder of `folder`: writer
    `seed` at psi, or a checked writer code (then `weight` moves the writer's own weight). size:
    pixels per glyph traced (None: 256); alternates: glyphs per syllable (1..4) at `natural`
    (None: conventions.NATURAL_DEFAULT); both checked here."""
    from ..export import ExportError, build_font
    from ..export.build import FONT_SIZE
    size = FONT_SIZE if size is None else check_size(size)
    alternates = check_alternates(alternates)
    natural = None if alternates == 1 and natural is None else check_natural(natural)
    spec = syllable_spec(syllables, text)
    folder.mkdir(parents=True, exist_ok=True)
    prune(folder, "font_*", keep=KEEP_FILES - 1, ttl=ttl)
    out_dir = folder / f"font_{uuid.uuid4().hex[:12]}"
    out_dir.mkdir()
    from ..export.provenance import fitted_tag
    hand_tag = f"s{seed}" if writer is None else fitted_tag(writer)
    name = re.sub(r"[^A-Za-z0-9]+", "-", f"ReKOGAN-{info.run}-e{info.epoch}-{hand_tag}").strip("-")
    t0 = time.perf_counter()
    try:   # with a writer code, weight is the slider's offset from the writer's own (conventions.writer_weight)
        report = build_font(checkpoint=info.path, seed=seed if writer is None else None, truncation=truncation,
                            writer=writer, weight=weight, syllables=spec, out=out_dir / f"{name}.ttf",
                            progress=progress, size=size, alternates=alternates, natural=natural)
    except ExportError as e:
        raise StudioError(f"Cannot build the font: {e}.") from None
    lines = tuple(line.replace(str(report.path), report.path.name) for line in report.lines()[1:])
    return FontBuild(path=report.path, family=report.family, written=len(report.written), missing=report.missing,
                     size_bytes=report.size_bytes, seconds=time.perf_counter() - t0, lines=lines, notes=notes,
                     alternates=report.alternates)


def _font_bytes(path: Path, text: str) -> bytes:
    data = path.read_bytes()
    if len(data) <= PREVIEW_EMBED_MAX:
        return data
    from fontTools import subset
    font = subset.load_font(str(path), subset.Options())
    sub = subset.Subsetter(subset.Options())
    sub.populate(text=text + " ")
    sub.subset(font)
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


def preview_html(*, path, family: str, text) -> str:
    """HTML: `text` in the font at `path` (family `family`), drawn by the browser; fallback sans-serif."""
    if not path:
        return "<p class='font-preview-empty'>Build a font first. · 먼저 글꼴을 만드세요.</p>"
    path = Path(path)
    if not path.is_file():
        raise StudioError("The built font is gone (outputs are deleted after a while): build it again. "
                          "· 글꼴을 다시 만드세요.")
    text = text if isinstance(text, str) and text.strip() else "가나다"
    text = text[:PREVIEW_MAX_TEXT]
    fam = re.sub(r"[^A-Za-z0-9 _-]", "", family or "") or "ReKOGAN preview"
    url = "data:font/ttf;base64," + base64.b64encode(_font_bytes(path, text)).decode("ascii")
    body = html.escape(text).replace("\n", "<br>")
    return (f"<style>@font-face {{ font-family: \"{fam}\"; src: url({url}) format(\"truetype\"); "
            f"font-display: block; }}</style>"
            f"<div id=\"font-preview-text\" data-family=\"{html.escape(fam)}\" "
            f"style=\"font-family: '{fam}', sans-serif; font-size: 48px; line-height: 1.25; "
            f"background: #fff; color: #000; padding: 8px; white-space: pre-wrap;\">{body}</div>")


def write_svg(*, tokens, bitmaps, natural: float, seed: int, size: int, folder: Path,
              ttl: float | None = None) -> Path:
    """A written line (tokens, already wrapped, and one bitmap per syllable) as an SVG file under
    `folder`: rekogan.export.svg.natural_svg at `natural` with layout seed `seed`, `size` px a glyph."""
    from ..export import ExportError
    from ..export.svg import natural_svg
    folder.mkdir(parents=True, exist_ok=True)
    prune(folder, "line_*.svg", keep=KEEP_FILES * 4, ttl=ttl)
    try:
        svg = natural_svg(tokens, bitmaps, natural=natural, seed=seed, size=size)
    except (ExportError, ValueError) as e:
        raise StudioError(f"Cannot write the SVG: {e}.") from None
    out = folder / f"line_{uuid.uuid4().hex[:12]}.svg"
    from ..records import write_text_atomic
    write_text_atomic(out, svg)
    return out
