"""Random streams are defined by keys, not by call order."""

import numpy as np
import pytest

from hepc9.errors import ConfigError
from hepc9.seeding import STAGES, child_sequences, rng, seed_sequence, spawn_key


def test_stage_numbers_unique():
    assert len(set(STAGES.values())) == len(STAGES)


def test_same_key_same_stream_and_independence_of_order():
    a = rng(5, "generate", 3).random(4)
    rng(5, "generate", 0).random(10)  # drawing another stream first changes nothing
    b = rng(5, "generate", 3).random(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rng(5, "generate", 4).random(4))
    assert not np.array_equal(a, rng(6, "generate", 3).random(4))
    assert not np.array_equal(a, rng(5, "detector", 3).random(4))


def test_children_do_not_depend_on_spawn_history():
    ss = seed_sequence(1, "generate")
    first = [c.generate_state(2).tolist() for c in child_sequences(ss, 3)]
    ss.spawn(5)
    again = [c.generate_state(2).tolist() for c in child_sequences(ss, 3)]
    assert first == again
    assert len({tuple(x) for x in first}) == 3


def test_bad_stage_and_key():
    with pytest.raises(ConfigError, match="did you mean 'generate'"):
        spawn_key("generat")
    with pytest.raises(ConfigError):
        spawn_key("generate", -1)
