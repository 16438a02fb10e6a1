"""train/checkpoint.py: a checkpoint holds and restores model, optimizer, scheduler and RNG."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.train.checkpoint import (load_checkpoint, make_checkpoint, remove_stale_temps,
                                        restore, save_checkpoint)


def _setup(seed):
    cr.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    return model, opt, sched


def _step(model, opt, sched):
    x, y = cr.randn(8, 3), cr.randint(0, 2, (8,))
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(x), y).backward()
    opt.step()
    sched.step()


def test_round_trip_restores_every_state(tmp_path):
    model, opt, sched = _setup(0)
    for _ in range(3):
        _step(model, opt, sched)
    ckpt = make_checkpoint(model, opt, sched, epoch=3, history=[{"epoch": 1}],
                           best={"metric": "val_acc", "mode": "max", "value": 0.5, "epoch": 1},
                           config={"recipe": "demo", "hidden": [4]})
    save_checkpoint(ckpt, tmp_path / "last.ckpt", tmp_path / "best.ckpt")
    assert (tmp_path / "last.ckpt").read_bytes() == (tmp_path / "best.ckpt").read_bytes()
    _step(model, opt, sched)  # the reference continues ...
    ref = {k: v.numpy().copy() for k, v in model.state_dict().items()}

    model2, opt2, sched2 = _setup(1)  # ... and a fresh set-up restored from the file must agree
    back = load_checkpoint(tmp_path / "last.ckpt")
    assert back["epoch"] == 3 and back["config"] == {"recipe": "demo", "hidden": [4]}
    assert back["best"]["value"] == 0.5 and back["history"] == [{"epoch": 1}]
    restore(back, model2, opt2, sched2)
    _step(model2, opt2, sched2)
    for k, v in model2.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ref[k])
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert sched2.state_dict()["last_epoch"] == sched.state_dict()["last_epoch"] == 4


def test_plain_state_dict_is_not_a_checkpoint(tmp_path):
    model, _, _ = _setup(0)
    cr.save(model.state_dict(), tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="not a chainrule checkpoint"):
        load_checkpoint(tmp_path / "w.safetensors")


def test_restore_needs_the_states_it_is_asked_for(tmp_path):
    model, opt, sched = _setup(0)
    ckpt = make_checkpoint(model, epoch=1)
    with pytest.raises(ValueError, match="no optimizer state"):
        restore(ckpt, model, opt)
    with pytest.raises(ValueError, match="no scheduler state"):
        restore(ckpt, model, None, sched)


def test_stale_temps_are_removed(tmp_path):
    (tmp_path / ".last.ckpt.abc123.tmp").write_bytes(b"half")
    (tmp_path / "last.ckpt").write_bytes(b"x")
    assert len(remove_stale_temps(tmp_path)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_save_epoch_checkpoints_keeps_the_best_by_a_lower_value(tmp_path):
    from chainrule.train.checkpoint import save_epoch_checkpoints

    model, best = nn.Linear(2, 1), {"value": None}
    for epoch, value in ((1, 0.5), (2, 0.7), (3, 0.4), (4, None)):
        nn.init.constant_(model.bias, float(epoch))
        wrote = save_epoch_checkpoints(model, str(tmp_path), epoch, history=[], config={},
                                       value=value, best=best)
        assert wrote == (epoch in (1, 3))
        assert load_checkpoint(tmp_path / "last.ckpt")["epoch"] == epoch
    assert best == {"value": 0.4, "epoch": 3}
    ckpt = load_checkpoint(tmp_path / "best.ckpt")
    assert ckpt["epoch"] == 3 and float(ckpt["model"]["bias"].numpy()[0]) == 3.0
