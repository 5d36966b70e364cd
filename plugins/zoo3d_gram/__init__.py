"""zoo3d built-in plugin: gram."""
