"""The alternating GAN loop of notes 4.3: min over G, max over D of

    V(D, G) = E_{P_data}[log D(X)] + E_{h ~ p(h)}[log(1 - D(G(h)))],   h ~ N(0, I).

Each real batch X (m examples) gives one discriminator step: fresh noise h (m, noise_dim),
fake = G(h).detach() (so D's loss sends no gradient into G), D descends
-V = mean softplus(-a(X)) + mean softplus(a(fake)). After every ``k`` discriminator steps,
one generator step: fresh noise, G descends the generator loss on a(G(h)) -- the
non-saturating -E[log D(G(h))] (default, used in practice) or the minimax E[log(1 - D(G(h)))].

For image generators, ``sample_dir=`` writes a grid of G on one noise batch drawn once
(``epoch_001.png``, ... every ``sample_every`` epochs; ``train.images.save_image_grid`` with
``sample_range=(-1, 1)`` for a tanh output), so that training can be watched on the same h.

>>> from chainrule.train.gan import fit_gan
>>> history = fit_gan(G, D, loader, opt_g=opt_g, opt_d=opt_d, epochs=20, noise_dim=8)
>>> history[-1]            # {'epoch': 20, 'd_loss': ..., 'g_loss': ..., 'value': ..., ...}
"""
from __future__ import annotations

import math
import os
import time

from ..autograd import no_grad
from ..creation import randn
from ..nn.generative import gan_discriminator_loss, gan_generator_loss, gan_value
from ..tensor import Tensor
from .images import save_image_grid

__all__ = ["fit_gan", "discriminator_step", "generator_step"]

GENERATOR_LOSSES = ("non_saturating", "minimax")


def _real(batch):
    """The real examples of a batch: the batch itself or the first item of a tuple/list."""
    if isinstance(batch, (tuple, list)):
        if not batch:
            raise TypeError("fit_gan: the data loader yielded an empty tuple; expected a tensor "
                            "of real examples or (examples, ...)")
        batch = batch[0]
    if not isinstance(batch, Tensor):
        raise TypeError(f"fit_gan: expected the data loader to yield Tensors of real examples "
                        f"(or tuples starting with one), got {type(batch).__name__}")
    return batch


def _as_images(samples):
    """G's samples as an image batch for the grid: (n, C, H, W) as they are, (n, H*H) as grey
    squares; anything else is an error that names the shape."""
    shape = tuple(samples.shape)
    if len(shape) == 4 and shape[1] in (1, 3):
        return samples
    if len(shape) == 2 and shape[1] > 1 and math.isqrt(shape[1]) ** 2 == shape[1]:
        side = math.isqrt(shape[1])
        return samples.reshape(shape[0], 1, side, side)
    raise ValueError(f"fit_gan: sample_dir needs image samples (n, C, H, W) with C = 1 or 3, or "
                     f"(n, H*H) grey squares; the generator gave {shape}")


def discriminator_step(generator, discriminator, real, opt_d, noise_dim):
    """One step of D on a real batch and as many detached fakes: returns (-V, V) as floats."""
    z = randn(real.shape[0], noise_dim)
    fake = generator(z).detach()  # D's step must not reach G's parameters
    real_logits, fake_logits = discriminator(real), discriminator(fake)
    loss = gan_discriminator_loss(real_logits, fake_logits)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    with no_grad():
        value = float(gan_value(real_logits.detach(), fake_logits.detach()).item())
    return float(loss.item()), value


def generator_step(generator, discriminator, n, opt_g, noise_dim, kind="non_saturating"):
    """One step of G on ``n`` fresh samples: returns the generator loss as a float.

    The loss back-propagates through D into G; only ``opt_g`` steps, and D's gradients left by
    this step are cleared so that they never leak into D's next update.
    """
    z = randn(n, noise_dim)
    loss = gan_generator_loss(discriminator(generator(z)), kind)
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    for p in discriminator.parameters():
        p.grad = None
    return float(loss.item())


