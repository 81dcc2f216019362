"""The model side of the ReKOGAN app: runs on disk, cached generators, text -> handwriting pages.

The app (app.py) is UI only; everything it shows comes from a `Studio`:

  registry   runs found under a checkpoints root (env REKOGAN_CHECKPOINTS, else ./checkpoints):
             every sub-folder holding epoch_NNN.safetensors files, with each epoch's readability
             and diversity read from the run's evaluation.jsonl (folders without generator files,
             such as checkpoints/classifier, are not runs)
  cache      a small thread-safe LRU of loaded generators (checkpoints are safetensors + JSON
             metadata only; pickles are refused before anything parses them)
  write      text -> tokens -> one batched forward pass -> one page (dark ink on white); characters
             the model cannot write are drawn as grey print (or a hatched box) and listed
  evolution  one syllable across every saved epoch of a run, labelled with epoch + readability
  sheet      every class of one checkpoint by one writer (seed)
  walk       a slerp walk in latent space between two writers: frames, GIF and strip
  plots      loss curves, readability/diversity vs epoch, most-confused classes of a checkpoint

Every problem a user can cause (bad seed, unknown run or epoch, empty/too long text, control
characters, a missing/corrupt/pickle checkpoint) raises one exception type, StudioError, whose
message is meant to be shown as is.

torch, matplotlib and the model modules are imported on first use, not with this module, so the
app answers its first page request a few seconds after start; `warm_up()` pays that cost in the
background.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
import threading
import time
import unicodedata
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .records import read_jsonl
from .hangul import MAX_TEXT, ClassList, Token, is_syllable, tokenize

MAX_SEED = 2**31 - 1          # = rekogan.sampling.MAX_SEED (not imported: that would import torch)
WALK_MAX_TEXT = 64            # characters in a latent-walk text (each frame renders the whole text)
WALK_MAX_STEPS = 48
WRAP_CELLS = 32               # a rendered line wraps (at a space when possible) after this many glyphs
EPOCH_RE = re.compile(r"^epoch_(\d+)\.safetensors$")   # = rekogan.checkpoints.EPOCH_RE
REGISTRY_TTL = 2.0            # seconds a scan of the checkpoints root is reused
PREFERRED_RUNS = ("collapsed", "fixed")
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/nanum/NanumGothic.ttf",
    "/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf",
    "/usr/share/fonts/truetype/baekmuk/gulim.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/AppleGothic.ttf",
    "C:/Windows/Fonts/malgun.ttf",
)
LABEL_FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",) + FONT_CANDIDATES
ALLOWED_CONTROLS = "\n\r\t"


class StudioError(ValueError):
    """Something the user asked for cannot be done; str(e) is a message for people."""


# ---- small helpers -------------------------------------------------------------------------

def default_root() -> Path:
    """$REKOGAN_CHECKPOINTS, else ./checkpoints, else checkpoints/ next to the package."""
    env = os.environ.get("REKOGAN_CHECKPOINTS")
    if env:
        return Path(env).expanduser()
    here = Path("checkpoints")
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "checkpoints"


def _inference_mode(fn):
    """@torch.inference_mode(), with torch imported at call time (see the module docstring)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        torch = _torch()
        with torch.inference_mode():
            return fn(*args, **kwargs)
    return wrapper


_THREADS_LOCK = threading.Lock()
_THREADS_SET = False


def _torch():
    """Import torch once; the first caller also applies $REKOGAN_THREADS (intra-op threads)."""
    global _THREADS_SET
    import torch
    if not _THREADS_SET:
        with _THREADS_LOCK:
            if not _THREADS_SET:
                n = os.environ.get("REKOGAN_THREADS")
                if n and n.isdigit() and int(n) > 0:
                    torch.set_num_threads(int(n))
                _THREADS_SET = True
    return torch


