"""Score localisations and tracks against simulated ground truth and the Cramér-Rao bound."""

from livetrack.evaluate._crlb import (
    PARAMETERS,
    crlb_gaussian,
    crlb_gaussian_params,
    fisher_information_gaussian,
    mortensen_precision,
)
from livetrack.evaluate._matching import match
from livetrack.evaluate._score import Score, link_score, score

__all__ = [
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
