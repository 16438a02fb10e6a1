"""chainrule.onnx.export: the models of the issue (LeNet-5, ResNet-18, LSTM and GRU language
models) run in onnxruntime with chainrule's outputs; the file, names and batch dims; and the clear
errors (unsupported ops, values computed outside the ops, a missing onnx package)."""
import os
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, ops

from .helpers import onnx, ort, randomize_batchnorm, roundtrip, session

from chainrule.onnx import ExportError, export  # noqa: E402


# ---- the done-criteria models ------------------------------------------------------------------
def test_lenet5(tmp_path):
    model = cr.models.lenet5()
    proto, sess = roundtrip(model, cr.randn(2, 1, 28, 28), tmp_path,
                            others=[cr.randn(5, 1, 28, 28), cr.randn(1, 1, 28, 28)])
    inits = {t.name for t in proto.graph.initializer}
    assert {"features.0.weight", "features.0.bias", "classifier.4.weight"} <= inits
    assert sess.get_inputs()[0].shape == ["batch", 1, 28, 28]
    assert sess.get_outputs()[0].shape == ["batch", 10]


def test_resnet18(tmp_path):
    model = randomize_batchnorm(cr.models.resnet18(num_classes=10))
    proto, _ = roundtrip(model, cr.randn(1, 3, 64, 64), tmp_path, others=[cr.randn(2, 3, 64, 64)],
                         rtol=1e-4, atol=1e-5)
    kinds = [n.op_type for n in proto.graph.node]
    assert kinds.count("Conv") == 20 and kinds.count("BatchNormalization") == 20
    assert "MaxPool" in kinds and "GlobalAveragePool" in kinds


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_char_rnn_language_model(tmp_path, cell):
    """Embedding -> 2-layer LSTM/GRU (batch_first) -> Linear; outputs logits and the states."""
    model = cr.models.CharRNN(30, embed_dim=8, hidden_size=16, num_layers=2, cell=cell)
    names = ["logits", "h_n", "c_n"] if cell == "lstm" else ["logits", "h_n"]
    proto, sess = roundtrip(model, cr.randint(0, 30, (2, 7)), tmp_path,
                            others=[cr.randint(0, 30, (5, 7)), cr.randint(0, 30, (1, 7))],
                            output_names=names)
    assert [o.name for o in sess.get_outputs()] == names
    assert sess.get_outputs()[0].shape == ["batch", 7, 30]
    assert sess.get_outputs()[1].shape == [2, "batch", 16]
    assert [n.op_type for n in proto.graph.node].count(cell.upper()) == 2


# ---- the file and the graph --------------------------------------------------------------------
def test_writes_atomically_and_returns_the_model(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"an older file")
    model = nn.Sequential(nn.Linear(3, 2))
    proto = export(model, cr.randn(4, 3), path)
    assert os.listdir(tmp_path) == ["net.onnx"]  # replaced, no temporary file left
    loaded = onnx.load(str(path))
    assert loaded.SerializeToString() == proto.SerializeToString()
    assert proto.producer_name == "chainrule"
    onnx.checker.check_model(loaded, full_check=True)


def test_a_failed_export_leaves_the_old_file(tmp_path):
    path = tmp_path / "net.onnx"
    path.write_bytes(b"keep me")
    with pytest.raises(ExportError):
        export(nn.MaxPool2d(2, return_indices=True), cr.randn(1, 1, 4, 4), path)
    assert path.read_bytes() == b"keep me"
    assert os.listdir(tmp_path) == ["net.onnx"]


