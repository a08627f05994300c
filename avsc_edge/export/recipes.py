"""Export recipes: one JSON file per target in the repository's ``export/`` folder (installed as
``avsc_edge/recipes``). A recipe is data: target runtime, precision, calibration, engine options."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import JsonConfig
from ..errors import ConfigError

TARGETS = ("onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATION_KEYS = ("method", "clips", "split", "per_channel", "activations", "ops", "fp32_nodes", "input_convs_fp32",
                    "depthwise_fp32")


@dataclass(frozen=True)
class ExportRecipe(JsonConfig):
    name: str
    description: str
    target: str
    precision: str
    calibration: dict = field(default_factory=dict)   # CALIBRATION_KEYS
    tensorrt: dict = field(default_factory=dict)      # batch: [min, opt, max], workspace_mb, dla_core, ...

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(f"recipe {self.name}: target must be one of {TARGETS}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"recipe {self.name}: precision must be one of {PRECISIONS}")
        unknown = sorted(set(self.calibration) - set(CALIBRATION_KEYS))
        if unknown:
            raise ConfigError(f"recipe {self.name}: unknown calibration keys {unknown}; known: {list(CALIBRATION_KEYS)}")


def recipe_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent.parent
    return [here / "recipes", here.parent / "export"]


def available_recipes() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in recipe_dirs():
        for p in sorted(d.glob("*.json")) if d.is_dir() else []:
            found.setdefault(p.stem, p)
    return found


def load_recipe(name_or_path: str) -> ExportRecipe:
    """A recipe by name (``cpu-int8``) or by path to a JSON file."""
    path = Path(name_or_path)
    if not path.suffix == ".json":
        recipes = available_recipes()
        if name_or_path not in recipes:
            raise ConfigError(f"unknown recipe {name_or_path!r}; available: {', '.join(sorted(recipes))}")
        path = recipes[name_or_path]
    try:
        return ExportRecipe.from_dict(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: unreadable recipe ({exc})") from exc
