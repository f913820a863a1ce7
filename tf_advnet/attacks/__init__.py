"""Attacks: pure functions on a logits callable `model_fn(x) -> logits`.

Every attack takes a batch `x` in [0, 1] (NHWC), labels `y` (None = the model's
predictions, which avoids label leaking), keyword-only hyper-parameters and an
optional integer `seed`, and returns adversarial images (DeepFool returns a
named tuple whose first field is the images).

  fgm / fgsm         fast gradient (sign) method, L-inf or L2     (fgsm.py)
  pgd                projected gradient descent, CE or CW loss    (pgd.py)
  mim                momentum iterative method                    (mim.py)
  apgd               Auto-PGD / APGD-T, CE or DLR loss            (apgd.py)
  square             Square Attack, gradient-free random search   (square.py)
  fab                FAB / FAB-T, fast adaptive boundary attack  (fab.py)
  carlini_wagner_l2  C&W L2 with binary search over c             (cw.py)
  carlini_wagner_linf  L-inf C&W of mister_ed (L2L-DA)          (cw_linf.py)
  deepfool           DeepFool, L2 or L-inf                        (deepfool.py)
  craft, transfer_matrix   black-box transfer                     (transfer.py)
  parse_attack       attack specs by name ("pgd10", "cw100")      (registry.py)

For a Keras model pass `lambda x: model(x, training=False)`, so batch norm uses its
moving statistics while crafting.
"""

from tf_advnet.attacks.apgd import apgd
from tf_advnet.attacks.cw import carlini_wagner_l2
from tf_advnet.attacks.cw_linf import carlini_wagner_linf
from tf_advnet.attacks.deepfool import DeepFoolResult, deepfool
from tf_advnet.attacks.fab import fab
from tf_advnet.attacks.fgsm import fgm, fgsm
from tf_advnet.attacks.mim import mim
from tf_advnet.attacks.pgd import pgd
from tf_advnet.attacks.registry import Attack, parse_attack, parse_attacks
from tf_advnet.attacks.square import square
from tf_advnet.attacks.transfer import craft, transfer_matrix

__all__ = ["apgd", "carlini_wagner_l2", "carlini_wagner_linf", "DeepFoolResult",
           "deepfool", "fab", "fgm", "fgsm", "mim", "pgd", "Attack", "parse_attack",
           "parse_attacks", "square", "craft", "transfer_matrix"]
