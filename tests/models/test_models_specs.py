"""Registry entries carry the behaviour: specs, lookup, and no model-name checks elsewhere."""

import re
from pathlib import Path

import pytest

from hepc9.errors import ConfigError
from hepc9.models import (
    ESTIMATORS,
    REGISTRY,
    EstimatorSpec,
    check_method_names,
    get_spec,
    method_names,
    model_names,
    register,
    unregister,
)

PACKAGE = Path(__file__).resolve().parents[2] / "hepc9"


def test_builtin_specs_describe_their_estimators():
    assert model_names() == ("resnet3d", "deepsets", "event", "event_exact", "ratio")
    assert method_names() == ("fit", "resnet3d", "deepsets", "event", "event_exact", "ratio")
    res, ds, ev = (get_spec(n) for n in model_names()[:3])
    ratio = get_spec("ratio")
    assert (ratio.target, ratio.item_kind, ratio.per_event) == ("coefficients", "sets", True)
    assert callable(ratio.get_trainer())
    assert not ratio.needs_dataset
    assert ev.get_trainer() is None
    assert ev.needs_dataset
    assert (res.item_kind, ds.item_kind, ev.item_kind) == ("images", "sets", "sets")
    assert (res.target, ds.target, ev.target) == ("regression", "regression", "grid")
    assert ev.per_event
    assert not ds.per_event
    assert ev.input_shape((30, 4)) == (4,)
    assert ds.input_shape((30, 4)) == (30, 4)
    assert ev.build_extra({"grid": [0.0, 1.0, 2.0]}) == {"n_classes": 3}
    assert ds.build_extra({"kind": "standardized"}) == {}
    assert ds.mask_padding
    assert not ev.mask_padding
    assert ev.calibrator is not None
    assert ds.calibrator is None

    class Train:
        loss = "mse"
        batch_size = 16
        event_batch_size = 5000

    assert ds.loss_name(Train) == "mse"
    assert ev.loss_name(Train) == "crossentropy"
    assert (ds.batch_size(Train), ev.batch_size(Train)) == (16, 5000)
    # hooks resolve to functions without loading Keras
    assert callable(ev.get_predictor())
    assert callable(ev.get_calibrator())
    assert REGISTRY["event"] == "hepc9.models.event_classifier:build"


def test_item_kind_mismatch_names_the_alternatives():
    with pytest.raises(ConfigError, match=r"needs an image dataset.*use --model deepsets or event"):
        get_spec("resnet3d").check_item_kind("sets")
    with pytest.raises(ConfigError, match=r"needs an event-set dataset.*use --model resnet3d"):
        get_spec("event").check_item_kind("images")
    get_spec("deepsets").check_item_kind("sets")


def test_spec_validation_and_registration():
    with pytest.raises(ConfigError, match="item_kind"):
        EstimatorSpec(name="x", builder="m:f", item_kind="voxels")
    with pytest.raises(ConfigError, match="target"):
        EstimatorSpec(name="x", builder="m:f", item_kind="sets", target="ordinal")
    with pytest.raises(ConfigError, match="per_event"):
        EstimatorSpec(name="x", builder="m:f", item_kind="images", per_event=True)
    with pytest.raises(ConfigError, match="likelihood fit"):
        EstimatorSpec(name="fit", builder="m:f", item_kind="sets")
    with pytest.raises(ConfigError, match="already registered"):
        register(get_spec("deepsets"))
    spec = EstimatorSpec(name="toy_listing", builder="hepc9.models.deepsets:build",
                         item_kind="sets")
    register(spec)
    try:
        assert model_names()[-1] == "toy_listing"
        assert "toy_listing" in REGISTRY
        assert "toy_listing" in method_names()
        check_method_names(["fit", "toy_listing"])
    finally:
        unregister("toy_listing")
    assert "toy_listing" not in ESTIMATORS
    with pytest.raises(ConfigError, match="did you mean 'deepsets'"):
        check_method_names(["fit", "deepset"])
    with pytest.raises(ConfigError, match="did you mean 'event'"):
        get_spec("evnt")


def _python_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if not rel.startswith("hepc9/models/"):
            yield rel, path.read_text(encoding="utf-8")


def _name_checks(text, names):
    alt = "|".join(re.escape(n) for n in names)
    quoted = rf"[\"'](?:{alt})[\"']"
    patterns = [
        rf"(?:==|!=)\s*{quoted}",  # x == "event"
        rf"{quoted}\s*(?:==|!=)",  # "event" == x
        rf"\bin\s*[\(\[\{{][^\)\]\}}]*{quoted}",  # x in ("deepsets", "event")
        rf"\bcase\s+{quoted}",  # match/case on a name
        rf"[\(\[\{{]\s*{quoted}\s*,\s*{quoted}",  # a hand-kept list of model names
    ]
    return [m.group(0) for p in patterns for m in re.finditer(p, text)]


def test_name_check_detector_finds_the_old_style():
    names = model_names()
    assert _name_checks('if name == "event":', names)
    assert _name_checks("per_event = 'event' != x", names)
    assert _name_checks('if m in ("deepsets", "event"):', names)
    assert _name_checks('NEURAL = ("resnet3d", "deepsets", "event")', names)
    assert not _name_checks('if "event" not in columns:', names)
    assert not _name_checks('get_spec("event").per_event', names)


# Literal defaults of the config (it sits below the registry); they must be registered names
# (test_config_defaults_name_registered_estimators) and are the only literal list allowed.
_PENDING = {"hepc9/config/study.py"}


def test_no_model_name_comparisons_outside_models():
    names = model_names()
    found = {rel: hits for rel, text in _python_files()
             if (hits := _name_checks(text, names)) and rel not in _PENDING}
    assert found == {}, f"compare against registry specs instead of model names: {found}"


def test_config_defaults_name_registered_estimators():
    # config.py sits below the registry and keeps literal defaults; they must stay registered
    from hepc9.config import EvaluateConfig, ModelConfig

    assert ModelConfig().name in model_names()
    assert set(EvaluateConfig().methods) <= set(method_names())
