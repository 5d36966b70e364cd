"""Data: synthetic heads with ground truth, readers for EG3D / GRAM / zoo3d folders, validation.

Importing this package is cheap (no torch): the plugin listing imports ``zoo3d.data.plugin``.
The public API is loaded on first use: :func:`build_dataset`, :func:`check_spec`, :func:`check_dataset`.
"""

from __future__ import annotations

__all__ = ["build_dataset", "check_dataset", "check_spec", "CheckReport", "parse_spec"]


def __getattr__(name):
    if name in ("build_dataset", "check_spec", "parse_spec"):
        from zoo3d.data import dataset

        return getattr(dataset, name)
    if name in ("check_dataset", "CheckReport"):
        from zoo3d.data import check

        return getattr(check, name)
    raise AttributeError(name)
