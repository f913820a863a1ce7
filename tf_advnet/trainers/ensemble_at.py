"""Ensemble adversarial training (Tramer et al., ICLR 2018), as Wang & Yu's baseline.

Wang & Yu (ICLR 2019) Sec. 4.4 and Table 4: adversarial examples are crafted on
a static, pre-trained undefended model A (not on the model being trained) and
trained on together with the clean data. From each source model, per batch:

- FGS with the source's most likely label, x + eps sign grad CE(A(x), argmax A(x))
  (Eq. 10 without the true label: no label leaking);
- PGD (Eq. 11: random start, 10 steps of eps / 4) on the true label;
- the least-likely-class step x - eps sign grad CE(A(x), argmin A(x)) (Eq. 12).

The classifier descends the mean CE over the clean batch and all crafted
batches (1 + 3 x number of sources, equal weights: the code concatenates them
into one training set). The official code writes this set to disk once; we
craft it per batch from the same static sources, as Tramer et al. do, so the
only difference is a fresh PGD random start per epoch.

Metrics: loss, clean_acc, adv_acc (accuracy on the crafted examples).

Example:
    a = keras.models.load_model("runs/.../standard/model.keras")
    trainer = EnsembleATTrainer(advnet_d1(), sources=[a], eps=0.3)
    trainer.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    trainer.fit(train_ds, epochs=...)
"""

import dataclasses
from typing import Tuple

import keras
import tensorflow as tf

from tf_advnet.attacks.fgsm import fgm
from tf_advnet.attacks.pgd import pgd
from tf_advnet.errors import UserError, check_arg_range
from tf_advnet.trainers.base import ClassifierTrainer, TrainerConfig

PARTS = ("fgs_ml", "pgd", "ll")


def static_examples(source_fn, x, y, *, eps, pgd_steps=10, step_size=None,
                    random_start=True, seed=None):
    """The three crafted batches of one static source: {"fgs_ml", "pgd", "ll"}.

    Args:
      source_fn: logits callable of the static (pre-trained, undefended) model.
      x, y: a batch of [0, 1] images and integer labels.
      eps: L-inf budget.
      pgd_steps: PGD steps (paper: 10); step_size default eps / 4 (Eq. 11).
      random_start: PGD's random start (Eq. 11; True in the paper).
      seed: PGD random-start seed (None: TF's global RNG).
    """
    logits = source_fn(x)
    y_ml = tf.argmax(logits, axis=-1, output_type=tf.int32)
    y_ll = tf.argmin(logits, axis=-1, output_type=tf.int32)
    step = eps / 4.0 if step_size is None else step_size
    return {
        "fgs_ml": fgm(source_fn, x, y_ml, eps=eps, norm="inf"),
        "pgd": pgd(source_fn, x, y, eps=eps, step_size=step, num_steps=pgd_steps,
                   random_start=random_start, seed=seed),
        "ll": fgm(source_fn, x, y_ll, eps=eps, norm="inf", targeted=True),
    }


class EnsembleATTrainer(ClassifierTrainer):
    """Trains on clean data plus examples crafted on static source models.

    Args:
      classifier: keras.Model mapping [0, 1] images to logits.
      sources: non-empty list of pre-trained keras models (their weights are
        frozen here).
      eps: L-inf budget of the crafted examples.
      pgd_steps, step_size, random_start: the PGD part (paper: 10 steps of eps / 4
        from a random start).
      weight_decay: coupled L2 on kernels.
    """

    def __init__(self, classifier, sources=(), *, eps, pgd_steps=10, step_size=None,
                 random_start=True, weight_decay=0.0, **kwargs):
        super().__init__(classifier, weight_decay=weight_decay, **kwargs)
        if not sources:
            raise UserError("sources must hold at least one model: the pre-trained "
                            "undefended models that craft the examples")
        self.sources = list(sources)
        for s in self.sources:
            s.trainable = False
        self.eps = float(check_arg_range("eps", eps, 0.0, 1.0))
        self.pgd_steps = int(check_arg_range("pgd_steps", pgd_steps, 0))
        self.step_size = step_size
        self.random_start = bool(random_start)
        self.adv_acc_tracker = keras.metrics.SparseCategoricalAccuracy(name="adv_acc")

    @property
    def metrics(self):
        return [self.loss_tracker, self.clean_acc_tracker, self.adv_acc_tracker]

    def craft(self, x, y):
        """All crafted batches, concatenated: (x_adv, y_adv)."""
        parts = []
        for source in self.sources:
            ex = static_examples(lambda t, m=source: m(t, training=False), x, y,
                                 eps=self.eps, pgd_steps=self.pgd_steps,
                                 step_size=self.step_size,
                                 random_start=self.random_start)
            parts += [tf.stop_gradient(ex[p]) for p in PARTS]
        x_adv = tf.concat(parts, axis=0)
        y_adv = tf.concat([y] * len(parts), axis=0)
        return x_adv, y_adv

    def train_step(self, data):
        x, y = data[0], data[1]
        x = tf.convert_to_tensor(x, tf.float32)
        x_adv, y_adv = self.craft(x, y)
        n = tf.shape(x)[0]

        def loss_fn():
            return self.ce(tf.concat([x, x_adv], axis=0), tf.concat([y, y_adv], axis=0))

        loss, logits = self.descend(loss_fn)
        self.loss_tracker.update_state(loss)
        self.clean_acc_tracker.update_state(y, logits[:n])
        self.adv_acc_tracker.update_state(y_adv, logits[n:])
        return {m.name: m.result() for m in self.metrics}


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """Ensemble adversarial training (Tramer et al., ICLR 2018), Wang & Yu's
    Table 4 baseline; its PGD examples take the shared eps, attack_steps and
    step_size.

    Attributes:
      sources: .keras files of the static, pre-trained undefended models.
    """

    sources: Tuple[str, ...] = ()

    linf_only = True
    legacy_keys = {"eat_sources": "sources"}

    def validate(self, train):
        from tf_advnet.errors import UserError

        if not self.sources:
            raise UserError("trainer.sources is required for method ensemble_at: the "
                            ".keras file(s) of pre-trained undefended models")
        return self

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del seed, steps_per_epoch
        return EnsembleATTrainer(classifier, [_load_source(p) for p in self.sources],
                                 eps=train.eps, pgd_steps=train.attack_steps,
                                 step_size=train.step_size, weight_decay=train.weight_decay)

    def model_files(self):
        return tuple(self.sources)


def _load_source(path):
    """The static model saved at `path`, or a one-line CheckpointError naming the
    key `trainer.sources`."""
    from tf_advnet.models.registry import load_model

    return load_model(path, arg="trainer.sources",
                      hint=" (a .keras classifier, e.g. <work_dir>/model.keras of a "
                           "standard run)")