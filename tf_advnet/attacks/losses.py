"""Per-example attack losses on logits: cross-entropy and the C&W margin.

Untargeted attacks ascend a loss of the true (or predicted) label; targeted
attacks descend the loss of the target label, i.e. ascend its negative.
`objective` returns the quantity every attack in this package ascends.

Losses, for logits `z` and label `y`:

    cross_entropy(z, y) = -log softmax(z)_y
    cw_margin(z, y)     = min(max_{j != y} z_j - z_y, kappa)

and the Difference of Logits Ratio of Croce & Hein (ICML 2020,
https://arxiv.org/abs/2003.01690, Eq. 5 and its targeted variant), with `pi`
the indices sorting `z` decreasingly:

    dlr(z, y)             = -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)
    dlr_targeted(z, y, t) = -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)

Maximising `cw_margin` is the untargeted loss of Carlini & Wagner (2017,
https://arxiv.org/abs/1608.04644, their f_6 on logits). BAT's "CW-k"
evaluation (Wang & Zhang, ICCV 2019) descends `max(z_y - max_{j != y} z_j +
50, 0) = 50 - cw_margin(z, y, kappa=50)`, i.e. ascends `cw_margin` with
`kappa=50`. For targeted attacks the cap goes the other way: the target wins
by at most `kappa`, `max(max_{j != t} z_j - z_t, -kappa)` is descended.

Example:

```python
logits = model_fn(x)
loss = cross_entropy(logits, y)              # (batch,)
margin = cw_margin(logits, y, kappa=50.0)    # (batch,)
to_ascend = objective(logits, t, loss="cw", targeted=True)
```
"""

import tensorflow as tf

LOSSES = ("ce", "cw")


def _sparse_labels(labels):
    """Integer labels of shape (batch,); one-hot labels are argmax-ed."""
    labels = tf.convert_to_tensor(labels)
    if labels.shape.rank == 2:
        labels = tf.argmax(labels, axis=-1)
    if labels.dtype not in (tf.int32, tf.int64):
        labels = tf.cast(labels, tf.int64)
    return labels


def cross_entropy(logits, labels):
    """Per-example softmax cross-entropy on logits.

    Args:
        logits: float tensor `(batch, num_classes)`.
        labels: integer tensor `(batch,)` (one-hot `(batch, num_classes)` is
            also accepted).

    Returns:
        A float tensor `(batch,)`.
    """
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=_sparse_labels(labels), logits=logits
    )


def cw_margin(logits, labels, kappa=float("inf")):
    """Per-example C&W margin `min(max_{j != y} z_j - z_y, kappa)`.

    Positive iff the example is misclassified. Ascending it is the untargeted
    C&W attack; the cap `kappa` stops pushing once the wrong class leads by
    `kappa`.

    Args:
        logits: float tensor `(batch, num_classes)`.
        labels: integer tensor `(batch,)` (one-hot accepted).
        kappa: cap on the margin (float or scalar tensor), `inf` for none.

    Returns:
        A float tensor `(batch,)`.
    """
    logits = tf.convert_to_tensor(logits)
    labels = _sparse_labels(labels)
    num_classes = tf.shape(logits)[-1]
    is_label = tf.one_hot(labels, num_classes, on_value=True, off_value=False)
    label_logit = tf.reduce_sum(
        tf.where(is_label, logits, tf.zeros_like(logits)), axis=-1
    )
    lowest = tf.fill(tf.shape(logits), logits.dtype.min)
    other_logit = tf.reduce_max(tf.where(is_label, lowest, logits), axis=-1)
    return tf.minimum(other_logit - label_logit, tf.cast(kappa, logits.dtype))


def loss_fn(name):
    """Returns the per-example loss function called `name`.

    Args:
        name: `"ce"` (cross-entropy) or `"cw"` (C&W margin).

    Returns:
        A callable `(logits, labels) -> (batch,)` loss. For `"cw"` it also
        accepts `kappa=`.

    Raises:
        ValueError: if `name` is not a known loss.
    """
    if name == "ce":
        return cross_entropy
    if name == "cw":
        return cw_margin
    raise ValueError(
        f"Invalid value for argument `loss`: expected one of {LOSSES}. "
        f"Received: loss={name!r}"
    )


def objective(logits, labels, *, loss="ce", targeted=False,
              kappa=float("inf")):
    """The per-example quantity an attack ascends.

    - untargeted `"ce"`: `cross_entropy(z, y)`;
    - targeted `"ce"`: `-cross_entropy(z, t)`;
    - untargeted `"cw"`: `cw_margin(z, y, kappa)`;
    - targeted `"cw"`: `-max(max_{j != t} z_j - z_t, -kappa)`.

    `kappa` is ignored for `"ce"`.

    Args:
        logits: float tensor `(batch, num_classes)`.
        labels: true labels (untargeted) or targets (targeted), `(batch,)`.
        loss: `"ce"` or `"cw"`.
        targeted: whether `labels` are targets.
        kappa: C&W confidence cap (float or scalar tensor).

    Returns:
        A float tensor `(batch,)`.
    """
    fn = loss_fn(loss)  # Raises ValueError for unknown names.
    if fn is cross_entropy:
        value = cross_entropy(logits, labels)
        return -value if targeted else value
    if not targeted:
        return cw_margin(logits, labels, kappa)
    margin = cw_margin(logits, labels)
    return -tf.maximum(margin, -tf.cast(kappa, margin.dtype))


def _label_logit(logits, labels):
    """`z_y` per example, for integer labels `(batch,)`."""
    return tf.gather(logits, labels, axis=-1, batch_dims=1)


def dlr(logits, labels):
    """Per-example Difference of Logits Ratio (Croce & Hein 2020, Eq. 5).

    `-(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)`: the C&W margin
    divided by the spread of the top three logits, so it is invariant to
    shifting the logits and (up to the 1e-12) to scaling them by a positive
    factor. That makes step sizes and the loss scale independent of the
    model's logit scale, which defeats gradient masking by large logits.
    Positive iff the example is misclassified.

    Args:
        logits: float tensor `(batch, num_classes)`, `num_classes >= 3`.
        labels: integer tensor `(batch,)` (one-hot accepted).

    Returns:
        A float tensor `(batch,)`.
    """
    logits = tf.convert_to_tensor(logits)
    top = tf.math.top_k(logits, k=3).values
    # cw_margin without a cap is max_{i != y} z_i - z_y.
    margin = cw_margin(logits, labels)
    return margin / (top[:, 0] - top[:, 2] + 1e-12)


def dlr_targeted(logits, labels, targets):
    """Per-example targeted DLR of Croce & Hein (2020), to be maximised.

    `-(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)`: ascending it
    raises the target logit `z_t` above the true one `z_y`. Invariant to
    shifting and (up to the 1e-12) positive scaling of the logits.

    Args:
        logits: float tensor `(batch, num_classes)`, `num_classes >= 4`.
        labels: true integer labels `(batch,)` (one-hot accepted).
        targets: target integer labels `(batch,)` (one-hot accepted).

    Returns:
        A float tensor `(batch,)`.
    """
    logits = tf.convert_to_tensor(logits)
    top = tf.math.top_k(logits, k=4).values
    diff = (_label_logit(logits, _sparse_labels(labels))
            - _label_logit(logits, _sparse_labels(targets)))
    return -diff / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)
