"""parameters_to_vector / vector_to_parameters against torch."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import parameters_to_vector, vector_to_parameters


def test_round_trip_and_torch_order():
    torch = pytest.importorskip("torch")
    cr.manual_seed(0)
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: torch.from_numpy(v.data.copy())
                            for k, v in ours.state_dict().items()})
    v = parameters_to_vector(ours.parameters())
    tv = torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(v.data, tv.detach().numpy())
    vector_to_parameters(v * 2, ours.parameters())
    np.testing.assert_array_equal(ours[2].bias.data, 2 * theirs[2].bias.detach().numpy())
    with pytest.raises(ValueError, match="has 3 elements"):
        vector_to_parameters(cr.zeros(3), ours.parameters())


def test_vector_is_differentiable():
    p = nn.Parameter(cr.ones(2, 2))
    q = nn.Parameter(cr.ones(3))
    (parameters_to_vector([p, q]) * cr.arange(7.0)).sum().backward()
    np.testing.assert_array_equal(p.grad.data, [[0, 1], [2, 3]])
    np.testing.assert_array_equal(q.grad.data, [4, 5, 6])
