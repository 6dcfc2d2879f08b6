"""Scene files over HTTP from a real nginx and in S3 from moto's server, on loopback:
windows by range requests."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import pytest
import rasterio
from helpers import DATA
from servers import nginx

from rasterflow.errors import InputDataError
from rasterflow.io import close_cached
from rasterflow.remote import use_http_options
from rasterflow.scenes import BandFile, Scene, check_headers, load_scenes, read_window, scene_grid


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    (root / "scenes").mkdir(parents=True)
    shutil.copy(DATA / "rgbn.tif", root / "scenes" / "rgbn.tif")
    use_http_options()
    with nginx(root, tmp_path / "nginx") as server:
        yield server
    close_cached()


def _scene(path):
    return Scene("s1", dt.date(2020, 7, 1), {"red": BandFile(path, 1), "nir": BandFile(path, 4)})


def test_a_window_of_a_served_scene_is_read_by_ranges_as_from_disk(served):
    url = f"{served.url}/scenes/rgbn.tif"
    scene = _scene(url)
    grid = scene_grid(scene, ["red", "nir"])
    (red, nir), _valid = read_window(
        scene, ["red", "nir"], grid, (64, 128, 64, 64), resampling="bilinear"
    )
    with rasterio.open(DATA / "rgbn.tif") as src:
        want = src.read([1, 4], window=((128, 192), (64, 128)))
    np.testing.assert_array_equal(np.stack([red, nir]), want)
    gets = [r for r in served.requests() if r[0] == "GET" and r[1] == "/scenes/rgbn.tif"]
    assert gets and all(
        status == 206 and rng.startswith("bytes=") for _m, _p, status, rng, _n in gets
    ), gets
    size = (DATA / "rgbn.tif").stat().st_size
    # the header and the window's blocks, not the file
    assert sum(n for *_rest, n in gets) < size / 4


def test_a_missing_url_is_refused_naming_scene_and_url(served, tmp_path):
    sheet = tmp_path / "scenes.csv"
    sheet.write_text(
        f"scene_id,date,path\nok,2020-07-01,{served.url}/scenes/rgbn.tif\n"
        f"gone,2020-07-02,{served.url}/scenes/gone.tif\n"
    )
    scenes = load_scenes(sheet, bands={"red": {"band": 1}, "nir": {"band": 4}}, mask=None)
    assert scenes["ok"].bands["red"].path == f"{served.url}/scenes/rgbn.tif"
    with pytest.raises(InputDataError) as err:
        check_headers(scenes)
    message = str(err.value)
    assert message.startswith(
        f"scene 'gone': {served.url}/scenes/gone.tif cannot be read over HTTP ("
    )
    assert "Check the URL in the scene sheet" in message


def test_a_window_of_a_scene_in_s3_is_read_as_from_disk(tmp_path, monkeypatch):
    from servers import moto_s3

    with moto_s3(tmp_path / "moto") as s3:
        for key, value in s3.env.items():
            monkeypatch.setenv(key, value)
        url = s3.put("scenes", "aerial/rgbn.tif", (DATA / "rgbn.tif").read_bytes())
        scene = _scene(url)
        grid = scene_grid(scene, ["red", "nir"])
        (red, nir), _valid = read_window(
            scene, ["red", "nir"], grid, (64, 128, 64, 64), resampling="bilinear"
        )
        close_cached()
        gone = _scene("s3://scenes/aerial/gone.tif")
        with pytest.raises(
            InputDataError,
            match=r"s3://scenes/aerial/gone.tif cannot be "
            r"read from S3 \(.*AWS_S3_ENDPOINT",
        ):
            check_headers({"gone": gone})
    with rasterio.open(DATA / "rgbn.tif") as src:
        want = src.read([1, 4], window=((128, 192), (64, 128)))
    np.testing.assert_array_equal(np.stack([red, nir]), want)


def test_a_busy_server_s_503s_are_retried_to_the_same_pixels(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    shutil.copy(DATA / "rgbn.tif", root / "rgbn.tif")
    use_http_options()
    with nginx(root, tmp_path / "nginx", busy_above=1) as server:
        scene = _scene(f"{server.url}/rgbn.tif")
        grid = scene_grid(scene, ["red", "nir"])
        reads = [
            read_window(scene, ["red", "nir"], grid, (x, y, 64, 64), resampling="bilinear")[0]
            for x, y in ((0, 0), (256, 128), (448, 320))
        ]
        close_cached()
        statuses = [status for _m, _p, status, _r, _n in server.requests()]
    assert 503 in statuses  # refused at first, then served: the pixels below
    with rasterio.open(DATA / "rgbn.tif") as src:
        for (x, y), (red, nir) in zip(((0, 0), (256, 128), (448, 320)), reads, strict=True):
            want = src.read([1, 4], window=((y, y + 64), (x, x + 64)))
            np.testing.assert_array_equal(np.stack([red, nir]), want)


def test_a_download_resumes_its_part_and_rides_out_a_busy_server(tmp_path):
    from rasterflow.remote import download

    root = tmp_path / "www"
    root.mkdir()
    data = (DATA / "rgbn.tif").read_bytes()
    (root / "rgbn.tif").write_bytes(data)
    dest = tmp_path / "copy" / "rgbn.tif"
    dest.parent.mkdir()
    (tmp_path / "copy" / "rgbn.tif.part").write_bytes(data[:100_000])  # an interrupted copy
    with nginx(root, tmp_path / "nginx", busy_above=1) as server:
        download(f"{server.url}/rgbn.tif", str(dest))
        # a second file at once: the server is busy, and answers 503 first
        download(f"{server.url}/rgbn.tif", str(tmp_path / "copy" / "again.tif"))
        requests = server.requests()
    assert dest.read_bytes() == data and (tmp_path / "copy" / "again.tif").read_bytes() == data
    assert not list((tmp_path / "copy").glob("*.part"))
    served = [r for r in requests if r[2] != 503]
    assert served[0][2:4] == (206, "bytes=100000-")  # only the missing bytes
    assert 503 in [r[2] for r in requests]


def test_a_download_of_a_missing_file_names_url_and_status(tmp_path):
    from rasterflow.remote import download

    (tmp_path / "www").mkdir()
    with nginx(tmp_path / "www", tmp_path / "nginx") as server:
        with pytest.raises(InputDataError, match=r"/gone.tif: the server answers HTTP 404"):
            download(f"{server.url}/gone.tif", str(tmp_path / "gone.tif"))
    assert not (tmp_path / "gone.tif").exists()


def test_an_s3_object_is_staged_byte_for_byte_or_not_at_all(tmp_path, monkeypatch):
    from servers import moto_s3

    from rasterflow.remote import download

    data = (DATA / "rgbn.tif").read_bytes()
    copy = tmp_path / "copy"
    with moto_s3(tmp_path / "moto") as s3:
        for key, value in s3.env.items():
            monkeypatch.setenv(key, value)
        url = s3.put("scenes", "aerial/rgbn.tif", data)
        download(url, str(copy / "rgbn.tif"))
        with pytest.raises(
            InputDataError,
            match=r"s3://scenes/aerial/gone.tif: not copied "
            r"from S3 \(.*AWS_S3_ENDPOINT",
        ):
            download("s3://scenes/aerial/gone.tif", str(copy / "gone.tif"))
    assert (copy / "rgbn.tif").read_bytes() == data
    assert sorted(p.name for p in copy.iterdir()) == ["rgbn.tif"]  # no part, no side-car


@pytest.mark.parametrize("resets", [1, 2])
def test_a_connection_reset_mid_transfer_costs_a_retry_not_the_read(tmp_path, resets):
    """The server cuts its first responses short; GDAL alone would fail the read (and
    keep the short body cached): rasterflow drops GDAL's cache of the URL and reads again."""
    from servers import flaky_http

    from rasterflow.remote import READ_ATTEMPTS

    assert resets < READ_ATTEMPTS
    use_http_options()
    with flaky_http(DATA / "rgbn.tif", resets=resets) as server:
        scene = _scene(server.url)
        grid = scene_grid(scene, ["red", "nir"])
        (red, nir), _valid = read_window(
            scene, ["red", "nir"], grid, (0, 0, 256, 256), resampling="bilinear"
        )
        close_cached()
    with rasterio.open(DATA / "rgbn.tif") as src:
        want = src.read([1, 4], window=((0, 256), (0, 256)))
    np.testing.assert_array_equal(np.stack([red, nir]), want)
    assert len(server.resets) == resets  # it was cut, and read again
    assert len(server.requests) > 1 + resets


