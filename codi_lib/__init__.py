"""codi_lib: the library behind the CoDi course (Mei et al., "CoDi: Conditional
Diffusion Distillation", CVPR 2024, arXiv 2310.01407).

Modules: ``schedule`` (noise schedule, conversions, DDIM step, c_skip/c_out),
``models`` (UNet factory), ``data`` (emoji and image-folder datasets), ``train_loop``
(the shared accelerate loop), ``teacher`` (unconditional teacher), ``sampling``
(DDPM/DDIM/DPM-Solver++), ``checkpoint`` (safetensors checkpoints), ``cli``.
"""
__version__ = "0.1.0"
