"""The records of ``zoo3d bench peers``: found by name, their sizes as their names and titles say, GRAM's camera.

References: the record names (``model.work.resolution``), docs/rendering.md ("Performance": ``neus.fit.64`` fits
one 30-view 64² scene, ``--quick`` runs ``neus.fit.32``), and microsoft/GRAM's ``configs.py`` (``FFHQ_default``'s
camera: fov 12, rays over [0.88, 1.12]; ``batch_split`` 4 at batch 4).
"""

from __future__ import annotations

import math

import pytest

from zoo3d.benchmarks.peers.records import CAMERA, GRAM_HD_SCALE, POSE, QUICK_RECORDS, RECORDS, Record, by_name


def test_a_record_is_found_by_its_name_in_either_list_and_an_unknown_name_is_named_in_the_error():
    assert by_name("neus.fit.64") in RECORDS and by_name("neus.fit.32") in QUICK_RECORDS  # docs/rendering.md
    with pytest.raises(KeyError) as raised:
        by_name("neus.fit.16")
    assert raised.value.args == ("neus.fit.16",)
    for record in RECORDS + QUICK_RECORDS:
        assert by_name(record.name) is record
        model, work, size = record.name.split(".")
        assert model == record.model and int(size) == record.resolution
        assert work in record.work or record.work == "neus_" + work
        if record.title:
            assert f"{record.resolution}²" in record.title, record.title
    # GRAM's FFHQ_default: camera, and the batch its authors split in four; GRAM-HD renders its LR image at a quarter
    assert CAMERA == {"fov": 12.0, "ray_start": 0.88, "ray_end": 1.12}
    assert (by_name("gram.train_step.64").batch, by_name("gram.train_step.64").split) == (4, 4)
    assert GRAM_HD_SCALE == 4 and POSE == pytest.approx((math.pi / 2 - 0.1, math.pi / 2 + 0.25))
    assert Record("x.inference.8", "gram", "inference", 8).batch == 1  # one image unless a record says more
