"""Which generators travel (engine.generator_values): not one over an iterator that pickles as a
snapshot (a dict's, a set's), whose generator at home sees the dict change (a review)."""
import pickle

import pytest

from ufora.engine import generator_values, serialization


def test_a_generator_over_a_lists_iterator_goes_back_and_one_over_a_dict_does_not():
    items, table = [1, 2, 3], {1: "a", 2: "b"}
    over_list, over_dict, over_set = (v for v in items), (k for k in table), (v for v in {1, 2})
    with generator_values.sending_back():
        assert generator_values.reduction(over_list) is not None
        assert generator_values.reduction(over_dict) is None and generator_values.reduction(over_set) is None
        copy = serialization.loads(serialization.dumps(over_list))
    assert list(copy) == [1, 2, 3]
    with pytest.raises((pickle.PicklingError, TypeError)):  # not back to the client: as before
        serialization.dumps((v for v in items))


def test_an_ended_generator_goes_both_ways():
    spent = (v for v in [1])
    list(spent)
    copy = serialization.loads(serialization.dumps(spent))
    assert next(copy, "ended") == "ended" and copy.__qualname__ == spent.__qualname__