def check_text(text, *, max_chars: int = MAX_TEXT) -> str:
    """The text as given, or StudioError: not a string, empty, too long, control characters."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise StudioError(f"The text must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise StudioError("The text is empty: type some Korean, e.g. 가나다. · 글을 입력하세요.")
    if len(text) > max_chars:
        raise StudioError(f"The text has {len(text):,} characters; the limit is {max_chars:,}. "
                          f"· 글이 너무 깁니다 (최대 {max_chars:,}자).")
    bad = [(i, ch) for i, ch in enumerate(text)
           if ch not in ALLOWED_CONTROLS and unicodedata.category(ch) in ("Cc", "Cs")]
    if bad:
        shown = ", ".join(f"U+{ord(ch):04X} at position {i + 1}" for i, ch in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise StudioError(f"The text contains control characters ({shown}{more}); remove them. "
                          "· 제어 문자를 지워 주세요.")
    return text


def check_seed(seed, *, name: str = "seed") -> int:
    """An int in 0..MAX_SEED (integral floats and digit strings are accepted), or StudioError."""
    value = seed
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.0*)?\s*", value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StudioError(f"The {name} must be a whole number in 0..{MAX_SEED:,}, got {seed!r}.")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise StudioError(f"The {name} must be a whole number in 0..{MAX_SEED:,}, got {seed!r}.")
        value = int(value)
    if not 0 <= value <= MAX_SEED:
        raise StudioError(f"The {name} must be in 0..{MAX_SEED:,} (2^31 - 1), got {value:,}. "
                          "· 시드 범위를 벗어났습니다.")
    return value


def check_truncation(psi) -> float:
    """A float in [0, 1], or StudioError."""
    if isinstance(psi, str):
        try:
            psi = float(psi)
        except ValueError:
            pass
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi) or not 0 <= psi <= 1:
        raise StudioError(f"Truncation psi must be a number in [0, 1], got {psi!r}.")
    return float(psi)


def check_steps(steps, *, low: int = 2, high: int = WALK_MAX_STEPS) -> int:
    if isinstance(steps, float) and steps.is_integer():
        steps = int(steps)
    if isinstance(steps, str) and steps.strip().isdigit():
        steps = int(steps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not low <= steps <= high:
        raise StudioError(f"Steps must be a whole number in {low}..{high}, got {steps!r}.")
    return steps


def parse_epoch(spec) -> int | str:
    """None/''/'best' -> 'best'; 'last'; 12, 12.0, '12', '012', 'epoch 12 · 96.1% readable' -> 12."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "best")):
        return "best"
    if isinstance(spec, str) and spec.strip().lower() in ("last", "latest"):
        return "last"
    if isinstance(spec, float) and spec.is_integer():
        spec = int(spec)
    if isinstance(spec, int) and not isinstance(spec, bool) and spec >= 0:
        return spec
    if isinstance(spec, str):
        m = re.fullmatch(r"\s*(?:epoch[\s_]*)?(\d+)\b.*", spec, flags=re.IGNORECASE | re.DOTALL)
        if m:
            return int(m.group(1))
    raise StudioError(f"Unknown epoch {spec!r}: give an epoch number, 'best' or 'last'.")


def describe_char(ch: str) -> str:
    """'A' -> 'A'; invisible or odd characters get their code point: 'U+200B'."""
    if ch.isprintable() and not ch.isspace() and ch != "`" and unicodedata.category(ch) not in ("Cf", "Co", "Cn"):
        return ch
    return f"U+{ord(ch):04X}"


def wrap_tokens(tokens: list[Token], *, cells: int = WRAP_CELLS) -> list[Token]:
    """Insert line breaks so no line is wider than `cells` glyphs (a space is half a glyph).
    Breaks at the last space of a line when it has one (that space is dropped), else mid-word."""
    limit = 2 * cells                                      # in half-cells
    out: list[Token] = []
    line: list[Token] = []
    width = 0

    def w(t: Token) -> int:
        return 1 if t.kind == "space" else 2

    for t in tokens:
        if t.kind == "newline":
            out += line + [t]
            line, width = [], 0
            continue
        if width + w(t) > limit and t.kind != "space":
            cut = max((i for i, u in enumerate(line) if u.kind == "space"), default=-1)
            if cut > 0:
                out += line[:cut] + [Token("newline", "\n")]
                line = line[cut + 1:]
            else:
                out += line + [Token("newline", "\n")]
                line = []
            width = sum(w(u) for u in line)
        line.append(t)
        width += w(t)
    return out + line


# ---- printed glyphs and labels (PIL) --------------------------------------------------------

@lru_cache(maxsize=2)
def _font_path(kind: str = "glyph") -> str | None:
    override = os.environ.get("REKOGAN_FONT")
    cands = ([override] if override else []) + list(FONT_CANDIDATES if kind == "glyph" else LABEL_FONT_CANDIDATES)
    for c in cands:
        if c and Path(c).is_file():
            return c
    return None


