"""zoo3d: a plugin-based zoo of 3D-aware GANs.

Importing this package is cheap on purpose (no torch): the CLI's ``--help`` and the
plugin listing must stay fast.  Plugins mark their hook functions with
:data:`hookimpl`::

    from zoo3d import hookimpl

    @hookimpl
    def zoo3d_register_models(register):
        register(ModelSpec(name="mine", factory="my_pkg.model:MyModel"))
"""

from pluggy import HookimplMarker

__version__ = "0.1.0"

#: Marker for plugin hook implementations (pluggy project name ``zoo3d``).
hookimpl = HookimplMarker("zoo3d")

__all__ = ["hookimpl", "__version__"]
