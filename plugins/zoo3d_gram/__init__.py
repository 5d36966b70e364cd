"""GRAM (Deng et al., CVPR 2022) as a zoo3d plugin, and the public API of the GRAM family.

GRAM-HD and GRAMInverter build on GRAM (their model specs declare ``requires=("gram",)``) and import
from it only the names listed here; the modules behind them are this package's own business and may
change. The names are resolved lazily, so registering the plugin (``zoo3d_gram.plugin``) imports no torch.

Configuration: :class:`GramConfig` (a run), :class:`GeneratorConfig` with its :class:`ManifoldConfig`,
:class:`RadianceConfig` and :class:`RenderConfig`, :class:`DiscriminatorConfig`, :class:`LossConfig` (a
:class:`zoo3d.config.GanLossConfig` with GRAM's weights); the recipe's one stage is ``stages.gram``.
Networks: :class:`GramGenerator` (``represent`` -> :class:`GramRepresentation` -> ``render``),
:class:`ManifoldPredictor` (the shared scalar field s(x)), :func:`widened_sigmoid` (GRAM's colour activation).
Training: :func:`gram_phases` (GRAM's adversarial phases for any GRAM-like generator and discriminator),
:func:`render_fakes`, :func:`build_discriminator`.
Releases: :func:`lowres_state_from_upstream` (an upstream GRAM representation's tensors in zoo3d's names),
:func:`release_weights` and :func:`lowres_settings` (a release's 2-D weights in GRAM's parameter order, and the
widths and depths they show).
"""

_API = {
    "GramConfig": "zoo3d_gram.config",
    "GeneratorConfig": "zoo3d_gram.config",
    "ManifoldConfig": "zoo3d_gram.config",
    "RadianceConfig": "zoo3d_gram.config",
    "RenderConfig": "zoo3d_gram.config",
    "DiscriminatorConfig": "zoo3d_gram.config",
    "LossConfig": "zoo3d_gram.config",
    "GramGenerator": "zoo3d_gram.generator",
    "GramRepresentation": "zoo3d_gram.representation",
    "ManifoldPredictor": "zoo3d_gram.networks",
    "widened_sigmoid": "zoo3d_gram.networks",
    "build_discriminator": "zoo3d_gram.model",
    "gram_phases": "zoo3d_gram.model",
    "lowres_state_from_upstream": "zoo3d_gram.upstream",
    "lowres_settings": "zoo3d_gram.upstream",
    "release_weights": "zoo3d_gram.upstream",
    "render_fakes": "zoo3d_gram.model",
}


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'zoo3d_gram' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))


__all__ = sorted(_API)