@lru_cache(maxsize=64)
def _font(kind: str, size: int):
    from PIL import ImageFont
    path = _font_path(kind)
    if path is None:
        try:
            return ImageFont.load_default(size=size)
        except Exception:
            return None
    try:
        return ImageFont.truetype(path, size=size)
    except OSError:
        return None


@lru_cache(maxsize=4096)
def printed_glyph(char: str, cell: int) -> np.ndarray | None:
    """(cell, cell) uint8: `char` in grey print with a faint frame, or None without a usable font."""
    from PIL import Image, ImageDraw
    if _font_path("glyph") is None:
        return None
    font = _font("glyph", max(6, round(cell * 0.7)))
    if font is None:
        return None
    img = Image.new("L", (cell, cell), 255)
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, cell - 1, cell - 1], outline=225)
    try:
        d.text((cell / 2, cell / 2), char, fill=140, font=font, anchor="mm")
    except (ValueError, OSError):  # e.g. a character the font engine rejects
        pass
    return np.asarray(img, dtype=np.uint8)


def _unknown_glyph(char: str, cell: int):
    torch = _torch()
    g = printed_glyph(char, cell)
    if g is None:
        from .sampling import _hatched
        return _hatched(cell)
    return torch.from_numpy(g.copy())


def _label_cells(cells: list[np.ndarray], labels: list[list[str]], *, columns: int, min_cell: int = 64,
                 pad: int = 6) -> np.ndarray:
    """Glyphs with one or more caption lines under each, in a grid: (H, W) uint8."""
    from PIL import Image, ImageDraw
    s = cells[0].shape[0]
    scale = max(1, math.ceil(min_cell / s))
    cell = s * scale
    lines = max(len(lb) for lb in labels)
    fsize = max(10, cell // 6)
    font = _font("label", fsize)
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
            d.text((x0 + cw / 2, y0 + cell + 2 + k * (fsize + 3)), text, fill=60, font=font, anchor="mt")
    return np.asarray(page, dtype=np.uint8)


# ---- the run registry -----------------------------------------------------------------------

@dataclass(frozen=True)
class EpochInfo:
    run: str
    epoch: int
    path: Path
    readability: float | None = None     # fraction 0..1, from evaluation.jsonl
    diversity: float | None = None

    @property
    def label(self) -> str:
        r = f" · {self.readability:.1%} readable" if self.readability is not None else ""
        return f"epoch {self.epoch}{r}"


@dataclass(frozen=True)
class RunInfo:
    name: str
    path: Path
    epochs: tuple[EpochInfo, ...]

    @property
    def last(self) -> EpochInfo:
        return self.epochs[-1]

    @property
    def best(self) -> EpochInfo:
        """The most readable epoch (the later one on a tie); the last epoch when none is evaluated."""
        rated = [e for e in self.epochs if e.readability is not None]
        return max(rated, key=lambda e: (e.readability, e.epoch)) if rated else self.last

    def get(self, epoch: int | str) -> EpochInfo:
        if epoch == "best":
            return self.best
        if epoch == "last":
            return self.last
        for e in self.epochs:
            if e.epoch == epoch:
                return e
        have = ", ".join(str(e.epoch) for e in self.epochs)
        raise StudioError(f"Run '{self.name}' has no epoch {epoch}; saved epochs: {have}.")


def _number(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


_EVAL_CACHE: dict[str, tuple[tuple, dict]] = {}
_EVAL_LOCK = threading.Lock()


def evaluations(run_dir: Path) -> dict[int, dict]:
    """epoch -> the latest evaluation.jsonl record of that epoch (parsed again only when the file
    changes: a trained run's records carry per-class lists, hundreds of KB). Do not mutate the result."""
    path = Path(run_dir) / "evaluation.jsonl"
    try:
        st = path.stat()
    except OSError:
        return {}
    key = (st.st_mtime_ns, st.st_size)
    with _EVAL_LOCK:
        hit = _EVAL_CACHE.get(str(path))
    if hit and hit[0] == key:
        return hit[1]
    out = {}
    for r in read_jsonl(path):
        e = r.get("epoch")
        if isinstance(e, int) and not isinstance(e, bool):
            out[e] = r
    with _EVAL_LOCK:
        _EVAL_CACHE[str(path)] = (key, out)
    return out


def scan_run(run_dir: Path) -> RunInfo | None:
    """A RunInfo for a folder with epoch_NNN.safetensors files, else None."""
    try:
        found = sorted((int(m.group(1)), p) for p in Path(run_dir).iterdir() if (m := EPOCH_RE.match(p.name)))
    except OSError:
        return None
    if not found:
        return None
    ev = evaluations(run_dir)
    epochs = tuple(EpochInfo(run=run_dir.name, epoch=e, path=p, readability=_number(ev.get(e, {}).get("readability")),
                             diversity=_number(ev.get(e, {}).get("diversity"))) for e, p in found)
    return RunInfo(name=run_dir.name, path=Path(run_dir), epochs=epochs)


class Registry:
    """The runs under a checkpoints root, rescanned at most every REGISTRY_TTL seconds."""

    def __init__(self, root: str | Path | None = None, *, ttl: float = REGISTRY_TTL):
        self.root = Path(root) if root is not None else default_root()
        self.ttl = ttl
        self._lock = threading.Lock()
        self._runs: dict[str, RunInfo] = {}
        self._scanned = -math.inf

    def runs(self) -> dict[str, RunInfo]:
        """name -> RunInfo, 'collapsed' and 'fixed' first, then the others by name."""
        with self._lock:
            if time.monotonic() - self._scanned > self.ttl:
                self._runs = self._scan()
                self._scanned = time.monotonic()
            return self._runs

    def _scan(self) -> dict[str, RunInfo]:
        try:
            dirs = [d for d in self.root.iterdir() if d.is_dir() and not d.name.startswith(".")]
        except OSError:
            return {}
        found = {d.name: r for d in dirs if (r := scan_run(d)) is not None}
        order = [n for n in PREFERRED_RUNS if n in found] + sorted(n for n in found if n not in PREFERRED_RUNS)
        return {n: found[n] for n in order}

    def names(self) -> list[str]:
        return list(self.runs())

    def run(self, name) -> RunInfo:
        runs = self.runs()
        if not isinstance(name, str) or not name.strip():
            raise StudioError("Choose a run. · 실행(run)을 고르세요." + self._available(runs))
        if name.strip() not in runs:
            raise StudioError(f"Unknown run {name!r}." + self._available(runs))
        return runs[name.strip()]

    def epoch(self, run, epoch) -> EpochInfo:
        return self.run(run).get(parse_epoch(epoch))

    def _available(self, runs: dict) -> str:
        if runs:
            return " Available runs: " + ", ".join(runs) + "."
        return f" No runs found under {self.root}. " + HOW_TO_GET_CHECKPOINTS


HOW_TO_GET_CHECKPOINTS = (
    "Put generator runs in `checkpoints/RUN/epoch_NNN.safetensors` (e.g. `python scripts/ship.py runs/fixed "
    "checkpoints/fixed`), or point `REKOGAN_CHECKPOINTS` at a folder of runs. A quick test run: "
    "`python train.py --preset tiny --out checkpoints/tiny`.")


# ---- the generator cache --------------------------------------------------------------------

@dataclass
class Loaded:
    generator: object            # torch.nn.Module in eval mode
    meta: dict                   # read_metadata(...) + model_config, class_list
    classes: ClassList
    info: EpochInfo


class GeneratorCache:
    """LRU of loaded generators keyed by file (path, mtime, size), so a replaced file is reloaded.
    Hits only take a short lock; loads run one at a time (they are rare, and this bounds memory)."""

    def __init__(self, size: int = 6):
        assert size >= 1
        self.size = size
        self._items: OrderedDict[tuple, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.loads = 0

    @staticmethod
    def _key(info: EpochInfo) -> tuple:
        try:
            st = info.path.stat()
        except OSError:
            raise StudioError(f"Checkpoint {info.run}/{info.path.name} is missing (was it deleted?).") from None
        return (str(info.path.resolve()), st.st_mtime_ns, st.st_size)

    def get(self, info: EpochInfo) -> Loaded:
        key = self._key(info)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        with self._load_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            loaded = load(info)
            with self._lock:
                self._items[key] = loaded
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self.loads += 1
            return loaded

    def peek(self, info: EpochInfo) -> Loaded | None:
        """The cached generator of `info`, without loading or reordering."""
        key = self._key(info)
        with self._lock:
            return self._items.get(key)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self):
        with self._lock:
            self._items.clear()


def load(info: EpochInfo) -> Loaded:
    """Load one generator checkpoint (safetensors only) or raise StudioError saying what is wrong."""
    from .checkpoints import CheckpointError, load_generator
    _torch()
    name = f"{info.run}/{info.path.name}"
    try:
        g, meta = load_generator(info.path)
    except CheckpointError as e:
        msg = str(e).replace(str(info.path), name)
        raise StudioError(f"Cannot use checkpoint {name}: {msg}") from None
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AssertionError) as e:
        raise StudioError(f"Cannot use checkpoint {name}: {type(e).__name__}: {e}") from None
    return Loaded(generator=g, meta=meta, classes=meta["class_list"], info=info)


# ---- results --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    image: np.ndarray                    # (H, W) uint8, dark ink on white
    unknown: tuple[str, ...]             # distinct characters drawn as grey print, in order of appearance
    info: EpochInfo
    n_classes: int
    seconds: float

    @property
    def notice(self) -> str:
        return unknown_notice(self.unknown, n_classes=self.n_classes)


@dataclass(frozen=True)
class Walk:
    frames: tuple[np.ndarray, ...]
    gif: Path
    strip: np.ndarray
    unknown: tuple[str, ...]
    info: EpochInfo
    n_classes: int
    seeds: tuple[int, int]

    @property
    def notice(self) -> str:
        return unknown_notice(self.unknown, n_classes=self.n_classes)


@dataclass(frozen=True)
class Evolution:
    image: np.ndarray
    run: str
    epochs: tuple[int, ...]
    problems: tuple[str, ...] = ()       # epochs that could not be drawn, with why


@dataclass(frozen=True)
class Confusions:
    header: tuple[str, ...]
    rows: tuple[tuple, ...]
    note: str = ""


def unknown_notice(unknown, *, n_classes: int) -> str:
    if not unknown:
        return ""
    shown = ", ".join(f"`{describe_char(c)}`" for c in unknown[:40])
    more = f" (+{len(unknown) - 40} more)" if len(unknown) > 40 else ""
    return (f"Not among this model's {n_classes} syllables, shown in grey print · "
            f"모델이 쓸 수 없는 글자 (회색 인쇄체): {shown}{more}")


# ---- the studio -----------------------------------------------------------------------------

class Studio:
    """Everything the app does with models, in small keyword-only methods."""

    def __init__(self, *, root: str | Path | None = None, cache_size: int = 6, tmp_dir: str | Path | None = None):
        self.registry = Registry(root)
        self.cache = GeneratorCache(cache_size)
        self.tmp_dir = Path(tmp_dir) if tmp_dir else Path(tempfile.mkdtemp(prefix="rekogan-studio-"))
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._evolution_cache: OrderedDict[tuple, Evolution] = OrderedDict()
        self._evo_lock = threading.Lock()

    # -- registry views (no torch needed)
    @property
    def root(self) -> Path:
        return self.registry.root

    def run_names(self) -> list[str]:
        return self.registry.names()

    def default_runs(self) -> tuple[str | None, str | None]:
        """(left, right) for a comparison: collapsed and fixed when present, else the first two runs."""
        names = self.run_names()
        if not names:
            return None, None
        left = "collapsed" if "collapsed" in names else names[0]
        right = "fixed" if "fixed" in names else next((n for n in names if n != left), left)
        return left, right

    def epoch_choices(self, *, run) -> list[tuple[str, int]]:
        """[(label, epoch)] for a dropdown, e.g. ('epoch 12 · 96.1% readable', 12)."""
        return [(e.label, e.epoch) for e in self.registry.run(run).epochs]

    def default_epoch(self, *, run) -> int:
        return self.registry.run(run).best.epoch

    def epoch_info(self, *, run, epoch) -> EpochInfo:
        return self.registry.epoch(run, epoch)

    # -- models
    def generator(self, *, run, epoch) -> Loaded:
        return self.cache.get(self.registry.epoch(run, epoch))

    def warm_up(self, *, runs=None) -> None:
        """Import torch and load the default checkpoint of the given runs (default: the default pair)."""
        _torch()
        from . import sampling  # noqa: F401
        for run in runs or [r for r in self.default_runs() if r]:
            try:
                self.generator(run=run, epoch="best")
            except StudioError:
                pass

    # -- text, seeds
    @staticmethod
    def tokens(*, text: str, classes: ClassList) -> list[Token]:
        return tokenize(text, classes)

    @staticmethod
    def latent(*, seed: int, z_dim: int, truncation: float = 1.0):
        from .sampling import seed_to_z
        return seed_to_z(check_seed(seed), z_dim, truncation=check_truncation(truncation))

    @staticmethod
    def unknown_chars(tokens: list[Token]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.char for t in tokens if t.kind == "unknown"))

    def check_inputs(self, *, text, seed, truncation, max_chars: int = MAX_TEXT) -> tuple[str, int, float]:
        """Validate what every panel shares (text, seed, psi) before any model is touched."""
        return check_text(text, max_chars=max_chars), check_seed(seed), check_truncation(truncation)

    # -- write
    def write(self, *, text, seed, truncation, run, epoch, wrap: int = WRAP_CELLS) -> Page:
        """Text -> one handwritten page by writer `seed` with one checkpoint; StudioError on bad input."""
        text, seed, psi = self.check_inputs(text=text, seed=seed, truncation=truncation)
        return self.page(model=self.generator(run=run, epoch=epoch), text=text, seed=seed, truncation=psi, wrap=wrap)

    def page(self, *, model: Loaded, text: str, seed: int, truncation: float, wrap: int = WRAP_CELLS) -> Page:
        """write() for an already loaded model (also what scripts/bench_app.py times)."""
        t0 = time.perf_counter()
        tokens = wrap_tokens(self.tokens(text=text, classes=model.classes), cells=wrap)
        image = self.render(generator=model.generator, tokens=tokens, seed=seed, truncation=truncation)
        return Page(image=image, unknown=self.unknown_chars(tokens), info=model.info, n_classes=len(model.classes),
                    seconds=time.perf_counter() - t0)

    @_inference_mode
    def render(self, *, generator, tokens: list[Token], seed: int, truncation: float, z=None) -> np.ndarray:
        """One batched forward pass for all syllables of `tokens` -> (H, W) uint8 page."""
        from .sampling import render_tokens
        page = render_tokens(generator, tokens, seed=seed, truncation=truncation, z=z, unknown_glyph=_unknown_glyph)
        return page.numpy()

    # -- sheet
    @_inference_mode
    def sheet(self, *, run, epoch, seed, truncation, columns: int = 26) -> np.ndarray:
        """Every class of one checkpoint, in class order, by writer `seed`: (H, W) uint8."""
        torch = _torch()
        from .sampling import generate, grid, to_uint8
        seed, psi = check_seed(seed), check_truncation(truncation)
        m = self.generator(run=run, epoch=epoch)
        n = len(m.classes)
        z = self.latent(seed=seed, z_dim=m.generator.cfg.z_dim, truncation=psi)
        imgs = to_uint8(generate(m.generator, torch.arange(n), z))
        cols = min(columns, n)
        rows = math.ceil(n / cols)
        if rows * cols > n:
            blank = torch.full((rows * cols - n, *imgs.shape[1:]), 255, dtype=torch.uint8)
            imgs = torch.cat([imgs, blank])
        return grid(imgs, rows, cols).numpy()

    # -- evolution
    def evolution(self, *, run, syllable, seed, truncation, columns: int = 10) -> Evolution:
        """One syllable drawn by every saved epoch of a run (same writer), captioned with epoch and readability."""
        seed, psi = check_seed(seed), check_truncation(truncation)
        info = self.registry.run(run)
        ch = self._one_syllable(syllable)
        key = (info.name, tuple((e.epoch, str(e.path), _mtime(e.path), e.readability) for e in info.epochs), ch, seed, psi)
        with self._evo_lock:
            if key in self._evolution_cache:
                self._evolution_cache.move_to_end(key)
                return self._evolution_cache[key]
        result = self._evolution(info=info, ch=ch, seed=seed, psi=psi, columns=columns)
        with self._evo_lock:
            self._evolution_cache[key] = result
            while len(self._evolution_cache) > 16:
                self._evolution_cache.popitem(last=False)
        return result

    @staticmethod
    def _one_syllable(syllable) -> str:
        s = (syllable or "").strip() if isinstance(syllable, str) else ""
        if len(s) != 1 or not is_syllable(s):
            raise StudioError(f"Give exactly one Hangul syllable (e.g. 가), got {syllable!r}. · 한 글자를 입력하세요.")
        return s

    @_inference_mode
    def _evolution(self, *, info: RunInfo, ch: str, seed: int, psi: float, columns: int) -> Evolution:
        from .sampling import _hatched, sample
        cells, labels, problems = [], [], []
        for e in info.epochs:
            try:
                m = self.cache.peek(e) or load(e)       # not cache.get: keep the app's working set
            except StudioError as err:
                problems.append(f"epoch {e.epoch}: {err}")
                cells.append(None)
                labels.append([f"epoch {e.epoch}", "unreadable file"])
                continue
            if ch not in m.classes:
                raise StudioError(f"'{ch}' is not one of the {len(m.classes)} classes of run '{info.name}'. "
                                  "· 이 모델이 배우지 않은 글자입니다.")
            cells.append(sample(m.generator, [m.classes.index(ch)], seed=seed, truncation=psi)[0].numpy())
            labels.append([f"epoch {e.epoch}", f"{e.readability:.1%}" if e.readability is not None else "—"])
        size = next((c.shape[0] for c in cells if c is not None), None)
        if size is None:
            raise StudioError(f"No checkpoint of run '{info.name}' could be loaded: " + "; ".join(problems))
        cells = [c if c is not None else _hatched(size).numpy() for c in cells]
        image = _label_cells(cells, labels, columns=columns)
        return Evolution(image=image, run=info.name, epochs=tuple(e.epoch for e in info.epochs),
                         problems=tuple(problems))

    # -- walk
    @_inference_mode
    def walk(self, *, text, seed_a, seed_b, steps, truncation, run, epoch, duration_ms: int = 120) -> Walk:
        """Slerp between writers seed_a and seed_b in `steps` frames (ends included): GIF + strip."""
        from .sampling import seed_to_z, slerp
        text = check_text(text, max_chars=WALK_MAX_TEXT)
        a, b = check_seed(seed_a, name="first seed"), check_seed(seed_b, name="second seed")
        steps, psi = check_steps(steps), check_truncation(truncation)
        m = self.generator(run=run, epoch=epoch)
        tokens = wrap_tokens(self.tokens(text=text, classes=m.classes))
        zd = m.generator.cfg.z_dim
        za, zb = seed_to_z(a, zd), seed_to_z(b, zd)       # slerp untruncated latents, then scale by psi
        frames = tuple(self.render(generator=m.generator, tokens=tokens, seed=a, truncation=psi,
                                   z=slerp(za, zb, i / (steps - 1)) * psi) for i in range(steps))
        gif = self._save_gif(frames, duration_ms=duration_ms)
        return Walk(frames=frames, gif=gif, strip=self._strip(frames), unknown=self.unknown_chars(tokens), info=m.info,
                    n_classes=len(m.classes), seeds=(a, b))

    def _save_gif(self, frames, *, duration_ms: int) -> Path:
        from PIL import Image
        self._prune_tmp()
        path = self.tmp_dir / f"walk_{uuid.uuid4().hex[:12]}.gif"
        scale = max(1, math.ceil(64 / frames[0].shape[0]))
        ims = [Image.fromarray(np.kron(f, np.ones((scale, scale), np.uint8)) if scale > 1 else f) for f in frames]
        seq = ims + ims[-2:0:-1]                           # there and back again
        seq[0].save(path, save_all=True, append_images=seq[1:], duration=duration_ms, loop=0, optimize=False)
        return path

    def _prune_tmp(self, *, keep: int = 64):
        files = sorted(self.tmp_dir.glob("walk_*.gif"), key=_mtime)
        for p in files[:-keep]:
            p.unlink(missing_ok=True)

    @staticmethod
    def _strip(frames, *, gap: int = 4) -> np.ndarray:
        """Frames stacked top to bottom, separated by thin grey rules."""
        h, w = frames[0].shape
        out = np.full((len(frames) * (h + gap) - gap, w), 200, dtype=np.uint8)
        for i, f in enumerate(frames):
            out[i * (h + gap): i * (h + gap) + h] = f
        return out

    # -- diagnostics
    def loss_plot(self, *, runs) -> np.ndarray:
        """D and G losses (and D's reading of G's samples when logged) vs epoch, a line per run."""
        series = {r: [x for x in read_jsonl(self.registry.run(r).path / "metrics.jsonl") if "loss_d" in x]
                  for r in dict.fromkeys(runs)}
        panels = [("loss_d", "D loss"), ("loss_g", "G loss")]
        if any("aux_acc_fake" in x for rows in series.values() for x in rows):
            panels.append(("aux_acc_fake", "D reads G's samples as the asked class"))
        return _plot(series, panels, title="Training losses · 학습 손실 (epoch means)")

    def quality_plot(self, *, runs) -> np.ndarray:
        """Readability and diversity vs epoch (evaluation.jsonl), a line per run."""
        series = {r: sorted(evaluations(self.registry.run(r).path).values(), key=lambda x: x["epoch"])
                  for r in dict.fromkeys(runs)}
        return _plot(series, [("readability", "readability (classifier top-1)"), ("diversity", "diversity")],
                     title="Readability & diversity · 가독성과 다양성", percent=("readability",))

    def confusions(self, *, run, epoch, top: int = 15) -> Confusions:
        """The checkpoint's most confused classes (asked -> read as) from its evaluation record."""
        info = self.registry.epoch(run, epoch)
        rec = evaluations(self.registry.run(run).path).get(info.epoch)
        header = ("asked · 요청", "read as · 인식", "share · 비율")
        if rec is None:
            return Confusions(header=header, rows=(), note=f"Epoch {info.epoch} of '{info.run}' has no evaluation "
                              "record yet (evaluation.jsonl). · 평가 기록이 없습니다.")
        rows = _confusion_rows(rec)[:top]
        failing = _failing(rec)
        parts = [f"**{info.run}, {info.label}**"]
        if _number(rec.get("diversity")) is not None:
            parts.append(f"diversity {rec['diversity']:.3f}")
        if failing is not None:
            parts.append(f"{len(failing)} failing classes" + (": " + " ".join(map(str, failing[:40])) if failing else ""))
        if not rows:
            parts.append("no confusions recorded")
        return Confusions(header=header, rows=tuple(rows), note=" · ".join(parts))


