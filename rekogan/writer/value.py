"""A writer as a value a person keeps: a short text code, and a small JSON file around it.

The code: "rkw1." + base64url (no padding) of zlib(payload), payload =
  b"RKW" | version (1 byte) | flags (1 byte: bit 0 = a stroke weight follows) |
  z size (uint16 LE) | layers L (1 byte) | L x Z fp16 LE latents | [fp16 LE stroke weight]
zlib's Adler-32 catches a mistyped or truncated code. Decoding gives float32 tensors holding the
very fp16 values that were fitted and drawn (fit.py rounds before drawing), so the same code
gives the same pixels as the glyphs shown after fitting.

The file (writer.json): {"format": "rekogan-writer-1", "code", "checkpoint", "run", "epoch",
"z_dim", "layers", "weight", "syllables", "losses", "fit"}. Only the code is needed to draw; the
rest says where it came from. `writer_latent` accepts either and checks the code against the
generator it will draw with (z size, layers).
"""
from __future__ import annotations

import base64
import binascii
import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import WriterError
from .latent import WriterGenerator, n_layers

PREFIX = "rkw1."
FORMAT = "rekogan-writer-1"
MAX_FILE_BYTES = 1 << 20
_HEAD = struct.Struct("<3sBBHB")


def encode(latents: torch.Tensor, weight: float | None = None) -> str:
    """(L, Z) latents (+ a stroke weight) -> the writer code. Values are stored as fp16."""
    lat = latents.detach().cpu().float()
    assert lat.ndim == 2 and 1 <= lat.shape[0] <= 255 and 1 <= lat.shape[1] <= 65535, f"latents must be (L, Z), got {tuple(lat.shape)}"
    body = _HEAD.pack(b"RKW", 1, int(weight is not None), lat.shape[1], lat.shape[0])
    body += lat.numpy().astype("<f2").tobytes()
    if weight is not None:
        body += np.array([weight], "<f2").tobytes()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(body, 9)).decode("ascii").rstrip("=")


def decode(code: str) -> tuple[torch.Tensor, float | None]:
    """The writer code -> ((L, Z) float32 latents, stroke weight or None); WriterError when damaged."""
    text = "".join(str(code).split())               # a code pasted across lines
    if not text.startswith(PREFIX):
        raise WriterError(f"not a writer code: it should start with {PREFIX!r} (got {text[:12]!r})")
    try:
        raw = base64.urlsafe_b64decode(text[len(PREFIX):] + "=" * (-len(text[len(PREFIX):]) % 4))
        body = zlib.decompress(raw)
    except (binascii.Error, ValueError, zlib.error):
        raise WriterError("this writer code is damaged (mistyped or cut short): copy it again in full") from None
    if len(body) < _HEAD.size:
        raise WriterError("this writer code is damaged (too short)")
    magic, version, flags, z_dim, layers = _HEAD.unpack_from(body)
    if magic != b"RKW" or version != 1:
        raise WriterError(f"this writer code has an unknown format (version {version})")
    n = layers * z_dim
    want = _HEAD.size + 2 * n + (2 if flags & 1 else 0)
    if len(body) != want or layers == 0 or z_dim == 0:
        raise WriterError("this writer code is damaged (its length does not match its header)")
    lat = np.frombuffer(body, "<f2", count=n, offset=_HEAD.size).astype(np.float32).reshape(layers, z_dim)
    weight = float(np.frombuffer(body, "<f2", count=1, offset=_HEAD.size + 2 * n)[0]) if flags & 1 else None
    if not np.isfinite(lat).all() or (weight is not None and not np.isfinite(weight)):
        raise WriterError("this writer code holds non-finite numbers")
    return torch.from_numpy(lat.copy()), weight


@dataclass
class Writer:
    """A fitted writer and where it came from. `code` alone is enough to draw with it."""
    code: str
    syllables: str = ""                 # what it was fitted from, in order
    checkpoint: str = ""
    run: str = ""
    epoch: int | None = None
    losses: dict = field(default_factory=dict)
    fit: dict = field(default_factory=dict)

    @property
    def latents(self) -> torch.Tensor:
        return decode(self.code)[0]

    @property
    def weight(self) -> float | None:
        return decode(self.code)[1]

    def to_json(self) -> dict:
        lat, w = decode(self.code)
        return {"format": FORMAT, "code": self.code, "checkpoint": self.checkpoint, "run": self.run,
                "epoch": self.epoch, "z_dim": lat.shape[1], "layers": lat.shape[0], "weight": w,
                "syllables": self.syllables, "losses": self.losses, "fit": self.fit}

    def save(self, path) -> Path:
        from ..records import atomic_path
        path = Path(path)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path


def load_writer(source) -> Writer:
    """A Writer from a code (str starting 'rkw1.'), a writer.json path, or its parsed dict."""
    if isinstance(source, Writer):
        return source
    if isinstance(source, dict):
        data = source
    else:
        text = str(source).strip()
        if text.startswith(PREFIX):
            decode(text)                       # refuse a damaged code here, not at drawing time
            return Writer(code="".join(text.split()))
        path = Path(text)
        if not path.is_file():
            raise WriterError(f"not a writer code (they start with {PREFIX!r}) nor a writer file: {text[:60]!r}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise WriterError(f"{path} is too large for a writer file ({path.stat().st_size:,} bytes)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WriterError(f"{path} is not a writer file (not JSON: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("code"), str):
        raise WriterError(f"not a writer file: expected format {FORMAT!r} with a 'code'")
    decode(data["code"])
    return Writer(code=data["code"], syllables=str(data.get("syllables", "")), checkpoint=str(data.get("checkpoint", "")),
                  run=str(data.get("run", "")), epoch=data.get("epoch"), losses=dict(data.get("losses") or {}),
                  fit=dict(data.get("fit") or {}))


@dataclass
class WriterLatent:
    """What the sampling path needs to draw with a writer instead of a seed:
    sampling.render_tokens(wl.generator, tokens, seed=0, z=wl.z, weight=wl.weight) (and the same
    three in sampling.generate). For a z-only writer `generator` is the run's own generator."""
    generator: torch.nn.Module
    z: torch.Tensor                     # (Z,)
    weight: float | None


def writer_latent(code_or_file, *, generator: torch.nn.Module) -> WriterLatent:
    """A writer code, a writer.json path (or a Writer) -> what generate/render_tokens need, checked
    against the generator it will draw with."""
    lat, weight = decode(load_writer(code_or_file).code)
    z_dim = generator.cfg.z_dim
    if lat.shape[1] != z_dim:
        raise WriterError(f"this writer was fitted on a run with a {lat.shape[1]}-d latent; this run's is {z_dim}-d")
    if lat.shape[0] not in (1, n_layers(generator)):
        raise WriterError(f"this writer has {lat.shape[0]} latent layers; this run's generator has {n_layers(generator)}")
    if weight is not None and not getattr(generator.cfg, "weight_cond", False):
        weight = None                   # a weight fitted on a run that has the input; this one draws without it
    if lat.shape[0] == 1:
        return WriterLatent(generator=generator, z=lat[0], weight=weight)
    p = next(iter(generator.parameters()))
    wg = WriterGenerator(generator, lat).to(p.device)
    return WriterLatent(generator=wg, z=wg.centre.cpu().clone(), weight=weight)
