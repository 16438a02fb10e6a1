"""train/loop.py: fit learns, writes its files, and a resumed run ends exactly where an
uninterrupted one does (shuffling and dropout on)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import evaluate, fit, load_checkpoint, read_csv


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    W = rng.standard_normal((4, 3))
    y = (X @ W).argmax(1).astype(np.int64)  # three linearly separable classes
    return X, y


def _problem(seed=0, scheduler="cosine", opt="adam", epochs=4):
    """A small dropout MLP on shuffled batches: every random draw of a run is exercised."""
    cr.manual_seed(seed)
    X, y = _data()
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
    if opt == "adam":
        optimizer = optim.Adam(model.parameters(), lr=0.02)
    else:
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = {"cosine": lambda: optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs),
             "plateau": lambda: optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max",
                                                                     patience=0),
             "none": lambda: None}[scheduler]()
    train = DataLoader(TensorDataset(X[:120], y[:120]), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(X[120:], y[120:]), batch_size=64)
    return model, optimizer, sched, train, val


def _weights(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_fit_learns_and_writes_its_files(tmp_path):
    model, opt, sched, train, val = _problem(epochs=6)
    out = tmp_path / "run"
    lines = []
    result = fit(model, opt, nn.CrossEntropyLoss(), train, val, epochs=6, scheduler=sched,
                 out_dir=out, progress=False, log=lines.append)
    hist = result.history
    assert [r["epoch"] for r in hist] == list(range(1, 7))
    assert hist[-1]["train_loss"] < 0.6 * hist[0]["train_loss"]
    assert hist[-1]["val_acc"] > 0.8
    assert len(lines) == 6 and lines[0].startswith("epoch 1/6  train loss")
    assert sorted(p.name for p in out.iterdir()) == ["best.ckpt", "curves.png", "last.ckpt",
                                                     "log.csv"]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    rows = read_csv(out / "log.csv")
    assert [r["epoch"] for r in rows] == list(range(1, 7))
    assert rows[2]["val_acc"] == pytest.approx(hist[2]["val_acc"])
    assert rows[0]["lr"] == pytest.approx(0.02)  # the lr used during epoch 1, before the step
    last = load_checkpoint(out / "last.ckpt")
    assert last["epoch"] == 6 and len(last["history"]) == 6
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(last["model"][k].numpy(), v)
    best_epoch = max(hist, key=lambda r: r["val_acc"])["epoch"]  # first of the maxima
    assert result.best == {"metric": "val_acc", "mode": "max",
                           "value": hist[best_epoch - 1]["val_acc"], "epoch": best_epoch}
    assert load_checkpoint(out / "best.ckpt")["epoch"] == best_epoch


@pytest.mark.parametrize("scheduler,opt", [("cosine", "adam"), ("plateau", "nesterov")])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path, scheduler, opt):
    loss = nn.CrossEntropyLoss()
    model, o, s, train, val = _problem(scheduler=scheduler, opt=opt)
    ref = fit(model, o, loss, train, val, epochs=4, scheduler=s, out_dir=tmp_path / "a",
              progress=False, log=None, plot=False)
    ref_weights, ref_opt, ref_lr = _weights(model), o.state_dict(), o.param_groups[0]["lr"]
    after = cr.rand(3).numpy()  # the RNG's position after the run

    # interrupted after epoch 2 ...
    model, o, s, train, val = _problem(scheduler=scheduler, opt=opt)
    first = fit(model, o, loss, train, val, epochs=4, scheduler=s, out_dir=tmp_path / "b",
                progress=False, log=None, plot=False, on_epoch_end=lambda r: r["epoch"] == 2)
    assert first.stopped_early and len(first.history) == 2
    # ... and resumed in a fresh process-like state: new seed, new objects
    model, o, s, train, val = _problem(seed=123, scheduler=scheduler, opt=opt)
    cr.rand(7)
    resumed = fit(model, o, loss, train, val, epochs=4, scheduler=s, out_dir=tmp_path / "b",
                  resume=True, progress=False, log=None, plot=False)

    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, ref_weights[k], err_msg=k)
    for i, st in o.state_dict()["state"].items():
        for name, buf in st.items():
            np.testing.assert_array_equal(np.asarray(buf), np.asarray(ref_opt["state"][i][name]))
    assert o.param_groups[0]["lr"] == ref_lr
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in ref.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == strip
    assert resumed.best == ref.best
    np.testing.assert_array_equal(cr.rand(3).numpy(), after)
    assert [r["epoch"] for r in read_csv(tmp_path / "b" / "log.csv")] == [1, 2, 3, 4]


def test_resume_without_the_rng_state_would_differ(tmp_path, monkeypatch):
    """The check above is sensitive: resuming without the saved RNG state changes the shuffles
    and dropout masks, and so the weights."""
    loss = nn.CrossEntropyLoss()
    model, o, s, train, val = _problem()
    fit(model, o, loss, train, val, epochs=4, scheduler=s, log=None, progress=False)
    ref = _weights(model)
    model, o, s, train, val = _problem()
    fit(model, o, loss, train, val, epochs=4, scheduler=s, out_dir=tmp_path, log=None,
        progress=False, plot=False, on_epoch_end=lambda r: r["epoch"] == 2)
    model, o, s, train, val = _problem(seed=123)
    monkeypatch.setattr(cr.backend, "set_rng_state", lambda state: None)
    fit(model, o, loss, train, val, epochs=4, scheduler=s, out_dir=tmp_path, resume=True,
        log=None, progress=False, plot=False)
    assert any(not np.array_equal(v, ref[k]) for k, v in _weights(model).items())


def test_resume_drops_csv_rows_logged_after_the_checkpoint(tmp_path):
    model, o, s, train, val = _problem(scheduler="none")
    fit(model, o, nn.CrossEntropyLoss(), train, val, epochs=2, out_dir=tmp_path, log=None,
        plot=False, progress=False)
    with open(tmp_path / "log.csv", "a") as f:
        f.write("3,9,9,9,9,9,9\n")  # a row whose checkpoint never made it
    model, o, s, train, val = _problem(scheduler="none")
    fit(model, o, nn.CrossEntropyLoss(), train, val, epochs=3, out_dir=tmp_path, resume=True,
        log=None, plot=False, progress=False)
    rows = read_csv(tmp_path / "log.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[2]["train_loss"] != 9


def test_resume_without_a_checkpoint(tmp_path):
    model, o, s, train, val = _problem()
    with pytest.raises(FileNotFoundError, match="no checkpoint to resume from"):
        fit(model, o, nn.CrossEntropyLoss(), train, epochs=1, out_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match="give out_dir"):
        fit(model, o, nn.CrossEntropyLoss(), train, epochs=1, resume=True)


def test_binary_logits_and_no_validation():
    cr.manual_seed(0)
    X, y = _data()
    yb = (y == 0).astype(np.float32)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0))
    opt = optim.Adam(model.parameters(), lr=0.05)
    result = fit(model, opt, nn.BCEWithLogitsLoss(),
                 DataLoader(TensorDataset(X, yb), batch_size=32, shuffle=True), epochs=8,
                 log=None, progress=False)
    assert result.best["metric"] == "train_acc"
    assert result.history[-1]["train_acc"] > 0.9 and result.history[-1]["val_loss"] is None


def test_clip_grad_norm_bounds_each_step():
    model, _, _, train, _ = _problem(scheduler="none")
    opt = optim.SGD(model.parameters(), lr=1.0)
    before = _weights(model)
    fit(model, opt, nn.CrossEntropyLoss(), train, epochs=1, clip_grad_norm=1e-4, log=None,
        progress=False)
    moved = np.sqrt(sum(np.sum((v - before[k]) ** 2) for k, v in _weights(model).items()))
    assert 0 < moved <= len(train) * 1e-4 * (1 + 1e-4)  # each step moves lr * |g| <= 1e-4


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_loss_stops_with_a_clear_error():
    model, _, _, train, _ = _problem(scheduler="none")
    opt = optim.SGD(model.parameters(), lr=1e30)
    with pytest.raises(FloatingPointError, match="loss became (nan|inf)"):
        fit(model, opt, nn.CrossEntropyLoss(), train, epochs=3, log=None, progress=False)


def test_evaluate_keeps_mode_and_records_no_graph():
    model, _, _, _, val = _problem()
    model.train()
    res = evaluate(model, nn.CrossEntropyLoss(), val)
    assert model.training and 0 <= res["accuracy"] <= 1
    model.eval()
    again = evaluate(model, nn.CrossEntropyLoss(), val)
    assert not model.training and again == evaluate(model, nn.CrossEntropyLoss(), val)
    assert all(p.grad is None for p in model.parameters())


def test_bad_arguments():
    model, o, _, train, _ = _problem()
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="unknown metrics"):
        fit(model, o, loss, train, metrics=("loss", "f1"))
    with pytest.raises(ValueError, match="monitor must be one of"):
        fit(model, o, loss, train, monitor="val_f1")
    with pytest.raises(TypeError, match=r"\(inputs, targets\) pairs"):
        fit(model, o, loss, [cr.zeros(2, 4)], log=None, progress=False)
