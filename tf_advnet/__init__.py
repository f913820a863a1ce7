"""tf_advnet: TensorFlow 2 / Keras 3 reproductions of five adversarial-defence papers.

Sub-packages:
  data      -- data sets as float32 [0, 1] NHWC arrays and tf.data pipelines.
  models    -- the classifiers used by the papers (all output logits).
  attacks   -- pure-function attacks on a logits callable.
  eval      -- robustness evaluation, metrics, tables and plots.
  trainers  -- keras.Model subclasses whose train_step plays each defence.
  configs   -- frozen dataclass configs and presets.
  utils     -- provenance, errors, checkpoints.
"""

__version__ = "0.1.0"
