"""Momentum iterative method (MI-FGSM): PGD with accumulated gradients.

Reference:
    Dong, Liao, Pang, Su, Zhu, Hu, Li. "Boosting Adversarial Attacks with
    Momentum". CVPR 2018. https://arxiv.org/abs/1710.06081

Over the threat model `S(x) = {x' : ||x' - x||_p <= eps} ∩ [clip_min,
clip_max]^d`, starting from `x_0 = x` (or a random point of the ball), with
`g_0 = 0`:

    g_{t+1} = decay * g_t + grad L(x_t) / mean(|grad L(x_t)|)
    x_{t+1} = clip(x + P_eps(x_t + step_size * s_p(g_{t+1}) - x))

where `s_inf = sign`, `s_2(g) = g / ||g||_2` and `P_eps` projects onto the
ball. The paper normalises by the L1 norm; like cleverhans 4.0.0 we divide by
the per-example *mean* absolute value, which is the L1 norm over the number
of pixels, a constant that the sign/L2 step does not see. Unlike PGD
(cleverhans' order) there is no clip between the step and the projection,
also as in cleverhans. PGN (ICLR 2020 submission, Table 2) evaluates with
MIM.

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv = mim(model_fn, x, y, eps=0.3, step_size=0.03, num_steps=10)
```
"""

from tf_advnet.attacks._common import run_attack


def mim(
    model_fn,
    x,
    y=None,
    *,
    eps,
    step_size,
    num_steps,
    decay=1.0,
    norm="inf",
    loss="ce",
    targeted=False,
    random_start=False,
    any_iterate=False,
    clip_min=0.0,
    clip_max=1.0,
    seed=None,
):
    """Momentum iterative method (Dong et al. 2018) on a logits callable.

    Args:
        model_fn: callable mapping a batch of images to logits, e.g.
            `lambda x: model(x, training=False)`.
        x: float images `(batch, ...)` in `[clip_min, clip_max]`.
        y: integer labels `(batch,)` (one-hot accepted). Untargeted: the true
            labels, or `None` to use the model's predictions on `x`.
            Targeted: the target labels (required).
        eps: radius of the norm ball, `>= 0`.
        step_size: length of each step in the norm, `>= 0`.
        num_steps: number of iterations, integer `>= 0`.
        decay: momentum decay factor `mu >= 0` (1.0 in the paper).
        norm: `"inf"` / `np.inf` or `"2"` / `2`.
        loss: `"ce"` or `"cw"` (C&W margin without a cap).
        targeted: if True, descend the loss of the target labels `y`.
        random_start: start from a uniform sample of the ball instead of `x`
            (not in the paper; off by default as in cleverhans).
        any_iterate: if True, return per example the first iterate that
            fools the model, if any, else the last one (AutoAttack's success
            rule; see `pgd`).
        clip_min: lower pixel bound (`None`: unbounded).
        clip_max: upper pixel bound (`None`: unbounded).
        seed: int for a reproducible random start, or `None` for TF's
            global RNG. Unused without `random_start`.

    Returns:
        Float32 adversarial images of `x`'s shape, inside the `eps`-ball and
        `[clip_min, clip_max]`.

    Raises:
        ValueError: naming the argument, for a negative `eps`, `step_size`,
            `num_steps` or `decay`, an unknown `norm` or `loss`,
            `clip_min > clip_max`, or `targeted=True` without `y`.
    """
    return run_attack(
        model_fn, x, y, eps=eps, step_size=step_size, num_steps=num_steps,
        norm=norm, loss=loss, targeted=targeted, random_start=random_start,
        restarts=1, keep_best=False, any_iterate=any_iterate,
        kappa=float("inf"), decay=decay,
        momentum=True, clip_min=clip_min, clip_max=clip_max, seed=seed,
    )
