"""zoo3d built-in plugin: gram_inverter."""
