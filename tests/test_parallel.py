"""chainrule.parallel: batch chunks on threads, and the ops that use them agreeing with serial runs."""
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule import parallel
from chainrule.nn import functional as F
from chainrule.ops import conv_kernels, pool


@pytest.fixture
def threads(monkeypatch):
    """Run with ``n`` threads and every convolution split, whatever its size."""
    def use(n):
        monkeypatch.setattr(parallel, "_threads", n)
        monkeypatch.setattr(conv_kernels, "PARALLEL_MIN_MACS", 1)
        monkeypatch.setattr(pool, "PARALLEL_MIN_NUMBERS", 1)
    return use


def test_chunk_bounds_cover_the_range_in_order():
    assert parallel.chunk_bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert parallel.chunk_bounds(2, 2) == [(0, 1), (1, 2)]


def test_parallel_for_splits_and_keeps_the_order(threads):
    threads(3)
    seen = []
    out = parallel.parallel_for(9, lambda lo, hi: seen.append(threading.get_ident()) or (lo, hi))
    assert out == [(0, 3), (3, 6), (6, 9)]
    assert len(seen) == 3


def test_parallel_for_respects_min_chunk_and_one_thread(threads):
    threads(2)
    assert parallel.parallel_for(5, lambda lo, hi: (lo, hi), min_chunk=3) == [(0, 5)]
    threads(1)
    assert parallel.parallel_for(8, lambda lo, hi: (lo, hi)) == [(0, 8)]


def test_parallel_map_reraises_and_restores_blas_threads(threads):
    threads(2)
    before = parallel.blas_threads()

    def fail_second(i):
        if i == 1:
            raise ValueError("chunk 1 failed")
        return i

    with pytest.raises(ValueError, match="chunk 1 failed"):
        parallel.parallel_map(fail_second, [0, 1])
    assert parallel.blas_threads() == before


def test_nested_calls_run_serially_inside_a_chunk(threads):
    threads(2)
    inner = parallel.parallel_map(lambda i: parallel.parallel_map(lambda j: j, [0, 1, 2]), [0, 1])
    assert inner == [[0, 1, 2], [0, 1, 2]]


def test_set_num_threads_checks_its_argument():
    with pytest.raises(ValueError, match="positive int"):
        cr.set_num_threads(0)
    assert cr.get_num_threads() >= 1


CONVS = [  # (input shape, weight shape, stride, padding, dilation, groups): every kernel path
    ((5, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1, 1),      # "rows" patches
    ((5, 1, 12, 12), (6, 1, 5, 5), 1, 2, 1, 1),       # "cols" patches (one channel)
    ((5, 8, 9, 9), (12, 8, 3, 3), 2, 1, 1, 1),        # strided
    ((5, 8, 9, 9), (12, 2, 3, 3), 1, 1, 2, 4),        # grouped and dilated
    ((5, 8, 7, 7), (4, 8, 1, 1), 1, 0, 1, 1),         # 1x1: the "image" layout
    ((5, 8, 11, 11), (8, 8, 3, 3), 1, 1, 1, 1),       # Winograd F(2x2, 3x3), odd output
    ((6, 8, 12, 12), (8, 8, 3, 3), 1, 0, 1, 1),       # Winograd, even output, no padding
]


def test_the_winograd_cases_take_the_winograd_path():
    for (xshape, wshape, *_), out_hw in zip(CONVS[-2:], (11, 10)):
        positions = xshape[0] * out_hw * out_hw  # N Hout Wout
        assert conv_kernels.winograd_applies((3, 3), (1, 1), (1, 1), 1, xshape[1], wshape[0],
                                             positions)


def _conv_run(xs, ws, bs, stride, padding, dilation, groups):
    x, w, b = (cr.tensor(a, requires_grad=True) for a in (xs, ws, bs))
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    (y * cr.tensor(np.cos(np.arange(y.numel()).reshape(y.shape)))).sum().backward()
    return y.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()


@pytest.mark.parametrize("xshape,wshape,stride,padding,dilation,groups", CONVS)
def test_conv2d_split_over_threads_equals_serial(threads, xshape, wshape, stride, padding,
                                                 dilation, groups):
    rng = np.random.default_rng(0)
    xs, ws = rng.standard_normal(xshape), rng.standard_normal(wshape)
    bs = rng.standard_normal(wshape[0])
    threads(1)
    serial = _conv_run(xs, ws, bs, stride, padding, dilation, groups)
    threads(3)  # chunks of 1, 2 and 2 examples
    split = _conv_run(xs, ws, bs, stride, padding, dilation, groups)
    for name, a, b in zip(("output", "dL/dx", "dL/dW", "dL/db"), serial, split):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10, err_msg=name)


POOLS = [  # (function, keyword arguments)
    (F.max_pool2d, {"kernel_size": 2}),  # windows tiling the input
    (F.max_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1}),  # overlapping, padded
    (F.max_pool2d, {"kernel_size": 3, "stride": 2, "ceil_mode": True}),  # cropped at the edge
    (F.avg_pool2d, {"kernel_size": 2}),
    (F.avg_pool2d, {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
]


def _pool_run(fn, kwargs, xs):
    x = cr.tensor(xs, requires_grad=True)
    y = fn(x, **kwargs)
    (y * cr.tensor(np.cos(np.arange(y.numel()).reshape(y.shape)))).sum().backward()
    return y.numpy(), x.grad.numpy()


@pytest.mark.parametrize("fn,kwargs", POOLS)
def test_pooling_split_over_threads_equals_serial(threads, fn, kwargs):
    xs = np.random.default_rng(1).standard_normal((5, 3, 9, 9))
    threads(1)
    serial = _pool_run(fn, kwargs, xs)
    threads(3)
    split = _pool_run(fn, kwargs, xs)
    for name, a, b in zip(("output", "dL/dx"), serial, split):
        np.testing.assert_array_equal(b, a, err_msg=name)


def test_max_pool_indices_split_over_threads(threads):
    xs = np.random.default_rng(2).standard_normal((4, 2, 8, 8))
    threads(1)
    _, serial = F.max_pool2d(cr.tensor(xs), 2, return_indices=True)
    threads(2)
    _, split = F.max_pool2d(cr.tensor(xs), 2, return_indices=True)
    np.testing.assert_array_equal(split.numpy(), serial.numpy())


def _thread_settings(env):
    import os
    import subprocess
    import sys

    code = ("import chainrule.parallel as p; print(p.get_num_threads(), p.blas_threads())")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, check=True)
    return tuple(None if v == "None" else int(v) for v in out.stdout.split())


def test_thread_count_follows_the_environment():
    import os

    if parallel.blas_threads() is None:
        pytest.skip("the BLAS's thread count cannot be set (not OpenBLAS)")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU available: the BLAS caps its threads at one")
    # OMP_NUM_THREADS=2: two threads for chainrule, the BLAS held at one between big GEMMs
    assert _thread_settings({"OMP_NUM_THREADS": "2", "CHAINRULE_NUM_THREADS": ""}) == (2, 1)
    # CHAINRULE_NUM_THREADS=1: serial, and the BLAS keeps its own count
    assert _thread_settings({"OMP_NUM_THREADS": "2", "CHAINRULE_NUM_THREADS": "1"}) == (1, 2)
    assert _thread_settings({"OMP_NUM_THREADS": "1", "CHAINRULE_NUM_THREADS": ""}) == (1, 1)
