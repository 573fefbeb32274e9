"""Confidence classes and review decisions: their codes, words, colours and line styles, defined once.

The ranking (:mod:`residua.models.ranking`) writes the codes and words into ``sites_ranked``; the
QGIS styles (:mod:`residua.geodata.styles`) and the review page (:mod:`residua.geodata.review_page`, which
passes :func:`page_vocabulary` to its script) draw and label them from the same entries, so
the map in QGIS and the map in ``report.html`` use one legend.

Confidence follows :func:`residua.models.ranking.classify_confidence`: G1..G3 need samples (G1 and
G2 also a narrow interval and a DEM volume), G4 is every site without samples.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Millimetres to pixels at 96 dpi, as QGIS's own SLD export converts them.
PX_PER_MM = 3.78


@dataclass(frozen=True)
class ConfidenceClass:
    """One confidence class: UNFC code, words, ranking weight and outline style.

    ``pen`` is a QGIS pen style (solid, dash, dot) and ``dasharray`` the same pattern in
    pixels for SLD and the browser; ``width_mm`` is the outline width.
    """

    code: str
    unfc_code: int
    words: str
    weight: float
    colour: str
    width_mm: float
    pen: str = "solid"
    dasharray: str = ""

    @property
    def description(self) -> str:
        """Words and UNFC code, e.g. ``'Measured-like, UNFC 331'``."""
        return f"{self.words}, UNFC {self.unfc_code}"

    @property
    def label(self) -> str:
        """Legend label, e.g. ``'G1 Measured-like, UNFC 331'``."""
        return f"{self.code} {self.description}"


#: Strongest first. The words are the published ``confidence_words``; the weights enter the score.
CONFIDENCE_CLASSES: tuple[ConfidenceClass, ...] = (
    ConfidenceClass("G1", 331, "Measured-like", 1.0, "#08306b", 0.9),
    ConfidenceClass("G2", 332, "Indicated-like", 0.85, "#2171b5", 0.7),
    ConfidenceClass("G3", 333, "Inferred-like", 0.6, "#4292c6", 0.5, "dash", "4 2"),
    ConfidenceClass("G4", 334, "Reconnaissance (unsampled)", 0.35, "#737373", 0.4, "dot", "1 2"),
)
#: Class code -> class.
CONFIDENCE: dict[str, ConfidenceClass] = {c.code: c for c in CONFIDENCE_CLASSES}
#: The class of a site without samples (and the page's fallback for an unknown code).
UNSAMPLED_CLASS = "G4"


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's decision as written in ``reviews.csv`` (``code``), shown (``label``) and ranked (``status``)."""

    code: str
    label: str
    status: str
    colour: str


#: The decision that releases a tonnage hold (the only one): a reviewer has compared the modelled
#: and reported tonnes and accepts the model's.
ACCEPT_TONNAGE = "accept-tonnage"
#: ``review_status`` of a site whose modelled tonnage is far from its reported tonnes while no
#: ``accept-tonnage`` decision is in force: it keeps its numbers but gets no rank.
HELD_STATUS = "held for review"

REVIEW_DECISIONS: tuple[ReviewDecision, ...] = (
    ReviewDecision("accept", "Accept", "accepted", "#d8f0d8"),
    ReviewDecision("exclude", "Exclude", "excluded", "#f6d0d0"),
    ReviewDecision("needs-data", "Needs data", "needs data", "#fde7c4"),
    ReviewDecision(ACCEPT_TONNAGE, "Accept tonnage", "tonnage accepted", "#d4e8f4"),
)
#: Decision codes accepted in ``reviews.csv``, in the order error messages list them.
DECISIONS: tuple[str, ...] = tuple(d.code for d in REVIEW_DECISIONS)
#: Decision -> ``review_status`` written on every site.
REVIEW_STATUS: dict[str, str] = {d.code: d.status for d in REVIEW_DECISIONS}
#: ``review_status`` of a site without a decision.
UNREVIEWED = "unreviewed"


def page_vocabulary() -> dict[str, object]:
    """The classes and decisions as the review page's script reads them (JSON-ready).

    Examples
    --------
    >>> vocabulary = page_vocabulary()
    >>> vocabulary["confidence"]["G4"]["description"], vocabulary["decisions"][2]["label"]
    ('Reconnaissance (unsampled), UNFC 334', 'Needs data')
    """
    border = {"solid": "solid", "dash": "dashed", "dot": "dotted"}
    return {
        "confidence": {
            c.code: {
                "colour": c.colour,
                "weight": round(c.width_mm * PX_PER_MM, 1),
                "dash": c.dasharray or None,
                "border": border[c.pen],
                "words": c.words,
                "description": c.description,
                "label": c.label,
            }
            for c in CONFIDENCE_CLASSES
        },
        "fallback_class": UNSAMPLED_CLASS,
        "decisions": [{"code": d.code, "label": d.label, "colour": d.colour} for d in REVIEW_DECISIONS],
        "unreviewed": UNREVIEWED,
    }
