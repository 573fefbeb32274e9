"""Readers load rows as written and raise only for whole-file problems, naming the file."""

from __future__ import annotations

import geopandas as gpd
import numpy.testing as npt
import pyproj
import pytest
import shapely

from residua.geodata.errors import CRSError, DataDropError, MissingColumnError
from residua.geodata.readers import read_samples, read_sites
from tests.geodata.helpers import E0, N0, UTM44, square, to_lonlat

SQUARE_WKT = "POLYGON ((499900 2299900, 500100 2299900, 500100 2300100, 499900 2300100, 499900 2299900))"


@pytest.fixture
def sites_frame() -> gpd.GeoDataFrame:
    """Two sites in lon/lat, with column names in mixed case as users write them."""
    return gpd.GeoDataFrame(
        {"Site_ID": ["S1", "S2"], "Name": ["Pond 1", "Pond 2"], "Residue_Type": ["Red mud", "fly ash"]},
        geometry=[to_lonlat(square(E0, N0, 100)), to_lonlat(square(E0 + 1000, N0, 100))],
        crs="EPSG:4326",
    )


@pytest.mark.parametrize("name", ["sites.gpkg", "sites.geojson"])
def test_read_sites_vector_files(tmp_path, sites_frame, name):
    path = tmp_path / name
    sites_frame.to_file(path, engine="pyogrio")
    sites = read_sites(path)
    assert sites["site_id"].tolist() == ["S1", "S2"]  # columns lower-cased
    assert sites["residue_type"].tolist() == ["Red mud", "fly ash"]  # values as written
    assert sites["source_row"].tolist() == [1, 2]  # feature numbers
    assert sites.crs == "EPSG:4326"
    assert sites.geometry.iloc[0].equals_exact(sites_frame.geometry.iloc[0], tolerance=1e-9)


def test_read_sites_keeps_file_crs(tmp_path):
    path = tmp_path / "sites.gpkg"
    frame = gpd.GeoDataFrame({"site_id": ["S1"], "name": ["a"], "residue_type": ["jarosite"]},
                             geometry=[square(E0, N0, 100)], crs=UTM44)  # fmt: skip
    frame.to_file(path, engine="pyogrio")
    sites = read_sites(path)
    assert sites.crs == UTM44
    npt.assert_allclose(sites.geometry.iloc[0].area, 40_000.0)


@pytest.mark.filterwarnings("ignore:Normalized/laundered field name")
def test_read_sites_shapefile(tmp_path, sites_frame):
    path = tmp_path / "sites.shp"
    with pytest.warns(UserWarning):  # pyogrio warns that long names are truncated
        sites_frame.to_file(path, engine="pyogrio")
    sites = read_sites(path)
    assert sites["residue_type"].tolist() == ["Red mud", "fly ash"]


def test_read_sites_shapefile_without_prj_is_crs_error(tmp_path):
    path = tmp_path / "sites.shp"
    frame = gpd.GeoDataFrame({"site_id": ["S1"], "name": ["a"]}, geometry=[square(E0, N0, 100)])  # no CRS
    with pytest.warns(UserWarning, match="crs"):
        frame.to_file(path, engine="pyogrio")
    with pytest.raises(CRSError, match="no coordinate reference system") as caught:
        read_sites(path)
    assert caught.value.path == path


