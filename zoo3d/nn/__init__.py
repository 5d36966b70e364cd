"""Shared neural-network layers every model plugin builds from.

Import from the submodules:

* ``zoo3d.nn.siren`` — FiLM-SIREN layers, the pi-GAN mapping network, the SIREN trunk.
* ``zoo3d.nn.mapping`` — StyleGAN2 mapping network z -> w with truncation; ``EqualLinear``.
* ``zoo3d.nn.discriminators`` — CoordConv (GRAM/pi-GAN), patch (pix2pix) and StyleGAN2 discriminators.
* ``zoo3d.nn.modconv`` — StyleGAN2 modulated conv, StyledConv, ToRGB and the W+ synthesis network.
* ``zoo3d.nn.rrdb`` — ESRGAN RRDBs and GRAM-HD's StyleRRDBNet (foreground) / RRDBNet (background).
* ``zoo3d.nn.resample`` — fixed Keys-bicubic down-sampling (GRAM-HD's consistency loss).
* ``zoo3d.nn.equalized`` / ``zoo3d.nn.fir`` — equalised-lr layers and FIR resampling.
"""
