"""The science of one training step: losses, the D and G updates, batches, EMA, standing statistics.

Kept apart from the plumbing (rekogan/runtime.py: devices, precision, torchrun) and from the loop
(rekogan/training.py: run directory, epochs, checkpoints, resume), as StyleGAN2-ADA keeps its
loss apart from its training loop. Everything here is a plain function of tensors and modules.

The stroke weight of weight-conditioned runs is the glyph's ink ratio, normalised per syllable by
the training glyphs' mean and SD (ink_stats), so w = 0 is a syllable's typical weight whatever its
density. G is asked for the weights the augmented reals have, and its drawn weight is pulled
towards the asked one (the ink ratio is differentiable in the pixels).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import TrainConfig
from .conventions import to_unit
from .data.augment import augment
from .models import aux_correct, aux_loss


# ---- losses and one step ------------------------------------------------------------------

def d_adv_loss(real_logit, fake_logit, cfg: TrainConfig):
    if cfg.loss == "hinge":
        return F.relu(1 - real_logit).mean() + F.relu(1 + fake_logit).mean()
    target = torch.full_like(real_logit, cfg.real_label)
    return (F.binary_cross_entropy_with_logits(real_logit, target)
            + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))


def g_adv_loss(fake_logit, cfg: TrainConfig):
    if cfg.loss == "hinge":
        return -fake_logit.mean()
    return F.binary_cross_entropy_with_logits(fake_logit, torch.ones_like(fake_logit))


WEIGHT_CLAMP = 3.0   # stroke weights are asked for and measured within +-3 per-syllable SDs


def ink_ratio(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) in [-1, 1], white ink on black -> (B,) share of ink (the glyph's stroke weight)."""
    return ((x.float() + 1) / 2).mean(dim=(1, 2, 3))


