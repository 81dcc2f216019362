"""A writer as a value a person keeps: a short text code, and a small file around it.

The code: "rkw1." + base64url (no padding) of zlib(payload), payload =
  b"RKW" | version (1 byte) | flags (1 byte: bit 0 = a stroke weight follows) |
  z size (uint16 LE) | layers L (1 byte) | L x Z fp16 LE latents | [fp16 LE stroke weight]
  version 2 adds the adapter (adapter.py) after that: count (1 byte), then per tensor
  name length (1 byte) | name (ASCII) | ndim (1 byte) | dims (uint16 LE each) | fp16 LE values.
  version 3 names the generator the writer belongs to: after the latents and weight, tag length
  (1 byte) | tag (ASCII), then version 2's adapter part (count 0 when there is none). Only writers
  fitted on a hand run get it (a generator whose checkpoint carries `writer_tag`, written by
  scripts/ship_writer_run.py: "RUN@8 hex digits of its weights"): that generator was fine-tuned
  with a style encoder, so its writers mean something else to any other generator.
A writer without an adapter (nor a tag) is still written as version 1, so every code made before the
adapter existed, and every new code of a latent-only writer, is the same text; the prefix stays
"rkw1." (the code family), so every box that takes a code takes all three.
zlib's Adler-32 catches a mistyped or truncated code. Decoding gives float32 tensors holding the
very fp16 values that were fitted and drawn (fit.py rounds before drawing), so the same code
gives the same pixels as the glyphs shown after fitting.

The files:
  writer.safetensors  tensors 'latents' (L, Z), optional 'weight' (1,), 'adapter.NAME' (fp16), and
                      metadata {"format": "rekogan-writer-2", "checkpoint", "run", "epoch",
                      "syllables", "losses" (JSON), "fit" (JSON), and "generator" (the tag) for a
                      hand run's writer}: at most MAX_SAFETENSORS_BYTES
  writer.json         (before the adapter) {"format": "rekogan-writer-1", "code", ...}: still read
Only the tensors (or the code) are needed to draw; the rest says where it came from.
`writer_latent` accepts a code, either file or a Writer, and checks it against the generator it
will draw with (z size, layers, the adapter's shapes, and a tagged writer's generator: a writer of a
hand run is refused by every other generator with a message naming the run to select; an untagged
writer is drawn by any run that fits it, as before).
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
FORMAT_ST = "rekogan-writer-2"
MAX_FILE_BYTES = 1 << 20
MAX_SAFETENSORS_BYTES = 256 * 1024
MAX_ADAPTER_VALUES = 64 * 1024          # fp16: 128 KB, half the file's budget
MAX_TAG_CHARS = 64
_HEAD = struct.Struct("<3sBBHB")


def check_tag(tag) -> str:
    """A generator tag ('' or printable ASCII, at most MAX_TAG_CHARS, no spaces) or WriterError."""
    tag = "" if tag is None else tag
    if not isinstance(tag, str) or len(tag) > MAX_TAG_CHARS or not all(33 <= ord(c) < 127 for c in tag):
        raise WriterError(f"not a generator tag: {str(tag)[:MAX_TAG_CHARS + 1]!r}")
    return tag


def tag_run(tag: str) -> str:
    """'hangul-hand@bc47884a' -> 'hangul-hand' (the run a person selects)."""
    return tag.split("@", 1)[0]


def encode(latents: torch.Tensor, weight: float | None = None, adapter: dict | None = None, *,
           generator: str = "") -> str:
    """(L, Z) latents (+ a stroke weight, + an adapter, + the tag of the hand run it belongs to) ->
    the writer code. Values are stored as fp16."""
    lat = latents.detach().cpu().float()
    assert lat.ndim == 2 and 1 <= lat.shape[0] <= 255 and 1 <= lat.shape[1] <= 65535, f"latents must be (L, Z), got {tuple(lat.shape)}"
    tag = check_tag(generator)
    version = 3 if tag else 2 if adapter else 1
    body = _HEAD.pack(b"RKW", version, int(weight is not None), lat.shape[1], lat.shape[0])
    body += lat.numpy().astype("<f2").tobytes()
    if weight is not None:
        body += np.array([weight], "<f2").tobytes()
    if tag:
        body += bytes([len(tag)]) + tag.encode("ascii")
    if tag and not adapter:
        body += bytes([0])                      # version 3: the adapter part is always there
    if adapter:
        assert len(adapter) <= 255
        body += bytes([len(adapter)])
        for name, t in sorted(adapter.items()):
            a = t.detach().cpu().float().numpy()
            raw = name.encode("ascii")
            assert len(raw) <= 255 and a.ndim <= 4 and all(d <= 65535 for d in a.shape)
            body += bytes([len(raw)]) + raw + bytes([a.ndim]) + np.array(a.shape, "<u2").tobytes() + a.astype("<f2").tobytes()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(body, 9)).decode("ascii").rstrip("=")


def _read_adapter(body: bytes, at: int) -> dict:
    """The adapter part of a version-2/3 payload from offset `at`; WriterError when it is damaged."""
    damaged = WriterError("this writer code is damaged (its adapter part does not add up)")
    if at >= len(body):
        raise damaged
    n, at = body[at], at + 1
    out = {}
    total = 0
    for _ in range(n):
        if at >= len(body):
            raise damaged
        ln = body[at]
        name = body[at + 1:at + 1 + ln]
        at += 1 + ln
        if len(name) != ln or at >= len(body) or not name.isascii():
            raise damaged
        nd = body[at]
        dims = np.frombuffer(body[at + 1:at + 1 + 2 * nd], "<u2")
        at += 1 + 2 * nd
        if len(dims) != nd or nd > 4:
            raise damaged
        count = int(np.prod(dims)) if nd else 1
        total += count
        if total > MAX_ADAPTER_VALUES or at + 2 * count > len(body):
            raise damaged
        vals = np.frombuffer(body, "<f2", count=count, offset=at).astype(np.float32).reshape(tuple(int(d) for d in dims))
        at += 2 * count
        if not np.isfinite(vals).all():
            raise WriterError("this writer code holds non-finite numbers")
        out[name.decode("ascii")] = torch.from_numpy(vals.copy())
    if at != len(body):
        raise damaged
    return out


def decode(code: str) -> tuple[torch.Tensor, float | None]:
    """The writer code -> ((L, Z) float32 latents, stroke weight or None); WriterError when damaged.
    (decode_full also gives the adapter.)"""
    lat, weight, _ = decode_full(code)
    return lat, weight


def decode_full(code: str) -> tuple[torch.Tensor, float | None, dict]:
    """The writer code -> ((L, Z) latents, stroke weight or None, adapter tensors ({} without one)).
    (code_generator gives the generator tag.)"""
    return _decode(code)[:3]


def code_generator(code: str) -> str:
    """The tag of the hand run a writer code belongs to ('' for a writer any fitting run draws)."""
    return _decode(code)[3]


def _decode(code: str) -> tuple[torch.Tensor, float | None, dict, str]:
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
    if magic != b"RKW" or version not in (1, 2, 3):
        raise WriterError(f"this writer code has an unknown format (version {version}); "
                          "it may come from a newer ReKOGAN")
    n = layers * z_dim
    want = _HEAD.size + 2 * n + (2 if flags & 1 else 0)
    if (len(body) != want if version == 1 else len(body) <= want) or layers == 0 or z_dim == 0:
        raise WriterError("this writer code is damaged (its length does not match its header)")
    lat = np.frombuffer(body, "<f2", count=n, offset=_HEAD.size).astype(np.float32).reshape(layers, z_dim)
    weight = float(np.frombuffer(body, "<f2", count=1, offset=_HEAD.size + 2 * n)[0]) if flags & 1 else None
    if not np.isfinite(lat).all() or (weight is not None and not np.isfinite(weight)):
        raise WriterError("this writer code holds non-finite numbers")
    tag = ""
    if version == 3:
        n_tag = body[want] if want < len(body) else 0
        raw_tag = body[want + 1:want + 1 + n_tag]
        if n_tag == 0 or len(raw_tag) != n_tag or not all(33 <= b < 127 for b in raw_tag):
            raise WriterError("this writer code is damaged (its generator tag does not add up)")
        tag, want = raw_tag.decode("ascii"), want + 1 + n_tag
    adapter = _read_adapter(body, want) if version >= 2 else {}
    return torch.from_numpy(lat.copy()), weight, adapter, tag


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

    @property
    def adapter(self) -> dict:
        return decode_full(self.code)[2]

    @property
    def generator(self) -> str:
        """The tag of the hand run this writer belongs to ('' when any fitting run draws it)."""
        return code_generator(self.code)

    def to_json(self) -> dict:
        lat, w = decode(self.code)
        out = {"format": FORMAT, "code": self.code, "checkpoint": self.checkpoint, "run": self.run,
               "epoch": self.epoch, "z_dim": lat.shape[1], "layers": lat.shape[0], "weight": w,
               "syllables": self.syllables, "losses": self.losses, "fit": self.fit}
        if self.generator:
            out["generator"] = self.generator
        return out

    def save(self, path) -> Path:
        """Write writer.safetensors (a path ending .safetensors) or the older writer.json, atomically."""
        from ..records import atomic_path
        path = Path(path)
        with atomic_path(path) as tmp:
            if path.suffix == ".safetensors":
                Path(tmp).write_bytes(self.to_safetensors())
            else:
                Path(tmp).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path

    def to_safetensors(self) -> bytes:
        from safetensors.torch import save
        lat, w, adapter = decode_full(self.code)
        tensors = {"latents": lat.half().contiguous()}
        if w is not None:
            tensors["weight"] = torch.tensor([w]).half()
        tensors.update({f"adapter.{k}": v.half().contiguous() for k, v in adapter.items()})
        meta = {"format": FORMAT_ST, "checkpoint": self.checkpoint, "run": self.run,
                "epoch": "" if self.epoch is None else str(self.epoch), "syllables": self.syllables,
                "losses": json.dumps(self.losses), "fit": json.dumps(self.fit)}
        if self.generator:
            meta["generator"] = self.generator
        data = save(tensors, metadata=meta)
        assert len(data) <= MAX_SAFETENSORS_BYTES, f"a writer file of {len(data):,} bytes"
        return data


def _from_safetensors(data: bytes, name: str) -> "Writer":
    """writer.safetensors bytes -> a Writer; WriterError (one line) for a damaged or foreign file."""
    from safetensors import SafetensorError
    from safetensors.torch import load
    try:
        head = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
        header = json.loads(data[8:8 + head]) if 0 < head < len(data) else None
        meta = header.get("__metadata__") if isinstance(header, dict) else None
        tensors = load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError, RuntimeError, OverflowError):
        raise WriterError(f"{name} is damaged: not a readable safetensors file") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_ST:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise WriterError(f"{name} is not a writer file (format {found!r}, expected {FORMAT_ST!r})")
    lat = tensors.get("latents")
    if lat is None or lat.ndim != 2 or not (1 <= lat.shape[0] <= 255 and 1 <= lat.shape[1] <= 65535) \
            or lat.dtype != torch.float16:
        raise WriterError(f"{name} is damaged: no (layers, z) fp16 'latents' tensor")
    extra = set(tensors) - {"latents", "weight"} - {k for k in tensors if k.startswith("adapter.")}
    if extra:
        raise WriterError(f"{name} is not a writer file (unexpected tensors {sorted(extra)[:3]})")
    w = tensors.get("weight")
    if w is not None and (w.numel() != 1 or w.dtype != torch.float16):
        raise WriterError(f"{name} is damaged: 'weight' must be one fp16 number")
    adapter = {k[len("adapter."):]: v.float() for k, v in tensors.items() if k.startswith("adapter.")}
    # what the code can hold (encode's limits): refused here with a message, not asserted there
    if len(adapter) > 255 or any(not k.isascii() or len(k) > 255 or v.ndim > 4 or any(d > 65535 for d in v.shape)
                                 for k, v in adapter.items()):
        raise WriterError(f"{name} is damaged: its adapter tensors are not a writer's")
    if sum(v.numel() for v in adapter.values()) > MAX_ADAPTER_VALUES or any(v.dtype != torch.float16 for k, v in tensors.items()):
        raise WriterError(f"{name} is damaged: its tensors are not a writer's (fp16, at most {MAX_ADAPTER_VALUES:,} adapter values)")
    vals = [lat.float(), *adapter.values()] + ([w.float()] if w is not None else [])
    if not all(bool(torch.isfinite(v).all()) for v in vals):
        raise WriterError(f"{name} holds non-finite numbers")
    try:
        epoch = int(meta["epoch"]) if meta.get("epoch") else None
        losses, fit = json.loads(meta.get("losses") or "{}"), json.loads(meta.get("fit") or "{}")
        tag = check_tag(meta.get("generator", ""))
    except (ValueError, WriterError):
        raise WriterError(f"{name} is damaged: its metadata is not valid") from None
    code = encode(lat.float(), None if w is None else float(w.float()), adapter, generator=tag)
    return Writer(code=code, syllables=str(meta.get("syllables", "")), checkpoint=str(meta.get("checkpoint", "")),
                  run=str(meta.get("run", "")), epoch=epoch, losses=losses if isinstance(losses, dict) else {},
                  fit=fit if isinstance(fit, dict) else {})


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
        raw = path.read_bytes()
        if path.suffix.lower() == ".safetensors" or not raw.lstrip()[:1] == b"{":
            if len(raw) > MAX_SAFETENSORS_BYTES:
                raise WriterError(f"{path.name} is too large for a writer file ({len(raw):,} bytes)")
            return _from_safetensors(raw, path.name)
        try:
            data = json.loads(raw.decode("utf-8"))
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


def load_writer_bytes(data: bytes, *, name: str = "the writer file") -> Writer:
    """An uploaded writer file's bytes (writer.safetensors, or the older writer.json) -> a Writer."""
    if len(data) > MAX_FILE_BYTES:
        raise WriterError(f"{name} is too large for a writer file ({len(data):,} bytes)")
    if data.lstrip()[:1] == b"{":
        try:
            return load_writer(json.loads(data.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WriterError(f"{name} is not a writer file (not JSON: {e})") from None
    return _from_safetensors(data, name)


def check_generator(tag: str, generator: torch.nn.Module) -> None:
    """A tagged writer is drawn only by the generator it was fitted on (its checkpoint's `writer_tag`,
    rekogan.checkpoints.load_generator's `generator.writer_tag`); WriterError naming the run otherwise.
    An untagged writer (every code before hand runs, and any writer of a plain run) passes, as before."""
    if not tag:
        return
    mine = getattr(generator, "writer_tag", "") or ""
    if tag == mine:
        return
    run = tag_run(tag)
    if mine and tag_run(mine) == run:
        raise WriterError(f"this writer was fitted on another version of run '{run}' (generator {tag}; this one is "
                          f"{mine}): fit it again on this run")
    raise WriterError(f"this writer was fitted on run '{run}', whose generator was tuned for writers: "
                      f"select run '{run}' to draw it")


def writer_latent(code_or_file, *, generator: torch.nn.Module) -> WriterLatent:
    """A writer code, a writer.safetensors / writer.json path (or a Writer) -> what generate/render_tokens
    need, checked against the generator it will draw with."""
    lat, weight, adapter, tag = _decode(load_writer(code_or_file).code)
    check_generator(tag, generator)
    z_dim = generator.cfg.z_dim
    if lat.shape[1] != z_dim:
        raise WriterError(f"this writer was fitted on a run with a {lat.shape[1]}-d latent; this run's is {z_dim}-d")
    if lat.shape[0] not in (1, n_layers(generator)):
        raise WriterError(f"this writer has {lat.shape[0]} latent layers; this run's generator has {n_layers(generator)}")
    if weight is not None and not getattr(generator.cfg, "weight_cond", False):
        weight = None                   # a weight fitted on a run that has the input; this one draws without it
    if adapter:
        from .adapter import check_adapter
        try:
            check_adapter(adapter, generator)
        except ValueError as e:
            raise WriterError(f"this writer's adapter does not fit this run: {e}") from None
        if lat.shape[0] == 1:                   # a z-only writer with an adapter: the same z at every layer
            lat = lat.expand(n_layers(generator), -1).clone()
    if lat.shape[0] == 1:
        return WriterLatent(generator=generator, z=lat[0], weight=weight)
    p = next(iter(generator.parameters()))
    wg = WriterGenerator(generator, lat, adapter).to(p.device)
    return WriterLatent(generator=wg, z=wg.centre.cpu().clone(), weight=weight)
