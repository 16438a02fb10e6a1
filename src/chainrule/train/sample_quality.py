"""Sample quality of image generators without any download: the Frechet distance in the features
of chainrule's own Fashion-MNIST LeNet-5, and the classifier's label histogram (mode coverage).

Frechet distance. Fit a Gaussian to each set of feature vectors, N(mu_a, S_a) and N(mu_b, S_b)
(sample mean and covariance, d x d); the squared Frechet (2-Wasserstein) distance between them is

    d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}).

Tr((S_a S_b)^{1/2}) equals Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2}) (the two matrices are similar), and
the second is the square root of a symmetric positive semi-definite matrix, so it is computed
here in float64 with two symmetric eigen-decompositions (``numpy.linalg.eigh``), negative
round-off eigenvalues clipped to 0: no complex arithmetic and no SciPy.

This is the recipe of the "FID" (Heusel et al. 2017), but in the 84 features of the penultimate
layer of a LeNet-5 trained by chainrule on Fashion-MNIST, NOT of an ImageNet Inception net: the
numbers compare chainrule's own generators with each other (and with the distance between two
halves of the real test set, the floor that sampling noise alone gives), and are not comparable
with published FIDs. The estimate is biased upwards for small N; compare sets of the same size.

- :func:`frechet_distance`: d^2 between two sets of feature vectors (N, d).
- :func:`gaussian_frechet_distance`: the same from the means and covariances.
- :class:`SampleScorer`: features, predicted labels and :meth:`SampleScorer.score` of images.
- :func:`load_classifier`: the LeNet-5 of a ``chainrule train lenet5`` checkpoint.

The call for a generator with outputs in [0, 1] (e.g. a VAE's Bernoulli means), on the same
test images as the dcgan recipe::

    from chainrule.datasets import FashionMNIST
    from chainrule.datasets.binarized import grey_levels
    from chainrule.train.sample_quality import SampleScorer, load_classifier, split_halves
    scorer = SampleScorer(load_classifier("runs/lenet5/best.ckpt"), value_range=(0, 1))
    real = grey_levels(FashionMNIST("data", train=False))        # (10000, 784) in [0, 1]
    a, b = split_halves(len(real), 5000)
    scorer.score(samples, real[a])    # samples (5000, 784) or (5000, 1, 28, 28) in [0, 1]
    scorer.score(real[b], real[a])["frechet"]                    # the real-vs-real reference
"""
from __future__ import annotations

import numpy as np

__all__ = ["frechet_distance", "gaussian_frechet_distance", "SampleScorer", "load_classifier",
           "split_halves", "FASHION_MNIST_CLASSES"]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")


def _as_array(x, who, name):
    from ..tensor import Tensor

    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype == object or not np.issubdtype(a.dtype, np.number):
        raise TypeError(f"{who}: expected {name} as a numeric array or Tensor, got dtype "
                        f"{a.dtype}")
    return a


