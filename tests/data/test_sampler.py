import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                            SubsetRandomSampler)


def test_sequential_sampler():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5


def test_random_sampler_is_a_permutation_and_new_each_epoch():
    s = RandomSampler(range(50), generator=np.random.default_rng(0))
    a, b = list(s), list(s)
    assert sorted(a) == list(range(50)) and sorted(b) == list(range(50))
    assert a != b and len(s) == 50


def test_random_sampler_uses_the_global_generator_looked_up_each_epoch():
    s = RandomSampler(range(30))
    cr.manual_seed(5)          # replaces the global generator object after s was built
    a = list(s)
    cr.manual_seed(5)
    assert list(s) == a


def test_random_sampler_replacement_and_num_samples():
    s = RandomSampler(range(4), replacement=True, num_samples=1000,
                      generator=np.random.default_rng(1))
    draws = list(s)
    assert len(draws) == 1000 and set(draws) == {0, 1, 2, 3}
    s = RandomSampler(range(4), num_samples=10, generator=np.random.default_rng(1))
    draws = list(s)
    assert len(draws) == 10
    assert sorted(draws[:4]) == [0, 1, 2, 3] and sorted(draws[4:8]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(4), num_samples=0)
    with pytest.raises(TypeError, match="Generator"):
        RandomSampler(range(4), generator=3)


def test_subset_random_sampler():
    s = SubsetRandomSampler([10, 20, 30, 40], generator=np.random.default_rng(0))
    assert sorted(s) == [10, 20, 30, 40] and len(s) == 4


def test_batch_sampler_last_batch_and_len():
    bs = BatchSampler(SequentialSampler(range(10)), 4, drop_last=False)
    assert list(bs) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(bs) == 3
    bs = BatchSampler(SequentialSampler(range(10)), 4, drop_last=True)
    assert list(bs) == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(bs) == 2
    bs = BatchSampler([5, 3, 1, 0, 2], 2, drop_last=False)   # any iterable of indices
    assert list(bs) == [[5, 3], [1, 0], [2]] and len(bs) == 3


def test_batch_sampler_respects_a_custom_iter():
    class Evens(Sampler):
        def __iter__(self):
            return iter([0, 2, 4, 6])

        def __len__(self):
            return 4

    assert list(BatchSampler(Evens(), 3, False)) == [[0, 2, 4], [6]]


def test_batch_sampler_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last"):
        BatchSampler(range(3), 2, None)
