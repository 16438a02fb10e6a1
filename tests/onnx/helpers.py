"""Shared helpers of the ONNX export tests: export a model, run the file in onnxruntime, compare."""
import numpy as np
import pytest

import chainrule as cr

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from chainrule.onnx import export  # noqa: E402


def flat_outputs(out):
    """The forward's result as a list of arrays, nested tuples flattened in order."""
    if isinstance(out, cr.Tensor):
        return [out.numpy()]
    if out is None:
        return []
    return [a for o in out for a in flat_outputs(o)]


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # the tests run on one core
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def roundtrip(model, example, tmp_path, others=(), rtol=1e-4, atol=1e-5, **kwargs):
    """Export ``model`` on ``example`` and check that onnxruntime gives chainrule's outputs on
    the example and on each input of ``others`` (a Tensor or a tuple of Tensors each).

    Returns (ModelProto, InferenceSession)."""
    path = tmp_path / "model.onnx"
    proto = export(model, example, path, **kwargs)
    sess = session(path)
    if hasattr(model, "eval"):
        model.eval()
    names = [i.name for i in sess.get_inputs()]
    for inputs in (example, *others):
        inputs = inputs if isinstance(inputs, tuple) else (inputs,)
        got = sess.run(None, {n: x.numpy() for n, x in zip(names, inputs)})
        with cr.no_grad():
            want = flat_outputs(model(*inputs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            assert g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return proto, sess


def randomize_batchnorm(model, seed=0):
    """Non-trivial running statistics and affine parameters for every BatchNorm of ``model``."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (cr.nn.BatchNorm1d, cr.nn.BatchNorm2d)):
            C = m.num_features
            if m.running_mean is not None:
                m.running_mean.data[...] = rng.normal(0, 0.5, C)
                m.running_var.data[...] = rng.uniform(0.5, 2.0, C)
            if m.weight is not None:
                m.weight.data[...] = rng.uniform(0.5, 1.5, C)
                m.bias.data[...] = rng.normal(0, 0.2, C)
    return model
