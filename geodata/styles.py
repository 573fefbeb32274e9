"""QGIS layer styles for the published layers, as QML and SLD, and QGIS's ``layer_styles`` table.

A GeoPackage whose ``layer_styles`` table holds a default style per layer opens styled in
QGIS; the same QML written beside a single-layer file (``sites_ranked.qml`` next to
``sites_ranked.geojson``) is QGIS's sidecar style for that file. Each style is one list of
rules rendered twice: as a QGIS rule-based renderer (QML) and as OGC Symbology Encoding 1.1
rules (SLD), with the same filters, so both draw the same map.

Sites are filled by rank class (a graduated ramp, top ranks darkest) and outlined by
confidence class G1..G4 (colour, width and dash pattern from :mod:`residua.geodata.vocabulary`, as on
the review page, so the classes survive greyscale printing and colour-blindness); both rule
groups match each site, so every site is drawn with a fill and an outline. Samples are small
dark points, quarantined rows red. Hub candidates are faint grey dots, the hubs the hub plan
opens purple triangles over them (a nested rule on ``opened``), and the site -> hub lines of
``hub_assignments`` thin grey-purple lines.
"""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pandas as pd

from residua.geodata.vocabulary import CONFIDENCE_CLASSES, PX_PER_MM

#: QGIS version the QML declares; its symbol-layer format is read by QGIS 3.10 and later.
QGIS_VERSION = "3.22.16-Białowieża"

#: Rank classes for the sites' fill: (first rank, last rank or None, label, RGB hex), top first.
RANK_CLASSES: tuple[tuple[int, int | None, str, str], ...] = (
    (1, 10, "Rank 1-10", "#bd0026"),
    (11, 25, "Rank 11-25", "#f03b20"),
    (26, 50, "Rank 26-50", "#fd8d3c"),
    (51, 100, "Rank 51-100", "#fecc5c"),
    (101, None, "Rank over 100", "#ffffb2"),
)

QUARANTINE_RED = "#e31a1c"

#: Columns of the ``layer_styles`` table QGIS creates in a GeoPackage, in QGIS's order.
LAYER_STYLES_COLUMNS: tuple[str, ...] = (
    "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName", "styleQML",
    "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time",
)  # fmt: skip

