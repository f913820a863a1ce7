"""Standard (undefended) training: cross-entropy on clean images."""

from tf_advnet.trainers.base import ClassifierTrainer


class StandardTrainer(ClassifierTrainer):
    """Minimises E[CE(f(x), y)] + weight decay. Metrics: loss, clean_acc."""

    def train_step(self, data):
        x, y = data[0], data[1]
        loss, logits = self.descend(lambda: self.ce(x, y))
        self.loss_tracker.update_state(loss)
        self.clean_acc_tracker.update_state(y, logits)
        return {m.name: m.result() for m in self.metrics}
