"""The method of the paper, pure torch: schedule (C1)-(C5), losses (C5)-(C7), samplers
(C8), the UNet, the ControlNet branch, the tasks and classifier-free guidance. No files,
no environment variables (``tests/test_layering.py``). See the map in ``codi_lib``."""
