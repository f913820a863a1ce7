"""Standard (undefended) training: cross-entropy on clean images."""

import dataclasses

from tf_advnet.trainers.base import ClassifierTrainer, TrainerConfig


class StandardTrainer(ClassifierTrainer):
    """Minimises E[CE(f(x), y)] + weight decay. Metrics: loss, clean_acc."""

    def train_step(self, data):
        x, y = data[0], data[1]
        loss, logits = self.descend(lambda: self.ce(x, y))
        self.loss_tracker.update_state(loss)
        self.clean_acc_tracker.update_state(y, logits)
        return {m.name: m.result() for m in self.metrics}


@dataclasses.dataclass(frozen=True)
class Config(TrainerConfig):
    """Standard training has no hyper-parameters of its own (the optimiser, epochs
    and weight decay are the shared ones of `tf_advnet.configs.TrainConfig`)."""

    def build(self, classifier, train, *, seed, steps_per_epoch):
        del seed, steps_per_epoch
        return StandardTrainer(classifier, weight_decay=train.weight_decay)
