"""Render a published ``residua.qgz`` in real QGIS, as a mapping team would see it; for the README.

Run with the system Python that has QGIS's bindings (Debian's ``python3-qgis``), offscreen::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/render_qgis_project.py out docs/images

Writes ``qgis_national.png`` (the project's full extent), ``qgis_site.png`` (the footprint of
the site ranked 1, with its grade raster and samples) and ``qgis_layout.png`` (the print layout).
"""

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsCoordinateTransform,
    QgsLayoutExporter,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def render(project: QgsProject, extent, path: Path, width: int = 900, height: int = 700) -> None:
    """Render the project's checked layers over ``extent`` (project CRS) to a PNG."""
    settings = QgsMapSettings()
    settings.setLayers(project.layerTreeRoot().checkedLayers())
    settings.setDestinationCrs(project.crs())
    settings.setTransformContext(project.transformContext())
    settings.setOutputSize(QSize(width, height))
    settings.setBackgroundColor(QColor("white"))
    settings.setExtent(extent)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(path))


def main(out_dir: Path, images: Path) -> None:
    """Open ``out_dir/residua.qgz`` and write the three renders into ``images``."""
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    if not project.read(str(out_dir / "residua.qgz")):
        raise SystemExit(f"QGIS cannot open {out_dir / 'residua.qgz'}; run `make run` first")
    images.mkdir(parents=True, exist_ok=True)
    sites = next(layer for layer in project.mapLayers().values() if layer.source().endswith("layername=sites_ranked"))
    to_project = QgsCoordinateTransform(sites.crs(), project.crs(), project)
    national = to_project.transformBoundingBox(sites.extent())
    national.scale(1.15)
    render(project, national, images / "qgis_national.png")
    top = next(feature for feature in sites.getFeatures() if feature["rank"] == 1)
    site = to_project.transformBoundingBox(top.geometry().boundingBox())
    site.scale(1.6)
    render(project, site, images / "qgis_site.png")
    layout = project.layoutManager().layouts()[0]
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 110
    QgsLayoutExporter(layout).exportToImage(str(images / "qgis_layout.png"), settings)
    app.exitQgis()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
