"""Training: paths and run folders, configs, checkpoints, the loop (C9), data, the
teacher, the four modes and the conditional models. See the map in ``codi_lib``."""
