"""The checkpoint module function by function: names, pointers, retention, the file checks, the format-1 upgrade.

Each answer is written out by hand (a file name, a pointer's text, which files a prune leaves, the
error sentence's facts), on small files made here; no training run is needed.
"""

import errno
import json
import struct

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from zoo3d.fileio import WriteError
from zoo3d.train import checkpoint as ckpt
from zoo3d.train.checkpoint import CheckpointError

META = {"zoo3d.model": "toy"}


def _write(path, tensors=None, meta=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors if tensors is not None else {"generator.w": torch.ones(2)}, str(path),
              metadata=META if meta is None else meta)
    return path


def _run_with(tmp_path, steps):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for s in steps:
        _write(run / "checkpoints" / ckpt.checkpoint_name(s), {"generator.w": torch.full((2,), float(s))})
    return run


def _one_sentence(message: str) -> bool:
    return "\n" not in message and message.rstrip().endswith(".")


# ------------------------------------------------------------------------------- writing

def test_cpu_copy_shares_no_storage_and_is_contiguous():
    base = torch.arange(6.0, requires_grad=True)
    view = base.detach().reshape(2, 3).t()  # a non-contiguous view of base's storage
    copy = ckpt._cpu_copy(view)
    assert copy.is_contiguous() and not copy.requires_grad
    assert torch.equal(copy, torch.tensor([[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]))
    plain = torch.zeros(3)
    copy = ckpt._cpu_copy(plain)
    plain += 1  # the copy must not see a later in-place update of the original
    assert torch.equal(copy, torch.zeros(3))


def test_write_safetensors_stores_aliased_and_strided_tensors_and_the_metadata(tmp_path):
    weight = torch.arange(12.0).reshape(3, 4)
    tensors = {"generator.w": weight, "ema.w": weight, "generator.t": weight.t(),
               "rng.torch": torch.arange(3, dtype=torch.uint8)}
    path = tmp_path / "sub" / "step.safetensors"
    assert ckpt.write_safetensors(tensors, {"zoo3d.model": "toy", "zoo3d.step": "7"}, path) == path
    back = load_file(str(path))
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert torch.equal(back[k], v) and back[k].dtype == v.dtype, k
    with safe_open(str(path), "pt") as fh:
        assert fh.metadata() == {"zoo3d.model": "toy", "zoo3d.step": "7"}
    assert sorted(p.name for p in path.parent.iterdir()) == ["step.safetensors"]  # no temporary file left


def test_a_full_disk_during_a_checkpoint_write_says_so_and_leaves_the_old_file(tmp_path, monkeypatch):
    import safetensors.torch

    path = _write(tmp_path / "step.safetensors")
    before = path.read_bytes()

    def full(tensors, filename, metadata=None):
        with open(filename, "wb") as fh:
            fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(WriteError) as err:
        ckpt.write_safetensors({"generator.w": torch.zeros(1)}, META, path)
    assert str(err.value) == f"Cannot write checkpoint '{path}': the disk is full; nothing was half-written."
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["step.safetensors"]


def test_checkpoint_names_sort_by_step():
    assert ckpt.checkpoint_name(42) == "step_000000042.safetensors"
    assert ckpt.checkpoint_name(0) == "step_000000000.safetensors"
    names = [ckpt.checkpoint_name(s) for s in (9, 10, 123456789)]
    assert names == sorted(names)


def test_latest_is_a_relative_one_line_pointer(tmp_path):
    run = _run_with(tmp_path, [3])
    target = run / "checkpoints" / ckpt.checkpoint_name(3)
    ckpt.set_latest(run, target)
    assert (run / "latest").read_text() == "checkpoints/step_000000003.safetensors\n"
    assert ckpt.latest_pointer(run) == target.resolve() and ckpt.read_latest(run) == target.resolve()
    ckpt.write_text_atomic(run / "latest", "  checkpoints/step_000000003.safetensors  \n\n")
    assert ckpt.latest_pointer(run) == target.resolve()


def test_latest_pointer_without_a_readable_pointer_is_none_and_a_dangling_one_is_named(tmp_path):
    run = _run_with(tmp_path, [3])
    assert ckpt.latest_pointer(run) is None and ckpt.read_latest(run) is None  # no pointer file
    (run / "latest").write_text(" \n")
    assert ckpt.latest_pointer(run) is None  # empty
    (run / "latest").write_bytes(b"\xff\xfe\x00")
    assert ckpt.latest_pointer(run) is None  # not UTF-8
    (run / "latest").write_text("checkpoints/step_000000009.safetensors\n")
    assert ckpt.latest_pointer(run) == (run / "checkpoints" / "step_000000009.safetensors").resolve()
    assert ckpt.read_latest(run) is None  # names a file that is not there
    (run / "latest").write_text("checkpoints\n")
    assert ckpt.read_latest(run) is None  # names a folder


def test_list_checkpoints_is_newest_step_first_and_ignores_other_files(tmp_path):
    assert ckpt.list_checkpoints(tmp_path / "nothing") == []
    run = _run_with(tmp_path, [])
    folder = run / "checkpoints"
    for name in ("step_9.safetensors", "step_10.safetensors", "step_000000002.safetensors",
                 "step_x.safetensors", "step_5.safetensors.tmp", "other.safetensors", ".step_7.safetensors.tmp-1"):
        (folder / name).write_bytes(b"")
    (folder / "step_11.safetensors").mkdir()
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step_10.safetensors", "step_9.safetensors",
                                                           "step_000000002.safetensors"]


