"""Hand-written mutants of the engine, the metrics and the losses, each of which the suite must kill.

    python tests/named_mutants.py            # apply each in a scratch copy, run its tests, expect a failure
    python tests/named_mutants.py --list

These are the faults that once went unnoticed (a frozen EMA, lazy phases run every step, clipping
off, a wrong R1 weight, FID without its covariance term, SSIM constants ten times too big, the
tri-plane dual-R1 raw term down-weighted) and a few more that need more than one token changed,
which a mutation tool does not generate. The copy lives in ``build/named_mutants/``; the
repository is never modified. Exit status 1 when a mutant survives (or a test fails unmutated).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mutate import COPIED, REPO, _flat, _packages

ENGINE = "zoo3d/train/engine.py"
WIRING = "tests/test_train_engine_wiring.py"

#: (name, file, original text, mutated text, tests that must fail)
MUTANTS = [
    ("EMA frozen (decay 1)", ENGINE,
     "update_ema(self.ema, self.modules[\"generator\"], decay)",
     "update_ema(self.ema, self.modules[\"generator\"], 1.0)", [f"{WIRING}::test_ema_after_n_steps_equals_its_closed_form"]),
    ("EMA with the wrong decay (d^2)", ENGINE,
     "update_ema(self.ema, self.modules[\"generator\"], decay)",
     "update_ema(self.ema, self.modules[\"generator\"], decay ** 2)",
     [f"{WIRING}::test_ema_after_n_steps_equals_its_closed_form"]),
    ("EMA decay and weight swapped", "zoo3d/train/ema.py", "list(src), 1.0 - decay)", "list(src), decay)",
     ["tests/test_train_losses.py::test_ema_averages_trained_weights_and_copies_frozen_ones",
      f"{WIRING}::test_ema_after_n_steps_equals_its_closed_form"]),
    ("Phase.every ignored", ENGINE, "if self.step % phase.every:", "if False:",
     [f"{WIRING}::test_a_lazy_phase_runs_exactly_every_k_steps"]),
    ("gradient clipping off", ENGINE, "if spec.grad_clip is not None and grads:", "if False:",
     [f"{WIRING}::test_gradient_clipping_bounds_the_global_norm_it_steps_with"]),
    ("clipping per parameter instead of the global norm", ENGINE,
     "torch.nn.utils.clip_grads_with_norm_(params, spec.grad_clip, norm)",
     "[torch.nn.utils.clip_grad_norm_([p], spec.grad_clip) for p in params]",
     [f"{WIRING}::test_clipping_keeps_the_gradient_direction"]),
    ("R1 without the 0.5", "zoo3d/train/losses.py", "return 0.5 * gamma * squared_norm.mean() * interval",
     "return gamma * squared_norm.mean() * interval",
     ["tests/test_train_losses.py::test_r1_of_a_linear_discriminator_is_half_gamma_squared_weight_norm"]),
    ("R1 without the lazy interval", "zoo3d/train/losses.py", "return 0.5 * gamma * squared_norm.mean() * interval",
     "return 0.5 * gamma * squared_norm.mean()",
     ["tests/test_train_losses.py::test_r1_of_a_linear_discriminator_is_half_gamma_squared_weight_norm"]),
    ("tri-plane dual R1: raw term x 0.1", "zoo3d/train/losses.py",
     "squared_norm = sum(at_least_float32(g).pow(2).flatten(1).sum(1) for g in grads)",
     "squared_norm = sum(at_least_float32(g).pow(2).flatten(1).sum(1) * (1.0 if i == 0 else 0.1)"
     " for i, g in enumerate(grads))",
     ["tests/test_triplane_losses.py::test_dual_r1_of_a_linear_discriminator_weighs_both_halves_equally",
      "tests/test_triplane_losses.py::test_dual_r1_penalises_both_halves"]),
    ("tri-plane: no lazy lr/beta correction", "plugins/zoo3d_triplane/model.py",
     '"discriminator": lazy_r1_interval(loss)})', '"discriminator": None})',
     ["tests/test_lazy_regularisation.py"]),
    ("StyleSDF: no lazy lr/beta correction", "plugins/zoo3d_stylesdf/model.py",
     'lazy_every={"discriminator": lazy_r1_interval(loss),', 'lazy_every={"discriminator": None,',
     ["tests/test_lazy_regularisation.py"]),
    ("FID without the covariance term", "zoo3d/eval/fid.py",
     "return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)",
     "return float(((mu_a - mu_b) ** 2).sum())",
     ["tests/test_eval_references.py::test_fid_of_diagonal_gaussians_is_the_closed_form",
      "tests/test_eval_references.py::test_fid_of_full_covariance_gaussians_is_the_closed_form"]),
    ("SSIM constants K1, K2 ten times too big", "zoo3d/eval/image_metrics.py",
     "c1, c2 = 0.01 ** 2, 0.03 ** 2", "c1, c2 = 0.1 ** 2, 0.3 ** 2",
     ["tests/test_eval_references.py::test_ssim_matches_scikit_image_on_structured_images",
      "tests/test_eval_references.py::test_ssim_matches_scikit_image_on_random_images"]),
    ("SSIM with a box window", "zoo3d/eval/image_metrics.py", "g = torch.exp(-x ** 2 / (2 * sigma ** 2))",
     "g = torch.ones_like(x)", ["tests/test_eval_references.py::test_ssim_matches_scikit_image_on_random_images"]),
    ("KID on 10 subsets", "zoo3d/eval/fid.py", "num_subsets=100", "num_subsets=10",
     ["tests/test_eval_references.py::test_kid_uses_clean_fids_protocol_and_leaves_numpys_global_rng_alone"]),
    ("data loader seeded from the process RNG", "zoo3d/train/data.py",
     "generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 500_009\n"
     "                                                            + 7_919 * self.rank), worker_init_fn=init)",
     "worker_init_fn=init)",
     [f"{WIRING}::test_loading_real_batches_leaves_the_process_rng_alone",
      "tests/test_resume_every_model.py::test_resume_mid_stage_continues_like_an_uninterrupted_run[triplane]"]),
]


def lay_out(work: Path) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    # packages side by side one level down (each plugin carries its presets and model card)
    shutil.copytree(REPO / "zoo3d", work / "pkgs" / "zoo3d", ignore=ignore)
    for pkg in _packages()[1:]:
        shutil.copytree(REPO / "plugins" / pkg, work / "pkgs" / pkg, ignore=ignore)
    for name in COPIED:
        if (REPO / name).exists():
            shutil.copytree(REPO / name, work / name, ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", work / "pyproject.toml")


def run_tests(work: Path, tests: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(work / "pkgs"), "OMP_NUM_THREADS": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("ZOO3D_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests], cwd=work,
                          env=env, capture_output=True, text=True).returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        for name, path, old, new, tests in MUTANTS:
            print(f"{name}: {path}: {old!r} -> {new!r}; {', '.join(tests)}")
        return 0
    work = REPO / "build" / "named_mutants"
    lay_out(work)
    failures = 0
    every_test = sorted({t for *_, tests in MUTANTS for t in tests})
    if run_tests(work, every_test) != 0:
        print("The tests fail on the unmutated code; fix that first.")
        return 1
    print("| mutant | file | killed by | result |\n| --- | --- | --- | --- |")
    for name, path, old, new, tests in MUTANTS:
        target = work / "pkgs" / _flat(path)
        source = target.read_text()
        if source.count(old) != 1:
            print(f"| {name} | {path} | - | the original text is not found once: update this script |")
            failures += 1
            continue
        target.write_text(source.replace(old, new))
        try:
            rc = run_tests(work, tests)
        finally:
            target.write_text(source)
        killed = rc == 1
        failures += not killed
        print(f"| {name} | {path} | {', '.join(t.split('::')[-1] for t in tests)} | "
              f"{'killed' if killed else f'SURVIVED (pytest exit {rc})'} |", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
