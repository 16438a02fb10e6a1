"""The Helmholtz machine and the wake-sleep algorithm (Hinton, Dayan, Frey and Neal 1995), notes
sections 4.4 and 4.5.

Units are binary stochastic. With ``layer_sizes = (D, n_1, ..., n_L)``, x = h_0 in {0, 1}^D is
the visible layer and h = (h_1, ..., h_L) the hidden ones. Two directed sigmoid belief nets share
the layers:

* the generative model p_theta (top-down):

      p(h_L)             = prod_j Bernoulli(h_Lj; sigmoid(b_j)),
      p(h_{l-1} | h_l)   = prod_j Bernoulli(h_{l-1,j}; sigmoid(W_l h_l + c_l)_j),   l = L..1,
      p_theta(x, h)      = p(h_L) prod_{l=1..L} p(h_{l-1} | h_l);

* the recognition model q_phi (bottom-up):

      q(h_l | h_{l-1})   = prod_j Bernoulli(h_lj; sigmoid(R_l h_{l-1} + d_l)_j),    l = 1..L,
      q_phi(h | x)       = prod_{l=1..L} q(h_l | h_{l-1}).

Each log-probability is a sum of Bernoulli terms, log Bernoulli(v; sigmoid(a)) = v a - log(1 + e^a)
(``nn.functional.bernoulli_log_likelihood``).

Wake-sleep alternates two local, purely supervised steps (no gradient through a sample):

* wake phase: h ~ q_phi(.|x) on data x, then theta descends the wake loss
  -log p_theta(x, h) with h held fixed (it reaches theta only). Its expectation is
  E_{P_data(x) q_phi(h|x)}[-log p_theta(x, h)] = KL(P_data q_phi || p_theta) + const, so the wake
  phase is the notes' step (2), p_{t+1} = argmin_{p in P} KL(q_{t+1} | p): the same as a VAE's
  generative step.
* sleep phase: a dream (h, x~) ~ p_theta(h, x), then phi descends the sleep loss
  -log q_phi(h | x~) (it reaches phi only). Its expectation is
  E_{p_theta(h, x)}[-log q_phi(h|x)] = KL(p_theta(h, x) || p_theta(x) q_phi(h|x)) + const, so the
  sleep phase is step (1) with the KL in the other direction, q_{t+1} = argmin_{q in Q}
  KL(p_t | q), where a VAE minimizes KL(q | p_t) (and with the model's own x-marginal
  p_theta(x) in place of P_data(x): dreams stand in for data). The two phases minimize two
  different divergences, so wake-sleep is an alternating projection (notes 4.4) that descends
  no single objective; it is not guaranteed to raise the likelihood at every step.

The model is scored by the K-sample importance-weighted estimate of log p_theta(x),

    L_K(x) = log (1/K) sum_k p_theta(x, h_k) / q_phi(h_k | x),   h_k ~ q_phi(.|x),

a lower bound in expectation that tightens as K grows (L_1 is the ELBO of notes 4.5, and
L_K -> log p_theta(x)); ``exact_log_likelihood`` enumerates the hidden states of small models.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend, nn, ops
from ..autograd import no_grad
from ..nn import functional as F
from ..ops._util import OpError
from ..tensor import Tensor

__all__ = ["HelmholtzMachine"]

_ENUMERATION_LIMIT = 20  # exact_log_likelihood enumerates at most 2^20 hidden states
_CHUNK_ELEMENTS = 1 << 22  # IW estimate: at most ~4M numbers per layer tensor per chunk


def _bern_logp(logits, bits):
    """log Bernoulli(bits; sigmoid(logits)) summed over the last dim; ``logits`` broadcast to the
    bits' leading dims (e.g. (N, n) logits for (K, N, n) bits)."""
    if tuple(logits.shape) != tuple(bits.shape):
        logits = logits.expand(*bits.shape)
    return F.bernoulli_log_likelihood(logits, bits, reduction="none")


