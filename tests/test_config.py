import json

import pytest

from avsc_edge.config import ArtifactInfo, ClipConfig, FeatureConfig, ModelConfig, TrainConfig
from avsc_edge.errors import AVSCError, ConfigError


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(fmax=4000.0, top_db=80.0), ClipConfig(),
                                 ModelConfig.preset("base"), TrainConfig(epochs=3)])
def test_json_round_trip(cfg):
    assert type(cfg).from_json(cfg.to_json()) == cfg


def test_unknown_key_is_an_error_not_dropped():
    data = json.loads(FeatureConfig().to_json())
    data["hop_lenght"] = 100
    with pytest.raises(ConfigError, match="hop_lenght"):
        FeatureConfig.from_dict(data)


@pytest.mark.parametrize("kwargs", [dict(n_fft=500), dict(hop_length=0), dict(fmin=9000.0), dict(window="kaiser"),
                                    dict(power=3.0), dict(top_db=-1.0)])
def test_invalid_feature_config(kwargs):
    with pytest.raises(ConfigError):
        FeatureConfig(**kwargs)


def test_invalid_model_config_and_preset():
    with pytest.raises(ConfigError, match="variant"):
        ModelConfig(variant="fancy")
    with pytest.raises(ConfigError, match="divisible"):
        ModelConfig(d=30, heads=4)
    with pytest.raises(ConfigError, match="preset"):
        ModelConfig.preset("huge")


def test_config_errors_are_caught_as_avsc_errors():
    for bad in (lambda: ModelConfig(variant="fancy"), lambda: FeatureConfig(n_fft=100),
                lambda: ClipConfig(frame_geometry="fisheye"), lambda: ModelConfig.from_json("{")):
        with pytest.raises(AVSCError):
            bad()


def test_artifact_info_rebuilds_configs():
    info = ArtifactInfo(sdk_version="0.1.0", features=FeatureConfig(n_mels=40).to_dict(),
                        clip=ClipConfig(seconds=4).to_dict(), model=ModelConfig(variant="av").to_dict())
    back = ArtifactInfo.from_json(info.to_json())
    assert back.feature_config.n_mels == 40 and back.clip_config.seconds == 4 and back.model_config.variant == "av"
