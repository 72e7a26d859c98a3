"""codi_lib: the library behind the CoDi course (Mei et al., "CoDi: Conditional
Diffusion Distillation", CVPR 2024, arXiv 2310.01407).

Modules: ``schedule`` (noise schedule, conversions, DDIM step, c_skip/c_out),
``models`` (UNet factory), ``data`` (emoji and image-folder datasets), ``train_loop``
(the shared accelerate loop), ``teacher`` (unconditional teacher), ``sampling``
(DDPM/DDIM/DPM-Solver++ and the CoDi sampler), ``tasks`` (conditions), ``conditional``
(teacher + zero-initialised ControlNet branch), ``losses`` (conditional consistency
loss), ``codi_train`` (the four training modes), ``metrics``, ``bench``, ``toy`` (2-D
problem with an exact answer), ``checkpoint``, ``latent`` and ``guidance`` (Stable
Diffusion-layout latent models, classifier-free guidance), ``poc`` (your own images),
``course``/``plots``/``exercises``/``widgets`` (notebook support), ``cli``.

The course's equation sheet (docstrings cite these numbers; paper Sec. 3-4, DESIGN §2):

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
