"""The four training modes of a conditional model, in one table (:data:`MODES`).

=================  =============  ===============  ==========================================
mode               loss           trains           ODE model of the loss's (C3) step
=================  =============  ===============  ==========================================
``controlnet``     denoising      branch           (none: the ordinary diffusion objective)
``pe-codi``        (C6) + (C7)    branch           ``loss.ode_model`` (student by default)
``codi``           (C6) + (C7)    backbone+branch  ``loss.ode_model`` (student by default)
``cm-two-stage``   (C6) only      backbone+branch  the frozen ``controlnet`` model it starts from
=================  =============  ===============  ==========================================

``controlnet`` is the multi-step conditional *teacher* every comparison shows;
``cm-two-stage`` is the paper's CM-II baseline (ordinary consistency distillation along
the ``controlnet`` model's own conditional ODE, no guidance term). The pixel path
(:mod:`codi_lib.training.students`), the latent path (:mod:`codi_lib.apps.latent`), the
command line and the course all read this table. Introduced in
``notebooks/05_consistency_loss.ipynb``. Paper Sec. 4-5.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

from ..method.conditional import set_trainable
from ..method.losses import CoDiLossConfig, codi_loss


@dataclass(frozen=True)
class Mode:
    """One training mode: which loss, what trains, where the model starts."""
    name: str
    loss: str               # "denoising" or "codi"
    trains_backbone: bool   # False: the backbone stays frozen, only the branch trains
    from_controlnet: bool   # starts from a trained controlnet model (``init_from``)


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("controlnet", "denoising", trains_backbone=False, from_controlnet=False),
    Mode("pe-codi", "codi", trains_backbone=False, from_controlnet=False),
    Mode("codi", "codi", trains_backbone=True, from_controlnet=False),
    Mode("cm-two-stage", "codi", trains_backbone=True, from_controlnet=True),
)}
MODE_NAMES = tuple(MODES)


def get_mode(name: str) -> Mode:
    """The :class:`Mode` called ``name``; an unknown name is an error listing the four."""
    if name not in MODES:
        raise ValueError(f"mode={name!r}: choose one of {MODE_NAMES}")
    return MODES[name]


def loss_config_for(mode: Mode, lcfg: CoDiLossConfig) -> CoDiLossConfig:
    """The loss options ``mode`` trains with: ``cm-two-stage`` takes its ODE step with the
    frozen model it started from and has no guidance term; the others use ``lcfg``."""
    if not mode.from_controlnet:
        return lcfg
    lcfg = copy.deepcopy(lcfg)
    lcfg.ode_model, lcfg.lambda_cg = "frozen", 0.0
    return lcfg


def models_for_mode(mode: Mode, lcfg: CoDiLossConfig, new_model: Callable, load_init: Callable,
                    teacher_ode: Callable):
    """(model, ode_model) for ``mode``, with the right parameters trainable.

    ``new_model()`` builds teacher copy + fresh zero-initialised branch, ``load_init()``
    loads the trained controlnet model ``cm-two-stage`` starts from and ``teacher_ode()``
    returns the frozen unconditional teacher (for ``loss.ode_model="teacher"``); the pixel
    and the latent path pass their own."""
    if mode.from_controlnet:
        model = load_init().requires_grad_(True).train()
        return model, copy.deepcopy(model).requires_grad_(False).eval()
    model = set_trainable(new_model(), backbone=mode.trains_backbone)
    return model, (teacher_ode() if lcfg.ode_model == "teacher" else None)


def mode_loss(mode: Mode, schedule, lcfg: CoDiLossConfig, task, ode_model=None,
              encode=None, text=None):
    """The ``loss_fn`` of ``mode`` for :func:`codi_lib.training.loop.train_loop`: the
    denoising loss (``controlnet``) or the conditional consistency loss
    :func:`codi_lib.method.losses.codi_loss`; ``encode``/``text`` as there (latent models)."""
    if mode.loss == "denoising":
        from .teacher import denoising_loss  # teacher.py imports config.py, which imports this table
        return denoising_loss(schedule, task, encode=encode, text=text)
    return codi_loss(schedule, loss_config_for(mode, lcfg), task, ode_model, encode=encode, text=text)
