"""Report pieces without Snakemake: benchmarks, time series, tables, run info (the Dask
pages, from a real cluster's reports: tests/integration/test_report_figures_cluster.py).

(Named test_report_figures.py: tests/workflow/test_report.py holds the end-to-end test,
and two test modules with one basename break pytest's default import mode.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rasterflow import report
from rasterflow.errors import InputDataError

_TSV_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path, seconds, rss):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_TSV_HEADER + f"{seconds}\t0:00:03\t{rss}\t1\t1\t1\t0\t0\t50\t1\n")


def test_read_benchmarks_names_jobs_and_rules(tmp_path):
    _bench(tmp_path / "terrain.tsv", 3.5, 250.0)
    _bench(tmp_path / "zonal" / "NDVI" / "2024-JJA.tsv", 1.25, 300.5)
    _bench(tmp_path / "zonal" / "slope" / "static.tsv", 2.0, 100.0)
    jobs = report.read_benchmarks(tmp_path)
    assert [(j.job, j.rule, j.seconds, j.max_rss_mb) for j in jobs] == [
        ("terrain", "terrain", 3.5, 250.0),
        ("zonal/NDVI/2024-JJA", "zonal", 1.25, 300.5),
        ("zonal/slope/static", "zonal", 2.0, 100.0),
    ]
    rules = report.per_rule(jobs)
    assert [(r.rule, r.seconds, r.max_rss_mb) for r in rules] == [
        ("terrain", 3.5, 250.0),
        ("zonal", 3.25, 300.5),
    ]


def test_missing_memory_reads_as_zero_and_bad_tsv_names_the_file(tmp_path):
    (tmp_path / "a.tsv").write_text(_TSV_HEADER + "1.0\t0:00:01\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    assert report.read_benchmarks(tmp_path)[0].max_rss_mb == 0.0
    (tmp_path / "b.tsv").write_text("not\ta benchmark\n")
    with pytest.raises(InputDataError, match="b.tsv"):
        report.read_benchmarks(tmp_path)


def test_benchmark_chart_one_bar_per_job_or_per_rule(tmp_path, monkeypatch):
    for i in range(5):
        _bench(tmp_path / "b" / "index" / f"s{i}.tsv", i + 1, 100 + i)
    jobs = report.read_benchmarks(tmp_path / "b")
    few = Image.open(report.plot_benchmarks(jobs, tmp_path / "few.png"))
    monkeypatch.setattr(report, "MAX_JOB_BARS", 2)
    many = Image.open(report.plot_benchmarks(jobs, tmp_path / "many.png"))
    assert few.size[1] > many.size[1]  # five rows of bars, then one
    with pytest.raises(InputDataError, match="no benchmark"):
        report.plot_benchmarks([], tmp_path / "none.png")


def _long_table():
    rows = []
    for zone in (1, 2):
        for period, value in (("2024-JJA", 0.6), ("2024-MAM", 0.2), ("static", 9.0)):
            rows.append(
                {
                    "zone_id": zone,
                    "product": "slope" if period == "static" else "NDVI",
                    "period": period,
                    "median": value + zone,
                    "p10": value,
                    "p90": value + 2,
                }
            )
    return pd.DataFrame(rows)


def test_time_series_are_in_time_order_without_static_products():
    table = report.time_series_table(
        _long_table(), id_column="zone_id", period_order=["2024-MAM", "2024-JJA"]
    )
    assert list(table["product"].unique()) == ["NDVI"]
    assert list(table["period"].astype(str)) == ["2024-MAM", "2024-JJA"] * 2
    with pytest.raises(InputDataError, match="field_id"):
        report.time_series_table(_long_table(), id_column="field_id", period_order=[])


def test_time_series_plot_is_written(tmp_path):
    png = tmp_path / "ts.png"
    choices = report.plot_time_series(
        _long_table(), png, id_column="zone_id", period_order=["2024-MAM", "2024-JJA"]
    )
    assert choices["NDVI"].shown == [1, 2]
    rgba = np.asarray(Image.open(png).convert("RGBA"))
    assert rgba.shape[0] > 200 and (rgba[..., :3] < 200).any()


def _sparse_table():
    """12 zones, two periods; only zones 9, 10 and 12 have data (as countries outside
    the scenes: the first ids are empty). Zone 12 is the largest, then 9."""
    rows = []
    sizes = {9: 300.0, 10: 40.0, 12: 900.0}
    for zone in range(1, 13):
        for period in ("2024-MAM", "2024-JJA"):
            has = zone in sizes and not (zone == 10 and period == "2024-MAM")
            rows.append(
                {
                    "zone_id": zone,
                    "product": "NDVI",
                    "period": period,
                    "count": sizes.get(zone, 0.0) if has else 0.0,
                    "median": 0.1 * zone if has else np.nan,
                    "p10": 0.0 if has else np.nan,
                    "p90": 1.0 if has else np.nan,
                }
            )
    return pd.DataFrame(rows)


def test_time_series_show_the_zones_with_data_when_the_first_ids_are_empty(tmp_path):
    choices = report.plot_time_series(
        _sparse_table(),
        tmp_path / "ts.png",
        id_column="zone_id",
        period_order=["2024-MAM", "2024-JJA"],
    )
    choice = choices["NDVI"]
    assert choice.shown == [12, 9, 10]  # largest first (valid pixels over the periods)
    assert (choice.with_data, choice.total) == (3, 12)
    assert choice.describe() == (
        "3 of 3 zones with data shown (largest first); 9 of 12 have no data"
    )
    capped = report.choose_zones(
        _sparse_table(), id_column="zone_id", statistic="median", max_zones=2
    )
    assert capped.shown == [12, 9] and capped.describe().startswith("2 of 3 zones")


def test_time_series_zones_as_configured_ids_matched_as_text():
    choice = report.choose_zones(
        _sparse_table(), id_column="zone_id", statistic="median", zones=["10", 3, 9]
    )
    assert choice.shown == [10, 9]  # in the configured order; zone 3 has no data
    assert choice.missing == [3]
    assert choice.describe().endswith("no data for configured 3")
    assert "as configured" in choice.describe()


def test_zone_colours_are_distinct():
    for n in (3, 10, 11, 20):
        colours = report.zone_colours(n)
        assert len(set(colours)) == n  # zones 1 and 11 were the same blue


def test_time_series_panel_without_any_zone_data_is_drawn(tmp_path):
    empty = _sparse_table().assign(median=np.nan)
    choices = report.plot_time_series(
        empty, tmp_path / "ts.png", id_column="zone_id", period_order=["2024-MAM", "2024-JJA"]
    )
    assert choices["NDVI"].shown == [] and choices["NDVI"].with_data == 0
    assert (tmp_path / "ts.png").stat().st_size > 1000


def test_zonal_table_page_keeps_attributes_and_drops_geometry(tmp_path):
    table = pd.DataFrame(
        {
            "zone_id": [1, 2],
            "name": ["field <a>", "b"],
            "mean": [0.123456, 2.0],
            "geometry": [b"\x01", b"\x02"],
        }
    )
    table.to_parquet(tmp_path / "t.parquet")
    page = report.zonal_table_page(
        tmp_path / "t.parquet", tmp_path / "t.html", title="NDVI"
    ).read_text()
    assert "<th>name</th>" in page and "field &lt;a&gt;" in page and "0.1235" in page
    assert "geometry" not in page


def test_run_summary_lists_rules_and_products_by_folder(tmp_path):
    _bench(tmp_path / "b" / "index" / "s1.tsv", 2.0, 100.0)
    _bench(tmp_path / "b" / "index" / "s2.tsv", 3.0, 150.0)
    _bench(tmp_path / "b" / "terrain.tsv", 7.5, 300.0)
    jobs = report.read_benchmarks(tmp_path / "b")
    products = report.group_products(
        [
            "res/mosaics/2024-JJA/NDVI.tif",
            "res/terrain/slope.tif",
            "res/terrain/aspect.tif",
            "res/terrain/slope.tif",
            "elsewhere/x.tif",
        ],
        results="res",
    )
    assert products == {
        "mosaics": ["res/mosaics/2024-JJA/NDVI.tif"],
        "terrain": ["res/terrain/slope.tif", "res/terrain/aspect.tif"],
        "other": ["elsewhere/x.tif"],
    }
    page = report.run_summary_page(
        tmp_path / "s.html", jobs=jobs, products=products, results="res"
    ).read_text()
    assert "3 jobs with a benchmark, 12 s of job time in total" in page
    assert "the longest: <code>terrain</code>, 7.5 s" in page
    assert "<td style='text-align:left'>index</td><td>2</td><td>5.0</td><td>150</td>" in page
    assert "<th style='text-align:left'>Terrain products</th><td>2</td>" in page
    assert "<code>res/terrain/aspect.tif</code>" in page


def test_run_info_page_lists_config_and_versions(tmp_path):
    page = report.run_info_page(
        tmp_path / "info.html",
        config={"zonal": {"id_column": "zone_id"}, "indices": ["NDVI"]},
        versions={"snakemake": "9.1"},
        configfiles=["my.yaml"],
    ).read_text()
    assert "<th>snakemake</th><td>9.1</td>" in page
    assert "id_column: zone_id" in page and "<code>my.yaml</code>" in page