class HelmholtzMachine(nn.Module):
    """A Helmholtz machine of binary stochastic layers, trained by wake-sleep.

    Args:
        layer_sizes: (D, n_1, ..., n_L), L >= 1: the visible size and the hidden layers' sizes,
            bottom to top (e.g. (784, 200, 50)).
        dtype: the parameters' dtype (the default dtype, float32, if None).

    Parameters (theta, the generative model): ``prior_logits`` b (n_L,) and ``generative[l-1]`` =
    Linear(n_l -> n_{l-1}) giving the logits of p(h_{l-1} | h_l), for l = 1..L.
    Parameters (phi, the recognition model): ``recognition[l-1]`` = Linear(n_{l-1} -> n_l) giving
    the logits of q(h_l | h_{l-1}). :meth:`generative_parameters` and
    :meth:`recognition_parameters` list them apart.

    Hidden states are lists ``h = [h_1, ..., h_L]`` of float tensors of 0s and 1s, h_l of shape
    (..., n_l); x is (..., D), the leading dims being the batch (images (N, C, H, W) with
    C H W = D are flattened). Every random draw comes from chainrule's generator
    (``chainrule.manual_seed``), so runs repeat.

    Methods: ``log_joint(x, h)``, ``log_q(h, x)``, ``sample_q(x, K=None)``, ``dream(n)``,
    ``sample(n)``, ``wake_loss(x, h=None)``, ``sleep_loss(n=None, dream=None)``,
    ``wake_sleep_losses(x)``, ``wake_step(x, optimizer)``, ``sleep_step(n, optimizer)``,
    ``log_likelihood(x, K=5000)`` and ``exact_log_likelihood(x)`` (small models).

    Example::

        >>> hm = HelmholtzMachine((784, 200, 50))
        >>> wake, sleep = hm.wake_sleep_losses(x)   # x (N, 784) in {0, 1}
        >>> (wake + sleep).backward()                # disjoint gradients: theta and phi
        >>> ll = hm.log_likelihood(x, K=5000)        # (N,) nats
    """

    def __init__(self, layer_sizes=(784, 200, 50), dtype=None):
        super().__init__()
        try:
            sizes = tuple(layer_sizes)
        except TypeError:
            raise TypeError(f"HelmholtzMachine: layer_sizes must be a sequence of ints (D, n_1, "
                            f"..., n_L), got {type(layer_sizes).__name__}") from None
        if len(sizes) < 2 or any(not isinstance(s, numbers.Integral) or isinstance(s, bool)
                                 or s < 1 for s in sizes):
            raise ValueError(f"HelmholtzMachine: layer_sizes must be at least two positive ints "
                             f"(visible, hidden...), got {layer_sizes!r}")
        self.layer_sizes = tuple(int(s) for s in sizes)
        dt = backend.get_default_dtype() if dtype is None else np.dtype(dtype)
        self.prior_logits = nn.Parameter(np.zeros(self.layer_sizes[-1], dt))
        self.generative = nn.ModuleList(
            [nn.Linear(self.layer_sizes[i + 1], self.layer_sizes[i], dtype=dt)
             for i in range(self.n_hidden_layers)])
        self.recognition = nn.ModuleList(
            [nn.Linear(self.layer_sizes[i], self.layer_sizes[i + 1], dtype=dt)
             for i in range(self.n_hidden_layers)])

    # ---- bookkeeping ---------------------------------------------------------------------------
    @property
    def n_hidden_layers(self):
        return len(self.layer_sizes) - 1

    @property
    def visible_size(self):
        return self.layer_sizes[0]

    def generative_parameters(self):
        """theta: the prior's logits and the top-down layers."""
        return [self.prior_logits] + list(self.generative.parameters())

    def recognition_parameters(self):
        """phi: the bottom-up layers."""
        return list(self.recognition.parameters())

    def _dtype(self):
        return self.prior_logits.dtype

    def _who(self):
        return f"HelmholtzMachine{self.layer_sizes}"

    def init_visible_bias_(self, mean):
        """Set the visible layer's generative bias to logit(mean) (the data's pixel means, clipped
        to [1e-3, 1 - 1e-3]): the usual start, so that p(x|h) begins at the data's marginals."""
        m = np.asarray(mean.data if isinstance(mean, Tensor) else mean, dtype=np.float64)
        if m.shape != (self.visible_size,):
            raise ValueError(f"{self._who()}.init_visible_bias_: expected mean of shape "
                             f"({self.visible_size},), got {m.shape}")
        m = np.clip(m, 1e-3, 1 - 1e-3)
        self.generative[0].bias.data[...] = np.log(m / (1 - m)).astype(self._dtype())
        return self

    # ---- input checks --------------------------------------------------------------------------
    def _check_x(self, who, x, name="x"):
        """x as a (..., D) tensor of the parameters' dtype, with values in {0, 1}."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{self._who()}.{who}: expected {name} as a chainrule Tensor of shape "
                            f"(N, {self.visible_size}), got {type(x).__name__}")
        if x.ndim == 4 and int(np.prod(x.shape[1:])) == self.visible_size:
            x = x.reshape(x.shape[0], self.visible_size)
        if x.ndim < 1 or x.shape[-1] != self.visible_size:
            raise OpError(f"{self._who()}.{who}: expected {name} of shape (N, "
                          f"{self.visible_size}), got {tuple(x.shape)}")
        if x.dtype != self._dtype():
            raise TypeError(f"{self._who()}.{who}: expected {name} of dtype {self._dtype()} (the "
                            f"parameters'), got {x.dtype}")
        d = x.data
        if d.size and not np.all((d == 0) | (d == 1)):
            bad = d[(d != 0) & (d != 1)].ravel()[0]
            raise ValueError(f"{self._who()}.{who}: expected binary {name} (0s and 1s; binarize "
                             f"grey levels first, e.g. datasets.binarize), got the value {bad}")
        return x

    def _check_h(self, who, h, batch):
        """h as a list of L tensors h_l of shape (..., n_l)."""
        if isinstance(h, Tensor) or not isinstance(h, (list, tuple)):
            raise TypeError(f"{self._who()}.{who}: expected h as a list of {self.n_hidden_layers} "
                            f"tensors [h_1, ..., h_L], got {type(h).__name__}")
        if len(h) != self.n_hidden_layers:
            raise ValueError(f"{self._who()}.{who}: expected {self.n_hidden_layers} hidden layers "
                             f"in h, got {len(h)}")
        out = []
        for i, t in enumerate(h):
            want = tuple(batch) + (self.layer_sizes[i + 1],)
            if not isinstance(t, Tensor):
                raise TypeError(f"{self._who()}.{who}: expected h[{i}] as a Tensor of shape "
                                f"{want}, got {type(t).__name__}")
            if tuple(t.shape) != want:
                raise OpError(f"{self._who()}.{who}: expected h[{i}] (layer {i + 1}) of shape "
                              f"{want}, got {tuple(t.shape)}")
            if t.dtype != self._dtype():
                raise TypeError(f"{self._who()}.{who}: expected h[{i}] of dtype {self._dtype()}, "
                                f"got {t.dtype}")
            out.append(t)
        return out

    def _draw(self, logits):
        """Bits ~ Bernoulli(sigmoid(logits)), a constant tensor (no gradient through a draw)."""
        dt = self._dtype()
        a = logits.data if logits.data.dtype == dt else logits.data.astype(dt)
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-a))
        u = backend.get_rng().random(p.shape, dtype=np.float32 if dt == np.float32 else
                                     np.float64)
        return Tensor((u < p).astype(dt))

    # ---- densities -----------------------------------------------------------------------------
    def log_prior(self, h_top):
        """log p(h_L) = sum_j [h_Lj b_j - log(1 + e^{b_j})], shape (...)."""
        return _bern_logp(self.prior_logits, h_top)

    def log_joint(self, x, h):
        """log p_theta(x, h) = log p(h_L) + sum_{l=1..L} log p(h_{l-1} | h_l), with h_0 = x.

        Args: x (..., D) binary; h [h_1 (..., n_1), ..., h_L (..., n_L)]. x may also be
        (N, D) with h of batch (K, N) (K hidden samples per example).
        Returns (...) in nats; differentiable in theta (and in h, as a function)."""
        x = self._check_x("log_joint", x)
        batch = tuple(h[0].shape[:-1]) if isinstance(h, (list, tuple)) and h and \
            isinstance(h[0], Tensor) else tuple(x.shape[:-1])
        h = self._check_h("log_joint", h, batch)
        if tuple(x.shape[:-1]) != batch:
            if tuple(x.shape[:-1]) != batch[len(batch) - x.ndim + 1:]:
                raise OpError(f"{self._who()}.log_joint: x of shape {tuple(x.shape)} does not "
                              f"match the hidden batch {batch}")
            x = x.expand(*batch, self.visible_size)
        lp = self.log_prior(h[-1])
        below = [x] + h[:-1]
        for i in range(self.n_hidden_layers):
            lp = lp + _bern_logp(self.generative[i](h[i]), below[i])
        return lp

    def log_q(self, h, x):
        """log q_phi(h | x) = sum_{l=1..L} log q(h_l | h_{l-1}), with h_0 = x.

        Args: h [h_1 (..., n_1), ...]; x (..., D) or (N, D) for h of batch (K, N).
        Returns (...) in nats; differentiable in phi."""
        x = self._check_x("log_q", x)
        batch = tuple(h[0].shape[:-1]) if isinstance(h, (list, tuple)) and h and \
            isinstance(h[0], Tensor) else tuple(x.shape[:-1])
        h = self._check_h("log_q", h, batch)
        if tuple(x.shape[:-1]) not in (batch, batch[len(batch) - x.ndim + 1:]):
            raise OpError(f"{self._who()}.log_q: x of shape {tuple(x.shape)} does not match the "
                          f"hidden batch {batch}")
        below = [x] + h[:-1]
        lq = None
        for i in range(self.n_hidden_layers):
            term = _bern_logp(self.recognition[i](below[i]), h[i])
            lq = term if lq is None else lq + term
        return lq

    # ---- sampling ------------------------------------------------------------------------------
    def sample_q(self, x, K=None):
        """h ~ q_phi(.|x) bottom-up, and log q_phi(h|x).

        x (N, D) binary; K None -> h_l (N, n_l) and log q (N,); K an int -> K samples per
        example, h_l (K, N, n_l) and log q (K, N). The bits carry no gradient; log q does (phi).
        """
        x = self._check_x("sample_q", x)
        if K is not None and (not isinstance(K, numbers.Integral) or isinstance(K, bool)
                              or K < 1):
            raise ValueError(f"{self._who()}.sample_q: K must be None or a positive int, got "
                             f"{K!r}")
        below, h, lq = x, [], None
        for i in range(self.n_hidden_layers):
            logits = self.recognition[i](below)
            if i == 0 and K is not None:  # q(h_1|x) once per example, K draws from it
                logits = logits.unsqueeze(0).expand(int(K), *logits.shape)
            bits = self._draw(logits)
            term = F.bernoulli_log_likelihood(logits, bits, reduction="none")
            lq = term if lq is None else lq + term
            h.append(bits)
            below = bits
        return h, lq

    def dream(self, n):
        """A dream (x~, h) ~ p_theta(x, h), top-down: h_L ~ p(h_L), h_{l-1} ~ p(h_{l-1}|h_l),
        x~ = h_0. Returns (x~ (n, D), [h_1 (n, n_1), ..., h_L (n, n_L)]), binary, no gradient."""
        n = self._count("dream", n)
        with no_grad():
            top = self.prior_logits.unsqueeze(0).expand(n, self.layer_sizes[-1])
            h = [self._draw(top)]
            for i in reversed(range(self.n_hidden_layers)):
                h.insert(0, self._draw(self.generative[i](h[0])))
        return h[0], h[1:]

    def sample(self, n, probabilities=False):
        """n visible samples x ~ p_theta(x), binary (n, D); ``probabilities=True`` gives the mean
        E[x | h_1] = sigmoid(W_1 h_1 + c_1) of the last step instead (smoother images)."""
        n = self._count("sample", n)
        with no_grad():
            x, h = self.dream(n)
            if probabilities:
                return self.generative[0](h[0]).sigmoid()
        return x

    def _count(self, who, n):
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"{self._who()}.{who}: n must be a positive int, got {n!r}")
        return int(n)

    # ---- wake-sleep ----------------------------------------------------------------------------
    def wake_loss(self, x, h=None):
        """Wake phase: -(1/N) sum_i log p_theta(x_i, h_i) with h_i ~ q_phi(.|x_i) held fixed
        (drawn if ``h`` is None). Gradient only to theta: it fits p on samples of q, minimizing
        KL(P_data q_phi || p_theta) over theta (the notes' step (2))."""
        x = self._check_x("wake_loss", x)
        if x.ndim != 2:
            raise OpError(f"{self._who()}.wake_loss: expected x of shape (N, {self.visible_size}),"
                          f" got {tuple(x.shape)}")
        if h is None:
            with no_grad():  # the bits only; their log q is not needed here
                h, below = [], x
                for layer in self.recognition:
                    below = self._draw(layer(below))
                    h.append(below)
        return -self.log_joint(x, h).mean()

    def sleep_loss(self, n=None, dream=None):
        """Sleep phase: -(1/n) sum_j log q_phi(h_j | x~_j) on dreams (x~_j, h_j) ~ p_theta (drawn
        if ``dream`` = (x~, h) is None; ``n`` of them). Gradient only to phi: it fits q on dreams
        of p, minimizing KL(p_theta(h, x) || p_theta(x) q_phi(h|x)) over phi (step (1) of notes
        4.4 with the KL reversed)."""
        if dream is None:
            if n is None:
                raise ValueError(f"{self._who()}.sleep_loss: give the number of dreams n or a "
                                 f"dream (x, h)")
            dream = self.dream(n)
        if not isinstance(dream, (tuple, list)) or len(dream) != 2:
            raise TypeError(f"{self._who()}.sleep_loss: expected dream as a pair (x, h), got "
                            f"{type(dream).__name__}")
        x, h = dream
        return -self.log_q(h, x).mean()

    def wake_sleep_losses(self, x, n_dreams=None):
        """(wake, sleep): the two phases' losses on a batch x (N, D) and ``n_dreams`` (default N)
        dreams. They reach disjoint parameters (theta, phi), so ``(wake + sleep).backward()``
        followed by one optimizer step over all parameters performs both phases."""
        x = self._check_x("wake_sleep_losses", x)
        wake = self.wake_loss(x)
        sleep = self.sleep_loss(x.shape[0] if n_dreams is None else n_dreams)
        return wake, sleep

    def wake_step(self, x, optimizer):
        """One wake update of theta (``optimizer`` over :meth:`generative_parameters`); returns the
        wake loss (float)."""
        optimizer.zero_grad()
        loss = self.wake_loss(x)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    def sleep_step(self, n, optimizer):
        """One sleep update of phi (``optimizer`` over :meth:`recognition_parameters`) on n
        dreams; returns the sleep loss (float)."""
        optimizer.zero_grad()
        loss = self.sleep_loss(n)
        loss.backward()
        optimizer.step()
        return float(loss.item())

    # ---- likelihood ----------------------------------------------------------------------------
    def log_likelihood(self, x, K=5000, chunk_size=None, reduction="none"):
        """The K-sample importance-weighted estimate of log p_theta(x) (nats), per example (N,):

            L_K(x) = log (1/K) sum_k p_theta(x, h_k) / q_phi(h_k | x),   h_k ~ q_phi(.|x),

        via ``nn.functional.iwae_log_likelihood``, drawing at most ``chunk_size`` samples at a
        time (default: about 4M numbers per layer tensor, so K = 5000 fits in memory).
        E[L_K] <= log p_theta(x), increasing in K. Wrap in ``chainrule.no_grad()`` to evaluate."""
        x = self._check_x("log_likelihood", x)
        if x.ndim != 2:
            raise OpError(f"{self._who()}.log_likelihood: expected x of shape (N, "
                          f"{self.visible_size}), got {tuple(x.shape)}")
        if not isinstance(K, numbers.Integral) or isinstance(K, bool) or K < 1:
            raise ValueError(f"{self._who()}.log_likelihood: K must be a positive int, got {K!r}")
        if chunk_size is None:
            per_sample = max(1, x.shape[0]) * max(self.layer_sizes)
            chunk_size = max(1, min(int(K), _CHUNK_ELEMENTS // per_sample))

        def log_p_joint(_x, h):
            return self.log_joint(x, h)

        return F.iwae_log_likelihood(x, self.sample_q, log_p_joint, int(K),
                                     chunk_size=chunk_size, reduction=reduction)

    def exact_log_likelihood(self, x):
        """log p_theta(x) = log sum_h p_theta(x, h), by enumerating all 2^(n_1+...+n_L) hidden
        states (at most 2^20): the ground truth for small models. Returns (N,) float64 array."""
        x = self._check_x("exact_log_likelihood", x)
        n_hidden = sum(self.layer_sizes[1:])
        if n_hidden > _ENUMERATION_LIMIT:
            raise ValueError(f"{self._who()}.exact_log_likelihood: {n_hidden} hidden units give "
                             f"2^{n_hidden} states; enumeration is limited to "
                             f"{_ENUMERATION_LIMIT} units")
        states = self.hidden_states()
        m, n = states[0].shape[0], x.shape[0]
        h = [Tensor(np.broadcast_to(s.data[:, None, :], (m, n, s.shape[1])).copy())
             for s in states]
        with no_grad():
            lj = self.log_joint(x, h)  # (2^H, N)
            return ops.logsumexp(lj.double(), 0).numpy()

    def hidden_states(self):
        """All hidden configurations, as [h_1 (2^H, n_1), ..., h_L (2^H, n_L)] (H = total hidden
        units), for enumeration."""
        n_hidden = sum(self.layer_sizes[1:])
        codes = np.arange(2 ** n_hidden)[:, None] >> np.arange(n_hidden)[None, :] & 1
        codes = codes.astype(self._dtype())
        out, k = [], 0
        for s in self.layer_sizes[1:]:
            out.append(Tensor(codes[:, k:k + s].copy()))
            k += s
        return out

    def extra_repr(self):
        return f"layer_sizes={self.layer_sizes}"

