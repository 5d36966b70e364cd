"""zoo3d built-in plugin: oracle."""
