"""Registers the gram model with zoo3d (kept import-light: no torch here)."""

from zoo3d import hookimpl  # noqa: F401
