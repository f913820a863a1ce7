"""Fast gradient (sign) method: one steepest-ascent step of size eps.

Reference:
    Goodfellow, Shlens, Szegedy. "Explaining and Harnessing Adversarial
    Examples". ICLR 2015. https://arxiv.org/abs/1412.6572

One step of the loss's steepest ascent in the norm, then clip:

    x_adv = clip(x + eps * s_p(grad_x L(f(x), y)), clip_min, clip_max),
    s_inf(g) = sign(g),  s_2(g) = g / ||g||_2,

so `||x_adv - x||_p <= eps`. `fgm` is `pgd(num_steps=1, step_size=eps,
random_start=False)` and returns the same tensor; `fgsm` is `fgm` with
`norm="inf"`.

Targeted and label variants used by the papers:

- Untargeted FGS with the *most likely* (predicted) label, as in the EAT
  training set of Wang & Yu (ICLR 2019, Sec. 4.4; `ensemble_examples_wrapper*.py`
  in `whxbergkamp/RobustDL_GAN`), which avoids label leaking
  (Kurakin et al. 2017): `fgsm(f, x, eps=eps)` (`y=None`).
- Least-likely class step, `x - eps * sign(grad CE(f(x), y_LL))`
  (Kurakin et al. 2017; the EAT baseline of Wang & Yu):
  `fgsm(f, x, least_likely(f(x)), eps=eps, targeted=True)`.
- BAT's most-confusing targeted step (Wang & Zhang, ICCV 2019, Eq. 24):
  `fgsm(f, x_rand, most_confusing(f(x), y), eps=eps, targeted=True)`; BAT
  starts it from a random point, which is `pgd(num_steps=1, step_size=eps,
  random_start=True, targeted=True)`.
- L2 FGM of the PGN baselines (`main.py` of `ATPGN/ATPGN`, cleverhans' FGM with
  `ord=2`): `fgm(f, x, y, eps=eps, norm=2)`.

Example:

```python
model_fn = lambda x: model(x, training=False)
x_adv = fgsm(model_fn, x, y, eps=8 / 255)
```
"""

from tf_advnet.attacks.pgd import pgd


def fgm(
    model_fn,
    x,
    y=None,
    *,
    eps,
    norm="inf",
    loss="ce",
    targeted=False,
    clip_min=0.0,
    clip_max=1.0,
):
    """Fast gradient method (Goodfellow et al. 2015) in the L-inf or L2 norm.

    Args:
        model_fn: callable mapping a batch of images to logits, e.g.
            `lambda x: model(x, training=False)`.
        x: float images `(batch, ...)` in `[clip_min, clip_max]`.
        y: integer labels `(batch,)` (one-hot accepted). Untargeted: the true
            labels, or `None` to use the model's predictions on `x`.
            Targeted: the target labels (required).
        eps: step length and budget, `>= 0`.
        norm: `"inf"` / `np.inf` or `"2"` / `2`.
        loss: `"ce"` (cross-entropy) or `"cw"` (C&W margin).
        targeted: if True, step down the loss of the target labels `y`.
        clip_min: lower pixel bound (`None`: unbounded).
        clip_max: upper pixel bound (`None`: unbounded).

    Returns:
        Float32 adversarial images of `x`'s shape.

    Raises:
        ValueError: naming the argument, for a negative `eps`, an unknown
            `norm` or `loss`, `clip_min > clip_max`, or `targeted=True`
            without `y`.
    """
    return pgd(
        model_fn, x, y, eps=eps, step_size=eps, num_steps=1, norm=norm,
        loss=loss, targeted=targeted, random_start=False, clip_min=clip_min,
        clip_max=clip_max,
    )


def fgsm(
    model_fn,
    x,
    y=None,
    *,
    eps,
    loss="ce",
    targeted=False,
    clip_min=0.0,
    clip_max=1.0,
):
    """Fast gradient sign method: `fgm` with `norm="inf"`.

    Args:
        model_fn: callable mapping a batch of images to logits.
        x: float images `(batch, ...)` in `[clip_min, clip_max]`.
        y: integer labels `(batch,)`, or `None` for the model's predictions.
        eps: L-inf step and budget, `>= 0`.
        loss: `"ce"` or `"cw"`.
        targeted: if True, step down the loss of the target labels `y`.
        clip_min: lower pixel bound.
        clip_max: upper pixel bound.

    Returns:
        Float32 adversarial images of `x`'s shape.

    Raises:
        ValueError: as `fgm`.
    """
    return fgm(
        model_fn, x, y, eps=eps, norm="inf", loss=loss, targeted=targeted,
        clip_min=clip_min, clip_max=clip_max,
    )
