"""Report pieces without Snakemake: benchmarks, time series, tables, Dask pages, run info.

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
        ("terrain", 3.5, 250.0), ("zonal", 3.25, 300.5)]


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
            rows.append({"zone_id": zone, "product": "slope" if period == "static" else "NDVI",
                         "period": period, "median": value + zone, "p10": value, "p90": value + 2})
    return pd.DataFrame(rows)


def test_time_series_are_in_time_order_without_static_products():
    table = report.time_series_table(_long_table(), id_column="zone_id",
                                     period_order=["2024-MAM", "2024-JJA"])
    assert list(table["product"].unique()) == ["NDVI"]
    assert list(table["period"].astype(str)) == ["2024-MAM", "2024-JJA"] * 2
    with pytest.raises(InputDataError, match="field_id"):
        report.time_series_table(_long_table(), id_column="field_id", period_order=[])


def test_time_series_plot_is_written(tmp_path):
    png = report.plot_time_series(_long_table(), tmp_path / "ts.png", id_column="zone_id",
                                  period_order=["2024-MAM", "2024-JJA"])
    rgba = np.asarray(Image.open(png).convert("RGBA"))
    assert rgba.shape[0] > 200 and (rgba[..., :3] < 200).any()


def test_zonal_table_page_keeps_attributes_and_drops_geometry(tmp_path):
    table = pd.DataFrame({"zone_id": [1, 2], "name": ["field <a>", "b"],
                          "mean": [0.123456, 2.0], "geometry": [b"\x01", b"\x02"]})
    table.to_parquet(tmp_path / "t.parquet")
    page = report.zonal_table_page(tmp_path / "t.parquet", tmp_path / "t.html",
                                   title="NDVI").read_text()
    assert "<th>name</th>" in page and "field &lt;a&gt;" in page and "0.1235" in page
    assert "geometry" not in page


def test_dask_reports_are_gathered_with_flat_names(tmp_path):
    logs = tmp_path / "logs"
    (logs / "composite" / "2024-JJA").mkdir(parents=True)
    (logs / "composite" / "2024-JJA" / "x000_y000.dask.html").write_text("a")
    (logs / "terrain.dask.html").write_text("b")
    (logs / "terrain.log").write_text("not a report")
    out = tmp_path / "report" / "dask"
    (logs / "gone.dask.html").write_text("an old run's")
    report.collect_dask_reports(logs, out)
    (logs / "gone.dask.html").unlink()
    report.collect_dask_reports(logs, out)  # what it wrote itself, it replaces
    assert sorted(p.name for p in out.iterdir()) == [
        ".rasterflow-files", "composite--2024-JJA--x000_y000.html", "terrain.html"]
    (out / "mine.txt").write_text("the user's")  # what it did not, it keeps
    with pytest.raises(InputDataError, match="holds mine.txt, which rasterflow did not write"):
        report.collect_dask_reports(logs, out)
    assert (out / "mine.txt").read_text() == "the user's"


def test_run_info_page_lists_config_and_versions(tmp_path):
    page = report.run_info_page(tmp_path / "info.html",
                                config={"zonal": {"id_column": "zone_id"}, "indices": ["NDVI"]},
                                versions={"snakemake": "9.1"}, configfiles=["my.yaml"]).read_text()
    assert "<th>snakemake</th><td>9.1</td>" in page
    assert "id_column: zone_id" in page and "<code>my.yaml</code>" in page