def test_prune_keeps_the_newest_and_never_the_one_latest_names(tmp_path):
    run = _run_with(tmp_path, [1, 2, 3, 4])
    (run / "checkpoints" / "step_12.safetensors").write_bytes(b"")  # newer than step 4 by number, not by name
    (run / "checkpoints" / "notes.safetensors").write_bytes(b"")
    ckpt.set_latest(run, run / "checkpoints" / ckpt.checkpoint_name(1))
    removed = ckpt.prune_checkpoints(run, keep=2)
    assert [p.name for p in removed] == ["step_000000002.safetensors", "step_000000003.safetensors"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "notes.safetensors", "step_000000001.safetensors", "step_000000004.safetensors", "step_12.safetensors"]
    assert [p.name for p in ckpt.prune_checkpoints(run, keep=0)] == ["step_000000004.safetensors",
                                                                      "step_12.safetensors"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["notes.safetensors",
                                                                       "step_000000001.safetensors"]


def test_prune_without_a_latest_pointer_keeps_exactly_the_newest(tmp_path):
    run = _run_with(tmp_path, [5, 6, 7])
    assert [p.name for p in ckpt.prune_checkpoints(run, keep=1)] == ["step_000000005.safetensors",
                                                                      "step_000000006.safetensors"]
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step_000000007.safetensors"]


# ------------------------------------------------------------------ finding the checkpoint

def test_find_checkpoint_follows_latest(tmp_path):
    run = _run_with(tmp_path, [2, 4])
    ckpt.set_latest(run, run / "checkpoints" / ckpt.checkpoint_name(2))
    assert ckpt.find_checkpoint(run) == ((run / "checkpoints" / ckpt.checkpoint_name(2)).resolve(), None)
    assert ckpt.find_checkpoint(tmp_path / "empty") == (None, None)


def test_find_checkpoint_without_latest_takes_the_newest_loadable_one_and_says_so(tmp_path):
    run = _run_with(tmp_path, [2, 4, 6])
    (run / "checkpoints" / ckpt.checkpoint_name(6)).write_bytes(b"\x00" * 4)  # cut off
    path, note = ckpt.find_checkpoint(run)
    assert path == run / "checkpoints" / ckpt.checkpoint_name(4)
    assert note == ("the run has no 'latest' pointer; using the newest loadable checkpoint "
                    "'checkpoints/step_000000004.safetensors' instead.")
    (run / "latest").write_bytes(b"\xff\xfe")
    path, note = ckpt.find_checkpoint(run)
    assert path == run / "checkpoints" / ckpt.checkpoint_name(4)
    assert note == ("'latest' cannot be read; using the newest loadable checkpoint "
                    "'checkpoints/step_000000004.safetensors' instead.")


def test_find_checkpoint_with_a_dangling_or_broken_latest_falls_back(tmp_path):
    run = _run_with(tmp_path, [2, 4])
    (run / "latest").write_text("checkpoints/step_000000008.safetensors\n")
    path, note = ckpt.find_checkpoint(run)
    assert path == run / "checkpoints" / ckpt.checkpoint_name(4)
    assert note == ("'latest' names 'checkpoints/step_000000008.safetensors', which does not exist; using the "
                    "newest loadable checkpoint 'checkpoints/step_000000004.safetensors' instead.")
    newest = run / "checkpoints" / ckpt.checkpoint_name(4)
    newest.write_bytes(newest.read_bytes()[:-3])  # truncated: latest names it, the fallback skips it
    ckpt.set_latest(run, newest)
    path, note = ckpt.find_checkpoint(run)
    assert path == run / "checkpoints" / ckpt.checkpoint_name(2)
    assert note == ("'latest' names 'checkpoints/step_000000004.safetensors', which cannot be loaded; using the "
                    "newest loadable checkpoint 'checkpoints/step_000000002.safetensors' instead.")


def test_find_checkpoint_with_nothing_loadable_raises_latests_error_or_finds_nothing(tmp_path):
    run = _run_with(tmp_path, [4])
    only = run / "checkpoints" / ckpt.checkpoint_name(4)
    only.write_bytes(only.read_bytes()[:-3])
    ckpt.set_latest(run, only)
    with pytest.raises(CheckpointError, match="is truncated"):
        ckpt.find_checkpoint(run)
    only.unlink()
    assert ckpt.find_checkpoint(run) == (None, None)  # latest dangles and there is nothing else


def test_rel_names_a_path_relative_to_the_run_or_whole(tmp_path):
    assert ckpt._rel(tmp_path / "run" / "a" / "b.safetensors", tmp_path / "run") == "'a/b.safetensors'"
    assert ckpt._rel(tmp_path / "elsewhere.safetensors", tmp_path / "run") == f"'{tmp_path / 'elsewhere.safetensors'}'"


# -------------------------------------------------------------- flattening state dicts

def test_prefixed_and_unprefixed_are_inverse_and_respect_the_dot():
    state = {"w": torch.ones(1), "b": torch.zeros(1), "_extra": 3}
    flat = ckpt.prefixed("modules.D", state)
    assert sorted(flat) == ["modules.D.b", "modules.D.w"]
    assert flat["modules.D.w"] is state["w"]
    mixed = {**flat, "modules.DD.w": torch.ones(1), "modules.D": torch.ones(1), "generator.w": torch.ones(1)}
    back = ckpt.unprefixed("modules.D", mixed)
    assert sorted(back) == ["b", "w"] and back["w"] is state["w"]


def test_flatten_optimizer_names_each_state_tensor_and_keeps_the_rest_as_json():
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters(), lr=0.5, betas=(0.0, 0.99))
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    opt.state[net.bias]["note"] = "kept"  # a non-tensor entry
    tensors, extra = ckpt.flatten_optimizer("G", opt)
    assert sorted(tensors) == ["optim.G.0.exp_avg", "optim.G.0.exp_avg_sq", "optim.G.0.step",
                               "optim.G.1.exp_avg", "optim.G.1.exp_avg_sq", "optim.G.1.step"]
    assert tensors["optim.G.1.exp_avg"] is opt.state[net.bias]["exp_avg"]
    assert extra["scalars"] == {"1": {"note": "kept"}}
    assert extra["param_groups"] == opt.state_dict()["param_groups"]
    extra = json.loads(json.dumps(extra))
    sd = ckpt.unflatten_optimizer("G", {**tensors, "optim.GG.0.step": torch.ones(())}, extra)
    assert sorted(sd["state"]) == [0, 1]
    assert sd["state"][1]["note"] == "kept" and torch.equal(sd["state"][1]["exp_avg"], tensors["optim.G.1.exp_avg"])
    # copies: Adam updates its state in place, which must not reach the tensors read from a checkpoint
    assert sd["state"][1]["exp_avg"].data_ptr() != tensors["optim.G.1.exp_avg"].data_ptr()
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert sd["param_groups"][0]["betas"] == (0.0, 0.99) and sd["param_groups"][0]["lr"] == 0.5
    assert sd["param_groups"][0]["params"] == [0, 1]


