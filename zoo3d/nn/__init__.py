"""Neural-network layers used by more than one model plugin (a layer with one user lives in that plugin).

Import from the submodules:

* ``zoo3d.nn.siren`` — FiLM-SIREN layers, the pi-GAN mapping network, the SIREN trunk (GRAM, pi-GAN, StyleSDF).
* ``zoo3d.nn.mapping`` — StyleGAN2 mapping network z -> w with truncation; ``EqualLinear``.
* ``zoo3d.nn.discriminators`` — CoordConv (GRAM, GRAM-HD, GRAMInverter, StyleSDF; pi-GAN builds its progressive
  variant from its blocks) and StyleGAN2 (tri-plane, StyleSDF) discriminators.
* ``zoo3d.nn.modconv`` — StyleGAN2 modulated conv, StyledConv, ToRGB and the W+ synthesis network.
* ``zoo3d.nn.triplane`` — tri-plane feature sampling (the tri-plane model; GRAMInverter's ``feature_planes``).
* ``zoo3d.nn.rrdb`` — ESRGAN's residual-in-residual dense blocks (GRAM-HD, GRAMInverter).
* ``zoo3d.nn.equalized`` / ``zoo3d.nn.fir`` — equalised-lr layers and FIR resampling.
"""