def test_read_sites_csv_with_wkt_and_crs_column(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(f'site_id,name,residue_type,WKT,crs\nS1,Pond 1,red mud,"{SQUARE_WKT}",EPSG:32644\n')
    sites = read_sites(path)
    assert sites.crs == UTM44
    assert sites["site_id"].tolist() == ["S1"]
    assert "wkt" not in sites.columns  # the WKT column became the geometry
    assert sites.geometry.iloc[0].equals(square(E0, N0, 100))
    assert sites["source_row"].tolist() == [2]  # CSV: line number, the header is line 1


def test_read_sites_csv_wkt_without_crs_column_is_lonlat(tmp_path):
    path = tmp_path / "sites.csv"
    wkt = "POLYGON ((81 20, 81.01 20, 81.01 20.01, 81 20))"
    path.write_text(f'site_id,name,residue_type,geometry\nS1,a,red mud,"{wkt}"\n')
    assert read_sites(path).crs == "EPSG:4326"


def test_read_sites_csv_unreadable_wkt_becomes_none(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("site_id,name,residue_type,wkt\nS1,a,red mud,not a polygon\nS2,b,red mud,\n")
    sites = read_sites(path)
    assert sites.geometry.isna().tolist() == [True, True]  # left for the validator to quarantine


@pytest.mark.parametrize(
    "header",
    [
        "site_id,name,residue_type,lon,lat",
        "site_id,name,residue_type,Longitude,Latitude",  # long spellings, capitalised
        "site_id,name,residue_type,lng,lat",
    ],
)
def test_read_sites_csv_with_lon_lat_gives_points(tmp_path, header):
    path = tmp_path / "sites.csv"
    path.write_text(f"{header}\nS1,Ash pond,fly ash,81.5,20.25\n")
    sites = read_sites(path)
    assert sites.crs == "EPSG:4326"
    assert sites.geometry.iloc[0].equals(shapely.Point(81.5, 20.25))


def test_read_sites_csv_mixing_crs_is_crs_error(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(f'site_id,name,residue_type,wkt,crs\nS1,a,red mud,"{SQUARE_WKT}",EPSG:32644\n'
                    f'S2,b,red mud,"{SQUARE_WKT}",EPSG:32643\n')  # fmt: skip
    with pytest.raises(CRSError, match="mixes several CRSs"):
        read_sites(path)


@pytest.mark.parametrize("missing", ["site_id", "name", "residue_type"])
def test_read_sites_missing_required_column_names_file_and_column(tmp_path, missing):
    columns = [column for column in ("site_id", "name", "residue_type") if column != missing]
    frame = gpd.GeoDataFrame({column: ["x"] for column in columns}, geometry=[square(E0, N0, 100)], crs=UTM44)
    path = tmp_path / "sites.gpkg"
    frame.to_file(path, engine="pyogrio")
    with pytest.raises(MissingColumnError) as caught:
        read_sites(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)
    assert f"missing required column(s) {missing}" in str(caught.value)


def test_read_sites_csv_without_geometry_column(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("site_id,name,residue_type\nS1,a,red mud\n")
    with pytest.raises(MissingColumnError, match="no geometry column") as caught:
        read_sites(path)
    assert caught.value.path == path


def test_read_sites_geopackage_without_crs_is_crs_error(tmp_path, sites_frame):
    path = tmp_path / "sites.gpkg"
    with pytest.warns(UserWarning, match="crs"):
        sites_frame.set_crs(None, allow_override=True).to_file(path, engine="pyogrio")
    with pytest.raises(CRSError, match="no coordinate reference system") as caught:
        read_sites(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "name, content",
    [
        ("sites.csv", b""),  # empty CSV
        ("sites.csv", bytes(range(256)) * 4),  # binary garbage, not UTF-8
        ("sites.gpkg", bytes(range(256)) * 4),  # garbage with a GeoPackage name
        ("sites.geojson", b"{not json at all"),
        ("sites.shp", b"\x00" * 64),  # a truncated shapefile
    ],
)
def test_read_sites_unreadable_file_is_data_drop_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataDropError) as caught:
        read_sites(path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_read_sites_header_only_csv_has_no_rows(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("site_id,name,residue_type,wkt\n")
    with pytest.raises(DataDropError, match="has no rows"):
        read_sites(path)


def test_read_samples_source_row_is_line_number_after_blank_line(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("sample_id,lon,lat,ga_ppm\nS1,81,20,1\n\nS2,81,20,2\n")  # S2 is on line 4
    assert read_samples(path)["source_row"].tolist() == [2, 4]


def test_read_samples_keeps_cells_as_text(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("sample_id,lon,lat,ga_ppm,te_ppb\nS1,81.0,20.8,<0.5,\nS2,81.0,20.8,0012,250\n")
    samples = read_samples(path)
    assert samples["ga_ppm"].tolist() == ["<0.5", "0012"]  # not coerced to numbers
    assert samples["te_ppb"].tolist() == ["", "250"]  # blank stays blank, not NaN
    assert samples["source_row"].tolist() == [2, 3]


@pytest.mark.parametrize(
    "header",
    [
        "sample_id,longitude,latitude,ga_ppm",
        "sample_id,Longitude,Latitude,ga_ppm",
        "sample_id,long,lat,ga_ppm",
    ],
)
def test_read_samples_accepts_longitude_latitude_spellings(tmp_path, header):
    path = tmp_path / "samples.csv"
    path.write_text(f"{header}\nS1,81.25,20.5,3\n")
    samples = read_samples(path)
    assert samples[["lon", "lat"]].iloc[0].tolist() == ["81.25", "20.5"]


def test_read_samples_xy_without_crs_column_is_crs_error(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("sample_id,x,y,ga_ppm\nS1,500000,2300000,3\n")
    with pytest.raises(CRSError, match="without a crs column") as caught:
        read_samples(path)
    assert caught.value.path == path


def test_read_samples_xy_with_crs_column(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("sample_id,x,y,crs,ga_ppm\nS1,500000,2300000,EPSG:32644,3\n")
    assert read_samples(path)["crs"].tolist() == ["EPSG:32644"]


def test_read_samples_without_location_columns(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("sample_id,ga_ppm\nS1,3\n")
    with pytest.raises(MissingColumnError, match="no sample locations"):
        read_samples(path)


def test_read_samples_without_sample_id(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("lon,lat,ga_ppm\n81,20,3\n")
    with pytest.raises(MissingColumnError, match="sample_id"):
        read_samples(path)


def test_read_samples_geopackage_points_become_lon_lat(tmp_path):
    path = tmp_path / "samples.gpkg"
    points = gpd.GeoDataFrame(
        {"sample_id": ["S1", "S2"], "ga_ppm": ["<0.5", "12"]},
        geometry=[shapely.Point(E0, N0), shapely.Point(E0 + 100, N0 + 200)],
        crs=UTM44,
    )
    points.to_file(path, engine="pyogrio")
    samples = read_samples(path)
    expected = pyproj.Transformer.from_crs(UTM44, "EPSG:4326", always_xy=True).transform([E0, E0 + 100], [N0, N0 + 200])
    npt.assert_allclose(samples["lon"], expected[0], atol=1e-9)
    npt.assert_allclose(samples["lat"], expected[1], atol=1e-9)
    assert samples["ga_ppm"].tolist() == ["<0.5", "12"]
    assert samples["source_row"].tolist() == [1, 2]
    assert "geometry" not in samples.columns


# --------------------------------------------------------------------------------------------
# Separators and decimal marks (European lab exports)


def _european(text: str) -> str:
    """A comma-separated prism samples file as a European spreadsheet saves it: ';' and decimal commas."""
    import io

    import pandas as pd

    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    for column in ("depth_from_m", "depth_to_m", "ga_ppm", "longitude", "latitude", "x", "y"):
        table[column] = table[column].str.replace(".", ",", regex=False)
    return table.to_csv(index=False, sep=";")


def test_semicolon_file_with_decimal_commas_reads_like_the_comma_file(tmp_path):
    import pandas as pd

    from tests.drops import write_prism_drop

    root = write_prism_drop(tmp_path / "drop")
    plain = read_samples(root / "samples.csv")
    (tmp_path / "samples.csv").write_text(_european((root / "samples.csv").read_text()))
    european = read_samples(tmp_path / "samples.csv")
    for column in ("ga_ppm", "te_ppb", "longitude" if "longitude" in plain else "lon", "x", "depth_to_m"):
        pd.testing.assert_series_equal(pd.to_numeric(european[column], errors="coerce"),
                                       pd.to_numeric(plain[column], errors="coerce"))  # fmt: skip
    assert european["pt_ppb"].tolist() == plain["pt_ppb"].tolist()  # '<2' as written
    assert (european["read_problem"] == "").all()
    dialect = european.attrs["csv_dialect"]
    assert (dialect.delimiter, dialect.decimal, dialect.ambiguous) == (";", ",", 0)
    assert dialect.describe().startswith("';'-separated, decimal commas (")
    assert plain.attrs["csv_dialect"].describe() == ""  # a plain comma-separated file has nothing to say


@pytest.mark.parametrize("separator", [";", "\t"])
def test_decimal_comma_cells_are_converted_below_detection_and_grouped_too(tmp_path, separator):
    path = tmp_path / "samples.csv"
    lines = [["sample_id", "lon", "lat", "ga_ppm", "te_ppb"], ["S1", "81,25", "20,5", "12,5", "<0,5"],
             ["S2", "81,25", "20,5", "1,234", "1.234,5"], ["S3", "81", "20", "7", "8"]]  # fmt: skip
    path.write_text("".join(separator.join(line) + "\n" for line in lines))
    samples = read_samples(path)
    assert samples["ga_ppm"].tolist() == ["12.5", "1.234", "7"]  # 1,234 in a decimal-comma file is 1.234
    assert samples["te_ppb"].tolist() == ["<0.5", "1234.5", "8"]
    assert samples["lon"].tolist() == ["81.25", "81.25", "81"]
    assert samples["read_problem"].tolist() == ["", "", ""]
    assert samples.attrs["csv_dialect"].converted == 8  # lon, lat, ga and te of S1 and S2


def test_comma_separated_file_is_read_as_before(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text('sample_id,lon,lat,ga_ppm,te_ppb\nS1,81.25,20.5,"12,5",<0.5\nS2,81.25,20.5,"1,234.5",3\n')
    samples = read_samples(path)
    assert samples["ga_ppm"].tolist() == ["12,5", "1,234.5"]  # not converted: validation refuses the '12,5'
    assert samples["read_problem"].tolist() == ["", ""]
    assert samples.attrs["csv_dialect"].describe() == ""


@pytest.mark.parametrize(
    "text, problem_row, fragment",
    [
        # ',' separator and '1,234' beside a decimal comma: either reading is possible, so not read
        (
            'sample_id,lon,lat,ga_ppm\nS1,81.2,20.5,"1,234"\nS2,81.2,20.5,"12,5"\n',
            0,
            "ga_ppm '1,234' is ambiguous: a decimal comma (1.234) or a thousands separator (1234)? "
            "this comma-separated file also holds decimal commas (e.g. '12,5' (line 3, ga_ppm))",
        ),
        # ';' file whose decimals use points: a '1,234' is a thousands separator or a stray decimal comma
        (
            "sample_id;lon;lat;ga_ppm\nS1;81.2;20.5;1,234\nS2;81.2;20.5;12.5\n",
            0,
            "the ';'-separated file writes decimals with points",
        ),
        # ';' file whose decimals use commas: a '1.234' is a thousands separator or a stray decimal point
        (
            "sample_id;lon;lat;ga_ppm\nS1;81,2;20,5;12,5\nS2;81,2;20,5;1.234\n",
            1,
            "ga_ppm '1.234' is ambiguous: a decimal point (1.234) or a thousands separator (1234)? the ';'-separated "
            "file writes decimals with commas",
        ),
        # ';' file with no other decimal number: nothing tells which mark it uses
        ("sample_id;x;y;crs;ga_ppm\nS1;500000;2300000;EPSG:32644;1,234\n", 0, "no other number in the ';'-separated"),
        # ';' file mixing both marks
        ("sample_id;lon;lat;ga_ppm\nS1;81.2;20.5;12,5\nS2;81.2;20.5;1,234\n", 1, "mixes decimal commas and points"),
    ],
)
def test_ambiguous_numbers_are_not_guessed(tmp_path, text, problem_row, fragment):
    path = tmp_path / "samples.csv"
    path.write_text(text)
    samples = read_samples(path)
    problems = samples["read_problem"].tolist()
    assert fragment in problems[problem_row]
    assert [bool(problem) for problem in problems] == [position == problem_row for position in range(len(samples))]
    assert samples.attrs["csv_dialect"].ambiguous == 1
    assert "1 ambiguous cell such as" in samples.attrs["csv_dialect"].describe()


def test_thousands_in_a_comma_file_are_read_as_before_and_said(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text('sample_id,lon,lat,ga_ppm\nS1,81.2,20.5,"1,234"\nS2,81.2,20.5,12.5\n')
    samples = read_samples(path)
    assert samples["ga_ppm"].tolist() == ["1,234", "12.5"] and (samples["read_problem"] == "").all()
    assert samples.attrs["csv_dialect"].describe() == (
        "1 cell such as '1,234' (line 2, ga_ppm) read with ',' as thousands separator (1,234 = 1234); "
        "write 1.234 if a decimal was meant"
    )


def test_text_columns_are_never_converted(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("sample_id;hole_id;lon;lat;ga_ppm\n1,234;12,5;81,2;20,5;3,5\n")
    samples = read_samples(path)
    assert samples[["sample_id", "hole_id", "ga_ppm"]].iloc[0].tolist() == ["1,234", "12,5", "3.5"]


def test_semicolon_sites_csv_keeps_its_wkt_and_reads_decimal_commas(tmp_path):
    path = tmp_path / "sites.csv"
    header = "site_id;name;residue_type;reported_tonnes;crs;wkt\n"
    path.write_text(f"{header}A;Pond, east;red mud;1.500,5;EPSG:32644;{SQUARE_WKT}\n")
    sites = read_sites(path)
    assert sites["name"].tolist() == ["Pond, east"] and sites["reported_tonnes"].tolist() == ["1500.5"]
    npt.assert_allclose(sites.geometry.iloc[0].area, 200 * 200)


def test_a_workbook_whose_data_sit_on_another_sheet_is_refused_naming_the_sheet_read(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.title = "Certificate"
    workbook.active.append(["Certificate of analysis XY-2024-0613"])
    workbook.create_sheet("Assays").append(["sample_id", "site_id", "lon", "lat"])
    path = tmp_path / "samples.xlsx"
    workbook.save(path)
    with pytest.raises(MissingColumnError) as caught:
        read_samples(path)
    message = str(caught.value)
    assert "header read from sheet 'Certificate': certificate of analysis xy-2024-0613)" in message
    assert "name the sheet that holds the data 'samples'" in message
    assert "source_row" not in message and "read_problem" not in message  # Residua's own columns are not the file's


def test_a_csv_with_lines_above_its_header_is_refused_saying_the_header_goes_first(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("Certificate of analysis: XY-1\n\nsample_id,site_id,lon,lat\nA,S1,80.1,21.2\n")
    with pytest.raises(MissingColumnError, match="the header on its first line") as caught:
        read_samples(path)
    assert "(header read: certificate of analysis: xy-1)" in str(caught.value)