def test_unflatten_keeps_scalars_of_a_parameter_without_tensors_and_betas_of_other_types():
    extra = {"param_groups": [{"params": [0], "lr": 1.0}, {"params": [1], "betas": (0.5, 0.9)}],
             "scalars": {"0": {"count": 4}}}
    sd = ckpt.unflatten_optimizer("E", {}, extra)
    assert sd["state"] == {0: {"count": 4}}
    assert sd["param_groups"] == [{"params": [0], "lr": 1.0}, {"params": [1], "betas": (0.5, 0.9)}]
    assert extra["param_groups"][0] == {"params": [0], "lr": 1.0}  # the stored groups are not edited
    assert ckpt.unflatten_optimizer("E", {}, {"param_groups": []}) == {"state": {}, "param_groups": []}
    dotted = torch.ones(2)  # a state field whose own name holds a dot stays whole
    (state,) = ckpt.unflatten_optimizer("E", {"optim.E.3.buf.fast": dotted}, {"param_groups": []})["state"].items()
    assert state[0] == 3 and list(state[1]) == ["buf.fast"] and torch.equal(state[1]["buf.fast"], dotted)


@pytest.mark.parametrize("names, stored, version, expected", [
    (["generator", "discriminator"], ["generator", "discriminator"], "2", {"generator": "generator",
                                                                          "discriminator": "discriminator"}),
    (["generator", "discriminator"], ["G", "D"], "2", {}),  # format 2 is never renamed
    (["generator", "discriminator"], ["G", "D"], "1", {"generator": "G", "discriminator": "D"}),
    (["generator", "discriminator"], ["decoder", "decoder_discriminator"], "1",
     {"generator": "decoder", "discriminator": "decoder_discriminator"}),
    (["encoder", "detail"], ["E", "R", "G"], "1", {"encoder": "E", "detail": "R"}),
    (["generator"], ["generator", "G"], "1", {"generator": "generator"}),  # its own name wins
    (["generator", "G"], ["G"], "1", {"G": "G"}),  # 'G' is another optimiser's own name
    (["discriminator"], ["G"], "1", {}),
])
def test_stored_optimizer_names_upgrade_format_1_roles(names, stored, version, expected):
    assert ckpt.stored_optimizer_names(names, dict.fromkeys(stored, {}), version) == expected


