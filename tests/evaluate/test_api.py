import livetrack.evaluate


def test_public_names_are_pinned():
    assert sorted(livetrack.evaluate.__all__) == [
        "PARAMETERS",
        "Score",
        "crlb_gaussian",
        "crlb_gaussian_params",
        "fisher_information_gaussian",
        "link_score",
        "match",
        "mortensen_precision",
        "score",
    ]
    assert livetrack.evaluate.PARAMETERS == ("x", "y", "N", "bg", "sigma")
    for name in livetrack.evaluate.__all__:
        assert hasattr(livetrack.evaluate, name)
