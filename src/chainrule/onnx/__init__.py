"""Export to ONNX: ``chainrule.onnx.export(model, example_input, path)`` writes a model as an ONNX
file that onnxruntime (and other frameworks) can run. Needs the optional ``onnx`` package
(``pip install onnx``, or ``pip install chainrule[onnx]``), imported only when export is called."""
from ._trace import ExportError
from .export import export

__all__ = ["export", "ExportError"]