def _sqrt_psd(m):
    """The symmetric square root of a symmetric positive semi-definite matrix (float64)."""
    w, v = np.linalg.eigh((m + m.T) / 2.0)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def gaussian_frechet_distance(mu_a, cov_a, mu_b, cov_b):
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}) for two Gaussians (float64).

    Shapes: mu (d,), cov (d, d) symmetric positive semi-definite. Tr((S_a S_b)^{1/2}) is
    Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2}); the result is clipped at 0 (round-off can take a zero
    distance a hair below it).
    """
    who = "gaussian_frechet_distance"
    mu_a = np.asarray(_as_array(mu_a, who, "mu_a"), np.float64)
    mu_b = np.asarray(_as_array(mu_b, who, "mu_b"), np.float64)
    cov_a = np.atleast_2d(np.asarray(_as_array(cov_a, who, "cov_a"), np.float64))
    cov_b = np.atleast_2d(np.asarray(_as_array(cov_b, who, "cov_b"), np.float64))
    d = mu_a.shape[0] if mu_a.ndim == 1 else -1
    if (mu_a.ndim != 1 or mu_b.shape != (d,) or cov_a.shape != (d, d)
            or cov_b.shape != (d, d)):
        raise ValueError(f"{who}: expected mu_a, mu_b of shape (d,) and cov_a, cov_b of shape "
                         f"(d, d), got {mu_a.shape}, {mu_b.shape}, {cov_a.shape} and "
                         f"{cov_b.shape}")
    root_a = _sqrt_psd(cov_a)
    middle = _sqrt_psd(root_a @ cov_b @ root_a)
    diff = mu_a - mu_b
    value = float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(middle))
    return max(value, 0.0)


def _moments(feats, who, name):
    a = _as_array(feats, who, name)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ValueError(f"{who}: expected {name} of shape (N, d) with N >= 2 feature vectors, "
                         f"got shape {a.shape}")
    a = np.asarray(a, np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{who}: {name} holds {int(np.sum(~np.isfinite(a)))} non-finite "
                         f"values (NaN or inf); a diverged generator?")
    return a.mean(axis=0), np.cov(a, rowvar=False, ddof=1).reshape(a.shape[1], a.shape[1])


def frechet_distance(feats_a, feats_b):
    """The squared Frechet distance between Gaussians fitted to two sets of features.

    feats_a (N_a, d), feats_b (N_b, d), arrays or Tensors, N >= 2: with the sample means mu and
    covariances S (divisor N - 1), returns the float

        |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}),

    computed in float64: 0 for identical sets, symmetric, and growing as |shift|^2 when one set
    is shifted.
    """
    who = "frechet_distance"
    mu_a, cov_a = _moments(feats_a, who, "feats_a")
    mu_b, cov_b = _moments(feats_b, who, "feats_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError(f"{who}: the two sets have features of different sizes: "
                         f"{np.shape(_as_array(feats_a, who, 'feats_a'))} and "
                         f"{np.shape(_as_array(feats_b, who, 'feats_b'))}")
    return gaussian_frechet_distance(mu_a, cov_a, mu_b, cov_b)


def split_halves(count, n, seed=0):
    """(idx_a, idx_b): two disjoint sets of ``n`` indices of ``count`` items, from
    ``np.random.default_rng(seed).permutation(count)`` (first n, next n). The dcgan recipe scores
    its samples against the test images ``idx_a`` and the reference is ``idx_b`` vs ``idx_a``
    (``split_halves(10000, 5000)``); other generators use the same call to be comparable."""
    count, n = int(count), int(n)
    if n < 1 or 2 * n > count:
        raise ValueError(f"split_halves: expected 1 <= n <= count / 2, got n={n} and "
                         f"count={count}")
    order = np.random.default_rng(seed).permutation(count)
    return order[:n], order[n:2 * n]


def load_classifier(path, num_classes=10, in_channels=1):
    """The LeNet-5 of a checkpoint written by ``chainrule train lenet5`` (or the dcgan recipe's
    ``classifier.ckpt``), in eval mode."""
    from ..models import lenet5
    from .checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    recipe = (ckpt.get("config") or {}).get("recipe")
    net = lenet5(num_classes=num_classes, in_channels=in_channels)
    try:
        net.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, ValueError) as e:
        raise ValueError(f"load_classifier: the weights in {path} (recipe {recipe!r}) are not "
                         f"those of a LeNet-5 with {in_channels} input channel(s) and "
                         f"{num_classes} classes: {e}") from None
    net.eval()
    return net


class SampleScorer:
    """Features, labels and scores of 28x28 images under a trained classifier.

    The features are the output of the classifier's layer ``layer`` (for chainrule's LeNet-5,
    ``"classifier.3"``: the ReLU after FC 84, the penultimate layer, 84 features), read with a
    forward hook in eval mode without gradients.

    Args:
        classifier: a trained ``chainrule.models.LeNet5`` (or any module with that layer) taking
            normalized images (N, 1, 28, 28) and returning logits (N, K).
        layer: the dotted name of the submodule whose output gives the features, or the module.
        value_range: (lo, hi), the range of the images given to the scorer: (-1, 1) for a tanh
            generator, (0, 1) for pixel intensities or Bernoulli means. lo..hi is mapped to
            0..1 (clipped), then normalized as the classifier was trained, (x - mean) / std.
        mean, std: that normalization (Fashion-MNIST's training statistics, as the lenet5
            recipe uses).
        batch_size: images per forward pass.
        min_share: a class counts as covered (``modes_covered``) when at least this share of the
            samples is classified into it (default 0.01, a tenth of the uniform share of 10
            classes).

    Images may be (N, 1, 28, 28), (N, 28, 28) or (N, 784), arrays or Tensors.

    Example::

        >>> scorer = SampleScorer(load_classifier("runs/lenet5/best.ckpt"), value_range=(-1, 1))
        >>> scorer.score(generated, real)["frechet"]
    """

    def __init__(self, classifier, layer="classifier.3", value_range=(0.0, 1.0), mean=0.2860,
                 std=0.3530, batch_size=500, min_share=0.01):
        from ..nn import Module

        if not isinstance(classifier, Module):
            raise TypeError(f"SampleScorer: expected the classifier as a chainrule Module, got "
                            f"{type(classifier).__name__}")
        self.classifier = classifier
        if isinstance(layer, Module):
            self.layer, self.layer_name = layer, type(layer).__name__
        else:
            try:
                self.layer = classifier.get_submodule(str(layer))
            except AttributeError as e:
                names = [n for n, _ in classifier.named_modules() if n]
                raise ValueError(f"SampleScorer: the classifier {type(classifier).__name__} has "
                                 f"no layer {layer!r} ({e}); its layers are: "
                                 f"{', '.join(names)}") from None
            self.layer_name = str(layer)
        lo, hi = map(float, value_range)
        if not hi > lo:
            raise ValueError(f"SampleScorer: value_range must be (lo, hi) with hi > lo, got "
                             f"{value_range}")
        if not std > 0 or int(batch_size) < 1 or not 0 <= min_share < 1:
            raise ValueError(f"SampleScorer: expected std > 0, batch_size >= 1 and 0 <= "
                             f"min_share < 1, got {std}, {batch_size} and {min_share}")
        self.value_range = (lo, hi)
        self.mean, self.std = float(mean), float(std)
        self.batch_size, self.min_share = int(batch_size), float(min_share)

    def _images(self, images, name):
        a = _as_array(images, "SampleScorer", name)
        n = a.shape[0] if a.ndim else 0
        if a.ndim == 2 and a.shape[1] == 784 or a.ndim == 3 and a.shape[1:] == (28, 28):
            a = a.reshape(n, 1, 28, 28)
        if a.ndim != 4 or a.shape[1:] != (1, 28, 28) or n < 1:
            raise ValueError(f"SampleScorer: expected {name} as (N, 1, 28, 28), (N, 28, 28) or "
                             f"(N, 784) images with N >= 1, got shape {a.shape}")
        lo, hi = self.value_range
        x = np.clip((np.asarray(a, np.float32) - lo) / (hi - lo), 0.0, 1.0)
        return ((x - self.mean) / self.std).astype(np.float32)

    def features_and_logits(self, images, name="images"):
        """(features (N, d) float64, logits (N, K) float64) of the images."""
        from ..autograd import no_grad
        from ..tensor import Tensor

        x = self._images(images, name)
        seen = []
        handle = self.layer.register_forward_hook(lambda m, args, out: seen.append(out))
        was_training = self.classifier.training
        self.classifier.eval()
        feats, logits = [], []
        try:
            with no_grad():
                for i in range(0, len(x), self.batch_size):
                    seen.clear()
                    out = self.classifier(Tensor(x[i:i + self.batch_size]))
                    if not seen:
                        raise ValueError(f"SampleScorer: the layer {self.layer_name!r} did not "
                                         f"run in the classifier's forward pass")
                    f = seen[-1].numpy()
                    feats.append(f.reshape(f.shape[0], -1).astype(np.float64))
                    logits.append(out.numpy().reshape(out.shape[0], -1).astype(np.float64))
        finally:
            handle.remove()
            self.classifier.train(was_training)
        return np.concatenate(feats), np.concatenate(logits)

    def features(self, images):
        """The layer's features of the images, float64 (N, d)."""
        return self.features_and_logits(images)[0]

    def predict(self, images):
        """The classifier's labels of the images, int64 (N,)."""
        return self.features_and_logits(images)[1].argmax(axis=1)

    def score(self, generated, real):
        """Compare generated images with real ones.

        Returns a dict: ``frechet`` (the squared Frechet distance of the two sets' features),
        ``label_histogram`` (the share of the generated images the classifier puts in each of
        the K classes, a list summing to 1), ``real_label_histogram`` (the same for the real
        images), ``modes_covered`` (how many classes get at least ``min_share`` of the generated
        images: a generator that collapsed onto a few modes covers few), ``label_tv`` (the total
        variation 1/2 sum_k |p_k - q_k| between the two histograms), ``n_generated``, ``n_real``.
        """
        fg, lg = self.features_and_logits(generated, "generated")
        fr, lr = self.features_and_logits(real, "real")
        if len(fg) < 2 or len(fr) < 2:
            raise ValueError(f"SampleScorer.score: expected at least 2 generated and 2 real "
                             f"images, got {len(fg)} and {len(fr)}")
        k = lg.shape[1]
        hist = np.bincount(lg.argmax(axis=1), minlength=k) / len(lg)
        real_hist = np.bincount(lr.argmax(axis=1), minlength=k) / len(lr)
        return {"frechet": frechet_distance(fg, fr),
                "label_histogram": [float(p) for p in hist],
                "real_label_histogram": [float(p) for p in real_hist],
                "modes_covered": int(np.sum(hist >= self.min_share)) if self.min_share > 0
                else int(np.sum(hist > 0)),
                "label_tv": float(0.5 * np.abs(hist - real_hist).sum()),
                "n_generated": int(len(fg)), "n_real": int(len(fr))}
