"""Shared pieces of the tests of notes 3.1-3.3: run a recurrent layer and a written-out version of
its equations on the same data and compare values and every gradient."""
import numpy as np

from chainrule.ops import stack

from ._common import close, t


def data(T=5, B=2, I=3, H=4, lstm=False, seed=0):
    """x (T, B, I) and the initial state(s), as float64 arrays."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I))
    h0 = rng.standard_normal((B, H)) * 0.5
    c0 = rng.standard_normal((B, H)) * 0.5 if lstm else None
    return x, h0, c0


def compare_with_layer(layer, written_out, x0, h0, c0=None, seed=1):
    """Run ``layer`` (fused BPTT) and ``written_out(x, h0, c0) -> (outputs list, h_T, c_T)`` (the
    notes' equations in chainrule's elementary ops, unrolled over t), with a random linear loss on
    every output and final state, and check outputs and the gradients of every parameter, of
    every x_t and of the initial states."""
    rng = np.random.default_rng(seed)
    T, B, _ = x0.shape
    H = h0.shape[1]
    G_out, G_h, G_c = (rng.standard_normal(s) for s in ((T, B, H), (B, H), (B, H)))
    results = []
    for run in ("layer", "written"):
        layer.zero_grad()
        x, h = t(x0, grad=True), t(h0, grad=True)
        c = t(c0, grad=True) if c0 is not None else None
        if run == "layer":
            if c is None:
                out, hn = layer(x, h.reshape(1, B, H))
                cn = None
            else:
                out, (hn, cn) = layer(x, (h.reshape(1, B, H), c.reshape(1, B, H)))
            hn = hn.reshape(B, H)
            cn = None if cn is None else cn.reshape(B, H)
        else:
            outs, hn, cn = written_out(x, h, c)
            out = stack(outs, dim=0)
        loss = (out * t(G_out)).sum() + (hn * t(G_h)).sum()
        if cn is not None:
            loss = loss + (cn * t(G_c)).sum()
        loss.backward()
        grads = {n: p.grad.numpy().copy() for n, p in layer.named_parameters()}
        grads["x"], grads["h0"] = x.grad.numpy(), h.grad.numpy()
        if c is not None:
            grads["c0"] = c.grad.numpy()
        results.append((out.numpy(), hn.numpy(), None if cn is None else cn.numpy(), grads))
    (o1, h1, c1, g1), (o2, h2, c2, g2) = results
    close(o1, o2, err_msg="outputs")
    close(h1, h2, err_msg="h_T")
    if c1 is not None:
        close(c1, c2, err_msg="c_T")
    assert set(g1) == set(g2)
    for name in g1:
        close(g1[name], g2[name], err_msg=f"gradient of {name}")
    return results


def torch_twin(layer, torch):
    """torch.nn's layer of the same kind with ``layer``'s weights (PyTorch's names and layout)."""
    cls = getattr(torch.nn, type(layer).__name__)
    twin = cls(layer.input_size, layer.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.copy_(torch.from_numpy(getattr(layer, name).numpy()))
    return twin
