"""The core interfaces: representations, renderers, generators, inverters, discriminators, model plugins."""

from zoo3d.core.discriminator import Discriminator
from zoo3d.core.generator import Generator
from zoo3d.core.inverter import InversionResult, Inverter
from zoo3d.core.model import (LossResult, ModelPlugin, OptimizerSpec, Phase, RealBatch, Stage, StepContext,
                              lazy_corrected, stage_optimizers)
from zoo3d.core.outputs import DiscriminatorOutput, RenderOutput
from zoo3d.core.renderer import Renderer
from zoo3d.core.representation import FieldRepresentation, ManifoldRepresentation, Radiance

__all__ = [
    "Discriminator", "DiscriminatorOutput", "FieldRepresentation", "Generator", "InversionResult", "Inverter",
    "LossResult", "ManifoldRepresentation", "ModelPlugin", "OptimizerSpec", "Phase", "Radiance", "RealBatch",
    "RenderOutput", "Renderer", "Stage", "StepContext", "lazy_corrected", "stage_optimizers",
]
