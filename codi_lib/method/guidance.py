"""Classifier-free guidance (CFG) for text-conditioned latent models.

Two halves, one order, everywhere: :func:`cfg_concat` stacks the batch as
[unconditional, conditional] and :func:`cfg_split` returns the halves in that same order.
Every guided evaluation in the library goes through :class:`GuidedDenoiser`, which uses
only these two helpers and :func:`combine` (eps/v/x_hat are all linear in the network
output, so combining raw outputs equals combining in x or eps space):

    out_w = out_uncond + w (out_cond - out_uncond)        (w = 1: the conditional output)

Training side: :func:`drop_prompts` replaces each prompt by the null prompt with
probability ``p_uncond``, so one network learns both the conditional and the
unconditional prediction (Ho & Salimans' recipe, used by Stable Diffusion).

Guidance is never applied inside the one-step ODE of the CoDi loss
(:func:`codi_lib.method.losses.ode_step`). The official CoDi code has an option for it
(``--onestepode_cfg``); it is off by default, and the code's comment says that turning it on
made the gradients explode (a plausible reading: with a student that moves away from the
teacher, the guided difference w (out_cond - out_uncond) amplifies the student's errors).
Here the ODE model, the online model and the EMA target all see the
same per-batch text context (prompt or null prompt) and batch size B, never a doubled
2B batch; ``tests/test_latent.py`` checks it. Guidance is a *sampling* option
(``guidance_scale`` in :func:`codi_lib.apps.latent.sample_latent`).
No paper equation: the paper (Sec. 5) uses text-conditioned teachers with CFG as usual.
"""
from __future__ import annotations

import torch


def cfg_concat(uncond, cond):
    """Stack the two halves of a CFG batch in THE order: [unconditional, conditional].
    Works on tensors (batch dim 0); the one place this order is written down."""
    return torch.cat([uncond, cond], dim=0)


def cfg_split(x):
    """Split a CFG batch made by :func:`cfg_concat` into (unconditional, conditional)."""
    if x.shape[0] % 2:
        raise ValueError(f"a CFG batch has an even size, got {x.shape[0]}")
    uncond, cond = x.chunk(2, dim=0)
    return uncond, cond


def combine(out_uncond, out_cond, w: float):
    """out_uncond + w (out_cond - out_uncond); w = 1 is the conditional output, w = 0 the
    unconditional one."""
    return out_uncond + w * (out_cond - out_uncond)


def drop_prompts(prompts: list[str], p_uncond: float, null_prompt: str,
                 gen: torch.Generator) -> list[str]:
    """Replace each prompt by ``null_prompt`` with probability ``p_uncond`` (CFG training).
    Draws from ``gen`` only when ``p_uncond > 0``, so p_uncond = 0 changes nothing."""
    if p_uncond <= 0:
        return list(prompts)
    drop = torch.rand(len(prompts), generator=gen) < p_uncond
    return [null_prompt if d else p for p, d in zip(prompts, drop.tolist())]


def unwrap(module):
    """The module inside a DDP/compile wrapper (accelerate's helper)."""
    from accelerate.utils import extract_model_from_parallel
    return extract_model_from_parallel(module)


def set_text_context(module, context) -> None:
    """Set the text context (B, L, D) that a latent denoiser's next forward calls use.
    Accepts None (no module) and wrapped (DDP) modules."""
    if module is None:
        return
    inner = unwrap(module)
    if not hasattr(inner, "context"):
        raise TypeError(f"{type(inner).__name__} has no text context (not a LatentDenoiser)")
    inner.context = context


class GuidedDenoiser:
    """``(z, t, cond) -> out``: the CFG-combined prediction of a latent denoiser for the
    text ``context`` (B or 1 rows) and ``null_context``, weight ``w``.

    With ``w == 1`` and ``always_batch=False`` it evaluates the conditional half only
    (one network evaluation of batch B instead of 2B: the same number, see the test).
    The image condition ``cond`` is the same in both halves."""

    def __init__(self, model, context, null_context, w: float = 1.0, always_batch: bool = False):
        self.model, self.context, self.null_context = model, context, null_context
        self.w, self.always_batch = float(w), always_batch

    def __call__(self, z, t, cond=None):
        b = z.shape[0]
        ctx = self.context.expand(b, -1, -1) if self.context.shape[0] == 1 else self.context
        if self.w == 1.0 and not self.always_batch:
            set_text_context(self.model, ctx)
            return self.model(z, t, cond)
        null = self.null_context.expand(b, -1, -1)
        set_text_context(self.model, cfg_concat(null, ctx))
        t = torch.as_tensor(t, device=z.device)
        t = t.expand(b) if t.dim() == 0 else t
        out = self.model(cfg_concat(z, z), cfg_concat(t, t),
                         cfg_concat(cond, cond) if cond is not None else None)
        out_uncond, out_cond = cfg_split(out)
        set_text_context(self.model, ctx)
        return combine(out_uncond, out_cond, self.w)