def test_dynamic_batch_false_fixes_every_size(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    _, sess = roundtrip(model, cr.randn(4, 3), tmp_path, dynamic_batch=False)
    assert sess.get_inputs()[0].shape == [4, 3]
    assert sess.get_outputs()[0].shape == [4, 2]
    with pytest.raises(Exception, match="(?i)dimension"):
        sess.run(None, {"input": np.zeros((5, 3), np.float32)})


def test_export_restores_training_flags_and_the_input(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train()
    x = cr.randn(2, 3)
    before = x.numpy().copy()
    export(model, x, tmp_path / "m.onnx")
    assert model.training and model[1].training
    np.testing.assert_array_equal(x.numpy(), before)


def test_ops_whose_results_are_unused_are_left_out(tmp_path):
    class Debug(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            y = self.fc(x)
            nn.functional.cross_entropy(y, cr.tensor([0, 1]))  # dropped; it has no mapping
            return y

    proto, _ = roundtrip(Debug(), cr.randn(2, 3), tmp_path, dynamic_batch=False)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Identity"]


def test_a_plain_function_of_tensors_exports(tmp_path):
    w = cr.randn(3, 2)

    def f(x, y):
        return ops.softmax(ops.matmul(x, w) + y, dim=1)

    _, sess = roundtrip(f, (cr.randn(2, 3), cr.randn(2, 2)), tmp_path,
                        others=[(cr.randn(4, 3), cr.randn(4, 2))])
    assert [i.name for i in sess.get_inputs()] == ["input_0", "input_1"]


# ---- clear errors ------------------------------------------------------------------------------
class _Attention(nn.Module):
    def forward(self, x):
        return ops.scaled_dot_product_attention(x, x, x)


class _WithHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.head = _Attention()

    def forward(self, x):
        return self.head(self.proj(x))


def test_an_unsupported_op_is_named_with_its_module(tmp_path):
    with pytest.raises(ExportError, match=r"op ScaledDotProductAttention "
                                          r"\(chainrule\.ops\.attention\) in module 'head' "
                                          r"\(_Attention\) has no ONNX mapping; the exporter "
                                          r"supports .*Conv2d"):
        export(_WithHead(), cr.randn(2, 3, 4), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_max_pool_indices_are_refused(tmp_path):
    with pytest.raises(ExportError, match="MaxPool2d.*return_indices"):
        export(nn.MaxPool2d(2, return_indices=True), cr.randn(1, 1, 4, 4), tmp_path / "m.onnx")


def test_a_mask_computed_from_the_input_outside_the_ops_is_refused(tmp_path):
    class Gate(nn.Module):
        def forward(self, x):
            return x * (x > 0)  # the comparison has no op node: its result would be baked in

    with pytest.raises(ExportError, match=r"op Mul .*depends on the input's values.*comparison"):
        export(Gate(), cr.randn(2, 3), tmp_path / "m.onnx", dynamic_batch=False)
    with pytest.raises(ExportError, match=r"op Mul .*follows the batch size.*comparison"):
        export(Gate(), cr.randn(2, 3), tmp_path / "m.onnx")


def test_a_python_number_computed_from_the_input_is_refused(tmp_path):
    class Center(nn.Module):
        def forward(self, x):
            return ops.clamp(x, min=float(x.numpy().mean()))

    with pytest.raises(ExportError, match=r"op Clamp .*parameter 'lo' changed"):
        export(Center(), cr.randn(2, 3), tmp_path / "m.onnx")


def test_a_constant_of_batch_size_needs_a_fixed_batch(tmp_path):
    class AddZeros(nn.Module):
        def forward(self, x):
            return x + cr.zeros(x.shape[0], 3)

    with pytest.raises(ExportError, match=r"op Add .*follows the batch size.*dynamic_batch=False"):
        export(AddZeros(), cr.randn(2, 3), tmp_path / "m.onnx")
    roundtrip(AddZeros(), cr.randn(2, 3), tmp_path, dynamic_batch=False)


def test_a_forward_that_branches_on_the_batch_size_is_refused(tmp_path):
    class Branchy(nn.Module):
        def forward(self, x):
            return ops.relu(x) if x.shape[0] < 3 else ops.tanh(ops.relu(x))

    with pytest.raises(ExportError, match="ran 1 ops the first time and 2 the second"):
        export(Branchy(), cr.randn(2, 3), tmp_path / "m.onnx")


def test_an_in_place_change_of_the_input_is_refused(tmp_path):
    class Scale(nn.Module):
        def forward(self, x):
            x /= 2
            return ops.relu(x)

    with pytest.raises(ExportError, match="changed its input 'input' in place"):
        export(Scale(), cr.randn(2, 3), tmp_path / "m.onnx")


def test_bad_arguments(tmp_path):
    model = nn.Linear(3, 2)
    x = cr.randn(2, 3)
    with pytest.raises(ExportError, match=r"opset must be an int in \[13, "):
        export(model, x, tmp_path / "m.onnx", opset=11)
    with pytest.raises(ExportError, match="expected 1 output_names"):
        export(model, x, tmp_path / "m.onnx", output_names=["a", "b"])
    with pytest.raises(ExportError, match=r"example_input\[0\] is a list"):
        export(model, ([1.0, 2.0, 3.0],), tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="batch dim 2 is out of range for input 'input'"):
        export(model, x, tmp_path / "m.onnx", dynamic_batch=2)
    assert not (tmp_path / "m.onnx").exists()


def test_missing_onnx_package_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes "import onnx" raise ImportError
    with pytest.raises(ImportError, match=r"pip install onnx \(or pip install chainrule\[onnx\]\)"):
        export(nn.Linear(2, 2), cr.randn(1, 2), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_the_session_helper_runs_an_exported_file(tmp_path):
    """A file written once runs in a fresh session, independent of the exporting process state."""
    export(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), cr.randn(3, 2), tmp_path / "m.onnx")
    out = session(tmp_path / "m.onnx").run(None, {"input": np.ones((6, 2), np.float32)})[0]
    assert out.shape == (6, 2) and np.all(np.abs(out) < 1)
    assert isinstance(ort.get_device(), str)


def test_inputs_and_parameters_can_be_outputs(tmp_path):
    class Echo(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(cr.randn(3))

        def forward(self, x):
            return x, self.w, x * self.w

    _, sess = roundtrip(Echo(), cr.randn(2, 3), tmp_path, others=[cr.randn(4, 3)])
    assert [o.shape for o in sess.get_outputs()] == [["batch", 3], [3], ["batch", 3]]
    roundtrip(nn.Identity(), cr.randn(2, 3), tmp_path, others=[cr.randn(1, 3)])


def test_names_must_not_clash(tmp_path):
    model = nn.Linear(3, 2)
    with pytest.raises(ExportError, match="input name 'weight' is also the name of a parameter"):
        export(model, cr.randn(2, 3), tmp_path / "m.onnx", input_names=["weight"])
    with pytest.raises(ExportError, match="output name 'bias' is already the name"):
        export(model, cr.randn(2, 3), tmp_path / "m.onnx", output_names=["bias"])