def _mtime(p: Path) -> int:
    try:
        return p.stat().st_mtime_ns
    except OSError:
        return 0


def _first(d: dict, *names):
    for n in names:
        if n in d:
            return d[n]
    return None


def _fmt_share(v) -> str:
    """0.125 -> '12.5%' (a rate), 7 -> '7' (a count)."""
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    v = _number(v)
    if v is None:
        return ""
    return f"{v:.1%}" if 0 <= v <= 1 else f"{v:.3g}"


def _confusion_rows(rec: dict) -> list[tuple]:
    """rekogan.evaluation's [{'intended': '가', 'read': '차', 'count': 3}] (count of `seeds` draws); also
    accepts other spellings ('true'/'pred'/'rate', ...) and [['가', '차', x], ...] under 'confusions'."""
    items = _first(rec, "top_confusions", "confusions", "most_confused", "confused")
    if not isinstance(items, list):
        return []
    rows = []
    for it in items:
        if isinstance(it, dict):
            a = _first(it, "intended", "asked", "true", "target", "class", "label", "expected", "syllable")
            b = _first(it, "read", "read_as", "pred", "predicted", "prediction", "as", "confused_with")
            v = _first(it, "rate", "share", "fraction", "frac", "count", "n", "prob")
            if isinstance(v, int) and isinstance(rec.get("seeds"), int) and rec["seeds"] > 0:
                v = f"{v} of {rec['seeds']} draws"
        elif isinstance(it, (list, tuple)) and len(it) >= 2:
            a, b = it[0], it[1]
            v = it[2] if len(it) > 2 else None
        else:
            continue
        if a is None or b is None:
            continue
        rows.append((str(a), str(b), v if isinstance(v, str) else _fmt_share(v)))
    return rows


def _failing(rec: dict) -> list | None:
    v = _first(rec, "failing_classes", "failing", "failed_classes")
    return v if isinstance(v, list) else None


def _plot(series: dict[str, list[dict]], panels: list[tuple[str, str]], *, title: str,
          percent: tuple[str, ...] = ()) -> np.ndarray:
    """A row of line plots (one per key), one line per run, as an (H, W, 3) uint8 image. Thread-safe
    (matplotlib's object API, no pyplot)."""
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
                   if isinstance(r.get("epoch"), int) and _number(r.get(key)) is not None]
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
    fig.suptitle(title, fontsize=11, fontproperties=_mpl_font())
    fig.tight_layout()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


@lru_cache(maxsize=1)
def _mpl_font():
    """A font with Hangul for matplotlib titles (None: matplotlib's default)."""
    from matplotlib.font_manager import FontProperties
    path = _font_path("glyph")
    return FontProperties(fname=path) if path else None