SLD_SCHEMA = "http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"
#: Namespace declarations of the SLD root; elements are written with these prefixes.
_SLD_NAMESPACES = {
    "xmlns": "http://www.opengis.net/sld",
    "xmlns:se": "http://www.opengis.net/se",
    "xmlns:ogc": "http://www.opengis.net/ogc",
    "xmlns:xlink": "http://www.w3.org/1999/xlink",
    "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


@dataclass(frozen=True)
class Filter:
    """A rule's condition: ``column op value`` terms joined by AND, or a geometry type.

    ``terms`` are (column, operator, value) with operator one of ``=``, ``>=``, ``<=``, ``<``;
    ``geometry`` ("Point" or "Polygon") limits the rule to that geometry kind (QML only:
    SLD has no portable geometry-type filter, and its symbolizers apply by kind anyway).
    """

    terms: tuple[tuple[str, str, object], ...] = ()
    geometry: str | None = None
    #: QGIS's ``ELSE`` rule: features no sibling rule matched (QML only).
    otherwise: bool = False

    def qgis(self) -> str:
        """The filter as a QGIS expression."""
        if self.otherwise:
            return "ELSE"
        parts = [f'"{column}" {op} {_qgis_literal(value)}' for column, op, value in self.terms]
        if self.geometry:
            parts.append(f"geometry_type($geometry) = '{self.geometry}'")
        return " AND ".join(parts)


@dataclass(frozen=True)
class Symbol:
    """One simple symbol: a fill (``kind='fill'``), a marker (``kind='marker'``), a line (``kind='line'``,
    drawn in ``stroke`` at ``stroke_width`` and ``opacity``) or a marker drawn at a polygon's centroid
    (``kind='centroid'``, QGIS's centroid fill: a footprint far smaller than a pixel at national scale
    still shows as a symbol of ``size`` mm).

    Colours are RGB hex; ``fill=None`` draws no fill (outline only), ``stroke=None`` no outline.
    Widths and sizes are millimetres; ``dash`` is a QGIS pen style (solid, dash, dot).
    """

    kind: str
    fill: str | None
    stroke: str | None
    stroke_width: float = 0.26
    dash: str = "solid"
    sld_dasharray: str = ""
    shape: str = "circle"
    size: float = 2.0
    opacity: float = 1.0


@dataclass(frozen=True)
class Rule:
    """A labelled rule: features matching ``filter`` are drawn with ``symbol``.

    A rule with ``children`` and no symbol groups them (QGIS's nested rules: a child applies
    within its parent's filter and scales). ``max_scale`` / ``min_scale`` are scale
    denominators: the rule draws at 1:N with ``max_scale <= N <= min_scale`` (QGIS's
    "maximum (inclusive)" and "minimum (exclusive)" scales; None: no limit). QML only: SLD
    output flattens nothing and is written for flat rules.
    """

    label: str
    symbol: Symbol | None
    filter: Filter = field(default_factory=Filter)
    children: tuple[Rule, ...] = ()
    max_scale: float | None = None
    min_scale: float | None = None


@dataclass(frozen=True)
class LayerStyle:
    """A layer's default style as QML and SLD, ready for QGIS's ``layer_styles`` table."""

    layer: str
    name: str
    description: str
    qml: str
    sld: str


def sites_rules(with_points: bool = False) -> list[Rule]:
    """Rules for ``sites_ranked``: fill by rank class, then outline by confidence class.

    Parameters
    ----------
    with_points : bool
        Add a marker rule for sites published as points (no footprint).

    Returns
    -------
    list of Rule
        Rank-class fills first (drawn below), confidence outlines after.

    Examples
    --------
    >>> [rule.label for rule in sites_rules()][:2]
    ['Rank 1-10', 'Rank 11-25']
    >>> sites_rules()[5].filter.qgis()
    '"confidence" = \\'G1\\''
    """
    rules = []
    for first, last, label, colour in RANK_CLASSES:
        terms: tuple[tuple[str, str, object], ...] = (("rank", ">=", first),)
        if last is not None:
            terms += (("rank", "<=", last),)
        rules.append(Rule(label, Symbol("fill", fill=colour, stroke=None, opacity=0.85), Filter(terms)))
    for c in CONFIDENCE_CLASSES:
        outline = Symbol("fill", fill=None, stroke=c.colour, stroke_width=c.width_mm, dash=c.pen,
                         sld_dasharray=c.dasharray)  # fmt: skip
        rules.append(Rule(c.label, outline, Filter((("confidence", "=", c.code),))))
    if with_points:
        marker = Symbol("marker", fill="#bd0026", stroke="#08306b", stroke_width=0.4, size=3.0)
        rules.append(Rule("Site without footprint (point)", marker, Filter(geometry="Point")))
    return rules


#: Scale denominator below which sites are drawn as footprints and above which as centroid symbols:
#: at 1:100,000 a 300 m footprint is 3 mm across; at national scale (1:10,000,000) it is 0.03 mm.
FOOTPRINT_SCALE = 100_000
#: Colours of grade classes, low to high (viridis, legible in greyscale and to colour-blind readers),
#: shared by the samples' grade classes and the grade rasters' ramp.
GRADE_COLOURS: tuple[str, ...] = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def scaled_sites_rules(with_points: bool = False, footprint_scale: float = FOOTPRINT_SCALE) -> list[Rule]:
    """Rules for ``sites_ranked`` by scale: centroid symbols zoomed out, filled footprints zoomed in.

    Both groups use the rank-class fills and confidence-class outlines of :func:`sites_rules`;
    zoomed out, each site is a circle at its centroid filled by rank and ringed by confidence,
    so footprints far smaller than a pixel stay visible. Point sites are drawn at every scale.

    Parameters
    ----------
    with_points : bool
        Add the marker rule for sites published as points (no footprint).
    footprint_scale : float
        Scale denominator of the switch (default :data:`FOOTPRINT_SCALE`).

    Returns
    -------
    list of Rule
        Two nested groups (plus the point rule).

    Examples
    --------
    >>> [(rule.label, rule.max_scale, rule.min_scale) for rule in scaled_sites_rules()]
    [('Sites (symbol at centroid)', 100000, None), ('Site footprints', None, 100000)]
    """
    footprints = [rule for rule in sites_rules() if rule.filter.geometry is None]
    symbols = []
    for rule in footprints:
        fill, stroke = rule.symbol.fill, rule.symbol.stroke  # type: ignore[union-attr]
        if fill is not None:  # rank class: a filled circle
            marker = Symbol("centroid", fill=fill, stroke="#ffffff", stroke_width=0.2, size=2.6)
        else:  # confidence class: a ring around it, dashed classes drawn thinner
            marker = Symbol("centroid", fill=None, stroke=stroke, stroke_width=rule.symbol.stroke_width,  # type: ignore[union-attr]
                            size=3.6)  # fmt: skip
        symbols.append(Rule(rule.label, marker, rule.filter))
    rules = [
        Rule("Sites (symbol at centroid)", None, Filter(geometry="Polygon"), tuple(symbols), max_scale=footprint_scale),
        Rule("Site footprints", None, Filter(geometry="Polygon"), tuple(footprints), min_scale=footprint_scale),
    ]
    if with_points:
        rules += [rule for rule in sites_rules(True) if rule.filter.geometry == "Point"]
    return rules


def grade_rules(column: str, breaks: tuple[float, ...], unit: str = "g/t") -> list[Rule]:
    """Rules colouring points by ``column`` in classes between ``breaks`` (:data:`GRADE_COLOURS`).

    Parameters
    ----------
    column : str
        A grade column, e.g. ``ga_gt``.
    breaks : tuple of float
        Inner class limits, ascending: ``n`` breaks give ``n + 1`` classes (at most 4 breaks).
    unit : str
        Unit written in the labels.

    Returns
    -------
    list of Rule
        One rule per class, lowest first, then an ``ELSE`` rule (not assayed) in light grey.

    Examples
    --------
    >>> [rule.label for rule in grade_rules("ga_gt", (10.0, 50.0))]
    ['ga_gt < 10 g/t', 'ga_gt 10 - 50 g/t', 'ga_gt >= 50 g/t', 'Not assayed']
    >>> grade_rules("ga_gt", (10.0, 50.0))[1].filter.qgis()
    '"ga_gt" >= 10.0 AND "ga_gt" < 50.0'
    """
    if len(breaks) > len(GRADE_COLOURS) - 1 or list(breaks) != sorted(breaks):
        raise ValueError(f"breaks must be ascending, at most {len(GRADE_COLOURS) - 1}; got {breaks!r}")
    last = len(GRADE_COLOURS) - 1  # spread fewer classes over the whole ramp
    colours = [GRADE_COLOURS[round(i * last / max(1, len(breaks)))] for i in range(len(breaks) + 1)]
    limits = (None, *breaks, None)
    rules = []
    for index, (low, high) in enumerate(itertools.pairwise(limits)):
        terms: tuple[tuple[str, str, object], ...] = ()
        if low is not None:
            terms += ((column, ">=", float(low)),)
        if high is not None:
            terms += ((column, "<", float(high)),)
        if low is None:
            label = f"{column} < {high:g} {unit}"
        elif high is None:
            label = f"{column} >= {low:g} {unit}"
        else:
            label = f"{column} {low:g} - {high:g} {unit}"
        marker = Symbol("marker", fill=colours[index], stroke="#ffffff", stroke_width=0.3, size=2.0)
        rules.append(Rule(label, marker, Filter(terms)))
    not_assayed = Symbol("marker", fill="#d9d9d9", stroke="#737373", stroke_width=0.1, size=1.0)
    rules.append(Rule("Not assayed", not_assayed, Filter(otherwise=True)))
    return rules


def samples_rules() -> list[Rule]:
    """Rules for ``samples``: one small dark point per assay interval."""
    return [Rule("Sample", Symbol("marker", fill="#252525", stroke="#ffffff", stroke_width=0.2, size=1.4))]


def quarantine_rules() -> list[Rule]:
    """Rules for ``quarantine``: red crosses for points, red outlined polygons for footprints."""
    return [
        Rule("Quarantined sample or point site", Symbol("marker", fill=QUARANTINE_RED, stroke=QUARANTINE_RED,
             stroke_width=0.6, shape="cross2", size=3.0), Filter(geometry="Point")),
        Rule("Quarantined site footprint", Symbol("fill", fill=QUARANTINE_RED, stroke=QUARANTINE_RED,
             stroke_width=0.6, opacity=0.35), Filter(geometry="Polygon")),
    ]  # fmt: skip


HUB_PURPLE = "#6a3d9a"
#: The site -> hub lines: a grey purple, lighter than the hubs they lead to.
ASSIGNMENT_COLOUR = "#7d6e9c"


def hubs_rules() -> list[Rule]:
    """Rules for ``hubs``: every candidate a faint grey dot; the opened ones a purple triangle over it.

    One rule for all candidates with a nested rule for ``"opened" = TRUE`` (QGIS 3.22 reads the
    GeoPackage's boolean as a boolean, which ``= 1`` does not match), so a hubs layer without
    ``opened`` (a run before the hub plan) still draws each hub, as a candidate.

    Examples
    --------
    >>> rule = hubs_rules()[0]
    >>> (rule.label, [(child.label, child.filter.qgis()) for child in rule.children])
    ('Hub candidate', [('Hub opened by the plan', '"opened" = TRUE')])
    """
    candidate = Symbol("marker", fill="#c4c7cc", stroke="#8a8f96", stroke_width=0.2, size=1.8, opacity=0.6)
    opened = Symbol("marker", fill=HUB_PURPLE, stroke="#ffffff", stroke_width=0.3, shape="triangle", size=3.5)
    return [Rule("Hub candidate", candidate, children=(Rule("Hub opened by the plan", opened,
                                                           Filter((("opened", "=", True),))),))]  # fmt: skip


def hub_assignments_rules() -> list[Rule]:
    """Rules for ``hub_assignments``: thin grey-purple lines from each site to its hub."""
    return [Rule("Site to hub", Symbol("line", fill=None, stroke=ASSIGNMENT_COLOUR, stroke_width=0.3, opacity=0.85))]


#: Planned holes of the sampling plan: a bright orange that no grade ramp or rank class uses.
PLANNED_HOLE_ORANGE = "#ff7f00"


def sampling_plan_rules() -> list[Rule]:
    """Rules for ``sampling_plan``: each planned hole an orange star, outlined in black.

    Examples
    --------
    >>> [(rule.label, rule.symbol.shape) for rule in sampling_plan_rules()]
    [('Planned hole (sampling plan)', 'star')]
    """
    hole = Symbol("marker", fill=PLANNED_HOLE_ORANGE, stroke="#000000", stroke_width=0.2, shape="star", size=3.2)
    return [Rule("Planned hole (sampling plan)", hole)]


#: Rules and a description per publishable layer.
LAYER_RULES = {
    "samples": (samples_rules, "Assay intervals, small dark points"),
    "quarantine": (quarantine_rules, "Quarantined rows in red"),
    "hubs": (hubs_rules, "Hub candidates as grey dots, the hubs the plan opens as purple triangles"),
    "hub_assignments": (hub_assignments_rules, "Site to hub lines of the hub plan, thin grey-purple"),
    "sampling_plan": (sampling_plan_rules, "Planned holes of the sampling plan, orange stars"),
}


def inventory_styles(layers: Iterable[str], sites_with_points: bool = False) -> list[LayerStyle]:
    """Default styles for those of ``layers`` that Residua styles (others are skipped).

    Parameters
    ----------
    layers : iterable of str
        Layer names being published, e.g. ``("sites_ranked", "samples", "quarantine")``.
    sites_with_points : bool
        Whether ``sites_ranked`` holds point sites (adds a marker rule).

    Returns
    -------
    list of LayerStyle

    Examples
    --------
    >>> [style.layer for style in inventory_styles(["sites_ranked", "run_metadata", "samples"])]
    ['sites_ranked', 'samples']
    """
    styles = []
    for layer in layers:
        if layer == "sites_ranked":
            rules = sites_rules(sites_with_points)
            description = "Sites filled by rank class and outlined by confidence class G1..G4"
        elif layer in LAYER_RULES:
            make_rules, description = LAYER_RULES[layer]
            rules = make_rules()
        else:
            continue
        name = f"residua_{layer}"
        styles.append(LayerStyle(layer, name, description, to_qml(rules), to_sld(layer, name, rules)))
    return styles


def layer_styles_table(styles: Iterable[LayerStyle], geometry_column: str = "geom") -> pd.DataFrame:
    """Rows of QGIS's ``layer_styles`` table, one default style per layer.

    Parameters
    ----------
    styles : iterable of LayerStyle
    geometry_column : str
        The layers' geometry column (``geom`` in a GeoPackage written by GDAL).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`LAYER_STYLES_COLUMNS`, ``useAsDefault`` True.
    """
    now = pd.Timestamp(datetime.now(UTC)).floor("ms")
    rows = [
        {"f_table_catalog": "", "f_table_schema": "", "f_table_name": style.layer,
         "f_geometry_column": geometry_column, "styleName": style.name, "styleQML": style.qml,
         "styleSLD": style.sld, "useAsDefault": True, "description": style.description, "owner": "residua",
         "ui": "", "update_time": now}
        for style in styles
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=list(LAYER_STYLES_COLUMNS))


def to_qml(rules: list[Rule]) -> str:
    """A QGIS style document (QML) with a rule-based renderer drawing ``rules`` in order.

    Examples
    --------
    >>> qml = to_qml(samples_rules())
    >>> qml.startswith("<!DOCTYPE qgis") and 'type="RuleRenderer"' in qml
    True
    """
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology"})
    root.append(rule_renderer(rules))
    ET.SubElement(root, "blendMode").text = "0"
    ET.SubElement(root, "featureBlendMode").text = "0"
    ET.indent(root)
    return "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"


def rule_renderer(rules: list[Rule]) -> ET.Element:
    """QGIS's ``renderer-v2`` element of a rule-based renderer drawing ``rules`` (nested rules included).

    Examples
    --------
    >>> group = Rule("Zoomed out", None, children=tuple(samples_rules()), min_scale=None, max_scale=100_000)
    >>> renderer = rule_renderer([group])
    >>> [(rule.get("label"), rule.get("scalemindenom")) for rule in renderer.iter("rule")]
    [('Zoomed out', '100000'), ('Sample', None)]
    """
    renderer = ET.Element("renderer-v2", {"type": "RuleRenderer", "symbollevels": "0", "enableorderby": "0",
                                          "forceraster": "0", "referencescale": "-1"})  # fmt: skip
    root_rule = ET.SubElement(renderer, "rules", {"key": _key("root")})
    symbols = ET.SubElement(renderer, "symbols")

    def add(parent: ET.Element, rule: Rule, path: str) -> None:
        attributes = {"key": _key(f"{path}:{rule.label}"), "label": rule.label}
        if rule.symbol is not None:
            attributes["symbol"] = str(len(symbols))
            symbols.append(_qml_symbol(attributes["symbol"], rule.symbol))
        if rule.filter.qgis():
            attributes["filter"] = rule.filter.qgis()
        # QGIS's names: scalemindenom is the most zoomed-in scale, scalemaxdenom the most zoomed-out.
        if rule.max_scale is not None:
            attributes["scalemindenom"] = f"{rule.max_scale:g}"
        if rule.min_scale is not None:
            attributes["scalemaxdenom"] = f"{rule.min_scale:g}"
        element = ET.SubElement(parent, "rule", attributes)
        for index, child in enumerate(rule.children):
            add(element, child, f"{path}.{index}")

    for index, rule in enumerate(rules):
        add(root_rule, rule, str(index))
    return renderer


def to_sld(layer: str, name: str, rules: list[Rule]) -> str:
    """An OGC Styled Layer Descriptor 1.1 (Symbology Encoding 1.1) document for ``rules``.

    Examples
    --------
    >>> sld = to_sld("samples", "residua_samples", samples_rules())
    >>> 'version="1.1.0"' in sld and "se:PointSymbolizer" in sld
    True
    """
    root = ET.Element("StyledLayerDescriptor", {
        "version": "1.1.0", **_SLD_NAMESPACES,
        "xsi:schemaLocation": f"{_SLD_NAMESPACES['xmlns']} {SLD_SCHEMA}",
    })  # fmt: skip
    named = ET.SubElement(root, "NamedLayer")
    ET.SubElement(named, "se:Name").text = layer
    user_style = ET.SubElement(named, "UserStyle")
    ET.SubElement(user_style, "se:Name").text = name
    feature_style = ET.SubElement(user_style, "se:FeatureTypeStyle")
    for rule in _flat_rules(rules):
        if rule.symbol is None:
            raise ValueError(f"rule {rule.label!r} has no symbol: SLD is written for rules with symbols only")
        element = ET.SubElement(feature_style, "se:Rule")
        ET.SubElement(element, "se:Name").text = rule.label
        description = ET.SubElement(element, "se:Description")
        ET.SubElement(description, "se:Title").text = rule.label
        if rule.filter.otherwise:
            ET.SubElement(element, "se:ElseFilter")
        elif rule.filter.terms:
            element.append(_ogc_filter(rule.filter))
        element.append(_sld_symbolizer(rule.symbol))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _flat_rules(rules: Iterable[Rule], terms: tuple[tuple[str, str, object], ...] = ()) -> list[Rule]:
    """Rules and their nested rules in drawing order, each child's filter ANDed with its parents' terms."""
    flat = []
    for rule in rules:
        own = terms + rule.filter.terms
        flat.append(replace(rule, filter=replace(rule.filter, terms=own), children=()))
        flat += _flat_rules(rule.children, own)
    return flat


def _key(text: str) -> str:
    """A rule key as QGIS writes them ({uuid}), derived from ``text`` so output is reproducible."""
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"residua:{text}")) + "}"


