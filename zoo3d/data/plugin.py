"""Registers the built-in dataset schemes (synthetic:heads and the folder readers)."""

from zoo3d import hookimpl  # noqa: F401
