"""Sampling with diffusers schedulers: DDPM, DDIM at any step count, DPM-Solver++.

All samplers go through one function, :func:`sample`, which takes a *denoiser*: any
callable ``denoiser(z, t) -> raw model output`` (eps, v or x, per the schedule).
Timesteps use diffusers' "trailing" spacing, so every sampler starts at t = T - 1 (pure
noise) even with very few steps. Introduced in ``notebooks/01_diffusion_basics.ipynb``
(DDPM vs DDIM, Eq. 2) and ``notebooks/04_adding_a_condition.ipynb`` (DPM-Solver++).
"""
from __future__ import annotations

import time
from typing import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from tqdm.auto import tqdm

from .schedule import ScheduleConfig, make_diffusers_scheduler

SAMPLERS = ("ddpm", "ddim", "dpmsolver++")


def make_sampler(name: str, schedule: ScheduleConfig):
    """The diffusers scheduler for ``name`` on our schedule (no x0 clipping, eta = 0).
    Introduced in notebook 01."""
    if name == "ddpm":
        return make_diffusers_scheduler(DDPMScheduler, schedule, clip_sample=False,
                                        timestep_spacing="trailing")
    if name == "ddim":
        return make_diffusers_scheduler(DDIMScheduler, schedule, clip_sample=False,
                                        set_alpha_to_one=True, timestep_spacing="trailing")
    if name == "dpmsolver++":
        return make_diffusers_scheduler(DPMSolverMultistepScheduler, schedule,
                                        algorithm_type="dpmsolver++", solver_order=2,
                                        timestep_spacing="trailing", final_sigmas_type="zero")
    raise ValueError(f"unknown sampler {name!r}; choose one of {SAMPLERS}")


@torch.no_grad()
def sample(denoiser: Callable, schedule: ScheduleConfig, num_images: int, steps: int,
           sampler: str = "ddim", seed: int = 0, shape=(3, 32, 32), device="cpu",
           noise: torch.Tensor | None = None, progress: bool = False,
           return_nfe: bool = False):
    """Draw ``num_images`` samples with ``steps`` steps of ``sampler``.

    DDIM is Eq. (2) of the paper applied along the trailing timestep grid; DDPM adds
    fresh noise each step; DPM-Solver++ (2nd order) is the strong few-step baseline of
    the paper's Table 1. Returns images in [-1, 1] (and the number of network
    evaluations if ``return_nfe``). Introduced in notebook 01.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    sch = make_sampler(sampler, schedule)
    sch.set_timesteps(steps)
    gen = torch.Generator().manual_seed(seed)
    z = noise.clone() if noise is not None else torch.randn((num_images, *shape), generator=gen)
    z = z.to(device)
    nfe = 0
    for t in tqdm(sch.timesteps, disable=not progress, desc=f"{sampler}-{steps}"):
        tt = torch.full((z.shape[0],), int(t), device=device, dtype=torch.long)
        out = denoiser(z, tt)
        nfe += 1
        kw = {"generator": gen} if sampler == "ddpm" else {}
        if sampler == "ddpm":
            z = sch.step(out.cpu(), t, z.cpu(), **kw).prev_sample.to(device)
        else:
            z = sch.step(out, t, z, **kw).prev_sample
    x = z.clamp(-1, 1)
    return (x, nfe) if return_nfe else x


def timed(fn: Callable, *args, **kwargs):
    """Run ``fn`` and return (result, seconds). Used for latency figures in notebooks."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
