import numpy as np
import pandas as pd
import pytest

from livetrack.infer._rates import CONFIDENT, clutter_curve


def table(probs, masses):
    return pd.DataFrame({"prob": probs, "mass": masses})


def test_clutter_curve_interpolates_at_the_confident_particles_median_mass():
    levels = np.array([10.0, 100.0])
    rates = np.array([[0.1, 0.0], [0.5, 0.2]])
    # Only confident detections count; their median mass is sqrt(10 * 100) ~ 31.6.
    tables = [table([0.9, 0.2], [np.sqrt(1000.0), 1e6]), table([CONFIDENT], [np.sqrt(1000.0)])]
    assert clutter_curve(levels, rates, tables) == pytest.approx([0.3, 0.1])
    # Brighter or fainter than the measured range: the nearest level.
    assert clutter_curve(levels, rates, [table([1.0], [1e5])]) == pytest.approx([0.5, 0.2])
    assert clutter_curve(levels, rates, [table([1.0], [-5.0])]) == pytest.approx([0.1, 0.0])


def test_no_confident_detection_takes_the_faintest_level():
    levels = np.array([10.0, 100.0])
    rates = np.array([[0.1, 0.0], [0.5, 0.2]])
    assert clutter_curve(levels, rates, [table([0.5], [50.0])]) == pytest.approx([0.1, 0.0])
