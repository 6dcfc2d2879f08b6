# Configuration, the scene table, and input functions shared by every stage.
import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from rasterflow import demo
from rasterflow import indices as rf_indices
from rasterflow import scenes as rf_scenes
from rasterflow.errors import RasterflowError

validate(config, "../config/schema.yaml")

RESULTS = config["results"].rstrip("/")
DEMO_ROOT = f"{RESULTS}/demo"


def _load_scenes():
    scfg = config["scenes"]
    if config["demo"]:
        listing, exists = rf_scenes.planned_listing(
            f"{DEMO_ROOT}/{f}" for f in demo.planned_files()
        )
        return rf_scenes.load_scenes(
            f"{DEMO_ROOT}/scenes.csv",
            text=demo.sheet_text(),
            bands=scfg["bands"],
            mask=scfg["mask"],
            listing=listing,
            exists=exists,
        )
    if not scfg["sheet"]:
        raise rf_scenes.ConfigError(
            "scenes.sheet is empty: set it to your scene sheet CSV, or set demo: true"
        )
    return rf_scenes.load_scenes(scfg["sheet"], bands=scfg["bands"], mask=scfg["mask"])


try:
    SCENES = _load_scenes()
    INDICES = rf_indices.resolve(
        config["indices"],
        config["custom_indices"],
        roles=set(config["scenes"]["bands"]),
    )
except RasterflowError as exc:
    raise WorkflowError(str(exc)) from None


wildcard_constraints:
    scene="|".join(map(re.escape, SCENES)),
    index="|".join(map(re.escape, INDICES)),


def get_scene_files(wildcards):
    """Input files of one index of one scene: only the bands its expression uses."""
    return SCENES[wildcards.scene].files(INDICES[wildcards.index].roles)


def get_scene_params(wildcards):
    return SCENES[wildcards.scene].subset(INDICES[wildcards.index].roles).to_params()


def get_expression(wildcards):
    return INDICES[wildcards.index].text


def index_outputs():
    return expand(
        f"{RESULTS}/indices/{{scene}}/{{index}}.tif", scene=SCENES, index=INDICES
    )


def get_final_outputs():
    return index_outputs()