def fit_gan(generator, discriminator, data_loader, *, opt_g, opt_d, epochs, noise_dim, k=1,
            generator_loss="non_saturating", fixed_noise=None, on_epoch=None, sample_dir=None,
            sample_every=1, sample_range=(-1.0, 1.0), num_samples=64, sample_nrow=8,
            sample_scale=2):
    """Train a GAN by alternating updates; returns the per-epoch history.

    Args:
        generator: module G, noise (m, noise_dim) -> samples shaped like the real batches.
        discriminator: module D, samples -> logits a (D(X) = sigmoid(a)), (m,) or (m, 1).
        data_loader: iterable of real batches (Tensors, or tuples whose first item is one).
        opt_g, opt_d: optimizers over G's and D's parameters.
        epochs: passes over ``data_loader``; noise_dim: size of h ~ N(0, I).
        k: discriminator steps per generator step (one D step per real batch; the G step uses
            a noise batch as large as the last real one).
        generator_loss: 'non_saturating' (-E log D(G(h))) or 'minimax' (E log(1 - D(G(h)))).
        fixed_noise: a (n, noise_dim) tensor; after every epoch G(fixed_noise) is computed (in
            eval mode, without gradients) and passed to ``on_epoch``, so progress can be watched
            on the same h.
        on_epoch: callable(record, samples) called after every epoch, ``samples`` being
            G(fixed_noise) or None; returning True stops the run.
        sample_dir: for image generators, a folder where a grid of G(fixed_noise) is written
            as ``epoch_001.png``, ``epoch_002.png``, ... (``train.images.save_image_grid``), so
            the same h can be watched turning into images. Without ``fixed_noise`` a batch of
            ``num_samples`` noise vectors is drawn once, before the first epoch (from
            chainrule's generator, so the run stays reproducible from its seed). The samples
            must be images (n, C, H, W) with C = 1 or 3, or flat (n, H*H) grey squares.
        sample_every: write the grid every this many epochs (and after the last one).
        sample_range: (lo, hi), the generator's output range mapped to black..white
            ((-1, 1) for a tanh output; (0, 1) for a sigmoid one).
        sample_nrow, sample_scale: images per grid row, and the pixel magnification.

    Returns a list with one dict per epoch: epoch, d_loss (mean -V over the D steps), g_loss
    (mean generator loss over the G steps), value (mean estimate of V(D, G) on the D steps'
    batches, before each update), d_steps, g_steps, seconds, and ``sample_grid`` (the PNG's
    path) on the epochs that wrote one.
    """
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"fit_gan: generator_loss must be one of {GENERATOR_LOSSES}, got "
                         f"{generator_loss!r}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"fit_gan: k (discriminator steps per generator step) must be an int "
                         f">= 1, got {k!r}")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit_gan: epochs must be an int >= 0, got {epochs!r}")
    if not isinstance(noise_dim, int) or noise_dim < 1:
        raise ValueError(f"fit_gan: noise_dim must be an int >= 1, got {noise_dim!r}")
    if fixed_noise is not None and (not isinstance(fixed_noise, Tensor) or fixed_noise.ndim != 2
                                    or fixed_noise.shape[1] != noise_dim):
        raise ValueError(f"fit_gan: fixed_noise must be a (n, {noise_dim}) Tensor, got "
                         f"{getattr(fixed_noise, 'shape', type(fixed_noise).__name__)}")
    if sample_dir is not None:
        if not isinstance(sample_every, int) or sample_every < 1:
            raise ValueError(f"fit_gan: sample_every must be an int >= 1, got {sample_every!r}")
        if fixed_noise is None:
            if not isinstance(num_samples, int) or num_samples < 1:
                raise ValueError(f"fit_gan: num_samples must be an int >= 1, got "
                                 f"{num_samples!r}")
            fixed_noise = randn(num_samples, noise_dim)  # drawn once, reused every epoch
        os.makedirs(sample_dir, exist_ok=True)
    history = []
    since_g = 0  # D steps since the last G step (carries over epochs)
    for epoch in range(1, epochs + 1):
        generator.train()
        discriminator.train()
        t0 = time.perf_counter()
        d_sum = v_sum = g_sum = 0.0
        d_steps = g_steps = 0
        for batch in data_loader:
            real = _real(batch)
            d_loss, value = discriminator_step(generator, discriminator, real, opt_d, noise_dim)
            d_sum, v_sum, d_steps = d_sum + d_loss, v_sum + value, d_steps + 1
            since_g += 1
            if since_g == k:
                g_sum += generator_step(generator, discriminator, real.shape[0], opt_g,
                                        noise_dim, generator_loss)
                g_steps += 1
                since_g = 0
        record = {"epoch": epoch,
                  "d_loss": d_sum / d_steps if d_steps else float("nan"),
                  "g_loss": g_sum / g_steps if g_steps else float("nan"),
                  "value": v_sum / d_steps if d_steps else float("nan"),
                  "d_steps": d_steps, "g_steps": g_steps,
                  "seconds": time.perf_counter() - t0}
        history.append(record)
        samples = None
        if fixed_noise is not None:
            generator.eval()
            with no_grad():
                samples = generator(fixed_noise)
            generator.train()
            last = epoch == epochs
            if sample_dir is not None and (epoch % sample_every == 0 or last):
                record["sample_grid"] = save_image_grid(
                    _as_images(samples), os.path.join(sample_dir, f"epoch_{epoch:03d}.png"),
                    nrow=sample_nrow, value_range=sample_range, scale=sample_scale)
        if on_epoch is not None and on_epoch(record, samples) is True:
            break
    return history
