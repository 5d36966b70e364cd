"""Print what the parity tests measure: for every fixture in tests/fixtures/parity, each quantity's
largest absolute difference between zoo3d and the authors' recorded outputs, beside the bound its test
asserts. No checkout of the authors' code is needed: the fixtures hold its outputs.

    python tools/parity/measure.py

The measured figures move in their last digits from one CPU, thread count or torch build to another
(fp32 rounding); the bounds are what the tests guarantee. docs/pretrained.md quotes both.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def measured():
    """{fixture: (differences, bounds its test asserts)} for every parity fixture."""
    sys.path.insert(0, str(REPO / "tests"))
    import test_parity_gram as gram
    import test_parity_gram_hd as gram_hd
    import test_parity_pigan as pigan
    import test_parity_stylesdf as stylesdf
    import test_triplane_parity as triplane
    from parity_replay import load_fixture, replay_gram, replay_gram_hd

    parity = pigan.replay()
    views = [pigan.view_diffs(parity, view) for view in range(3)]
    return {
        "gram (FFHQ_default)": (replay_gram(*load_fixture(gram.FIXTURE)), gram.BOUNDS),
        "gram (CARLA_default)": (replay_gram(*load_fixture(gram.CARLA_FIXTURE)), gram.BOUNDS),
        "gram_hd": (replay_gram_hd(*load_fixture(gram_hd.FIXTURE)), gram_hd.BOUNDS),
        "stylesdf": (stylesdf.measure(stylesdf.replay()), stylesdf.BOUNDS),
        "pigan": ({k: max(v[k] for v in views) for k in views[0]}, pigan.BOUNDS),
        "triplane (FFHQ)": (triplane.replay("ffhq"), triplane.BOUNDS),
        "triplane (ShapeNet)": (triplane.replay("shapenet"), triplane.BOUNDS),
    }


def main() -> None:
    import torch

    torch.set_grad_enabled(False)
    results = measured()
    from parity_replay import within_bounds

    print(f"{'fixture':<22} {'quantity':<30} {'measured':>9} {'bound':>7}")
    ok = all([within_bounds({k: diffs[k] for k in bounds}, bounds, fixture)
              for fixture, (diffs, bounds) in results.items()])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
