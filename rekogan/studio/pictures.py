"""Pictures for people, beyond the model's glyphs: printed glyphs, captioned cells, strips, GIFs.

Dark ink on white paper, uint8. Korean print needs a font with Hangul: the first file found among
$REKOGAN_FONT, then FONT_CANDIDATES ($REKOGAN_FONTS, a list separated by os.pathsep, replaces
those; on a Hugging Face Space packages.txt installs fonts-nanum, the first candidate). Without
one, unknown characters are hatched boxes and captions use PIL's default font: never an error.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",          # fonts-nanum (packages.txt)
    "/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf",
    "/usr/share/fonts/truetype/baekmuk/gulim.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/AppleGothic.ttf",
    "C:/Windows/Fonts/malgun.ttf",
)
LABEL_FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)   # then FONT_CANDIDATES


def font_candidates(kind: str = "glyph") -> list[str]:
    """Font files to try, in order, for 'glyph' (Hangul print) or 'label' (captions)."""
    env = os.environ.get("REKOGAN_FONTS")
    base = [p for p in env.split(os.pathsep) if p] if env is not None else list(FONT_CANDIDATES)
    override = os.environ.get("REKOGAN_FONT")
    label = list(LABEL_FONT_CANDIDATES) if kind == "label" and env is None else []
    return ([override] if override else []) + label + base


@lru_cache(maxsize=2)
def font_path(kind: str = "glyph") -> str | None:
    return next((c for c in font_candidates(kind) if Path(c).is_file()), None)


@lru_cache(maxsize=64)
def font(kind: str, size: int):
    """A PIL font of `size` px (PIL's default font when no file is found), or None."""
    from PIL import ImageFont
    path = font_path(kind)
    try:
        return ImageFont.truetype(path, size=size) if path else ImageFont.load_default(size=size)
    except OSError:
        return None


def forget_fonts() -> None:
    """Look the fonts up again (after the environment changed)."""
    font_path.cache_clear()
    font.cache_clear()
    printed_glyph.cache_clear()
    mpl_font.cache_clear()


@lru_cache(maxsize=4096)
def printed_glyph(char: str, cell: int) -> np.ndarray | None:
    """(cell, cell) uint8: `char` in grey print with a faint frame, or None without a usable font."""
    from PIL import Image, ImageDraw
    if font_path("glyph") is None:
        return None
    f = font("glyph", max(6, round(cell * 0.7)))
    if f is None:
        return None
    img = Image.new("L", (cell, cell), 255)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, cell - 1, cell - 1], outline=225)
    try:
        d.text((cell / 2, cell / 2), char, fill=140, font=f, anchor="mm")
    except (ValueError, OSError):  # e.g. a character the font engine rejects
        pass
    return np.asarray(img, dtype=np.uint8)


def unknown_glyph(char: str, cell: int):
    """What render_tokens draws for a character the model cannot write: grey print, else a hatched box."""
    import torch

    from ..sampling import hatched
    g = printed_glyph(char, cell)
    return hatched(cell) if g is None else torch.from_numpy(g.copy())


