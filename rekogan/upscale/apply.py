"""Using an upscaler: its file (save / load), and `GlyphUpscaler.upscale` for any caller.

    from rekogan.upscale import load
    up = load()                                   # checkpoints/upscaler/upscaler.safetensors
    big = up.upscale(glyphs, size=256)            # (N, 64, 64) uint8 -> (N, 256, 256) uint8

Glyphs follow the project's ink convention (rekogan/conventions.py): uint8 white ink (255) on
black (0), a torch tensor or a numpy array (the answer is of the same kind). Size 64 returns a
copy, 128 and 256 are the network's two heads (its own 128 px head is closer to the truth than
its 256 px output reduced 2 x 2, and cheaper: `python -m rekogan upscaler test` measures both).
Batched, under torch.inference_mode, on the caller's torch threads; the model is fp32 on the CPU.

Two paths to the same pixels: `ink` / `logits` / `finish` (the network's pixel-shuffled logits, then
back_project at the output size: what `upscaler test` measures and training differentiates) and
`upscale`'s serving path at 256 px (_upscale_phases): the logits kept in sub-pixel phase layout,
(N, 64, 64, 16), as the head computes them before its pixel shuffle, so the prior's enlargement, the
back-projection's reduce and enlarge and the sharpness all run at 64 px (enlarge_phases,
back_project_phases), and the bytes are shuffled into place once at the end. The same uint8 glyphs
within 1 grey level (float rounding: 8 pixels in 11 million on 172 generated glyphs; 35 in 72 million
on 54 pages of the hangul and fixed runs at 256 px, natural 0 / 0.45 / 1; tests/test_upscale_apply_fast.py);
a 20-syllable natural line at 256 px took ~1/4 less CPU end to end (scripts/bench_app.py --threads 1).

Size 128, the app's default, has a faster network of its own when the folder holds one: X2_FILE
beside the upscaler file (a FastX2, model.py, distilled from this network's finished 128 px answer by
scripts/distill_upscaler.py). `load` attaches it as `.x2`, and `upscale(size=128)` / `ink(size=128)`
at the file's sharpness use it; an explicit sharpness, size 256, and $REKOGAN_UPSCALER_X2=0 use the
x4 network. Its file says sharpness 1 and no back-projection: both are learnt into it.

Sharpness: the file's `sharpness` (metadata, default 1) multiplies the network's logits before
the sigmoid. The network is trained to match the truth's ink, so where it is unsure (a generated
glyph's fuzzy edge) it answers grey; a sharpness above 1 turns that grey into ink or paper. The
mid-grey contour, and so the ink IoU, does not move; `upscaler test` measures the grey share.

Keeping the glyph (one-sided back-projection): the file's `keep_steps` (metadata, default 0) rounds of
    logits += PRIOR_GAIN * keep_gain / sharpness * bilinear(max(0, input - reduce(sigmoid(sharpness * logits))))
pull the output, reduced back to 64 px, up to the input where it has less ink (Irani & Peleg's
iterative back-projection, one-sided): a faint stroke the network was about to drop comes back
as a thin crisp one, while what it removed with confidence (a speck, a smudge: very negative
logits) stays removed, and ink it added is left alone (the two-sided version put grey back into
generated glyphs' fuzzy halos and undid cleaning that the readers liked; `upscaler test` measured both).
Three later keys, whose defaults keep that behaviour (files written before them are unchanged):
`keep_down` (0..1) also takes away that share of the ink the output has in excess of the input (1: the
two-sided version), `keep_sharpness` (0: the file's sharpness) is the sharpness inside the rounds, so
the output may be sharper than the rounds that matched it, and `keep_peak` (0: off) matches against
the input divided by its own `keep_peak` quantile (at least PEAK_FLOOR): a glyph drawn faint overall
is matched as a dark one, so a removal round does not thin its strokes to its faint level.
`keep_exact` (0..1, default 0: off) is the issue's own rule applied after the sigmoid: that share of what
the finished output, reduced back, still differs from the input (in ink, both ways) is added to each
output pixel of its block, clamped to [0, 1]; at 1 every glyph reduces back to its input exactly (where
nothing clamps). Why: on the fixed run's writers 4000..4031 nearly every glyph the upscaler lost was
read with a lead under 1 logit at 64 px, and its back-projection residual did not single the losses out
(a guard on it could not choose them), but crisp edges move every reading a little (mean |change of
lead| 0.23 logits against 0.05 for bicubic reduced back); a share of the residual narrows that for every
glyph, at the price of a little grey (small shares stay under the grey bounds; 2026-12-03).

A file holds the weights in fp16 (safetensors, never pickles) with the model config and the
training figures as JSON metadata; it is written atomically (rekogan.checkpoints.save_tensors).
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoints import CheckpointError, read_tensors, save_tensors
from .model import PRIOR_GAIN, FastX2, FastX2Config, Upscaler, UpscalerConfig

FORMAT_U = "rekogan-upscaler-1"
UPSCALER_FILE = "checkpoints/upscaler/upscaler.safetensors"   # the shipped upscaler, from the repository root
X2_FILE = "upscaler128.safetensors"   # beside an upscaler file: its fast 128 px network, used for size 128 when present
ARCHS = {"unet": (Upscaler, UpscalerConfig), "fast_x2": (FastX2, FastX2Config)}
SIZES = (64, 128, 256)
MAX_KEEP_STEPS = 8             # back-projection rounds a file may ask for
PEAK_FLOOR = 0.5               # keep_peak never brightens a glyph more than 2x (a near-empty one stays near empty)
BATCH = 64                     # glyphs per forward pass: bounded memory (~0.2 GB at 256 px)


def default_file() -> Path:
    """UPSCALER_FILE under the working folder, else next to the package (like the registry's root)."""
    here = Path(UPSCALER_FILE)
    return here if here.exists() else Path(__file__).resolve().parents[2] / UPSCALER_FILE


def save_upscaler(path, model: Upscaler | FastX2, *, epoch: int, step: int, metrics: dict | None = None,
                  config: dict | None = None, sharpness: float = 1.0, keep_steps: int = 0, keep_gain: float = 1.0,
                  keep_down: float = 0.0, keep_sharpness: float = 0.0, keep_peak: float = 0.0,
                  keep_exact: float = 0.0) -> None:
    """fp16 weights + metadata (format, architecture, model config, epoch, step, figures, training
    config, sharpness, back-projection), atomically."""
    sd = {k: v.detach().half().cpu() for k, v in model.state_dict().items()}
    arch = next(name for name, (cls, _) in ARCHS.items() if type(model) is cls)
    meta = {"format": FORMAT_U, "arch": arch, "model": json.dumps(model.cfg.to_dict()), "epoch": str(epoch),
            "step": str(step), "metrics": json.dumps(metrics or {}), "config": json.dumps(config or {}, ensure_ascii=False),
            "sharpness": repr(float(sharpness)), "keep_steps": str(int(keep_steps)), "keep_gain": repr(float(keep_gain)),
            "keep_down": repr(float(keep_down)), "keep_sharpness": repr(float(keep_sharpness)),
            "keep_peak": repr(float(keep_peak)), "keep_exact": repr(float(keep_exact))}
    save_tensors(path, sd, meta)


def back_project(logits: torch.Tensor, ink: torch.Tensor, *, sharpness: float, steps: int, gain: float,
                 down: float = 0.0, peak: float = 0.0) -> torch.Tensor:
    """`steps` rounds of iterative back-projection on (N, 1, S, S) logits of the (N, 1, 64, 64)
    input ink: each adds the enlarged ink that the sharpened output, reduced to 64 px, lacks against
    the input, and takes away `down` times what it has in excess (0: one-sided). peak > 0: the input
    is first divided by its own `peak` quantile (at least PEAK_FLOOR). Returns new logits (sharpness
    not applied)."""
    if steps == 0:
        return logits
    if peak:
        ink = _peak_ink(ink, peak)
    factor = logits.shape[-1] // ink.shape[-1]
    logits = logits.clone()                       # the caller's logits stay as they were; in place after (speed)
    for _ in range(steps):
        small = F.avg_pool2d(torch.sigmoid(sharpness * logits), factor)
        err = _rule(ink, small, sharpness=sharpness, gain=gain, down=down)          # at 64 px: cheap
        logits.add_(F.interpolate(err, scale_factor=factor, mode="bilinear", align_corners=False))
    return logits


def _rule(ink: torch.Tensor, small: torch.Tensor, *, sharpness: float, gain: float, down: float) -> torch.Tensor:
    """One round's correction at the input's size: what the output, reduced, lacks against the
    input (and `down` times what it has in excess), as logits (PRIOR_GAIN * gain / sharpness)."""
    err = ink - small
    err = err.clamp_(min=0) if down == 0 else torch.where(err > 0, err, err * down)
    return err.mul_(PRIOR_GAIN * gain / sharpness)


def _peak_ink(ink: torch.Tensor, peak: float) -> torch.Tensor:
    """The input divided by its own `peak` quantile (at least PEAK_FLOOR), capped at 1."""
    top = ink.flatten(1).quantile(peak, dim=1).clamp_(min=PEAK_FLOOR)[:, None, None, None]
    return (ink / top).clamp_(max=1)


@functools.lru_cache(maxsize=4)
def _phase_kernel(factor: int) -> torch.Tensor:
    """(9, factor^2): bilinear x factor (align_corners=False) as a 3 x 3 convolution of the
    edge-replicated input with one output per sub-pixel phase (r, c), at column r * factor + c
    (F.pixel_shuffle's order); taps row-major: sub-pixel r of row i reads rows i - 1, i, i + 1 with
    the weights below, and likewise for columns."""
    rows = []
    for r in range(factor):
        off = (r + 0.5) / factor - 0.5                    # where the sub-pixel samples, from its row's centre
        rows.append([-off, 1 + off, 0.0] if off < 0 else [0.0, 1 - off, off])
    w = torch.tensor(rows, dtype=torch.float32)
    return torch.einsum("ra,cb->abrc", w, w).reshape(9, factor * factor).contiguous()


@functools.lru_cache(maxsize=4)
def _phase_mean(factor: int) -> torch.Tensor:
    """(factor^2, 1): the mean over the phases as a matrix product (faster than a reduction over a
    last dimension this short)."""
    return torch.full((factor * factor, 1), 1.0 / (factor * factor))


def enlarge_phases(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, 1, H, W) -> (N, H, W, factor^2): F.interpolate(x, scale_factor=factor, mode="bilinear",
    align_corners=False) in sub-pixel phase layout: [n, i, j, r * factor + c] is output pixel
    (factor i + r, factor j + c) (F.pixel_shuffle of its permute(0, 3, 1, 2) is the enlargement), equal to
    it up to float rounding (~1e-7). A 3 x 3 convolution of the edge-replicated input done as one matrix
    product of its nine shifted copies (oneDNN's convolution with one input channel took as long as
    F.interpolate itself); phases last, as the network's channels_last head lays them out."""
    n, _, h, w = x.shape
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")[:, 0]
    taps = torch.stack([p[:, a:a + h, b:b + w] for a in range(3) for b in range(3)], 1)      # (N, 9, H, W)
    return torch.matmul(taps.view(n, 9, h * w).transpose(1, 2), _phase_kernel(factor)).view(n, h, w, -1)


def back_project_phases(sharp: torch.Tensor, ink: torch.Tensor, *, steps: int, gain: float, down: float = 0.0,
                        peak: float = 0.0) -> torch.Tensor:
    """back_project for serving, in place on sharpened logits (sharpness x logits, the sharpness of the
    rounds) in sub-pixel phase layout (N, 64, 64, f^2) (enlarge_phases'; the network's head before its
    pixel shuffle); returns `sharp`. The same rounds: the f x f average is the mean over the phases and
    the correction's bilinear enlargement is enlarge_phases, so every pass runs at 64 px, and the logits
    stay multiplied by the sharpness (no multiply a round). About half back_project's CPU at 256 px;
    the same output up to float rounding (tests/test_upscale_apply_fast.py: at most 1 grey level, on a
    few pixels in ten million). Not differentiable (in place): training calls back_project."""
    if steps == 0:
        return sharp
    if peak:
        ink = _peak_ink(ink, peak)
    n, h, w, phases = sharp.shape
    factor = math.isqrt(phases)
    for _ in range(steps):
        small = torch.matmul(torch.sigmoid(sharp), _phase_mean(factor)).view(n, 1, h, w)
        # sharpness x back_project's correction: PRIOR_GAIN * gain * err
        sharp.add_(enlarge_phases(_rule(ink, small, sharpness=1.0, gain=gain, down=down), factor))
    return sharp


def keep_exact_ink(out: torch.Tensor, ink: torch.Tensor, *, share: float) -> torch.Tensor:
    """(N, 1, S, S) output ink + `share` x (the (N, 1, 64, 64) input - the output reduced back), each
    64 px pixel's correction added to its whole f x f block, clamped to [0, 1] (the file key keep_exact).
    share 1: the output reduces back to the input exactly wherever nothing clamps."""
    factor = out.shape[-1] // ink.shape[-1]
    fix = (ink - F.avg_pool2d(out, factor)).mul_(share)
    return (out + fix.repeat_interleave(factor, -2).repeat_interleave(factor, -1)).clamp_(0, 1)


def keep_exact_phases(out: torch.Tensor, ink: torch.Tensor, *, share: float) -> torch.Tensor:
    """keep_exact_ink in place on output ink in sub-pixel phase layout (N, 64, 64, f^2): a block's
    pixels are its phases, so the correction is one number per 64 px pixel, broadcast over them."""
    n, h, w, phases = out.shape
    small = torch.matmul(out, _phase_mean(math.isqrt(phases)))                     # (N, 64, 64, 1)
    fix = ink.view(n, h, w, 1).sub(small).mul_(share)
    return out.add_(fix).clamp_(0, 1)


def _unshuffle_uint8(q: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, H, W, f^2) uint8 phases -> (N, f H, f W) pixels: F.pixel_shuffle of q.permute(0, 3, 1, 2), ~10x
    faster. Each pixel's f column phases of one row phase are adjacent bytes: read as one f-byte word
    (memory order, whatever the machine's byte order), whole words are permuted, not bytes."""
    n, h, w, _ = q.shape
    word = {2: torch.int16, 4: torch.int32}.get(factor)
    if word is None:
        return q.view(n, h, w, factor, factor).permute(0, 1, 3, 2, 4).reshape(n, factor * h, factor * w)
    return q.view(word).permute(0, 1, 3, 2).contiguous().view(torch.uint8).view(n, factor * h, factor * w)


def load_model(path) -> tuple[Upscaler | FastX2, dict]:
    """(the network in eval mode, fp32; its metadata) from an upscaler file; anything else is refused.
    The file's "arch" (default "unet": files written before there were two) names the network."""
    tensors, meta = read_tensors(path)             # refuses pickles and broken files
    if meta.get("format") != FORMAT_U:
        raise CheckpointError(f"{path} is not a ReKOGAN upscaler (format={meta.get('format')!r}, expected {FORMAT_U!r})")
    arch = meta.get("arch", "unet")
    if arch not in ARCHS:
        raise CheckpointError(f"{path} holds an upscaler of an unknown kind ({arch!r}; this version knows "
                              f"{', '.join(ARCHS)})")
    network, config_class = ARCHS[arch]
    try:
        cfg = config_class(**json.loads(meta["model"]))
        info = {"arch": arch, "model": cfg.to_dict(), "epoch": int(meta["epoch"]), "step": int(meta["step"]),
                "metrics": json.loads(meta.get("metrics", "{}")), "config": json.loads(meta.get("config", "{}")),
                "sharpness": float(meta.get("sharpness", "1.0")),
                "keep_steps": int(meta.get("keep_steps", "0")), "keep_gain": float(meta.get("keep_gain", "1.0")),
                "keep_down": float(meta.get("keep_down", "0")), "keep_sharpness": float(meta.get("keep_sharpness", "0")),
                "keep_peak": float(meta.get("keep_peak", "0")), "keep_exact": float(meta.get("keep_exact", "0"))}
        if not 0 < info["sharpness"] < 100:
            raise ValueError(f"sharpness {info['sharpness']} is outside (0, 100)")
        if not (0 <= info["keep_steps"] <= MAX_KEEP_STEPS and 0 <= info["keep_gain"] <= 4):
            raise ValueError(f"keep_steps {info['keep_steps']} / keep_gain {info['keep_gain']} outside "
                             f"0..{MAX_KEEP_STEPS} / [0, 4]")
        if not (0 <= info["keep_down"] <= 1 and 0 <= info["keep_sharpness"] < 100 and 0 <= info["keep_peak"] <= 1):
            raise ValueError(f"keep_down {info['keep_down']} / keep_sharpness {info['keep_sharpness']} / keep_peak "
                             f"{info['keep_peak']} outside [0, 1] / [0, 100) / [0, 1]")
        if not 0 <= info["keep_exact"] <= 1:
            raise ValueError(f"keep_exact {info['keep_exact']} is outside [0, 1]")
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path} has broken metadata ({e})") from None
    model = network(cfg)
    try:
        model.load_state_dict({k: v.float() for k, v in tensors.items()})
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not match the stored architecture: {e}") from None
    return model.to(memory_format=torch.channels_last).eval(), info


class GlyphUpscaler:
    """A loaded upscaler: `upscale(glyphs, size=...)` for whoever shows or exports glyphs."""

    def __init__(self, model: Upscaler | FastX2, info: dict, *, path: Path | None = None,
                 x2: "GlyphUpscaler | None" = None):
        self.model, self.info, self.path = model.eval(), info, path
        self.sizes = (64, 128) if isinstance(model, FastX2) else SIZES       # what this network draws
        # size 128 at the file's own sharpness: the fast x2 network beside the file, when there is one
        # (~4x less CPU than this network's 128 px answer; `upscaler test` measures both)
        assert x2 is None or x2.sizes == (64, 128), "x2 must be a fast 128 px network"
        self.x2 = x2
        self.sharpness = float(info.get("sharpness", 1.0))
        self.keep_steps, self.keep_gain = int(info.get("keep_steps", 0)), float(info.get("keep_gain", 1.0))
        self.keep_down, self.keep_peak = float(info.get("keep_down", 0.0)), float(info.get("keep_peak", 0.0))
        self.keep_sharpness = float(info.get("keep_sharpness", 0.0))          # 0: the output's sharpness
        self.keep_exact = float(info.get("keep_exact", 0.0))                  # 0: off (keep_exact_ink)
        # the network in bf16 where this CPU computes it natively (runtime.cpu_has_bf16; elsewhere bf16 is
        # emulated and slower): 20 glyphs to 256 px on 2 threads 52 -> 29 ms, at most 6 grey levels moved
        # on 0.04 % of pixels (docs/RESULTS.md); the back-projection and the sigmoid stay fp32.
        # $REKOGAN_UPSCALER_BF16=0 keeps it fp32 everywhere
        from ..runtime import cpu_has_bf16
        self.bf16 = cpu_has_bf16() and os.environ.get("REKOGAN_UPSCALER_BF16", "1") != "0"

    def _net(self, x: torch.Tensor, size: int) -> torch.Tensor:
        """The network's `size` head on (B, 1, 64, 64) ink -> fp32 logits (bf16 inside when self.bf16)."""
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.model(x.contiguous(memory_format=torch.channels_last), sizes=(size,))[size].float()

    def _phased(self, size: int, sharpness: float | None) -> bool:
        """Whether upscale(size, sharpness) takes the serving path (_upscale_phases): the x4 U-Net at
        256 px. At 128 px (4 phases) it measured no faster than ink()'s path (1 thread, 20 glyphs: ~36 ms
        both), so 128 px keeps ink()'s pixels exactly."""
        return type(self.model) is Upscaler and size == 256

    def _net_phases(self, x: torch.Tensor, size: int) -> torch.Tensor:
        """_net's logits in sub-pixel phase layout, (B, 64, 64, f^2) fp32 (f = size / 64; enlarge_phases'):
        the head before its pixel shuffle (channels_last: already this layout) plus the bilinear prior as
        enlarge_phases. _net's answer up to float rounding of the prior, with no pass over size^2 pixels
        (the shuffle, the prior's enlargement and the mixed-precision sum were ~40 % of _net's CPU at 256 px)."""
        m = self.model
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            sub = (m.head256 if size == 256 else m.head128)(m.features(x.contiguous(memory_format=torch.channels_last)))
        prior = enlarge_phases(x, size // x.shape[-1]).sub_(0.5).mul_(PRIOR_GAIN)     # Upscaler.prior, fp32
        return prior.add_(sub.permute(0, 2, 3, 1))

    def _upscale_phases(self, x: torch.Tensor, *, size: int, sharpness: float | None) -> torch.Tensor:
        """(B, 64, 64) uint8 ink -> (B, size, size) uint8: upscale's answer computed at 64 px in phase
        layout (_net_phases, back_project_phases), shuffled into place once, as bytes. The same pixels as
        ink()'s path within 1 grey level (float rounding; tests/test_upscale_apply_fast.py)."""
        k = self.sharpness if sharpness is None else sharpness
        inner = self.keep_sharpness or k                                 # finish()'s sharpness of the rounds
        ink = x.unsqueeze(1).float().div_(255)
        sharp = self._net_phases(ink, size)
        if inner != 1:
            sharp.mul_(inner)
        sharp = back_project_phases(sharp, ink, steps=self.keep_steps, gain=self.keep_gain, down=self.keep_down,
                                    peak=self.keep_peak)
        if k != inner:
            sharp.mul_(k / inner)
        out = sharp.sigmoid_()
        if self.keep_exact:
            out = keep_exact_phases(out, ink, share=self.keep_exact)
        q = out.mul_(255).round_().to(torch.uint8)
        return _unshuffle_uint8(q, size // x.shape[-1])

    @torch.inference_mode()
    def logits(self, ink: torch.Tensor, *, size: int = 256) -> torch.Tensor:
        """(N, 1, 64, 64) float ink in [0, 1] -> (N, 1, size, size) logits of ink (size 128 or 256,
        from that head), in batches of BATCH."""
        outs = [self._net(ink[i:i + BATCH], size) for i in range(0, len(ink), BATCH)]
        return torch.cat(outs) if outs else torch.zeros(0, 1, size, size)

    @torch.inference_mode()
    def ink(self, ink: torch.Tensor, *, size: int = 256, sharpness: float | None = None) -> torch.Tensor:
        """(N, 1, 64, 64) float ink in [0, 1] -> (N, 1, size, size) float ink: the network's logits,
        back-projected keep_steps times, times the sharpness, through a sigmoid; in batches of BATCH.
        What `upscale` returns before rounding, and what `upscaler test` measures. Size 128 at the
        file's sharpness (sharpness None) is the fast x2 network's answer when this upscaler has one."""
        if size == 128 and sharpness is None and self.x2 is not None:
            return self.x2.ink(ink, size=128)
        outs = [self.finish(self._net(x, size), x, sharpness=sharpness) for x in ink.split(BATCH)]
        return torch.cat(outs) if outs else torch.zeros(0, 1, size, size)

    @torch.inference_mode()
    def finish(self, logits: torch.Tensor, ink: torch.Tensor, *, sharpness: float | None = None) -> torch.Tensor:
        """The network's logits of the input ink -> output ink: back-projected keep_steps times (at
        keep_sharpness when the file sets one, else at k), times the sharpness k (default the
        file's), through a sigmoid."""
        k = self.sharpness if sharpness is None else sharpness
        logits = back_project(logits, ink, sharpness=self.keep_sharpness or k, steps=self.keep_steps,
                              gain=self.keep_gain, down=self.keep_down, peak=self.keep_peak)
        out = torch.sigmoid(logits if k == 1 else k * logits)      # never in place: callers reuse their logits
        return keep_exact_ink(out, ink, share=self.keep_exact) if self.keep_exact else out

    @torch.inference_mode()
    def upscale(self, glyphs, *, size: int = 256, sharpness: float | None = None):
        """(N, 64, 64) uint8 white-on-black glyphs (tensor or numpy) -> (N, size, size) uint8 of
        the same kind; size is 64, 128 or 256; sharpness (default: the file's) multiplies the
        logits. ValueError for anything else. Size 128 at the file's sharpness is drawn by the fast
        x2 network when this upscaler has one (`ink`)."""
        if size not in self.sizes:
            raise ValueError(f"size must be one of {', '.join(map(str, self.sizes))} (pixels per glyph), got {size!r}")
        k = self.sharpness if sharpness is None else sharpness
        if isinstance(k, bool) or not isinstance(k, (int, float)) or not 0 < k < 100:
            raise ValueError(f"sharpness must be a number in (0, 100), got {sharpness!r}")
        as_numpy = isinstance(glyphs, np.ndarray)
        x = torch.from_numpy(glyphs) if as_numpy else glyphs
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 3 or tuple(x.shape[1:]) != (64, 64):
            raise ValueError("the upscaler takes (N, 64, 64) uint8 glyphs, white ink on black; got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
        x = x.cpu()
        if size == 64:
            out = x.clone()
        elif self._phased(size, sharpness):          # the app's path: ~1/3 less CPU than ink()'s at 256 px
            parts = [self._upscale_phases(b, size=size, sharpness=sharpness) for b in x.split(BATCH)] if len(x) else []
            out = torch.cat(parts) if parts else torch.zeros(0, size, size, dtype=torch.uint8)
        else:
            ink = self.ink(x.unsqueeze(1).float().div(255), size=size, sharpness=sharpness)
            out = ink.mul(255).round().to(torch.uint8)[:, 0]
        return out.numpy() if as_numpy else out


def load(path=None) -> GlyphUpscaler:
    """The upscaler in `path` (default: the shipped one, UPSCALER_FILE); CheckpointError with a
    one-line reason when the file is missing, not an upscaler, or broken."""
    path = Path(path) if path is not None else default_file()
    if not path.is_file():
        raise CheckpointError(f"upscaler not found: {path}; train one with `python -m rekogan upscaler train`")
    model, info = load_model(path)
    return GlyphUpscaler(model, info, path=path, x2=_load_x2(path) if isinstance(model, Upscaler) else None)


def _load_x2(path: Path) -> GlyphUpscaler | None:
    """The fast 128 px network beside an upscaler file (X2_FILE), or None: none there, or
    $REKOGAN_UPSCALER_X2=0 (the x4 network's own 128 px head then). A broken one is logged and
    skipped: 128 px glyphs then come from the x4 network, never from bilinear enlargement."""
    x2 = path.parent / X2_FILE
    if os.environ.get("REKOGAN_UPSCALER_X2", "1") == "0" or path.name == X2_FILE or not x2.is_file():
        return None
    try:
        model, info = load_model(x2)
        if not isinstance(model, FastX2):
            raise CheckpointError(f"{x2} is not a fast 128 px upscaler (arch {info['arch']!r})")
    except CheckpointError as e:
        logging.getLogger("rekogan.upscale").warning("fast 128 px upscaler skipped: %s", e)
        return None
    return GlyphUpscaler(model, info, path=x2)
