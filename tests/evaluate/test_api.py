import livetrack.evaluate


def test_public_names_are_pinned():
    assert sorted(livetrack.evaluate.__all__) == [
        "OracleResult",
        "PARAMETERS",
        "Score",
        "crlb_gaussian",
        "crlb_gaussian_params",
        "crlb_psf",
        "fisher_information_gaussian",
        "likelihood_ratio_map",
        "link_score",
        "match",
        "mortensen_precision",
        "oracle_jaccard",
        "score",
    ]
    assert livetrack.evaluate.PARAMETERS == ("x", "y", "N", "bg", "sigma")
    for name in livetrack.evaluate.__all__:
        assert hasattr(livetrack.evaluate, name)