def test_rng_state_round_trips_on_the_cpu():
    torch.manual_seed(3)
    tensors = ckpt.rng_tensors(torch.device("cpu"))
    assert sorted(tensors) == ["rng.torch"] and torch.equal(tensors["rng.torch"], torch.get_rng_state())
    expected = torch.rand(4)
    ckpt.restore_rng({"rng.torch": tensors["rng.torch"].to(torch.int64)}, torch.device("cpu"))  # any int dtype
    assert torch.equal(torch.rand(4), expected)
    ckpt.restore_rng({}, torch.device("cpu"))  # nothing stored: the state is left alone
    after = torch.rand(4)
    assert not torch.equal(after, expected)



# ------------------------------------------------------------------------------- reading

@pytest.mark.parametrize("head, pickled", [
    (b"PK\x03\x04" + b"\x00" * 5, True),  # torch.save zip archive
    (b"\x80\x02" + b"\x00" * 7, True), (b"\x80\x03" + b"\x00" * 7, True), (b"\x80\x05" + b"\x00" * 7, True),
    (b"\x80\x04", True),
    (b"\x80\x02" + b"\x00" * 6 + b'{"x":', False),  # a longer head: still the '{' at offset 8
    (b"\x80\x06" + b"\x00" * 7, False), (b"\x80\x01" + b"\x00" * 7, False),
    (b"\x80\x02" + b"\x00" * 6 + b"{", False),  # a safetensors header length that starts with 0x80
    (b"PK\x00\x00\x00\x00\x00\x00{", False),
    (b"P", False), (b"", False), (b"\x00" * 9, False),
])
def test_looks_pickled(head, pickled):
    assert ckpt.looks_pickled(head) is pickled


