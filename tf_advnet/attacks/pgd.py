"""Projected gradient descent (PGD), with random restarts and best iterate.

Reference:
    Madry, Makelov, Schmidt, Tsipras, Vladu. "Towards Deep Learning Models
    Resistant to Adversarial Attacks". ICLR 2018.
    https://arxiv.org/abs/1706.06083

PGD maximises a per-example loss `L` (see `losses.objective`) over the threat
model

    S(x) = {x' : ||x' - x||_p <= eps} ∩ [clip_min, clip_max]^d,  p in {inf, 2}

by iterating, from `x_0 = clip(x + U(B_p(eps)))` (or `x_0 = x`),

    x_{t+1} = clip(x + P_eps(clip(x_t + step_size * s_p(grad L(x_t))) - x)),

where `s_inf(g) = sign(g)`, `s_2(g) = g / ||g||_2` and `P_eps` projects
onto the `eps`-ball. The inner `clip` before the projection follows cleverhans
4.0.0 (FGM clips, then PGD projects and clips again); for L-inf it changes
nothing, for L2 it keeps our iterates equal to cleverhans'.

Options:

- `restarts > 1`: independent random starts; per example the first restart
  that fools the model is kept, otherwise the one with the highest loss.
- `keep_best=True`: per example the iterate (including the start and the
  last one) with the highest loss, as mister_ed's PGD used by L2L-DA. The
  highest-loss iterate need not fool the model when another one does (a
  CE loss can be higher at a correctly classified point), so it is not a
  success rule.
- `any_iterate=True`: per example the first iterate (the start and the
  last one included) at which the model is fooled (`argmax != y`;
  targeted: `argmax == y`); an example fooled by none gets the last iterate,
  or with `keep_best` the highest-loss one. A point fooled at any iterate
  then counts as broken, AutoAttack's rule (Croce & Hein, ICML 2020: its
  APGD returns a misclassified iterate whenever one was found, see
  `attack_single_run` in fra31/auto-attack `autoattack/autopgd_base.py`);
  the papers' own PGD code returns the last iterate, which counts a point
  fooled mid-run and not at the end as robust. Worst-case evaluations use
  it (the registry's `pgd`/`cwpgd`/`mim` specs default to `any=1`); costs
  one more forward pass (at the last iterate).
- `loss="cw"` with `kappa`: the C&W margin, e.g. BAT's CW-k (`kappa=50`).
- `targeted=True`: `y` holds target labels and their loss is descended.

Paper settings (Madry et al. and BAT's `train.py` defaults; BAT Sec. 5, `eval.py`;
L2L-DA's `evaluation_mnist.py`; PGN's `main.py`):

```python
pgd(f, x, y, eps=8 / 255, step_size=2 / 255, num_steps=7)       # Madry, BAT
pgd(f, x, y, eps=8 / 255, step_size=2 / 255, num_steps=100,
    loss="cw", kappa=50.0)                                        # BAT CW-100
pgd(f, x, y, eps=0.3, step_size=0.3 / 12, num_steps=100,
    keep_best=True)                                               # L2L PGD100
pgd(f, x, y, eps=0.02, step_size=0.02 / 6, num_steps=10, norm=2)  # PGN L2
```

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv = pgd(model_fn, x, y, eps=0.3, step_size=0.01, num_steps=40, seed=0)
```

The loop (`_common.attack_graph`, which `mim` shares with its momentum
branch) runs inside one `tf.function` (a `tf.while_loop`); hyper-parameters
are passed as tensors, so new values do not retrace. A new `model_fn` object
(so reuse one callable rather than writing a fresh `lambda` per batch; bound
methods such as `trainer.classifier_fn` are handled), a new input shape or
new structural options (`norm`, `loss`, `targeted`, `random_start`,
`keep_best`, `any_iterate`, `restarts > 1` or not, `y is None`) do.
"""

from tf_advnet.attacks._common import run_attack


def pgd(
    model_fn,
    x,
    y=None,
    *,
    eps,
    step_size,
    num_steps,
    norm="inf",
    loss="ce",
    targeted=False,
    random_start=True,
    restarts=1,
    keep_best=False,
    any_iterate=False,
    kappa=float("inf"),
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
):
    """Projected gradient descent (Madry et al. 2018) on a logits callable.

    Args:
        model_fn: callable mapping a batch of images to logits, e.g.
            `lambda x: model(x, training=False)`.
        x: float images `(batch, ...)` in `[clip_min, clip_max]`.
        y: integer labels `(batch,)` (one-hot accepted). Untargeted: the true
            labels, or `None` to use the model's predictions on `x` (avoids
            label leaking). Targeted: the target labels (required).
        eps: radius of the norm ball, `>= 0`.
        step_size: length of each ascent step in the norm, `>= 0`.
        num_steps: number of gradient steps, integer `>= 0`.
        norm: `"inf"` / `np.inf` or `"2"` / `2`.
        loss: `"ce"` (cross-entropy) or `"cw"` (C&W margin, see `kappa`).
        targeted: if True, descend the loss of the target labels `y`.
        random_start: start from a uniform sample of the ball (L-inf: box;
            L2: ball), clipped to `[clip_min, clip_max]`; else from `x`.
        restarts: number of random starts, integer `>= 1`; per example the
            first that fools the model is kept, else the highest-loss one.
        keep_best: if True, return per example the iterate with the highest
            loss instead of the last one (costs one extra forward pass).
        any_iterate: if True, return per example the first iterate that
            fools the model, if any (else the last one, or the highest-loss
            one with `keep_best`): AutoAttack's success rule, a point fooled
            at any iterate counts as broken. Costs one extra forward pass.
        kappa: cap of the C&W margin (`loss="cw"` only), `>= 0`.
        clip_min: lower pixel bound (`None`: unbounded).
        clip_max: upper pixel bound (`None`: unbounded).
        seed: int for a reproducible random start (stateless RNG seeded
            with `[seed, restart]`), or `None` to draw from TF's global RNG.

    Returns:
        Float32 adversarial images of `x`'s shape, inside the `eps`-ball
        around `x` and inside `[clip_min, clip_max]`.

    Raises:
        ValueError: naming the argument, for a negative `eps`, `step_size`
            or `num_steps`, an unknown `norm` or `loss`, `restarts < 1`,
            `restarts > 1` without `random_start`, `clip_min > clip_max`,
            or `targeted=True` without `y`.
    """
    return run_attack(
        model_fn, x, y, eps=eps, step_size=step_size, num_steps=num_steps,
        norm=norm, loss=loss, targeted=targeted, random_start=random_start,
        restarts=restarts, keep_best=keep_best, any_iterate=any_iterate,
        kappa=kappa, decay=0.0, momentum=False, clip_min=clip_min,
        clip_max=clip_max, seed=seed,
    )
