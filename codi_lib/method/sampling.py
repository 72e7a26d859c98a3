"""Sampling with diffusers schedulers: DDPM, DDIM at any step count, DPM-Solver++.

All samplers go through one function, :func:`sample`, which takes a *denoiser*: any
callable ``denoiser(z, t) -> raw model output`` (eps, v or x, per the schedule).
Timesteps use diffusers' "trailing" spacing, so every sampler starts at t = T - 1 (pure
noise) even with very few steps. Introduced in ``notebooks/01_diffusion_basics.ipynb``
(DDPM vs DDIM, (C3)) and ``notebooks/04_adding_a_condition.ipynb`` (DPM-Solver++).
"""
from __future__ import annotations

from typing import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from tqdm.auto import tqdm

from .schedule import (NoiseSchedule, ScheduleConfig, codi_sampling_timesteps, consistency_fn,
                       make_diffusers_scheduler)

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
           return_nfe: bool = False, clip: bool = True):
    """Draw ``num_images`` samples with ``steps`` steps of ``sampler``.

    DDIM is (C3) applied along the trailing timestep grid; DDPM adds
    fresh noise each step; DPM-Solver++ (2nd order) is the strong few-step baseline of
    the paper's Table 1. Returns images in [-1, 1] (and the number of network
    evaluations if ``return_nfe``); ``clip=False`` skips the clamp to [-1, 1] (latent
    models, whose latents are not images). Introduced in notebook 01.
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
    x = z.clamp(-1, 1) if clip else z
    return (x, nfe) if return_nfe else x


@torch.no_grad()
def sample_codi(model: Callable, cond: torch.Tensor, schedule, steps: int, n_grid: int = 50,
                seed: int = 0, noise: torch.Tensor | None = None, return_nfe: bool = False,
                clip: bool = True):
    """(C8), the K-step CoDi sampler: deterministic DDIM on the distillation grid. At each
    grid point compute f (C4), eps_hat = (z - alpha_t f)/sigma_t, and re-noise to the
    next point with the *predicted* noise, z <- alpha_next f + sigma_next eps_hat (no
    fresh noise; the consistency-model multistep sampler of Song et al. 2023 instead
    injects fresh Gaussian noise at each re-noising). The output
    is f at the last grid point (we do not take the official pipeline's extra step to
    t = 0; the two differ by about sigma_0 eps_hat). ``model(z, t, cond)`` returns the
    raw prediction; ``schedule`` is a :class:`~codi_lib.method.schedule.NoiseSchedule`.
    Latent models pass ``noise`` of the latent shape and ``clip=False``.
    Introduced in notebook 05."""
    ts = codi_sampling_timesteps(steps, schedule.T, n_grid)
    if noise is None:
        noise = torch.randn(cond.shape[0], 3, *cond.shape[-2:],
                            generator=torch.Generator().manual_seed(seed))
    z = noise.to(cond.device)
    f = z
    for i, t in enumerate(ts):
        tt = torch.full((z.shape[0],), t, device=z.device, dtype=torch.long)
        x_hat, _ = schedule.to_x_eps(model(z, tt, cond).float(), z, tt)
        f = consistency_fn(z, x_hat, tt)
        if i + 1 < len(ts):
            a, s = schedule.alpha_sigma(t, z.dim(), z.device)
            eps_hat = (z - a * f) / s
            a_n, s_n = schedule.alpha_sigma(ts[i + 1], z.dim(), z.device)
            z = a_n * f + s_n * eps_hat
    x = f.clamp(-1, 1) if clip else f
    return (x, len(ts)) if return_nfe else x


@torch.no_grad()
def sample_conditional(model: Callable, cond: torch.Tensor, schedule_cfg: ScheduleConfig,
                       steps: int, sampler: str = "ddim", seed: int = 0,
                       noise: torch.Tensor | None = None, return_nfe: bool = False,
                       clip: bool = True):
    """Multi-step sampling of a conditional model (the ``controlnet`` teacher) with DDIM,
    DDPM or DPM-Solver++: :func:`sample` with the condition bound. Notebook 04."""
    return sample(lambda z, t: model(z, t, cond), schedule_cfg, cond.shape[0], steps, sampler,
                  seed=seed, shape=(3, *cond.shape[-2:]), device=cond.device, noise=noise,
                  return_nfe=return_nfe, clip=clip)


CONDITIONAL_SAMPLERS = ("codi", *SAMPLERS)


def sample_by_name(model: Callable, cond: torch.Tensor, schedule_cfg: ScheduleConfig,
                   sampler: str, steps: int, n_grid: int = 50, seed: int = 0,
                   noise: torch.Tensor | None = None, return_nfe: bool = False,
                   clip: bool = True):
    """A conditional model sampled by name: ``"codi"`` is the CoDi sampler (C8)
    (:func:`sample_codi` on the grid of ``n_grid`` points), the others are the diffusers
    samplers of :func:`sample_conditional`. The benchmark, the lessons, the report of
    ``codi poc`` and the latent path all sample through here. Notebook 04."""
    if sampler == "codi":
        return sample_codi(model, cond, NoiseSchedule(schedule_cfg), steps, n_grid, seed=seed,
                           noise=noise, return_nfe=return_nfe, clip=clip)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {CONDITIONAL_SAMPLERS}")
    return sample_conditional(model, cond, schedule_cfg, steps, sampler, seed=seed, noise=noise,
                              return_nfe=return_nfe, clip=clip)