def test_check_checkpoint_file_refuses_missing_folders_and_pickle_suffixes(tmp_path):
    good = _write(tmp_path / "ok.safetensors")
    assert ckpt.check_checkpoint_file(str(good)) == good
    with pytest.raises(CheckpointError) as err:
        ckpt.check_checkpoint_file(tmp_path / "gone.safetensors")
    assert str(err.value) == f"Checkpoint '{tmp_path / 'gone.safetensors'}' does not exist."
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file") as err:
        ckpt.check_checkpoint_file(tmp_path)
    assert _one_sentence(str(err.value))
    for name in ("weights.PT", "model.ckpt", "a.bin", "b.tar", "c.pickle", "d.pth"):
        path = tmp_path / name
        path.write_bytes(good.read_bytes())  # a valid safetensors body under a pickle name is still refused
        with pytest.raises(CheckpointError, match="is a pickle-based file") as err:
            ckpt.check_checkpoint_file(path)
        assert _one_sentence(str(err.value)) and str(path) in str(err.value)


def test_read_metadata_reads_the_header_and_refuses_foreign_files(tmp_path):
    path = _write(tmp_path / "ok.safetensors", meta={"zoo3d.model": "toy", "zoo3d.step": "12"})
    assert ckpt.read_metadata(path) == {"zoo3d.model": "toy", "zoo3d.step": "12"}
    other = _write(tmp_path / "other.safetensors", meta={"name": "x"})
    with pytest.raises(CheckpointError) as err:
        ckpt.read_metadata(other)
    assert str(err.value) == (f"'{other}' is a safetensors file but not a zoo3d checkpoint (no 'zoo3d.model' "
                              f"in its metadata).")
    bare = tmp_path / "bare.safetensors"
    save_file({"x": torch.zeros(1)}, str(bare))  # no metadata at all
    with pytest.raises(CheckpointError, match="not a zoo3d checkpoint"):
        ckpt.read_metadata(bare)
    empty = _write(tmp_path / "empty.safetensors", tensors={})  # metadata only: nothing to be cut off
    assert ckpt.read_metadata(empty) == META


def test_read_metadata_notices_a_file_cut_anywhere(tmp_path):
    path = _write(tmp_path / "ok.safetensors", {"generator.a": torch.ones(3), "generator.b": torch.ones(5)})
    data = path.read_bytes()
    for cut in (len(data) - 1, len(data) - 20, 12, 4):  # inside the last tensor, the first, the header, its length
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as err:
            ckpt.read_metadata(bad)
        assert f"Checkpoint '{bad}' is truncated" in str(err.value) and _one_sentence(str(err.value))
        try:  # the reason is safetensors' own, first line only
            with safe_open(str(bad), "pt"):
                raise AssertionError("safetensors opened a cut file")
        except Exception as exc:  # noqa: BLE001 - whatever safetensors raises
            reason = str(exc).strip().splitlines()[0]
        assert str(err.value) == f"Checkpoint '{bad}' is truncated or corrupt ({reason})."


def test_a_file_that_is_no_safetensors_file_is_not_called_a_cut_checkpoint(tmp_path):
    """A PNG, a YAML or a PLY given as a checkpoint was 'truncated or corrupt (header too large)'."""
    for name, data in (("grid.png", b"\x89PNG\r\n\x1a\n" + bytes(64)), ("config.yaml", b"model: gram\ntrain: {}\n")):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(CheckpointError, match=f"'{tmp_path / name}' is not a checkpoint: it does not begin with a "
                                                  f"safetensors header"):
            ckpt.read_metadata(tmp_path / name)


def test_expected_size_is_header_plus_the_last_tensors_end(tmp_path):
    path = _write(tmp_path / "a.safetensors", {"generator.a": torch.ones(3),
                                               "generator.b": torch.ones(2, 2, dtype=torch.float64)})
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert ckpt._expected_size(path) == 8 + n + 3 * 4 + 4 * 8
    empty = _write(tmp_path / "e.safetensors", {})
    (n,) = struct.unpack("<Q", empty.read_bytes()[:8])
    assert ckpt._expected_size(empty) == 8 + n


