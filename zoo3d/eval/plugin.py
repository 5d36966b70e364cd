"""Registers the built-in metrics through the same hooks a third party uses."""

from zoo3d import hookimpl  # noqa: F401