def _qgis_literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return f"'{value}'" if isinstance(value, str) else str(value)


def _rgba(colour: str | None, opacity: float = 1.0) -> str:
    if colour is None:
        return "0,0,0,0"
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"{red},{green},{blue},{round(255 * opacity)}"


def _qml_symbol(name: str, symbol: Symbol) -> ET.Element:
    kind = "fill" if symbol.kind == "centroid" else symbol.kind
    element = ET.Element("symbol", {"type": kind, "name": name, "alpha": "1", "clip_to_extent": "1",
                                    "force_rhr": "0"})  # fmt: skip
    if symbol.kind == "line":
        layer_class = "SimpleLine"
        props = {
            "line_color": _rgba(symbol.stroke, symbol.opacity), "line_style": symbol.dash,
            "line_width": f"{symbol.stroke_width:g}", "line_width_unit": "MM", "capstyle": "round",
            "joinstyle": "round", "offset": "0", "offset_unit": "MM", "use_custom_dash": "0",
        }  # fmt: skip
    elif symbol.kind == "fill":
        layer_class = "SimpleFill"
        props = {
            "color": _rgba(symbol.fill, symbol.opacity), "style": "solid" if symbol.fill else "no",
            "outline_color": _rgba(symbol.stroke), "outline_style": symbol.dash if symbol.stroke else "no",
            "outline_width": f"{symbol.stroke_width:g}", "outline_width_unit": "MM", "joinstyle": "bevel",
            "offset": "0,0", "offset_unit": "MM",
        }  # fmt: skip
    elif symbol.kind == "centroid":  # one marker at the centroid of each part (the point on surface if outside)
        layer_class = "CentroidFill"
        props = {"point_on_surface": "1", "point_on_all_parts": "0", "clip_points": "0",
                 "clip_on_current_part_only": "0"}  # fmt: skip
    else:
        layer_class = "SimpleMarker"
        props = _marker_props(symbol)
    layer = ET.SubElement(element, "layer", {"class": layer_class, "enabled": "1", "locked": "0", "pass": "0"})
    # QGIS >= 3.26 reads the Option map, older 3.x the <prop> list; both carry the same values.
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in props.items():
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    for key, value in props.items():
        ET.SubElement(layer, "prop", {"k": key, "v": value})
    if symbol.kind == "centroid":
        marker = replace(symbol, kind="marker")
        layer.append(_qml_symbol(f"@{name}@0", marker))
    return element


