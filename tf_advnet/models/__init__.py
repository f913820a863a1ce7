"""Classifiers used by the five papers; all map [0, 1] NHWC images to logits.

Any input rescaling (`2x - 1`, mean/std) happens inside the models, so
attacks always work in [0, 1]. Every model is a functional `keras.Model`
that round-trips through `model.save("m.keras")` /
`keras.models.load_model` (custom layers are registered on import).

| Name | Paper | Module |
|---|---|---|
| `advnet_d1` | Wang & Yu, D1 (MNIST) | `wang_yu` |
| `advnet_resnet` | Wang & Yu, D2 (CIFAR-10/SVHN, wide: width=10) | `wang_yu` |
| `lenet5` | L2L-DA, MNIST | `lenet` |
| `resnet20` | L2L-DA, CIFAR-10 (He et al. option A) | `resnet` |
| `convpool_cnn` | PGN ConvPool-CNN (CIFAR-100/10) | `convpool` |
| `deepdefense_mlp` | DeepDefense MLP (MNIST) | `mlp` |
| `deepdefense_lenet` | DeepDefense LeNet (MNIST) | `lenet` |
| `deepdefense_convnet` | DeepDefense ConvNet (CIFAR-10) | `convpool` |
| `nin` | DeepDefense NIN (CIFAR-10) | `nin` |
| `wide_resnet` | BAT / Madry WRN (CIFAR-10, SVHN) | `wide_resnet` |
| `small_cnn` | CPU presets (28x28) | `small_cnn` |

Usage:

```python
from tf_advnet.models import build_model
model = build_model("advnet_resnet", (32, 32, 3), 10, width=10)
```
"""

from tf_advnet.models import layers
from tf_advnet.models.convpool import convpool_cnn
from tf_advnet.models.convpool import deepdefense_convnet
from tf_advnet.models.lenet import deepdefense_lenet
from tf_advnet.models.lenet import lenet5
from tf_advnet.models.mlp import deepdefense_mlp
from tf_advnet.models.nin import nin
from tf_advnet.models.registry import MODEL_NAMES
from tf_advnet.models.registry import build_model
from tf_advnet.models.registry import model_kwargs
from tf_advnet.models.resnet import resnet20
from tf_advnet.models.small_cnn import small_cnn
from tf_advnet.models.wang_yu import advnet_d1
from tf_advnet.models.wang_yu import advnet_resnet
from tf_advnet.models.wide_resnet import wide_resnet

__all__ = [
    "MODEL_NAMES",
    "advnet_d1",
    "advnet_resnet",
    "build_model",
    "convpool_cnn",
    "deepdefense_convnet",
    "deepdefense_lenet",
    "deepdefense_mlp",
    "layers",
    "lenet5",
    "model_kwargs",
    "nin",
    "resnet20",
    "small_cnn",
    "wide_resnet",
]
