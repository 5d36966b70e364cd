"""zoo3d built-in plugin: triplane."""