@pytest.mark.parametrize("key, value, ok", [
    ("zoo3d.step", "12", True), ("zoo3d.step", " 7 ", True), ("zoo3d.step", "0", True),
    ("zoo3d.step", "-1", False), ("zoo3d.step", "1.5", False), ("zoo3d.step", "", False),
    ("zoo3d.step", "\u0663", False),  # an Arabic-Indic three: isdigit, but not ASCII
    ("zoo3d.stage_index", "x", False), ("zoo3d.stage_step", "x", False), ("zoo3d.data_cursor", "x", False),
    ("zoo3d.world_size", "x", False),
    ("zoo3d.config", "{}", True), ("zoo3d.config", "[]", False), ("zoo3d.config", "{", False),
    ("zoo3d.optim", "1", False), ("zoo3d.scaler", "null", False), ("zoo3d.state", '"{}"', False),
    ("zoo3d.stage", "x", True),  # free text
])
def test_metadata_values_are_checked(tmp_path, key, value, ok):
    path = _write(tmp_path / "m.safetensors", meta={**META, key: value})
    if ok:
        assert ckpt.read_metadata(path)[key] == value
        return
    with pytest.raises(CheckpointError) as err:
        ckpt.read_metadata(path)
    kind = "a whole number >= 0" if key in ckpt.INT_KEYS else "a JSON object"
    assert f"has metadata {key}" in str(err.value) and kind in str(err.value), str(err.value)
    assert str(path) in str(err.value) and _one_sentence(str(err.value))
    if key in ckpt.INT_KEYS:
        assert f"{key} = {value!r}," in str(err.value)


def test_a_long_bad_metadata_value_is_quoted_cut_to_40_characters(tmp_path):
    path = _write(tmp_path / "m.safetensors", meta={**META, "zoo3d.step": "x" * 50})
    with pytest.raises(CheckpointError) as err:
        ckpt.read_metadata(path)
    assert f"zoo3d.step = '{'x' * 40}', which" in str(err.value)


def test_metadata_int():
    assert ckpt.metadata_int({"zoo3d.step": "12"}, "zoo3d.step") == 12
    assert ckpt.metadata_int({}, "zoo3d.step") == 0
    assert ckpt.metadata_int({}, "zoo3d.world_size", 1) == 1


def test_check_finite_names_the_first_bad_weight_and_counts_it():
    ok = {"rng.torch": torch.tensor([float("nan")]), "state.x": torch.tensor([float("inf")]),
          "generator.i": torch.tensor([1, 2]), "other.w": torch.tensor([float("nan")])}
    ckpt.check_finite(ok, "f")  # RNG states, plain state, integers and other namespaces may hold anything
    for prefix in ("generator.", "ema.", "modules.", "disc.", "optim."):
        bad = {**ok, prefix + "w": torch.tensor([[1.0, float("nan")], [float("-inf"), 0.0], [2.0, 3.0]])}
        with pytest.raises(CheckpointError) as err:
            ckpt.check_finite(bad, "f.safetensors")
        assert str(err.value) == ("Checkpoint 'f.safetensors' holds non-finite values (NaN or Inf) in tensor "
                                  f"'{prefix}w' (2 of 6 values); it cannot be used, take an earlier checkpoint.")


def test_read_checkpoint_returns_tensors_and_metadata_and_refuses_non_finite_weights(tmp_path):
    tensors = {"generator.w": torch.tensor([1.0, 2.0]), "rng.torch": torch.arange(4, dtype=torch.uint8)}
    path = _write(tmp_path / "ok.safetensors", tensors, {**META, "zoo3d.step": "3"})
    back, meta = ckpt.read_checkpoint(path, device=torch.device("cpu"))
    assert meta == {**META, "zoo3d.step": "3"} and sorted(back) == sorted(tensors)
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    nan = _write(tmp_path / "nan.safetensors", {"ema.w": torch.tensor([float("nan")])})
    with pytest.raises(CheckpointError, match="holds non-finite values") as err:
        ckpt.read_checkpoint(nan)
    assert str(err.value).startswith(f"Checkpoint '{nan}' holds")


def test_read_checkpoint_turns_a_load_failure_into_one_sentence(tmp_path, monkeypatch):
    import safetensors.torch

    path = _write(tmp_path / "ok.safetensors")

    def broken(filename, device="cpu"):
        raise RuntimeError("bad data offsets\nsecond line")

    monkeypatch.setattr(safetensors.torch, "load_file", broken)
    with pytest.raises(CheckpointError) as err:
        ckpt.read_checkpoint(path)
    assert str(err.value) == f"Checkpoint '{path}' is truncated or corrupt (bad data offsets)."


def test_first_line():
    assert ckpt._first_line(ValueError("  one\ntwo ")) == "one"
    assert ckpt._first_line(KeyError()) == "KeyError"
    assert ckpt._first_line(ValueError("   ")) == "ValueError"


