"""DeepDefense (Yan, Guo & Zhang, NeurIPS 2018): a DeepFool-based robustness regulariser.

    min_W  sum_k CE(y_k, f(x_k)) + lambda sum_{k in T} R(-c r_k) + lambda sum_{k in F} R(d r_k),
    r_k = ||Delta_{x_k}||_2 / ||x_k||_2,  R(t) = exp(t)                          (Eqs. 3, 6)

T = the batch samples the classifier currently classifies correctly (prediction on the
clean batch), F = the misclassified ones. Delta_x is the DeepFool perturbation as a
differentiable function of the weights (`tf_advnet.attacks.deepfool_diff`): multi-class
DeepFool from the prediction for T, binary DeepFool towards the true label for F. Per
batch, as in the reference code (`ZiangYan/deepdefense.pytorch`, `deepdefense.py`,
`train()`):

    loss = mean_k CE_k + (1/B) sum_k lambda R_k

so raising r for correct samples and lowering it for wrong ones lowers the loss.
Defaults: lambda = 15, c = 25, d = 5, u = 5 DeepFool steps linearised at x + sum(r),
overshoot 0.02 in the stop test and Delta only (the reference code; MNIST and
CIFAR-10; ImageNet: lambda = 5, c = 500). DeepDefense fine-tunes a reference model
(batch 100, SGD lr 5e-4 momentum 0.9, lr halved at 0.8 epochs: the paper's
Table 2 and the argparse defaults of the reference `deepdefense.py`).

DeepFool runs on the classifier in inference mode (`classifier_fn`); the cross-entropy
uses training mode. `regularized_layers` restricts the regulariser's gradient to some
layers' weights (paper Fig. 5) while the cross-entropy still trains every weight.
`input_mean` is subtracted from x in the denominator ||x||: DeepDefense normalises by
the norm of the mean-subtracted (preprocessed) input.

Example:
    trainer = DeepDefenseTrainer(classifier, lam=15.0, c=25.0, d=5.0)
    trainer.compile(optimizer=keras.optimizers.SGD(5e-4, momentum=0.9))
    trainer.fit(train_ds, epochs=5)
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tf_advnet.attacks.deepfool_diff import DEFAULT_NORM_EPS, deepdefense_ratio
from tf_advnet.errors import UserError, check_arg_choice, check_arg_range
from tf_advnet.trainers.base import (ClassifierTrainer, TrainerConfig, regularization,
                                    scale_for_replicas)


def regulariser_terms(r, correct, *, c, d):
    """Per-example R: exp(-c r) where `correct`, exp(d r) elsewhere (Eq. 6)."""
    return tf.where(correct, tf.exp(-c * r), tf.exp(d * r))


class DeepDefenseTrainer(ClassifierTrainer):
    """DeepDefense fine-tuning.

    Args:
      classifier: keras.Model mapping images to logits.
      lam: lambda, the regulariser weight (>= 0).
      c: scale for correctly classified samples (> 0).
      d: scale for misclassified samples (>= 0).
      num_iter: DeepFool steps u (>= 1).
      overshoot: DeepFool overshoot (>= 0).
      norm_eps: e added to every entry of w inside DeepFool's norm.
      linearize_at: where DeepFool linearises, "sum" (x + sum of the steps, as the
        official code; the default) or "overshoot" (x + Delta); see
        `tf_advnet.attacks.deepfool_diff`.
      regularized_layers: None (all weights) or names of classifier layers whose
        weights alone receive the regulariser's gradient.
      input_mean: None or a value/array broadcastable to x, subtracted from x in ||x||.
      weight_decay: coupled L2 on kernels.

    Metrics: loss (CE + lambda * reg), ce, reg (batch mean of R), rho2 (batch mean of
    r), clean_acc.
    """

    def __init__(self, classifier, *, lam=15.0, c=25.0, d=5.0, num_iter=5,
                 overshoot=0.02, norm_eps=DEFAULT_NORM_EPS, linearize_at="sum",
                 regularized_layers=None, input_mean=None, weight_decay=0.0, **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        self.lam = float(check_arg_range("lam", lam, 0.0))
        self.c = float(check_arg_range("c", c, 0.0, low_inclusive=False))
        self.d = float(check_arg_range("d", d, 0.0))
        self.num_iter = int(check_arg_range("num_iter", num_iter, 1))
        self.overshoot = float(check_arg_range("overshoot", overshoot, 0.0))
        self.norm_eps = float(check_arg_range("norm_eps", norm_eps, 0.0))
        self.linearize_at = check_arg_choice("linearize_at", linearize_at,
                                             ("overshoot", "sum"))
        self.input_mean = None if input_mean is None else tf.constant(input_mean,
                                                                      tf.float32)
        if isinstance(regularized_layers, str):
            regularized_layers = (regularized_layers,)
        self.regularized_layers = (None if regularized_layers is None
                                   else tuple(regularized_layers))
        if self.regularized_layers is not None:
            names = [layer.name for layer in classifier.layers]
            for name in self.regularized_layers:
                if name not in names:
                    raise UserError(f"regularized_layers: {name!r} is not a layer of "
                                    f"{classifier.name}; layers: {', '.join(names)}")
        self.ce_tracker = keras.metrics.Mean(name="ce")
        self.reg_tracker = keras.metrics.Mean(name="reg")
        self.rho2_tracker = keras.metrics.Mean(name="rho2")

    @property
    def metrics(self):
        return [self.loss_tracker, self.ce_tracker, self.reg_tracker,
                self.rho2_tracker, self.clean_acc_tracker]

    def _reg_weights(self):
        if self.regularized_layers is None:
            return self.classifier.trainable_weights
        ids = set()
        for name in self.regularized_layers:
            ids.update(id(v) for v in self.classifier.get_layer(name).trainable_weights)
        return [v for v in self.classifier.trainable_weights if id(v) in ids]

    def ratio(self, x, y):
        """r = ||Delta_x|| / ||x - input_mean|| per example (differentiable in W)."""
        x_ref = x if self.input_mean is None else x - self.input_mean
        r, _ = deepdefense_ratio(self.classifier_fn, x, y, x_ref=x_ref,
                                 num_iter=self.num_iter, overshoot=self.overshoot,
                                 norm_eps=self.norm_eps, linearize_at=self.linearize_at,
                                 compact=not self.jit_compile)
        return r

    def losses_on(self, x, y):
        """(ce, reg, r, logits): mean CE, mean R, per-example r, training logits."""
        y = tf.cast(y, tf.int32)
        ce, logits = self.ce(x, y)
        r = self.ratio(x, y)
        pred = tf.argmax(self.classifier_fn(x), axis=-1, output_type=tf.int32)
        correct = tf.stop_gradient(tf.equal(pred, y))
        reg = tf.reduce_mean(regulariser_terms(r, correct, c=self.c, d=self.d))
        return ce, reg, r, logits

    def train_step(self, data):
        x, y = data[0], data[1]
        weights = self.classifier.trainable_weights
        split = self.regularized_layers is not None
        with tf.GradientTape(persistent=split) as tape:
            ce, reg, r, logits = self.losses_on(x, y)
            base = ce + regularization(self.classifier, self.weight_decay)
            if split:
                scaled_base = scale_for_replicas(base)
                scaled_reg = scale_for_replicas(self.lam * reg)
            else:
                scaled = scale_for_replicas(base + self.lam * reg)
        if split:
            grads = tape.gradient(scaled_base, weights)
            reg_vars = self._reg_weights()
            reg_grads = dict(zip([id(v) for v in reg_vars],
                                 tape.gradient(scaled_reg, reg_vars)))
            del tape
            grads = [g if id(v) not in reg_grads or reg_grads[id(v)] is None
                     else (reg_grads[id(v)] if g is None else g + reg_grads[id(v)])
                     for v, g in zip(weights, grads)]
        else:
            grads = tape.gradient(scaled, weights)
        self.optimizer.apply(grads, weights)
        self.update_ema()
        self.loss_tracker.update_state(ce + self.lam * reg)
        self.ce_tracker.update_state(ce)
        self.reg_tracker.update_state(reg)
        self.rho2_tracker.update_state(tf.reduce_mean(r))
        self.clean_acc_tracker.update_state(y, logits)
        return {m.name: m.result() for m in self.metrics}


def model_input_mean(classifier):
    """The mean a model subtracts inside (its "preprocess" `Standardize` layer, see
    `tf_advnet.models._common.preprocess`), or None: the regulariser's ||x|| is then
    that of the network's own input units, as in the reference code."""
    try:
        layer = classifier.get_layer("preprocess")
    except ValueError:
        return None
    return np.asarray(layer.mean, dtype="float32")


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """DeepDefense's regulariser (Yan et al., NeurIPS 2018, Eq. (5)-(6)).

    Attributes:
      lam: the regulariser's weight lambda of Eq. (5) (paper: 15).
      c: the scale of R(-c rho) for correctly classified samples (paper: 25).
      d: the scale of R(d rho) for misclassified samples (paper: 5).
      num_iter: DeepFool steps u inside the regulariser (the paper's code: 5).
      linearize_at: where each DeepFool step linearises: "sum" (x + sum of the steps,
        the official code's `inputs_perturbed`; the overshoot enters only the stop
        test and Delta) or "overshoot" (x + Delta).
    """

    lam: float = 15.0
    c: float = 25.0
    d: float = 5.0
    num_iter: int = 5
    linearize_at: str = "sum"

    legacy_keys = {"dd_lambda": "lam", "dd_c": "c", "dd_d": "d", "dd_iters": "num_iter"}

    def validate(self, train):
        self.check("lam", 0.0)
        self.check("c", 0.0, low_inclusive=False)
        self.check("d", 0.0)
        self.check("num_iter", 1)
        self.choose("linearize_at", ("sum", "overshoot"))
        return self

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del seed, steps_per_epoch
        return DeepDefenseTrainer(classifier, lam=self.lam, c=self.c, d=self.d,
                                  num_iter=self.num_iter, linearize_at=self.linearize_at,
                                  input_mean=model_input_mean(classifier),
                                  weight_decay=train.weight_decay)
