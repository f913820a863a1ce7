# %% [markdown]
# # Bilateral Adversarial Training (Wang & Zhang, ICCV 2019)
#
# <a href="https://colab.research.google.com/github/tf-advnet/tf_advnet/blob/main/notebooks/bat.ipynb"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>
#
# BAT perturbs both sides of a training pair: the image, with a random start and
# one targeted step towards the most-confusing class (R-MC, Eq. 3 and 24), and the
# label, moving probability mass away from the true class in proportion to the
# label gradient -log p_k (LA, Eq. 13-14), with the budget eps_y of Eq. (18). The
# batch holds only perturbed pairs. This notebook shows the labels, trains R-MC-LA
# with `model.fit` and evaluates it with the paper's CE and CW PGD attacks.
#
# The outputs stored with this notebook were produced by `python notebooks/sync.py
# --execute` at the tiny setting that CI runs (`TF_ADVNET_NOTEBOOK_TINY=1`: 2,000
# training and 200 test images, one epoch; the full setting is 60,000 / 1,000 images
# and 3 epochs), so they show what each cell prints and draws, not the paper's
# numbers.

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
import numpy as np

from tf_advnet import data, models
from tf_advnet.trainers.bat import BATTrainer, adversarial_labels, label_budget

TINY = os.environ.get("TF_ADVNET_NOTEBOOK_TINY") == "1"
N_TRAIN, N_TEST, EPOCHS = (2000, 200, 1) if TINY else (60000, 1000, 3)
EPS = 0.1  # L-inf budget in [0, 1] pixel units (Fashion-MNIST)

keras.utils.set_random_seed(0)
x_train, y_train = data.load("fashion_mnist", "train", limit=N_TRAIN)
x_test, y_test = data.load("fashion_mnist", "test", limit=N_TEST)
names = data.info("fashion_mnist").class_names

# %% [markdown]
# ## Adversarial labels next to one-hot labels
# For a few made-up clean predictions: the true class keeps 1 - eps_y; the
# most-confusing class (largest p_k, k != c) gets the least of eps_y and the
# least-likely class the most. When the non-true probabilities are equal, the label
# is plain label smoothing (Eq. 15), and eps_y = 1 / (1 + beta / (n - 1)) (Eq. 19).

# %%
probs = np.array([
    [0.70, 0.20, 0.05, 0.02, 0.01, 0.005, 0.005, 0.004, 0.003, 0.003],  # confident-ish
    [0.91] + [0.01] * 9,                                                # equal non-true
], dtype="float32")
labels = np.array([0, 0])
y_adv = adversarial_labels(probs, labels, beta=9.0, from_logits=False).numpy()
eps_y = label_budget(-np.log(probs + 1e-8), labels, beta=9.0).numpy()
np.set_printoptions(precision=4, suppress=True)
for p, ya, e in zip(probs, y_adv, eps_y):
    print("clean p :", p)
    print("one-hot :", np.eye(10)[0])
    print(f"y' (LA) : {ya}   eps_y = {e:.4f}, y'_c / max y'_k = {ya[0] / ya[1:].max():.2f}")
    print()

# %% [markdown]
# ## Train R-MC-LA with `model.fit`

# %%
clf = models.build_model("small_cnn", (28, 28, 1), 10)
trainer = BATTrainer(clf, variant="R-MC-LA", eps=EPS, beta=9.0, seed=0)
trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
trainer.fit(data.make_dataset(x_train, y_train, 128, training=True, seed=0),
            epochs=EPOCHS, verbose=2)

# %% [markdown]
# ## Evaluate as in Sec. 5
# FGSM without random start; PGD with random start and step eps/4 (the paper's 2 px
# for 8 px) on the cross-entropy (CE) and on the CW margin with kappa = 50 (CW).

# %%
from tf_advnet.attacks import parse_attacks
from tf_advnet.eval.report import robustness_table
from tf_advnet.eval.robustness import evaluate_attacks

attacks = parse_attacks("fgsm,pgd20:step=eps/4,cwpgd20:step=eps/4,kappa=50", eps=EPS)
result = evaluate_attacks(clf, x_test, y_test, attacks, batch_size=200)
print(robustness_table({"R-MC-LA": result}))
