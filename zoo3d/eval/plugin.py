"""Registers the built-in metrics through the same hooks a third party uses."""

from zoo3d import hookimpl
from zoo3d.specs import MetricSpec

_BUILTIN = [
    ("neus", "zoo3d.eval.neus.metric:NeusMetric", True,
     "detail a NeuS fit of 30 yaw-swept views explains with their true cameras, not permuted ones; "
     "its PSNR/SSIM (GRAM-HD Table 2)"),
    ("epi", "zoo3d.eval.epi:EpiMetric", False, "epipolar-image roughness of a yaw sweep (GRAM-HD Fig. 5)"),
    ("depth", "zoo3d.eval.depth:DepthMetric", False, "modified Chamfer between back-projected depth maps (StyleSDF)"),
    ("swd", "zoo3d.eval.swd:SwdMetric", False, "sliced Wasserstein distance on Laplacian-pyramid patches"),
    ("diversity", "zoo3d.eval.diversity:DiversityMetric", True,
     "variety of samples relative to the dataset (network-free features; 1 = as varied)"),
    ("detail", "zoo3d.eval.detail:DetailMetric", True,
     "fine detail (image variance above half the Nyquist frequency) relative to the dataset; 1 = as much"),
    ("fid", "zoo3d.eval.fid:FidMetric", False, "Frechet Inception distance (clean-fid) against the dataset"),
    ("kid", "zoo3d.eval.fid:KidMetric", False, "kernel Inception distance (clean-fid) against the dataset"),
    ("speed", "zoo3d.eval.speed:SpeedMetric", False, "seconds and peak memory per generated image"),
]


@hookimpl
def zoo3d_register_metrics(register):
    for name, factory, higher, summary in _BUILTIN:
        register(MetricSpec(name=name, factory=factory, higher_is_better=higher, summary=summary))