def _marker_props(symbol: Symbol) -> dict[str, str]:
    return {
        "name": symbol.shape, "color": _rgba(symbol.fill, symbol.opacity), "outline_color": _rgba(symbol.stroke),
        "outline_style": "solid" if symbol.stroke else "no", "outline_width": f"{symbol.stroke_width:g}",
        "outline_width_unit": "MM", "size": f"{symbol.size:g}", "size_unit": "MM", "angle": "0",
        "offset": "0,0", "offset_unit": "MM", "joinstyle": "bevel", "scale_method": "diameter",
        "horizontal_anchor_point": "1", "vertical_anchor_point": "1",
    }  # fmt: skip


def _ogc_filter(rule_filter: Filter) -> ET.Element:
    names = {"=": "PropertyIsEqualTo", ">=": "PropertyIsGreaterThanOrEqualTo", "<=": "PropertyIsLessThanOrEqualTo",
             "<": "PropertyIsLessThan"}  # fmt: skip
    element = ET.Element("ogc:Filter")
    parent = ET.SubElement(element, "ogc:And") if len(rule_filter.terms) > 1 else element
    for column, op, value in rule_filter.terms:
        comparison = ET.SubElement(parent, f"ogc:{names[op]}")
        ET.SubElement(comparison, "ogc:PropertyName").text = column
        ET.SubElement(comparison, "ogc:Literal").text = str(value).lower() if isinstance(value, bool) else str(value)
    return element


