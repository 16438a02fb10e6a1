"""chainrule.train.gan: the alternating D/G loop (k D steps per G step, detached fakes)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import fit_gan
from chainrule.train.gan import discriminator_step, generator_step


def _nets(noise_dim=2, hidden=8):
    g = nn.Sequential(nn.Linear(noise_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    d = nn.Sequential(nn.Linear(1, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    return g, d


def _snapshot(m):
    return [p.data.copy() for p in m.parameters()]


def _same(m, snap):
    return all(np.array_equal(p.data, s) for p, s in zip(m.parameters(), snap))


class _Counting(optim.SGD):
    """SGD that records the global order of its steps in a shared log."""

    def __init__(self, params, lr, name, log):
        super().__init__(params, lr=lr)
        self.name, self.log = name, log

    def step(self, *a, **kw):
        self.log.append(self.name)
        return super().step(*a, **kw)


def _loader(n=48, batch=8, loc=3.0, seed=0):
    x = (loc + 0.5 * np.random.default_rng(seed).standard_normal((n, 1))).astype(np.float32)
    return DataLoader(TensorDataset(cr.tensor(x)), batch_size=batch, shuffle=False)


@pytest.mark.parametrize("k", [1, 3])
def test_k_discriminator_steps_per_generator_step(k):
    cr.manual_seed(0)
    g, d = _nets()
    log = []
    opt_g = _Counting(g.parameters(), 0.01, "G", log)
    opt_d = _Counting(d.parameters(), 0.01, "D", log)
    hist = fit_gan(g, d, _loader(n=48, batch=8), opt_g=opt_g, opt_d=opt_d, epochs=2,
                   noise_dim=2, k=k)
    # 6 batches per epoch -> 12 D steps, 12 / k G steps, each G step after k D steps
    assert log == (["D"] * k + ["G"]) * (12 // k)
    assert [h["d_steps"] for h in hist] == [6, 6]
    assert sum(h["g_steps"] for h in hist) == 12 // k
    for h in hist:
        assert np.isfinite(h["d_loss"]) and np.isfinite(h["g_loss"])
        assert h["value"] == pytest.approx(-h["d_loss"])  # V estimate = -(D's loss)
        assert h["value"] <= 0.0


def test_d_step_leaves_g_unchanged_and_vice_versa():
    cr.manual_seed(1)
    g, d = _nets()
    opt_g = optim.SGD(g.parameters(), lr=0.1)
    opt_d = optim.SGD(d.parameters(), lr=0.1)
    real = cr.tensor(np.full((8, 1), 2.0, np.float32))
    g0, d0 = _snapshot(g), _snapshot(d)
    discriminator_step(g, d, real, opt_d, 2)
    assert _same(g, g0) and not _same(d, d0)
    assert all(p.grad is None for p in g.parameters())  # the fakes were detached
    g1, d1 = _snapshot(g), _snapshot(d)
    generator_step(g, d, 8, opt_g, 2)
    assert _same(d, d1) and not _same(g, g1)
    assert all(p.grad is None for p in d.parameters())  # no leak into D's next step


def test_fixed_noise_and_on_epoch_and_errors():
    cr.manual_seed(2)
    g, d = _nets()
    opt_g, opt_d = optim.Adam(g.parameters(), lr=1e-3), optim.Adam(d.parameters(), lr=1e-3)
    z = cr.randn(5, 2)
    seen = []
    hist = fit_gan(g, d, _loader(), opt_g=opt_g, opt_d=opt_d, epochs=3, noise_dim=2,
                   fixed_noise=z, generator_loss="minimax",
                   on_epoch=lambda rec, s: seen.append((rec["epoch"], s.shape))
                   or rec["epoch"] == 2)
    assert seen == [(1, (5, 1)), (2, (5, 1))] and len(hist) == 2  # returning True stops
    with pytest.raises(ValueError, match="generator_loss must be one of"):
        fit_gan(g, d, _loader(), opt_g=opt_g, opt_d=opt_d, epochs=1, noise_dim=2,
                generator_loss="x")
    with pytest.raises(ValueError, match="k .* must be an int >= 1, got 0"):
        fit_gan(g, d, _loader(), opt_g=opt_g, opt_d=opt_d, epochs=1, noise_dim=2, k=0)
    with pytest.raises(ValueError, match=r"fixed_noise must be a \(n, 2\) Tensor"):
        fit_gan(g, d, _loader(), opt_g=opt_g, opt_d=opt_d, epochs=1, noise_dim=2,
                fixed_noise=cr.randn(5, 3))


def test_generated_mean_moves_toward_the_data_mean():
    cr.manual_seed(0)
    g, d = _nets(hidden=16)
    opt_g, opt_d = optim.Adam(g.parameters(), lr=2e-3), optim.Adam(d.parameters(), lr=2e-3)
    z = cr.randn(500, 2)

    def mean():
        with cr.no_grad():
            return float(g(z).numpy().mean())

    before = mean()
    fit_gan(g, d, _loader(n=512, batch=32, loc=3.0), opt_g=opt_g, opt_d=opt_d, epochs=8,
            noise_dim=2)
    after = mean()
    assert after > before + 1.0 and abs(after - 3.0) < 0.5 * abs(before - 3.0), (before, after)


def _png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # (W, H)


class _Square(nn.Module):
    """A generator of (n, 16) outputs: flat 4x4 grey images."""

    def __init__(self, noise_dim=2):
        super().__init__()
        self.lin = nn.Linear(noise_dim, 16)

    def forward(self, z):
        return cr.tanh(self.lin(z))


def test_sample_grids_every_epoch_on_one_fixed_noise_batch(tmp_path):
    cr.manual_seed(4)
    g = _Square()
    d = nn.Sequential(nn.Linear(16, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
    x = np.random.default_rng(0).uniform(-1, 1, (32, 16)).astype(np.float32)
    loader = DataLoader(TensorDataset(cr.tensor(x)), batch_size=8)
    seen = []
    # lr 0: G never changes, so equal samples every epoch mean the noise was drawn once
    hist = fit_gan(g, d, loader, opt_g=optim.SGD(g.parameters(), lr=0.0),
                   opt_d=optim.SGD(d.parameters(), lr=0.0), epochs=3, noise_dim=2,
                   sample_dir=tmp_path / "grids", sample_every=2, num_samples=10,
                   sample_nrow=5, sample_scale=1, on_epoch=lambda r, s: seen.append(s.numpy()))
    assert sorted(p.name for p in (tmp_path / "grids").iterdir()) == ["epoch_002.png",
                                                                      "epoch_003.png"]
    assert "sample_grid" not in hist[0] and hist[1]["sample_grid"].endswith("epoch_002.png")
    assert len(seen) == 3 and seen[0].shape == (10, 16)
    assert np.array_equal(seen[0], seen[1]) and np.array_equal(seen[0], seen[2])
    # 10 images of 4x4 in rows of 5 with padding 2: W = 5 * 6 + 2, H = 2 * 6 + 2
    assert _png_size(hist[1]["sample_grid"]) == (32, 14)
    with pytest.raises(ValueError, match="sample_every must be an int >= 1, got 0"):
        fit_gan(g, d, loader, opt_g=optim.SGD(g.parameters(), lr=0.0),
                opt_d=optim.SGD(d.parameters(), lr=0.0), epochs=1, noise_dim=2,
                sample_dir=tmp_path, sample_every=0)


def test_sample_grid_of_given_fixed_noise_and_non_image_samples(tmp_path):
    cr.manual_seed(5)
    g = nn.Sequential(nn.Linear(2, 2 * 3 * 4), nn.Tanh())

    class _Colour(nn.Module):
        def __init__(self):
            super().__init__()
            self.g = g

        def forward(self, z):
            return self.g(z).reshape(z.shape[0], 3, 2, 4)  # colour 2x4 images

    d = nn.Sequential(nn.Flatten(), nn.Linear(24, 1))
    real = cr.tensor(np.zeros((8, 3, 2, 4), np.float32))
    loader = DataLoader(TensorDataset(real), batch_size=4)
    hist = fit_gan(_Colour(), d, loader, opt_g=optim.SGD(g.parameters(), lr=0.01),
                   opt_d=optim.SGD(d.parameters(), lr=0.01), epochs=1, noise_dim=2,
                   fixed_noise=cr.randn(3, 2), sample_dir=tmp_path, sample_scale=2)
    assert _png_size(hist[0]["sample_grid"]) == (2 * (3 * 6 + 2), 2 * (1 * 4 + 2))
    g1, d1 = _nets()
    with pytest.raises(ValueError, match=r"needs image samples .* the generator gave \(16, 1\)"):
        fit_gan(g1, d1, _loader(n=16, batch=16), opt_g=optim.SGD(g1.parameters(), lr=0.01),
                opt_d=optim.SGD(d1.parameters(), lr=0.01), epochs=1, noise_dim=2,
                num_samples=16, sample_dir=tmp_path)