def label_cells(cells: list[np.ndarray], labels: list[list[str]], *, columns: int, min_cell: int = 64,
                pad: int = 6) -> np.ndarray:
    """Glyphs with one or more caption lines under each, in a grid: (H, W) uint8.
    Hand-written: torchvision's make_grid tiles pictures but draws no text."""
    from PIL import Image, ImageDraw
    s = cells[0].shape[0]
    scale = max(1, math.ceil(min_cell / s))
    cell = s * scale
    lines = max(len(lb) for lb in labels)
    # captions grow with the cell, but slower: 10 px under a 64 px glyph, 14 under 128, 20 under 256
    # (a sixth of the cell, 42 px under 256, shouted over the glyph it names)
    fsize = max(10, round(10 * math.sqrt(cell / 64)))
    f = font("label", fsize)
    cap = lines * (fsize + 3) + 2
    cw = max(cell, 7 * fsize)                       # wide enough for "epoch 120"
    cols = max(1, min(columns, len(cells)))
    rows = math.ceil(len(cells) / cols)
    W, H = cols * (cw + pad) + pad, rows * (cell + cap + pad) + pad
    page = Image.new("L", (W, H), 255)
    d = ImageDraw.Draw(page)
    for i, (g, lb) in enumerate(zip(cells, labels)):
        r, c = divmod(i, cols)
        x0, y0 = pad + c * (cw + pad), pad + r * (cell + cap + pad)
        big = np.kron(g, np.ones((scale, scale), dtype=np.uint8)) if scale > 1 else g
        page.paste(Image.fromarray(big), (x0 + (cw - cell) // 2, y0))
        for k, text in enumerate(lb):
            d.text((x0 + cw / 2, y0 + cell + 2 + k * (fsize + 3)), text, fill=60, font=f, anchor="mt")
    return np.asarray(page, dtype=np.uint8)


def strip(frames, *, gap: int = 4, rule: int = 200) -> np.ndarray:
    """Frames (H, W) stacked top to bottom, separated by thin grey rules (no outer border)."""
    import torch

    from ..sampling import tile
    return tile(torch.from_numpy(np.stack(frames)), columns=1, pad=gap, fill=rule)[gap:-gap, gap:-gap].numpy()


def save_gif(frames, path: Path, *, duration_ms: int, min_cell: int = 64) -> Path:
    """Frames there and back again as a looping GIF, scaled up to at least `min_cell` px high.
    Hand-written: torchvision writes no GIFs (PIL does)."""
    from PIL import Image
    scale = max(1, math.ceil(min_cell / frames[0].shape[0]))
    ims = [Image.fromarray(np.kron(f, np.ones((scale, scale), np.uint8)) if scale > 1 else f) for f in frames]
    seq = ims + ims[-2:0:-1]
    seq[0].save(path, save_all=True, append_images=seq[1:], duration=duration_ms, loop=0, optimize=False)
    return path


def save_png(image: np.ndarray, path: Path) -> Path:
    """A uint8 picture (H, W) as a PNG at `path`, encoded for speed: every row with PNG's filter 0 (none)
    and zlib's run-length strategy (Z_RLE) at level 1, lossless like any PNG. PIL's encoder tries a
    filter per row: on a 20-syllable line it cost 1.5 / 11.5 / 28.9 ms at 64 / 128 / 256 px per glyph
    against 0.6 / 1.8 / 9.9 ms here, for 33 / 56 / 137 KB against 39 / 57 / 154 KB (a busy 2-core
    machine; Z_RLE itself had halved PIL's default cost, issue 22). Written through
    records.atomic_path, so no reader ever sees half a file; not fsynced: it is a disposable answer,
    not a record."""
    from ..records import atomic_path
    path = Path(path)
    with atomic_path(path, fsync=False) as tmp:
        tmp.write_bytes(png_bytes(image))
    return path


def png_bytes(image: np.ndarray) -> bytes:
    """(H, W) uint8 grey -> the bytes of an 8-bit greyscale PNG (filter 0, zlib level 1, Z_RLE)."""
    import struct
    import zlib
    a = np.asarray(image)
    assert a.dtype == np.uint8 and a.ndim == 2, f"a page is (H, W) uint8, got {a.dtype} {a.shape}"
    h, w = a.shape
    rows = np.zeros((h, w + 1), np.uint8)              # each row: its filter byte (0), then its pixels
    rows[:, 1:] = a
    z = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    data = z.compress(rows.tobytes()) + z.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


@lru_cache(maxsize=1)
def mpl_font():
    """A font with Hangul for matplotlib titles (None: matplotlib's default)."""
    from matplotlib.font_manager import FontProperties
    path = font_path("glyph")
    return FontProperties(fname=path) if path else None
