import numpy as np
import pytest
import tensorflow as tf

from tf_advnet import data
from tf_advnet import errors


def test_check_finite_passes_and_returns_input():
    x = np.zeros((2, 3), np.float32)
    assert data.check_finite(x) is x
    data.check_finite(tf.ones((4,)))
    data.check_finite(np.arange(3))  # Integers cannot be non-finite.


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_check_finite_raises_one_line(bad):
    x = np.zeros((2, 3), np.float32)
    x[1, 2] = bad
    with pytest.raises(errors.NonFiniteInputError) as info:
        data.check_finite(x, name="x_adv")
    message = str(info.value)
    assert "x_adv" in message and "1 non-finite" in message
    assert "\n" not in message
    with pytest.raises(errors.NonFiniteInputError):
        data.check_finite(tf.constant(x))
