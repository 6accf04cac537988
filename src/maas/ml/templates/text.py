"""Text classification: maintenance-log text → failure mode, with TF-IDF and a linear model.

scikit-learn's ``TfidfVectorizer`` (lower-cased word 1..``ngram_max``-grams of two or more
letters or digits, sublinear term frequency, L2-normalised rows) and ``LogisticRegression``
are fitted on a training part and scored on a held-out validation part. What they learnt is
then kept as plain JSON: the vocabulary (terms in column order), the IDF weights, the
coefficients and intercepts per class. ``TextModel`` re-implements the transform with the
standard library's ``re``, numpy and scipy, so serving loads no scikit-learn object and
unpickles nothing; the tests check it matches scikit-learn's transform.

A linear model explains itself: a text's score for a class is the sum over its terms of TF-IDF
weight × coefficient, plus the intercept. ``explain_terms`` lists the terms that drove each
prediction (served too, as ``Prediction.terms``, when a prediction is asked to explain);
``top_terms_`` the terms that most raise each class's score.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from pydantic import BaseModel, ConfigDict, Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from maas.domain.signature import Column, ColumnType, Output, Signature, Task
from maas.errors import InvalidParameterError, SchemaMismatchError, UnsupportedFormatError
from maas.ml.plots import classifier_plots
from maas.ml.prediction import Prediction
from maas.ml.templates.artifact import TEMPLATE_ARTIFACT, dump_template_artifact
from maas.ml.templates.base import (
    MIN_ROWS,
    Template,
    TemplateSpec,
    TrainedModel,
    check_classes_in_both_parts,
    encode_class_target,
    label_metrics,
)
from maas.ml.templates.calibration import softmax

__all__ = [
    "SERVED_TERMS",
    "WORD_PATTERN",
    "TextClassification",
    "TextClassificationParams",
    "TextModel",
]

WORD_PATTERN = r"(?u)\b\w\w+\b"
"""A token is a run of two or more word characters (scikit-learn's default)."""
SERVED_TERMS = 10
"""Terms listed per prediction in ``Prediction.terms`` when the served model explains."""
_STATE_VERSION = 1


class TextClassificationParams(BaseModel):
    """Parameters of the text-classification template."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ngram_max: int = Field(2, ge=1, le=3)
    """Longest word n-gram used as a term (1: single words)."""
    min_df: int = Field(2, ge=1, le=1000)
    """A term must occur in at least this many training texts."""
    max_features: int = Field(20_000, ge=10, le=200_000)
    """At most this many terms (the most frequent) are kept."""
    c: float = Field(10.0, gt=0.0, le=1e6)
    """Inverse L2 regularisation strength of the logistic regression (scikit-learn's ``C``)."""
    balanced: bool = True
    """Weight classes inversely to their frequency, so rare failure modes are not ignored."""
    top_terms: int = Field(10, ge=1, le=100)
    """Terms listed per class in ``top_terms_`` and the feature importance."""
    validation_fraction: float = Field(0.2, ge=0.05, le=0.5)
    """Share of rows held out to report the metrics."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of the training / validation split."""


class TextModel:
    """The served text classifier: TF-IDF + linear scores, in numpy and scipy only.

    It keeps no mutable state after construction, so concurrent calls are safe.
    """

    def __init__(
        self,
        *,
        classes: list[str],
        vocabulary: list[str],
        idf: np.ndarray,
        coef: np.ndarray,
        intercept: np.ndarray,
        ngram_max: int,
    ) -> None:
        self.classes = classes
        self.vocabulary = vocabulary
        self.idf = idf
        self.coef = coef
        """``(n_classes, n_terms)``: a binary model's first row is 0 (its scores are log-odds
        of the second class)."""
        self.intercept = intercept
        self.ngram_max = ngram_max
        self._index = {term: i for i, term in enumerate(vocabulary)}
        self._token = re.compile(WORD_PATTERN)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """TF-IDF rows of ``texts``: ``(1 + log tf) * idf``, L2-normalised."""
        indptr, indices, values = [0], [], []
        for text in texts:
            counts = Counter(i for t in self._terms(text) if (i := self._index.get(t)) is not None)
            columns = sorted(counts)
            weights = 1.0 + np.log(np.asarray([counts[c] for c in columns], dtype=np.float64))
            weights *= self.idf[columns]
            norm = float(np.sqrt(np.dot(weights, weights)))
            indices.extend(columns)
            values.extend((weights / norm if norm > 0 else weights).tolist())
            indptr.append(len(indices))
        shape = (len(indptr) - 1, len(self.vocabulary))
        return sp.csr_matrix((values, indices, indptr), shape=shape, dtype=np.float64)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Linear scores ``(n, n_classes)``."""
        return np.asarray(self.transform(texts) @ self.coef.T + self.intercept)

    def predict_matrix(self, x: np.ndarray, *, explain: bool = False) -> Prediction:
        """Classify each row of ``x`` (``object``, one column holding the text).

        With ``explain``, ``contributions`` is the text's part of the score and the intercept,
        and ``terms`` the ``SERVED_TERMS`` terms with the largest part (see ``explain_terms``).

        Raises:
            SchemaMismatchError: ``x`` is not an ``(n, 1)`` array of strings.
        """
        texts = self._texts(x)
        features = self.transform(texts)
        logits = np.asarray(features @ self.coef.T + self.intercept)
        chosen = np.argmax(logits, axis=1)
        contributions: np.ndarray | None = None
        terms: list[dict[str, float]] | None = None
        if explain:
            target = self._explained_class(chosen)
            text_part = np.asarray(features.multiply(self.coef[target]).sum(axis=1)).ravel()
            contributions = np.column_stack([text_part, self.intercept[target]])
            terms = self._ranked_terms(features, target, SERVED_TERMS)
        return Prediction(
            predictions=np.asarray(self.classes, dtype=object)[chosen],
            probabilities=softmax(logits),
            contributions=contributions,
            terms=terms,
        )

    def explain_terms(self, texts: Sequence[str], top: int) -> list[dict[str, float]]:
        """Per text, the ``top`` terms with the largest absolute part of its score.

        The score is the one ``predict_matrix`` explains: the log-odds of the second class for
        two classes, else the logit of the predicted class. A term's part is its TF-IDF weight
        times its coefficient for that class; terms whose part is 0 are left out, and ties are
        broken by term. Largest first.
        """
        features = self.transform(texts)
        logits = np.asarray(features @ self.coef.T + self.intercept)
        return self._ranked_terms(features, self._explained_class(np.argmax(logits, 1)), top)

    def to_state(self) -> dict[str, Any]:
        """The JSON state of the model."""
        return {
            "state_version": _STATE_VERSION,
            "classes": self.classes,
            "vocabulary": self.vocabulary,
            "idf": self.idf.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "ngram_max": self.ngram_max,
            "word_pattern": WORD_PATTERN,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> TextModel:
        """Rebuild the model from ``to_state``'s JSON.

        Raises:
            UnsupportedFormatError: the state is not one this version wrote, or does not fit
                ``signature`` (one text input, the same classes, arrays of matching sizes).
        """
        try:
            if state["state_version"] != _STATE_VERSION or state["word_pattern"] != WORD_PATTERN:
                raise ValueError("another state version or word pattern")
            classes = [str(c) for c in state["classes"]]
            vocabulary = [str(t) for t in state["vocabulary"]]
            idf = np.asarray(state["idf"], dtype=np.float64)
            coef = np.asarray(state["coef"], dtype=np.float64)
            intercept = np.asarray(state["intercept"], dtype=np.float64)
            ngram_max = int(state["ngram_max"])
            k, v = len(classes), len(vocabulary)
            if classes != signature.classes or len(signature.inputs) != 1:
                raise ValueError("classes or inputs differ from the signature's")
            if idf.shape != (v,) or coef.shape != (k, v) or intercept.shape != (k,):
                raise ValueError(f"arrays do not fit {k} classes and {v} terms")
            if len(set(vocabulary)) != v or not 1 <= ngram_max <= 3:
                raise ValueError("repeated terms or an n-gram length out of range")
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsupportedFormatError(
                f"The text-classification state is not readable: {exc}.",
                field="state",
                expected=f"a text_classification state, version {_STATE_VERSION}",
                received=type(exc).__name__,
            ) from exc
        return cls(
            classes=classes,
            vocabulary=vocabulary,
            idf=idf,
            coef=coef,
            intercept=intercept,
            ngram_max=ngram_max,
        )

    def _explained_class(self, chosen: np.ndarray) -> np.ndarray:
        """The class whose score explanations split: the second of two, else the chosen one."""
        if len(self.classes) == 2:
            return np.ones(len(chosen), dtype=np.intp)
        return np.asarray(chosen, dtype=np.intp)

    def _ranked_terms(
        self, features: sp.csr_matrix, target: np.ndarray, top: int
    ) -> list[dict[str, float]]:
        out = []
        for i, c in enumerate(target.tolist()):
            start, end = features.indptr[i], features.indptr[i + 1]
            columns = features.indices[start:end]
            parts = features.data[start:end] * self.coef[c, columns]
            ranked = sorted(
                ((self.vocabulary[j], float(v)) for j, v in zip(columns, parts, strict=True) if v),
                key=lambda item: (-abs(item[1]), item[0]),
            )
            out.append(dict(ranked[:top]))
        return out

    def _terms(self, text: str) -> list[str]:
        tokens = self._token.findall(text.lower())
        return [
            " ".join(tokens[i : i + n])
            for n in range(1, self.ngram_max + 1)
            for i in range(len(tokens) - n + 1)
        ]

    def _texts(self, x: np.ndarray) -> list[str]:
        x = np.asarray(x, dtype=object)
        if x.ndim != 2 or x.shape[1] != 1:
            raise SchemaMismatchError(
                f"The model takes one text column. Got an array of shape {x.shape} instead.",
                field="inputs",
                expected="(n, 1)",
                received=str(x.shape),
            )
        texts: list[str] = x[:, 0].tolist()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise SchemaMismatchError(
                    f"Row {i} of the text column must be a string. Got "
                    f"{type(text).__name__} instead.",
                    field=f"inputs[{i}]",
                    expected="a string",
                    received=type(text).__name__,
                )
        return texts


class TextClassification(Template):
    """Classify free text (a maintenance log entry) into a class (the failure mode).

    See the module docstring for the method. Metrics (validation rows): ``accuracy``,
    ``macro_f1``, ``recall.<class>``, ``confusion.<true>.<predicted>``, next to the
    majority-class answer's ``baseline_accuracy`` and ``baseline_macro_f1``; ``n_terms``, the
    vocabulary size. ``top_terms_`` maps each class to its ``top_terms`` most raising terms and
    their weights; the trained model's ``feature_importance`` holds them as
    ``"<class>: <term>"`` → share of the listed terms' total weight. Plots (validation rows):
    ``confusion``; ``roc`` and ``pr`` of the second class for two classes.
    """

    spec = TemplateSpec(
        name="text_classification",
        task=Task.CLASSIFICATION,
        description=(
            "Classify maintenance-log text into failure modes with TF-IDF and logistic "
            "regression; lists the terms that drive each class and each prediction."
        ),
        params=TextClassificationParams,
    )

    def __init__(
        self,
        *,
        ngram_max: int = 2,
        min_df: int = 2,
        max_features: int = 20_000,
        c: float = 10.0,
        balanced: bool = True,
        top_terms: int = 10,
        validation_fraction: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.c = c
        self.balanced = balanced
        self.top_terms = top_terms
        self.validation_fraction = validation_fraction
        self.seed = seed

    def fit(
        self,
        df: pd.DataFrame,
        target: str = "failure_mode",
        features: Sequence[str] | None = None,
    ) -> Self:
        """Learn to predict column ``target`` from the one text column ``features`` names.

        Raises:
            InvalidParameterError: a parameter is invalid, too few rows, a class too rare, or
                no term occurs in ``min_df`` training texts.
            SchemaMismatchError: the target or text column is missing, there is not exactly one
                text column, or it holds something other than text.
        """
        params: TextClassificationParams = self._validated_params()
        column = _text_column(df, target, features)
        if len(df) < MIN_ROWS:
            raise InvalidParameterError(
                f"Template {self.spec.name!r} needs at least {MIN_ROWS} rows. "
                f"Got {len(df)} instead.",
                field="rows",
                expected=f">= {MIN_ROWS}",
                received=len(df),
            )
        y, classes = encode_class_target(df[target], target)
        nullable = bool(df[column].isna().any())
        signature = Signature(
            inputs=[Column(name=column, dtype=ColumnType.STRING, nullable=nullable)],
            outputs=[
                Output(name="predictions", dtype=ColumnType.STRING),
                Output(name="probabilities", dtype=ColumnType.FLOAT, shape=[-1, len(classes)]),
            ],
            task=Task.CLASSIFICATION,
            classes=classes,
        )
        texts = _texts_of(df[column])
        train, valid = train_test_split(
            np.arange(len(df)),
            test_size=params.validation_fraction,
            random_state=params.seed,
            stratify=y,
        )
        check_classes_in_both_parts(y[train], y[valid], classes, target)
        self.model_ = _fit_model([texts[i] for i in train], y[train], classes, params)
        self.signature_ = signature
        self.feature_names_in_ = [column]
        self.target_ = target
        self.params_ = params
        self.top_terms_ = _top_terms(self.model_, params.top_terms)
        logits = self.model_.logits([texts[i] for i in valid])
        predicted = np.argmax(logits, axis=1)
        majority = int(np.argmax(np.bincount(y[train], minlength=len(classes))))
        self.metrics_ = label_metrics(y[valid], predicted, classes, majority)
        binary = len(classes) == 2  # then logits[:, 1] is the log-odds of the second class
        self.plots_ = classifier_plots(
            y[valid],
            predicted,
            classes,
            score=logits[:, 1] if binary else None,
            positive=1 if binary else None,
        )
        self.metrics_ |= {
            "n_terms": float(len(self.model_.vocabulary)),
            "n_train": float(len(train)),
            "n_validation": float(len(valid)),
        }
        return self

    @property
    def classes_(self) -> list[str]:
        """The class labels, in the order of the probability columns."""
        self._check_fitted()
        assert self.signature_.classes is not None
        return self.signature_.classes

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Return the predicted class label (``str``) of each text.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` lacks the text column or it holds something else.
        """
        return np.asarray(self._served(df).predictions)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Return the class probabilities ``(n, n_classes)``, in ``classes_`` order.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` lacks the text column or it holds something else.
        """
        proba = self._served(df).probabilities
        assert proba is not None
        return proba

    def decision_function(self, df: pd.DataFrame) -> np.ndarray:
        """Return log-odds of the second class ``(n,)`` for two classes, else logits ``(n, k)``.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` lacks the text column or it holds something else.
        """
        self._check_fitted()
        logits = self.model_.logits(self._texts(df))
        return logits[:, 1] if len(self.classes_) == 2 else logits

    def explain(self, df: pd.DataFrame) -> np.ndarray:
        """Return ``(n, 2)``: the text's contribution and the intercept, adding up to the score.

        The score is the log-odds of the second class for two classes, else the logit of the
        predicted class. ``explain_terms`` breaks the text's part down by term.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` lacks the text column or it holds something else.
        """
        contributions = self._served(df, explain=True).contributions
        assert contributions is not None
        return contributions

    def explain_terms(self, df: pd.DataFrame, top: int = 10) -> list[dict[str, float]]:
        """Per text, the ``top`` terms with the largest absolute part of its score, largest first.

        Each part is the term's TF-IDF weight times its coefficient for the predicted class
        (the second class when there are two), so a text's parts add up to ``explain``'s first
        column; terms whose part is 0 are left out. The served model lists the same terms
        (``SERVED_TERMS`` of them) as ``Prediction.terms``.

        Raises:
            NotFittedError: ``fit`` has not been called.
            SchemaMismatchError: ``df`` lacks the text column or it holds something else.
        """
        texts = self._texts(df)  # checks that fit has run
        return self.model_.explain_terms(texts, top)

    def to_trained_model(self) -> TrainedModel:
        """Package the vocabulary, IDF and coefficients as a ``template`` artifact.

        Raises:
            NotFittedError: ``fit`` has not been called.
        """
        self._check_fitted()
        listed = [(f"{c}: {t}", w) for c, terms in self.top_terms_.items() for t, w in terms]
        total = sum(max(w, 0.0) for _, w in listed) or 1.0
        importance = sorted(
            ((name, max(w, 0.0) / total) for name, w in listed), key=lambda item: -item[1]
        )
        return TrainedModel(
            artifact=dump_template_artifact(
                self.spec.name,
                {
                    **self.model_.to_state(),
                    "library_versions": {"scikit-learn": sklearn.__version__},
                },
            ),
            format=TEMPLATE_ARTIFACT,
            signature=self.signature_,
            template=self.spec.name,
            params={
                **self.params_.model_dump(),
                "target": self.target_,
                "features": list(self.feature_names_in_),
            },
            metrics=dict(self.metrics_),
            feature_importance=dict(importance),
            plots=dict(self.plots_),
        )

    @classmethod
    def from_state(cls, state: dict[str, Any], signature: Signature) -> TextModel:
        """Rebuild the served model from an artifact's JSON state.

        Raises:
            UnsupportedFormatError: the state is not readable or does not fit ``signature``.
        """
        return TextModel.from_state(state, signature)

    def _texts(self, df: pd.DataFrame) -> list[str]:
        self._check_fitted()
        column = self.feature_names_in_[0]
        if column not in df.columns:
            raise SchemaMismatchError(
                f"Column {column!r} is missing.",
                field=column,
                expected="text",
                received="nothing",
            )
        return _texts_of(df[column])

    def _served(self, df: pd.DataFrame, *, explain: bool = False) -> Prediction:
        x = np.asarray(self._texts(df), dtype=object).reshape(-1, 1)
        return self.model_.predict_matrix(x, explain=explain)


def _text_column(df: pd.DataFrame, target: str, features: Sequence[str] | None) -> str:
    if target not in df.columns:
        raise SchemaMismatchError(
            f"Target column {target!r} is missing from the data.",
            field=target,
            expected="a column of the data",
            received=f"columns {[str(c) for c in df.columns]}",
        )
    if features is None:
        names = [c for c in df.columns if c != target]
    else:
        names = [features] if isinstance(features, str) else list(features)
    if len(names) != 1:
        raise SchemaMismatchError(
            f"Template 'text_classification' takes exactly one text column. Got {names} instead.",
            field="features",
            expected="one text column",
            received=[str(n) for n in names],
        )
    name = names[0]
    if name not in df.columns or name == target:
        raise SchemaMismatchError(
            f"Text column {name!r} must be a column of the data other than the target.",
            field=str(name),
            expected="a text column",
            received="nothing" if name not in df.columns else "the target",
        )
    return str(name)


def _texts_of(series: pd.Series) -> list[str]:
    """The column's values as text; missing values are empty texts."""
    texts = []
    for i, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            texts.append("")
        elif isinstance(value, str):
            texts.append(value)
        else:
            raise SchemaMismatchError(
                f"Column {series.name!r} must hold text. Got {type(value).__name__} {value!r} "
                f"instead (row {i}).",
                field=str(series.name),
                expected="text",
                received=type(value).__name__,
            )
    return texts


def _fit_model(
    texts: list[str], y: np.ndarray, classes: list[str], params: TextClassificationParams
) -> TextModel:
    vectorizer = TfidfVectorizer(
        lowercase=True,
        token_pattern=WORD_PATTERN,
        ngram_range=(1, params.ngram_max),
        min_df=params.min_df,
        max_features=params.max_features,
        sublinear_tf=True,
        dtype=np.float64,
    )
    try:
        features = vectorizer.fit_transform(texts)
    except (
        ValueError
    ) as exc:  # "empty vocabulary" / "max_df corresponds to < documents than min_df"
        raise InvalidParameterError(
            f"No term occurs in at least min_df={params.min_df} training texts: {exc}.",
            field="min_df",
            expected="a min_df that leaves some terms",
            received=params.min_df,
        ) from exc
    model = LogisticRegression(
        C=params.c, class_weight="balanced" if params.balanced else None, max_iter=5000
    ).fit(features, y)
    vocabulary = [str(t) for t in vectorizer.get_feature_names_out()]
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    if len(classes) == 2:  # one row of log-odds of the second class; the first scores 0
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.r_[0.0, intercept]
    return TextModel(
        classes=classes,
        vocabulary=vocabulary,
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        coef=coef,
        intercept=intercept,
        ngram_max=params.ngram_max,
    )


def _top_terms(model: TextModel, top: int) -> dict[str, list[tuple[str, float]]]:
    """Per class, the ``top`` terms with the largest coefficient towards it (ties by term)."""
    coef = model.coef
    if len(model.classes) == 2:  # the first class's terms are those that lower the second's
        coef = np.vstack([-coef[1], coef[1]])
    out = {}
    for c, label in enumerate(model.classes):
        ranked = sorted(
            ((model.vocabulary[j], float(coef[c, j])) for j in range(coef.shape[1])),
            key=lambda item: (-item[1], item[0]),
        )
        out[label] = [(term, weight) for term, weight in ranked[:top] if weight > 0]
    return out
