"""zoo3d built-in plugin: triplane (EG3D-style tri-plane GAN on the shared VolumeRenderer)."""
