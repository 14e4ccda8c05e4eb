"""Score localisations and tracks against simulated ground truth and the Cramér-Rao bound."""

from livetrack.evaluate._crlb import (
    PARAMETERS,
    crlb_gaussian,
    crlb_gaussian_params,
    fisher_information_gaussian,
    mortensen_precision,
)
from livetrack.evaluate._crlb_psf import crlb_psf
from livetrack.evaluate._matching import match
from livetrack.evaluate._oracle import OracleResult, likelihood_ratio_map, oracle_jaccard
from livetrack.evaluate._score import Score, link_score, score

__all__ = [
    "PARAMETERS",
    "OracleResult",
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
