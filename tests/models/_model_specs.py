"""Small, fast configurations of every registered model, for the tests."""

# Shapes each model must take. deepdefense_convnet is 32x32-only by design.
SHAPES = {
    "advnet_d1": [(28, 28, 1), (32, 32, 3)],
    "advnet_resnet": [(28, 28, 1), (32, 32, 3)],
    "lenet5": [(28, 28, 1), (32, 32, 3)],
    "resnet20": [(28, 28, 1), (32, 32, 3)],
    "convpool_cnn": [(28, 28, 1), (32, 32, 3)],
    "deepdefense_mlp": [(28, 28, 1), (32, 32, 3)],
    "deepdefense_lenet": [(28, 28, 1), (32, 32, 3)],
    "deepdefense_convnet": [(32, 32, 3), (32, 32, 1)],
    "nin": [(28, 28, 1), (32, 32, 3)],
    "wide_resnet": [(28, 28, 1), (32, 32, 3)],
    "small_cnn": [(28, 28, 1), (32, 32, 3)],
}

# Width/depth overrides that keep each model tiny on CPU.
SMALL_KWARGS = {
    "advnet_resnet": {"width": 0.25, "blocks_per_stage": 1},
    "resnet20": {"width": 0.25, "depth": 8, "sync_bn": True},
    "convpool_cnn": {"nb_filters": 4},
    "wide_resnet": {"units_per_stage": 1, "widen_factor": 1},
    "small_cnn": {"width": 0.5},
}

# Smallest spatial size each model takes (H = W = MIN_HW builds; one less
# raises UserError).
MIN_HW = {
    "advnet_d1": 4,
    "advnet_resnet": 4,
    "lenet5": 28,
    "resnet20": 4,
    "convpool_cnn": 8,
    "deepdefense_mlp": 1,
    "deepdefense_lenet": 16,
    "nin": 4,
    "wide_resnet": 4,
    "small_cnn": 4,
}
