"""``make_protocol`` from Python refuses a value out of bounds or a field the protocol lacks in one sentence, as
``zoo3d compare --set`` does, where pydantic's multi-line ValidationError (with its link to errors.pydantic.dev) came
back for ``make_protocol("small", instances=0)``."""

import pytest

from zoo3d.errors import ConfigError
from zoo3d.eval.protocol import make_protocol


@pytest.mark.parametrize("kwargs, sentence", [
    ({"instances": 0}, "Invalid value 0 for config key 'instances' in make_protocol's arguments: input should be "
                       "greater than or equal to 1."),
    ({"neus": {"iterations": -3}}, "Invalid value -3 for config key 'neus.iterations' in make_protocol's arguments: "
                                   "input should be greater than or equal to 1."),
])
def test_a_value_out_of_bounds_is_one_sentence_naming_it(kwargs, sentence):
    with pytest.raises(ConfigError) as info:
        make_protocol("small", **kwargs)
    assert str(info.value) == sentence


def test_a_misspelt_field_names_the_closest_ones():
    with pytest.raises(ConfigError) as info:
        make_protocol("small", viewz=3)
    assert str(info.value).startswith("Unknown config key 'viewz' in make_protocol's arguments; did you mean 'views' "
                                      "or 'depth_views' (valid keys: name, instances, ")
    assert "\n" not in str(info.value)


def test_valid_arguments_give_the_protocol_they_set():
    protocol = make_protocol("small", instances=2, resolution=16, depth_views=3, neus={"iterations": 5})
    assert (protocol.instances, protocol.resolution, protocol.depth_views, protocol.neus.iterations) == (2, 16, 3, 5)
    assert protocol.views == make_protocol("small").views == 30
