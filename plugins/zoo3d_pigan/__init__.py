"""zoo3d built-in plugin: pigan."""