def ink_stats(images: torch.Tensor, labels: torch.Tensor, n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-class mean and SD of the ink ratio over the training glyphs: (n_classes,) each. The weight
    condition is normalised by them, so that w = 0 is a syllable's typical weight whatever its
    density (뷁 has far more ink than 이 in every face) and w = +1 is one SD bolder."""
    ink = images.float().mean(dim=(1, 2)).div_(255)                          # (N,)
    n = torch.zeros(n_classes).index_add_(0, labels.cpu(), torch.ones(len(ink)))
    mu = torch.zeros(n_classes).index_add_(0, labels.cpu(), ink.cpu()) / n.clamp(min=1)
    var = torch.zeros(n_classes).index_add_(0, labels.cpu(), (ink.cpu() - mu[labels.cpu()]) ** 2) / n.clamp(min=1)
    return mu, var.sqrt().clamp(min=0.01)


def train_step(G, D, opt_g, opt_d, real, y_real, *, cfg: TrainConfig, n_classes: int, gen: torch.Generator,
               autocast, y_pool: torch.Tensor | None = None, ink: tuple | None = None) -> dict:
    """One D update and one G update on a batch of (augmented) real images.

    y_pool: the labels G is asked to draw (the training syllables of a split run; default all
    classes). ink: (mean, sd) per class from ink_stats, for runs with a weight condition."""
    b, dev = len(real), real.device
    z = torch.randn(b, cfg.z_dim, generator=gen).to(dev)
    if y_pool is None:
        y_fake = torch.randint(0, n_classes, (b,), generator=gen).to(dev)
    else:
        y_fake = y_pool[torch.randint(0, len(y_pool), (b,), generator=gen).to(y_pool.device)].to(dev)
    half = b // 2
    if cfg.ms_weight > 0:  # pairs (i, i + b - half) share a class and differ in z: the mode-seeking pairs
        y_fake[b - half:] = y_fake[:half]
    g_in = (z, y_fake)
    if cfg.weight_cond:
        assert ink is not None, "a weight-conditioned run needs the per-class ink statistics"
        mu, sd = ink
        # (B,) the reals' measured weights, clamped: augmentation can thin or thicken a glyph far
        # beyond its faces' spread, and the control is meant for the typical range
        w_real = ((ink_ratio(real) - mu[y_real]) / sd[y_real]).clamp(-WEIGHT_CLAMP, WEIGHT_CLAMP)
        w_fake = w_real[torch.randperm(b, generator=gen).to(dev)]            # ask for weights as common as the data's
        if cfg.ms_weight > 0:
            w_fake[b - half:] = w_fake[:half]
        g_in = (z, y_fake, w_fake)
    with autocast():
        fake = G(*g_in)                                         # (B, 1, S, S); reused by both updates
    d_cfg = getattr(D, "module", D).cfg
    # -- D: real up, fake down (+ classify reals)
    D.requires_grad_(True)
    with autocast():
        if cfg.arch == "proj":  # no BatchNorm in D: one forward over real and fake together
            logit, aux = D(torch.cat([real, fake.detach()]), torch.cat([y_real, y_fake]))
            real_logit, fake_logit = logit[:b], logit[b:]
            aux_real = aux[:b]
        else:                   # DCGAN D has BatchNorm: separate real and fake batches, as the original
            real_logit, aux_real = D(real, y_real)
            fake_logit, _ = D(fake.detach(), y_fake)
        loss_d = d_adv_loss(real_logit.float(), fake_logit.float(), cfg)
        if aux_real is not None and cfg.aux_weight > 0:
            loss_d = loss_d + cfg.aux_weight * aux_loss(aux_real.float(), y_real, d_cfg)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    # -- G: fool D (+ be classified as the asked-for class); D's weights are frozen, not updated
    D.requires_grad_(False)
    d_plain = getattr(D, "module", D)  # under DDP, bypass the wrapper: D gets no gradients to sync here
    with autocast():
        g_logit, g_aux = d_plain(fake, y_fake)
        loss_g = g_adv_loss(g_logit.float(), cfg)
        if g_aux is not None and cfg.aux_weight_g > 0:
            loss_g = loss_g + cfg.aux_weight_g * aux_loss(g_aux.float(), y_fake, d_cfg)
        if cfg.weight_cond and cfg.ink_weight > 0:  # draw the asked weight: ink is differentiable in the pixels
            w_drawn = (ink_ratio(fake) - mu[y_fake]) / sd[y_fake]
            ink_err = F.smooth_l1_loss(w_drawn, w_fake)                       # Huber: bounded pull early on
            loss_g = loss_g + cfg.ink_weight * ink_err
        if cfg.ms_weight > 0:
            f = fake.float()
            ratio = (f[:half] - f[b - half:]).abs().mean() / (z[:half] - z[b - half:]).abs().mean()
            loss_g = loss_g + cfg.ms_weight / (ratio + 1e-5)
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    out = {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
           "d_real": real_logit.detach().float().mean(), "d_fake": fake_logit.detach().float().mean()}
    if cfg.ms_weight > 0:
        out["ms_ratio"] = ratio.detach()
    if aux_real is not None:
        out["aux_acc_real"] = aux_correct(aux_real.detach(), y_real, d_cfg).float().mean()
        out["aux_acc_fake"] = aux_correct(g_aux.detach(), y_fake, d_cfg).float().mean()
    if cfg.weight_cond and cfg.ink_weight > 0:
        out["ink_err"] = ink_err.detach()
    return out


def make_batch(images, labels, *, batch: int, gen: torch.Generator, strength: float, fmt=torch.channels_last):
    """Sample a batch from the in-memory uint8 dataset and augment it: (B, 1, S, S) in [-1, 1], labels (B,)."""
    idx = torch.randint(0, len(images), (batch,), generator=gen).to(images.device)
    real = to_unit(images[idx].unsqueeze(1))                                        # (B, 1, S, S)
    real = augment(real, strength=strength, generator=gen).contiguous(memory_format=fmt)
    return real, labels[idx]


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float):
    # one fused call per list, not one op per tensor: on a GPU the step is bound by op dispatch
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
    torch._foreach_copy_(list(ema.buffers()), list(model.buffers()))


@torch.no_grad()
def standing_stats(G: torch.nn.Module, *, n_classes: int, batches: int = 8, batch: int = 256, seed: int = 12345,
                   y_pool: torch.Tensor | None = None):
    """Recompute BatchNorm running statistics of a (EMA) generator from its own samples.

    The EMA weights never ran in train mode, so the running stats copied from G do not match them;
    sampling uses eval mode (a glyph must not depend on its batch), so we re-estimate the stats as
    a plain average over fixed random batches (BigGAN's 'standing statistics')."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    dev = next(G.parameters()).device
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    g = torch.Generator().manual_seed(seed)
    G.train()
    for _ in range(batches):
        z = torch.randn(batch, G.cfg.z_dim, generator=g).to(dev)
        if y_pool is None:
            y = torch.randint(0, n_classes, (batch,), generator=g).to(dev)
        else:  # the training syllables only: held-out ones must not shape any statistic
            y = y_pool.cpu()[torch.randint(0, len(y_pool), (batch,), generator=g)].to(dev)
        if getattr(G.cfg, "weight_cond", False):
            G(z, y, torch.randn(batch, generator=g).to(dev))
        else:
            G(z, y)
    G.eval()
    for m, mom in zip(bns, saved):
        m.momentum = mom
