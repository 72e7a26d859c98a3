"""Programs: the ``codi`` command line, the proof of concept on your images and the
latent (Stable Diffusion layout) path. See the map in ``codi_lib``."""
