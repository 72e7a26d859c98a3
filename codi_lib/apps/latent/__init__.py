"""Latent diffusion models laid out like Stable Diffusion 1.5/2.1: CoDi beyond pixels.

A model directory in the diffusers layout (``vae/``, ``unet/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``, as ``save_pretrained`` writes them) is loaded offline
(``local_files_only=True``) into a :class:`LatentBundle`. The diffusion then runs on the
VAE latent z_0 = scaling_factor * E(x) (C1 with x replaced by z_0), the denoiser is
:class:`LatentDenoiser` (``forward(z, t, cond)``: UNet with text cross-attention plus a
ControlNet branch whose *default* conditioning embedding takes the condition image at
pixel resolution, 8x the latent size), and the text context is set per batch
(:func:`codi_lib.method.guidance.set_text_context`). Everything else is the pixel course's code,
unchanged: :func:`codi_lib.training.loop.train_loop` and the mode table with its losses,
:func:`codi_lib.training.modes.mode_loss` (given ``encode`` and ``text``), the eps/v
conversions of :mod:`codi_lib.method.schedule` (the prediction type is read from the scheduler
config: eps for SD 1.5, v for SD 2.1-768), and the samplers of :mod:`codi_lib.method.sampling`
(with ``clip=False``). Classifier-free guidance lives in :mod:`codi_lib.method.guidance`.

:func:`build_tiny_sd` builds tiny randomly initialised components of that layout in code
(for tests and ``notebooks/08_your_images.ipynb``). Command line (also under
``accelerate launch -m codi_lib.apps.cli latent ...`` on one or several GPUs)::

    codi latent build-tiny runs/tiny-sd
    codi latent train --model-dir MODEL --images FOLDER --mode codi --task sr4 --out runs/sd-codi
    codi latent sample --model-dir MODEL --run runs/sd-codi --images FOLDER --out grid.png

Modules: :mod:`~codi_lib.apps.latent.bundle` (loading the model directory, text, VAE,
the latent denoiser), :mod:`~codi_lib.apps.latent.train` (the four modes of
:mod:`codi_lib.training.modes` on latents, sampling), :mod:`~codi_lib.apps.latent.tiny`
(the tiny random model). The run's config is
:class:`codi_lib.training.config.LatentConfig`.

Needs ``transformers`` (the ``sd`` extra). Paper Sec. 4-5 (latent CoDi on Stable
Diffusion); equations (C1)-(C9) of ``codi_lib/__init__.py`` apply with x -> z_0.
"""
