# %% [markdown]
# # Adversarial training with a perturbation generator network (PGN)
#
# <a href="https://colab.research.google.com/github/tf-advnet/tf_advnet/blob/main/notebooks/pgn.ipynb"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>
#
# Lee, Han & Lee (ICLR 2020 submission) replace the fixed attack of adversarial training
# by a generator G(grad_x p_y, x, y) trained against the classifier (Fig. 1): G
# maximises the classifier's loss minus c_L times the perturbation's squared L2 norm
# (Eq. 4), its output goes through the Carlini-Wagner tanh change of variables (Eq. 5),
# and the classifier trains on G's images. Robustness is measured by rho_cw, the mean L2
# of successful C&W-L2 perturbations (Eq. 6), and compared across methods at equal
# benign accuracy on a "robustness curve" (Fig. 5). Here: PGN trained with `model.fit`
# on Fashion-MNIST, its perturbations per class, and a small robustness curve against
# Goodfellow's FGM adversarial training.
#
# The outputs stored with this notebook were produced by `python notebooks/sync.py
# --execute` at the tiny setting that CI runs (`TF_ADVNET_NOTEBOOK_TINY=1`: 256
# training and 32 test images, one epoch, 10 C&W iterations; the full setting is
# 10,000 / 300 images, 3 epochs, 100 iterations), so they show what each cell prints
# and draws, not the paper's numbers.

# %% tags=["colab-setup"]
# On Colab: fetch tf_advnet and install its pinned requirements (skipped elsewhere).
# REPO comes from pyproject.toml ([project.urls] Repository) through
# notebooks/sync.py; set TF_ADVNET_REPO to use your fork instead.
import os
import subprocess
import sys

REPO = os.environ.get("TF_ADVNET_REPO", "https://github.com/tf-advnet/tf_advnet")
if "google.colab" in sys.modules:
    if not os.path.isdir("tf_advnet_src"):
        subprocess.run(["git", "clone", "-q", REPO, "tf_advnet_src"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                    "tf_advnet_src/requirements.txt"], check=True)
    sys.path.insert(0, os.path.abspath("tf_advnet_src"))
else:  # a local checkout: the repository root is one level up
    sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
from tf_advnet.utils.cli import quiet_tensorflow  # noqa: E402

quiet_tensorflow()  # TensorFlow's C++ start-up lines would fill the first output

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from tf_advnet import data, models
from tf_advnet.attacks.pgn import pgn_attack
from tf_advnet.eval import metrics
from tf_advnet.trainers.pgd_at import fgm_at_trainer
from tf_advnet.trainers.pgn import PGNTrainer

TINY = os.environ.get("TF_ADVNET_NOTEBOOK_TINY") == "1"
N_TRAIN, N_TEST, EPOCHS, CW_ITERS = (256, 32, 1, 10) if TINY else (10000, 300, 3, 100)

keras.utils.set_random_seed(0)
x_train, y_train = data.load("fashion_mnist", "train", limit=N_TRAIN)
x_test, y_test = data.load("fashion_mnist", "test", limit=N_TEST)
names = data.info("fashion_mnist").class_names
train_ds = data.make_dataset(x_train, y_train, 128, training=True, seed=0)

# %% [markdown]
# ## Train PGN with `model.fit`
# c_L sets the price of perturbation power. With [0, 1] pixels on 28x28 images,
# c_L = 0.1 gives perturbations of L2 ~1 (the paper's c_L = 50 is for its CIFAR
# setting). The log shows the generator's loss and the mean L2 of its perturbations.

# %%
def train_pgn(c_l):
    clf = models.build_model("small_cnn", (28, 28, 1), 10)
    trainer = PGNTrainer(clf, c_l=c_l, generator_width=32)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                    g_optimizer=keras.optimizers.Adam(1e-3))
    trainer.fit(train_ds, epochs=EPOCHS, verbose=2)
    return trainer


pgn = train_pgn(0.1)

# %% [markdown]
# ## What the generator does, one test image per class
# Rows: the image, the perturbation (grey = 0), and the adversarial image with the
# classifier's prediction on it. G's gradient input is the gradient of the batch *mean*
# of p_y (as in the official code), so the attack is told the training batch size.

# %%
idx = [int(np.flatnonzero(y_test == k)[0]) for k in range(10) if np.any(y_test == k)]
x_adv = pgn_attack(lambda v: pgn.classifier(v, training=False), pgn.generator,
                   x_test[idx], y_test[idx], grad_batch_size=128).numpy()
pred = np.argmax(pgn.classifier.predict(x_adv, verbose=0), -1)
fig, axes = plt.subplots(3, len(idx), figsize=(1.3 * len(idx), 4.2))
for j, i in enumerate(idx):
    delta = x_adv[j] - x_test[i]
    scale = max(float(np.abs(delta).max()), 1e-6)
    axes[0, j].imshow(x_test[i, ..., 0], cmap="gray", vmin=0, vmax=1)
    axes[0, j].set_title(names[y_test[i]][:9], fontsize=8)
    axes[1, j].imshow(delta[..., 0], cmap="gray", vmin=-scale, vmax=scale)
    axes[1, j].set_title(f"L2 {np.linalg.norm(delta):.2f}", fontsize=8)
    axes[2, j].imshow(x_adv[j, ..., 0], cmap="gray", vmin=0, vmax=1)
    axes[2, j].set_title(f"-> {names[pred[j]][:9]}", fontsize=8)
for ax in axes.ravel():
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## A small robustness curve (Fig. 5)
# Two PGN models (c_L) and two FGM-AT models (L2 eps), each summarised by benign
# accuracy and rho_cw. A curve further right at the same accuracy is more robust.
# `experiments/reproduce_pgn.py` does this at full size with PGD-AT as well.

# %%
def summary(clf):
    acc = float((np.argmax(clf.predict(x_test, verbose=0), -1) == y_test).mean())
    cw = metrics.rho_cw(clf, x_test, y_test, max_iterations=CW_ITERS,
                        binary_search_steps=2 if TINY else 5)
    return acc, cw["rho_cw_mean"] or 0.0


points = {"PGN": [], "FGM-AT": []}
for c_l, trainer in ((0.1, pgn), (0.5, train_pgn(0.5))):
    points["PGN"].append(summary(trainer.classifier))
for eps in (0.5, 1.0):
    clf = models.build_model("small_cnn", (28, 28, 1), 10)
    fgm = fgm_at_trainer(clf, eps=eps)
    fgm.compile(optimizer=keras.optimizers.Adam(1e-3))
    fgm.fit(train_ds, epochs=EPOCHS, verbose=0)
    points["FGM-AT"].append(summary(clf))

fig, ax = plt.subplots(figsize=(4.8, 3.6))
for name, pts in points.items():
    pts = sorted(pts, key=lambda p: p[1])
    ax.plot([p[1] for p in pts], [100 * p[0] for p in pts], marker="o", label=name)
ax.set_xlabel("rho_cw (mean L2 of successful C&W)")
ax.set_ylabel("benign accuracy (%)")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
print(points)