def test_a_server_that_keeps_cutting_fails_the_read(tmp_path, caplog):
    from servers import flaky_http

    from rasterflow.remote import READ_ATTEMPTS

    use_http_options()
    with flaky_http(DATA / "rgbn.tif", resets=10**6) as server:
        scene = _scene(server.url)
        grid = scene_grid(scene, ["red", "nir"])
        with pytest.raises(rasterio.errors.RasterioIOError):
            read_window(scene, ["red", "nir"], grid, (64, 128, 64, 64), resampling="bilinear")
        close_cached()
    retries = [r for r in caplog.records if r.name == "rasterflow.io" and "attempt" in r.message]
    assert len(retries) == READ_ATTEMPTS - 1  # then it gives up, with GDAL's error
    assert server.resets


def test_a_remote_scene_warped_to_another_crs_reads_as_from_disk(tmp_path):
    """A window in another CRS goes through GDAL's warper (rasterio.reproject), which
    takes rasterio's own dataset: the retrying handle gives it that."""
    from odc.geo.geobox import GeoBox
    from servers import flaky_http

    use_http_options()
    local = _scene(str(DATA / "rgbn.tif"))
    grid = scene_grid(local, ["red", "nir"])
    other = GeoBox.from_bbox(grid.geographic_extent.boundingbox, "EPSG:4326", shape=(64, 80))
    want, _ = read_window(local, ["red", "nir"], other, (0, 0, 80, 64), resampling="bilinear")
    close_cached()
    with flaky_http(DATA / "rgbn.tif", resets=0) as server:
        got, _ = read_window(
            _scene(server.url), ["red", "nir"], other, (0, 0, 80, 64), resampling="bilinear"
        )
        close_cached()
    np.testing.assert_array_equal(np.stack(got), np.stack(want))
    assert np.isfinite(np.stack(got)).mean() > 0.5
