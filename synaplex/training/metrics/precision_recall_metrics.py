"""Precision and Recall (tokens), BinaryPrecision and BinaryRecall (boolean fields),
CategoricalPrecision and CategoricalRecall (labels): the F-beta family's counts and averages
(see :mod:`synaplex.training.metrics.f_score_metrics`), with another formula:
``precision = tp / (tp + fp + 1e-7)``, ``recall = tp / (tp + fn + 1e-7)``."""

from __future__ import annotations

from synaplex.training.metrics.f_score_metrics import BinaryFBetaScore, CategoricalFBetaScore, FBetaScore


class _WithoutBeta:
    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


class Precision(_WithoutBeta, FBetaScore):
    """Token precision: the share of predicted tokens that are expected (multisets, SQuAD).

    ``"Paris Paris is France"`` against ``"Paris is France"``: 2 of the 3 predicted tokens
    are expected, precision 2/3. See :class:`FBetaScore` for fields and averages.
    """

    _formula = "precision"

    def __init__(self, average: str | None = None, name: str | None = "precision", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, name=name, in_mask=in_mask, out_mask=out_mask)


class Recall(_WithoutBeta, FBetaScore):
    """Token recall: the share of expected tokens that are predicted (multisets, SQuAD)."""

    _formula = "recall"

    def __init__(self, average: str | None = None, name: str | None = "recall", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, name=name, in_mask=in_mask, out_mask=out_mask)


class BinaryPrecision(_WithoutBeta, BinaryFBetaScore):
    """Precision of boolean fields (see :class:`BinaryFBetaScore`)."""

    _formula = "precision"

    def __init__(self, average: str | None = None, threshold: float = 0.5, name: str | None = "binary_precision",
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, in_mask=in_mask,
                         out_mask=out_mask)


class BinaryRecall(_WithoutBeta, BinaryFBetaScore):
    """Recall of boolean fields (see :class:`BinaryFBetaScore`)."""

    _formula = "recall"

    def __init__(self, average: str | None = None, threshold: float = 0.5, name: str | None = "binary_recall",
                 in_mask: list[str] | None = None, out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, in_mask=in_mask,
                         out_mask=out_mask)


class CategoricalPrecision(_WithoutBeta, CategoricalFBetaScore):
    """Precision of labels (see :class:`CategoricalFBetaScore`)."""

    _formula = "precision"

    def __init__(self, average: str | None = None, labels: list | None = None,
                 name: str | None = "categorical_precision", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, labels=labels, name=name, in_mask=in_mask, out_mask=out_mask)


class CategoricalRecall(_WithoutBeta, CategoricalFBetaScore):
    """Recall of labels (see :class:`CategoricalFBetaScore`)."""

    _formula = "recall"

    def __init__(self, average: str | None = None, labels: list | None = None,
                 name: str | None = "categorical_recall", in_mask: list[str] | None = None,
                 out_mask: list[str] | None = None):
        super().__init__(average=average, beta=1.0, labels=labels, name=name, in_mask=in_mask, out_mask=out_mask)
