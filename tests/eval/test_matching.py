"""Benign-accuracy matching of the PGN paper's Sec. 4.2 on plain numbers."""

import pytest

from tf_advnet.errors import UserError
from tf_advnet.eval.matching import match_benign_accuracy, pick_per_method


def test_closest_accuracy_wins():
    cands = {20.0: 0.70, 50.0: 0.66, 70.0: 0.63}
    assert match_benign_accuracy(cands, 0.655) == 50.0
    assert match_benign_accuracy(cands, 0.99) == 20.0
    assert match_benign_accuracy(cands, 0.0) == 70.0
    assert match_benign_accuracy({0.02: 68.1, 0.05: 64.0}, 67) == 0.02  # percent


def test_dict_candidates():
    cands = {0.1: {"acc": 0.8, "rho_cw": 0.2}, 0.5: {"clean_acc": 0.6, "rho_cw": 0.9}}
    assert match_benign_accuracy(cands, 0.65) == 0.5


def test_tie_goes_to_the_higher_accuracy_then_the_first():
    assert match_benign_accuracy({"a": 0.5, "b": 0.7}, 0.6) == "b"
    assert match_benign_accuracy({"b": 0.7, "a": 0.5}, 0.6) == "b"
    assert match_benign_accuracy({"x": 0.7, "y": 0.7}, 0.6) == "x"


def test_tolerance_and_bad_input_are_one_line_user_errors():
    assert match_benign_accuracy({1: 0.60}, 0.62, tolerance=0.05) == 1
    for call, pattern in [
            (lambda: match_benign_accuracy({1: 0.5}, 0.62, tolerance=0.05), "tolerance"),
            (lambda: match_benign_accuracy({}, 0.5), "no candidates"),
            (lambda: match_benign_accuracy({1: {"rho": 1.0}}, 0.5), "no accuracy"),
            (lambda: match_benign_accuracy({1: float("nan")}, 0.5), "finite"),
            (lambda: match_benign_accuracy({1: "high"}, 0.5), "finite")]:
        with pytest.raises(UserError, match=pattern) as err:
            call()
        assert "\n" not in str(err.value)


def test_pick_per_method():
    results = {"fgm": {0.01: 0.70, 0.02: 0.67}, "pgd": {0.01: 0.69, 0.02: 0.66},
               "pgn": {50.0: 0.675, 70.0: 0.69}}
    assert pick_per_method(results, 0.67) == {"fgm": 0.02, "pgd": 0.02, "pgn": 50.0}
    with pytest.raises(UserError, match="^pgd: ") as err:
        pick_per_method({"pgd": {}}, 0.5)
    assert "\n" not in str(err.value)
