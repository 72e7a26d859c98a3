"""A 2-D toy with an exact answer: conditional consistency distillation on a Gaussian mixture.

The data are a 2-D mixture of six small isotropic Gaussians, three on each side of the
y-axis; the condition is the side, c = sign(x_1) in {-1, +1} (one channel). For a Gaussian
mixture the posterior mean E[x | z_t, c] is known in closed form, so we have an *exact*
denoiser (:class:`ExactDenoiser`, a v-prediction like every network of the course) and,
by integrating the probability-flow ODE with it, the *exact* ODE endpoints
(:func:`exact_ode_endpoint`). A small MLP student (:class:`ToyStudent`) trained from
scratch with the unchanged CoDi loss (:func:`codi_lib.method.losses.codi_loss`, (C5)-(C7)) in
the toy's default configuration, classic consistency distillation (the frozen exact
denoiser takes the ODE step, lambda_cg = 0: :func:`default_toy_loss`), then lands in one
step (C8) on those endpoints, while one DDIM step with the exact denoiser (the posterior
mean) collapses toward the group mean (:func:`endpoint_error`). In the paper's
configuration (:func:`paper_toy_loss`: the student takes the ODE step, lambda_cg = 1) the
student trained from scratch ends at that posterior mean instead.

Everything here reuses the library: the schedule and conversions of
:mod:`codi_lib.method.schedule` ((C1)-(C4)), the loss of :mod:`codi_lib.method.losses`, the EMA of
:mod:`codi_lib.training.loop` (C9) and the sampler of :mod:`codi_lib.method.sampling` (C8).
The problem and student modules return tensors or numpy arrays only; the figures are in
:mod:`~codi_lib.course.toy.plots`.
Modules: :mod:`~codi_lib.course.toy.problem` (data, exact denoiser, exact ODE),
:mod:`~codi_lib.course.toy.student` (the student and its evaluation),
:mod:`~codi_lib.course.toy.plots` (figures). Introduced in ``notebooks/03_distillation.ipynb``.
"""
from .plots import plot_sampler_path, plot_toy_configs, plot_toy_data, plot_toy_endpoints, plot_toy_trajectories
from .problem import (ExactDenoiser, GROUPS, MEANS, STD, TOY_TASK, WEIGHTS, exact_ode_endpoint, exact_ode_endpoint_ivp, exact_x0, group_condition, nearest_mode, ode_trajectory, posterior_mean, toy_samples, toy_schedule)
from .student import (ToyRun, ToyStudent, TOY_CONFIGS, default_toy_loss, endpoint_data, endpoint_error, endpoint_noise, paper_toy_loss, sampler_path, timestep_embedding, toy_loss, train_toy_student)
