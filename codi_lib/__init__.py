"""codi_lib: the library behind the CoDi course (Mei et al., "CoDi: Conditional
Diffusion Distillation", CVPR 2024, arXiv 2310.01407).

Map of the house. Five rooms, each importing only from the rooms above it
(``tests/test_layering.py`` enforces it):

``method/``: the paper, pure torch (no files, no environment)
    ``schedule`` (C1)-(C5), (C8) grid: noise schedule, eps/v/x conversions, DDIM step,
    c_skip/c_out · ``losses`` (C5)-(C7): the conditional consistency loss, part by part ·
    ``sampling``: DDPM/DDIM/DPM-Solver++ and the CoDi sampler (C8), ``sample_by_name`` ·
    ``models``: the UNet · ``conditional``: teacher + zero-initialised ControlNet branch ·
    ``tasks``: the conditions (sr4, inpaint, canny, depth) · ``guidance``: classifier-free
    guidance.
``training/``: turning the method into weights on disk
    ``paths``: every folder and ``CODI_*`` variable, and ``RunDir``, the one reader of a
    run folder · ``config``: every config dataclass, registered in ``CONFIG_KINDS`` ·
    ``checkpoint``: all saving and loading of weights · ``loop``: the one accelerate loop
    and the EMA (C9) · ``data``: the emoji set, your image folders, uint8 <-> [-1, 1] ·
    ``scenes``: the ray caster of the depth task's 3-D scenes · ``scene_data``: the scene
    set with exact depth, and each task's own batches ·
    ``teacher``: the unconditional teacher · ``modes``: the table of the four modes
    (controlnet, pe-codi, codi, cm-two-stage) · ``students``: conditional models in those
    modes (train, export, load) · ``env``: allocator settings for fast CPU steps.
``evaluation/``: measuring
    ``metrics``: LPIPS, FID features, PSNR, SSIM, NFE counting · ``metric_weights``: where
    their pretrained weights come from, offline included · ``quality``: the one quality
    API, ``quality(pred, truth)`` (LPIPS at 64 px, PSNR, SSIM) and ``FidReference`` ·
    ``fidkid``: FID and KID against one shared reference set, with bootstrap intervals ·
    ``teacher_quality``: a teacher's FID/KID beside the real-data floor, and its sharpness
    · ``timing``: the one timer · ``bench``: every method at 1-8 steps on every task with
    intervals (paper Table 1) · ``bench_report``: its goals, Markdown table and figures.
``course/``: notebook support (``from codi_lib import course`` is the lessons' toolbox)
    ``setup`` (fast mode, environment check) · ``standins`` (the models a lesson needs,
    trained on the spot when missing) · ``lesson`` (welcome picture, sampling and quality
    tables) · ``benchtext`` (benchmark values, tables and headline sentences rendered
    from ``bench.json`` at run time) · ``exercises/`` · ``plots`` · ``diagrams`` (the
    training step, the ControlNet branch, the distillation families) · ``toy/`` (2-D
    problem with an exact answer, in the classic and the paper's configuration) ·
    ``widgets/`` (``frames``: what is measured and drawn; ``ui``: the ipywidgets page).
``apps/``: programs
    ``cli`` (the one ``codi`` parser) · ``poc`` (your images -> report; the page is
    ``templates/poc_report.html``) · ``latent/`` (Stable Diffusion layout models, reusing
    the pixel path's modes, losses, loop and samplers).

Why this layout: a newcomer looking for the paper reads ``method/`` (about 850 lines)
and nothing else; everything that touches files sits in ``training/`` or above, so the
method can be tested and read on its own. ``course/`` and ``apps/`` are peers: both only
use the library, never each other. A benchmark row goes ``apps.cli`` ->
``evaluation.bench`` -> ``training.students.load_conditional`` ->
``method.sampling.sample_by_name`` -> ``evaluation.quality``, always downwards.

The course's equation sheet (docstrings cite these numbers; paper Sec. 3-4):

(C1) forward process        z_t = alpha_t x + sigma_t eps,  alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t)
(C2) predictions            x = (z - sigma eps)/alpha (eps-pred);  x = alpha z - sigma v,  eps = alpha v + sigma z (v-pred)
(C3) DDIM step (PF-ODE)     z_s = alpha_s x_hat + sigma_s eps_hat
(C4) consistency function   f(z_t, t, c) = c_skip(t) z_t + c_out(t) x_hat(z_t, t, c),
                            c_skip = sd^2 / ((k t)^2 + sd^2),  c_out = k t / sqrt((k t)^2 + sd^2),  sd = 0.5, k = 10
(C5) distillation grid      n ~ U{1..N-1},  t = n T/N,  s = (n - 1) T/N
(C6) consistency term       L_cons = || f_theta(z_t, t, c) - f_ema(z_s, s, c) ||^2,  z_s from (C3) with the ODE model
(C7) conditional guidance   L_cg = || f_theta(z_t, t, c) - x ||^2;   L = L_cons + lambda_cg L_cg
(C8) CoDi sampler           z <- alpha_next f + sigma_next (z - alpha_t f)/sigma_t on the grid, output f at the last point
(C9) EMA                    theta_ema <- mu theta_ema + (1 - mu) theta
"""
__version__ = "0.1.0"
