"""Parameter counts derived by hand from each paper's layer table (and, where the paper
has none, the official code's model definition: RobustDL_GAN, l2l-da, ATPGN,
deepdefense.pytorch, bilateral-adversarial-training).

Counts include BN moving statistics (Keras `count_params`); `bn(c)` is
4c parameters of which 2c are trainable. The expected values are written as
arithmetic over each paper's layer table, never read off a model.
"""

import numpy as np
import pytest

from tf_advnet.models import build_model


def conv(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def dense(fin, fout):
    return fin * fout + fout


def bn(c):
    return 4 * c


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_advnet_d1_exact():
    # conv5x5 1->32, conv5x5 32->64 (SAME, two 2x2 pools: 28 -> 7), dense.
    expected = conv(5, 1, 32) + conv(5, 32, 64) + dense(7 * 7 * 64, 10)
    assert expected == 83_466
    assert build_model("advnet_d1", (28, 28, 1), 10).count_params() == expected


def _v1_resnet(cin, k, widths, blocks, variant, stem=16):
    """Wang & Yu D2: projection on block 1 of every stage; BN everywhere."""
    total = conv(3, cin, stem, bias=False)
    bns = stem if variant == "cifar" else 0
    prev = stem
    for w in widths:
        total += conv(1, prev, w, bias=False)  # projection conv
        bns += w  # projection BN
        total += conv(3, prev, w, bias=False) + conv(3, w, w, bias=False)
        bns += 2 * w
        for _ in range(blocks - 1):
            total += 2 * conv(3, w, w, bias=False)
            bns += 2 * w
        prev = w
    if variant == "svhn":
        bns += prev  # BN after stage 3
    total += bn(bns) + dense(prev, k)
    return total, total - 2 * bns


@pytest.mark.parametrize("width,variant,k,expected", [
    (1, "cifar", 10, 274_362),
    (1, "svhn", 10, 274_554),
    (10, "cifar", 100, 26_873_556),  # wide D2 (Tables 8-9), CIFAR-100
])
def test_advnet_resnet(width, variant, k, expected):
    total, train = _v1_resnet(3, k, [16 * width, 32 * width, 64 * width], 3,
                              variant)
    assert total == expected
    model = build_model("advnet_resnet", (32, 32, 3), k, width=width,
                        variant=variant)
    assert model.count_params() == total
    assert trainable(model) == train
    if width == 10:  # resnet18_2_wide.py: the first conv stays at 16.
        assert model.get_layer("stem_conv").filters == 16
        assert model.get_layer("stage1_block1_proj_conv").filters == 160
        assert model.get_layer("logits").kernel.shape == (640, k)


def _resnet_option_a(cin, k, n, width=1):
    """He et al. CIFAR ResNet-(6n+2): parameter-free option-A shortcuts."""
    widths = [16 * width, 32 * width, 64 * width]
    total = conv(3, cin, 16 * width, bias=False)
    bns = 16 * width
    prev = 16 * width
    for w in widths:
        total += conv(3, prev, w, bias=False) + conv(3, w, w, bias=False)
        total += (n - 1) * 2 * conv(3, w, w, bias=False)
        bns += 2 * n * w
        prev = w
    total += bn(bns) + dense(prev, k)
    return total, total - 2 * bns


@pytest.mark.parametrize("depth,expected_trainable", [
    (20, 269_722),  # He et al. Table 6: 0.27M
    (32, 464_154),  # 0.46M
])
def test_resnet_option_a(depth, expected_trainable):
    total, train = _resnet_option_a(3, 10, (depth - 2) // 6)
    assert train == expected_trainable
    model = build_model("resnet20", (32, 32, 3), 10, depth=depth,
                        normalize="imagenet")
    assert model.name == f"resnet{depth}"
    assert model.count_params() == total
    assert trainable(model) == train


def _wrn(cin, k, n, widen, shortcut):
    widths = [16 * widen, 32 * widen, 64 * widen]
    total = conv(3, cin, 16, bias=False)
    bns = 0
    prev = 16
    for w in widths:
        for unit in range(n):
            c_in = prev if unit == 0 else w
            bns += c_in + w
            total += conv(3, c_in, w, bias=False) + conv(3, w, w, bias=False)
            if unit == 0 and c_in != w and shortcut == "projection":
                total += conv(1, c_in, w, bias=False)
        prev = w
    bns += prev  # final BN
    total += bn(bns) + dense(prev, k)
    return total, total - 2 * bns


def test_wide_resnet_bat_default():
    # BAT's "WRN-28-10": 5 units per stage, widths 160/320/640.
    total, train = _wrn(3, 10, 5, 10, "pad")
    assert (total, train) == (45_924_346, 45_901_914)
    model = build_model("wide_resnet", (32, 32, 3), 10)  # symbolic only
    assert model.count_params() == total
    assert trainable(model) == train


def test_wide_resnet_zagoruyko_28_10():
    total, train = _wrn(3, 10, 4, 10, "projection")
    assert train == 36_479_194  # the published 36.5M of WRN-28-10
    model = build_model("wide_resnet", (32, 32, 3), 10, units_per_stage=4,
                        leaky_slope=0.0, shortcut="projection")
    assert model.count_params() == total
    assert trainable(model) == train


def test_lenet5():
    # 28 -(pad 2)-> 28 -pool-> 14 -valid-> 10 -pool-> 5 -valid 5x5-> 1.
    expected = (conv(5, 1, 6) + conv(5, 6, 16) + conv(5, 16, 120)
                + dense(120, 84) + dense(84, 10))
    assert expected == 61_706
    assert build_model("lenet5", (28, 28, 1), 10).count_params() == expected


def test_deepdefense_lenet():
    # 28 -valid-> 24 -pool-> 12 -valid-> 8 -pool-> 4: 4*4*50 = 800 inputs.
    expected = (conv(5, 1, 20) + conv(5, 20, 50) + dense(800, 500)
                + dense(500, 10))
    assert expected == 431_080
    model = build_model("deepdefense_lenet", (28, 28, 1), 10)
    assert model.count_params() == expected


def test_deepdefense_mlp():
    expected = dense(784, 500) + dense(500, 150) + dense(150, 10)
    assert expected == 469_160
    model = build_model("deepdefense_mlp", (28, 28, 1), 10)
    assert model.count_params() == expected


def test_deepdefense_convnet():
    expected = (conv(5, 3, 32) + conv(5, 32, 32) + conv(5, 32, 64)
                + conv(4, 64, 64) + conv(1, 64, 10))
    assert expected == 145_578
    model = build_model("deepdefense_convnet", (32, 32, 3), 10)
    assert model.count_params() == expected


def test_nin():
    expected = (conv(5, 3, 192) + conv(1, 192, 160) + conv(1, 160, 96)
                + conv(5, 96, 192) + 2 * conv(1, 192, 192)
                + conv(3, 192, 192) + conv(1, 192, 192) + conv(1, 192, 10))
    assert expected == 966_986
    assert build_model("nin", (32, 32, 3), 10).count_params() == expected


@pytest.mark.parametrize("k,expected", [(10, 2_334_730), (100, 2_749_540)])
def test_convpool_cnn(k, expected):
    f = 64
    total = (conv(3, 3, f) + conv(3, f, 2 * f) + conv(3, 2 * f, 2 * f)
             + conv(3, 2 * f, 4 * f) + conv(3, 4 * f, 4 * f)
             + conv(3, 4 * f, 8 * f) + conv(3, 8 * f, k))
    assert total == expected
    assert build_model("convpool_cnn", (32, 32, 3), k).count_params() == total


def test_small_cnn():
    expected = (conv(3, 1, 16) + conv(3, 16, 32) + dense(7 * 7 * 32, 64)
                + dense(64, 10))
    assert build_model("small_cnn", (28, 28, 1), 10).count_params() == expected