# ------------------------------------------------------------------ restoring modules

def test_modules_namespace_recognises_format_1():
    assert ckpt.modules_namespace({"modules.D.w": 0, "disc.D.w": 0}) == "modules"
    assert ckpt.modules_namespace({"generator.w": 0, "disc.D.w": 0}) == "disc"
    assert ckpt.modules_namespace({"generator.w": 0, "discD.w": 0, "modulesD.w": 0}) == "modules"
    assert ckpt.modules_namespace({}) == "modules"


def _nets(seed):
    torch.manual_seed(seed)
    return {"generator": torch.nn.Linear(2, 3), "D": torch.nn.Linear(3, 1)}, torch.nn.Linear(2, 3)


def _flat(modules, ema, space="modules"):
    out = ckpt.prefixed("generator", modules["generator"].state_dict())
    out.update(ckpt.prefixed(f"{space}.D", modules["D"].state_dict()))
    if ema is not None:
        out.update(ckpt.prefixed("ema", ema.state_dict()))
    return out


@pytest.mark.parametrize("space", ["modules", "disc"])
def test_restore_modules_loads_every_module_and_the_ema(space):
    saved, saved_ema = _nets(0)
    modules, ema = _nets(1)
    ckpt.restore_modules(modules, ema, _flat(saved, saved_ema, space), "f")
    for name in modules:
        for k, v in modules[name].state_dict().items():
            assert torch.equal(v, saved[name].state_dict()[k]), (name, k)
    assert all(torch.equal(v, saved_ema.state_dict()[k]) for k, v in ema.state_dict().items())


def test_restore_modules_leaves_the_ema_alone_when_none_is_stored():
    saved, _ = _nets(0)
    modules, ema = _nets(1)
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    ckpt.restore_modules(modules, ema, _flat(saved, None), "f")
    assert all(torch.equal(v, before[k]) for k, v in ema.state_dict().items())
    assert torch.equal(modules["generator"].weight, saved["generator"].weight)
    ckpt.restore_modules(modules, None, _flat(saved, saved["generator"]), "f")  # no EMA built: ignored


def test_restore_modules_says_which_keys_do_not_fit():
    saved, saved_ema = _nets(0)
    modules, ema = _nets(1)
    flat = _flat(saved, saved_ema)
    del flat["modules.D.bias"]
    flat["modules.D.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        ckpt.restore_modules(modules, ema, flat, "f.safetensors")
    assert str(err.value) == ("Checkpoint 'f.safetensors' does not fit the model's 'modules.D' module (missing bias; "
                              "unexpected extra); was it written with a different config or version?")
    flat = _flat(saved, saved_ema)
    flat["ema.weight"] = torch.zeros(4, 2)
    with pytest.raises(CheckpointError, match=r"'ema' module \(tensor shapes differ\)"):
        ckpt.restore_modules(modules, ema, flat, "f")


def test_key_mismatch_lists_three_keys_then_dots():
    net = torch.nn.Sequential(*[torch.nn.Linear(1, 1) for _ in range(3)])
    assert ckpt._key_mismatch(net, {}) == ("missing 0.bias, 0.weight, 1.bias ...", "")
    state = dict(net.state_dict())
    del state["2.weight"]
    state.update({"x": 0, "y": 0, "z": 0})
    assert ckpt._key_mismatch(net, state) == ("missing 2.weight", "unexpected x, y, z")
    assert ckpt._key_mismatch(net, dict(net.state_dict())) == ("tensor shapes differ", "")
    two = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Linear(1, 1))
    assert ckpt._key_mismatch(two, {}) == ("missing 0.bias, 0.weight, 1.bias ...", "")  # four keys
    assert ckpt._key_mismatch(two, {"1.weight": 0}) == ("missing 0.bias, 0.weight, 1.bias", "")  # three


def test_a_checkpoint_gets_the_permissions_of_the_runs_other_files(tmp_path):
    """safetensors creates its files 0600, so a group sharing a run could read its samples but not its weights."""
    import os
    import stat

    path = ckpt.write_safetensors({"generator.a": torch.ones(3)}, dict(META), tmp_path / "c.safetensors")
    (tmp_path / "other.txt").write_text("x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(path) == mode(tmp_path / "other.txt")
