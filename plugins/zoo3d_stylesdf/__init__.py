"""zoo3d built-in plugin: stylesdf."""
