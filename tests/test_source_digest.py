"""The source digest names the code that ran (not a checkout's HEAD), and gpu_check records it."""

import re
import shutil
import subprocess
from pathlib import Path

from conftest import REPO, benchmark_script
from zoo3d.benchmarks.source import package_roots, source_digest


def _tree(root: Path) -> dict[str, Path]:
    pkg = root / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("x = 1\n")
    (pkg / "sub" / "preset.yaml").write_text("steps: 2\n")
    return {"pkg": pkg}


def test_digest_depends_on_content_not_location(tmp_path):
    a = _tree(tmp_path / "a")
    b_root = tmp_path / "elsewhere" / "b"
    shutil.copytree(a["pkg"], b_root / "pkg")
    assert source_digest(a) == source_digest({"pkg": b_root / "pkg"})

    (b_root / "pkg" / "sub" / "preset.yaml").write_text("steps: 3\n")  # a preset changes what runs
    assert source_digest(a) != source_digest({"pkg": b_root / "pkg"})


def test_digest_ignores_caches_and_other_files_but_not_renames(tmp_path):
    roots = _tree(tmp_path)
    before = source_digest(roots)
    (roots["pkg"] / "__pycache__").mkdir()
    (roots["pkg"] / "__pycache__" / "mod.py").write_text("stale")
    (roots["pkg"] / "notes.txt").write_text("not code")
    assert source_digest(roots) == before
    (roots["pkg"] / "__init__.py").rename(roots["pkg"] / "other.py")
    assert source_digest(roots) != before


def test_default_roots_are_zoo3d_and_every_registered_plugin():
    roots = package_roots()
    for name in ("zoo3d", "zoo3d_gram", "zoo3d_gram_hd", "zoo3d_gram_inverter", "zoo3d_triplane",
                 "zoo3d_stylesdf", "zoo3d_pigan", "zoo3d_oracle"):
        assert (roots[name] / "__init__.py").is_file(), name


def _gpu_check():
    return benchmark_script("gpu_check")


def test_gpu_check_records_the_digest_and_a_head_only_when_the_tree_matches_it(tmp_path):
    check = _gpu_check().Check(tmp_path, "cpu", small=True, dry_run=True)
    info = check.environment()
    assert info["source_sha256"] == source_digest()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                            text=True, cwd=REPO)
    if status.returncode:
        return  # not a git checkout: only the digest is recorded
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    if status.stdout.strip():
        assert "commit" not in info and info["checkout_head"] == head and info["checkout_modified"]
    else:
        assert info["commit"] == head and "checkout_head" not in info


def test_gpu_check_smoke_runs_every_stage_the_preset_names(tmp_path):
    module = _gpu_check()
    jobs = {job["model"]: job for job in module.Check(tmp_path, "cpu", small=True, dry_run=True).smoke_jobs()}
    assert module._preset_stages("stylesdf", "ffhq1024") == ["sphere_init", "volume_renderer", "decoder"]
    for model, job in jobs.items():
        stages = module._preset_stages(model, job["preset"])
        assert stages, model
        for stage in stages:
            assert f"stages.{stage}.steps=2" in job["sets"], (model, stage)


def test_gpu_check_zoo_part_runs_the_documented_paper_command_and_only_when_named(tmp_path, capsys):
    module = _gpu_check()
    doc = (REPO / "docs" / "zoo.md").read_text()
    documented = re.search(r"ZOO3D_ZOO_PRESETS=(\S+) \\", doc).group(1)
    assert dict(item.split("=") for item in documented.split(",")) == module.ZOO_PAPER_PRESETS
    assert "ZOO3D_ZOO_SET='train.micro_batch=4'" in doc
    check = module.Check(tmp_path, "cuda", small=False, dry_run=True)
    env = check.zoo(100)["env"]
    assert env["ZOO3D_ZOO_PROTOCOL"] == "paper" and env["ZOO3D_ZOO_SET"] == "train.micro_batch=4"
    assert env["ZOO3D_ZOO_PRESETS"] == documented and env["ZOO3D_ZOO_STEPS"] == "2"
    assert "zoo3d bench zoo --device cuda" in capsys.readouterr().out
    parts = check.main()["parts"]  # every part: the plan of a whole check
    assert "amp" in parts and "zoo" not in parts  # longer than the rest together: never run unless named
    assert {name: part["status"] for name, part in parts.items() if part["status"] != "planned"} == {}
    named = module.Check(tmp_path, "cuda", small=False, dry_run=True)
    named.only = {"zoo"}
    assert list(named.main()["parts"]) == ["zoo"]