def _sld_symbolizer(symbol: Symbol) -> ET.Element:
    if symbol.kind == "line":
        element = ET.Element("se:LineSymbolizer")
        _sld_stroke(element, symbol)
        return element
    if symbol.kind == "fill":
        element = ET.Element("se:PolygonSymbolizer")
        if symbol.fill:
            _sld_fill(element, symbol.fill, symbol.opacity)
        if symbol.stroke:
            _sld_stroke(element, symbol)
        return element
    element = ET.Element("se:PointSymbolizer")
    graphic = ET.SubElement(element, "se:Graphic")
    mark = ET.SubElement(graphic, "se:Mark")
    well_known = {"circle": "circle", "cross2": "x", "triangle": "triangle", "star": "star"}[symbol.shape]
    ET.SubElement(mark, "se:WellKnownName").text = well_known
    if symbol.fill:
        _sld_fill(mark, symbol.fill, symbol.opacity)
    if symbol.stroke:
        _sld_stroke(mark, symbol)
    # SE sizes are pixels (PX_PER_MM, as QGIS's own SLD export converts them).
    ET.SubElement(graphic, "se:Size").text = f"{symbol.size * PX_PER_MM:.1f}"
    return element


def _sld_fill(parent: ET.Element, colour: str, opacity: float) -> None:
    fill = ET.SubElement(parent, "se:Fill")
    _parameter(fill, "fill", colour)
    if opacity < 1:
        _parameter(fill, "fill-opacity", f"{opacity:g}")


def _sld_stroke(parent: ET.Element, symbol: Symbol) -> None:
    stroke = ET.SubElement(parent, "se:Stroke")
    _parameter(stroke, "stroke", symbol.stroke or "")
    _parameter(stroke, "stroke-width", f"{symbol.stroke_width * PX_PER_MM:.1f}")
    if symbol.kind == "line" and symbol.opacity < 1:
        _parameter(stroke, "stroke-opacity", f"{symbol.opacity:g}")
    if symbol.sld_dasharray:
        _parameter(stroke, "stroke-dasharray", symbol.sld_dasharray)


def _parameter(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "se:SvgParameter", {"name": name}).text = value
