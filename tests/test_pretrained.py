"""Pretrained backbones and taggers, from files in the PANNs (Cnn14.pth) and torchvision (resnet18)
layouts that the tests write: loading, freezing, a short fine-tune on a dataset without tags whose
presence comes from the taggers, vocabulary names in the artifact and in Prediction, clear errors."""
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avsc_edge.config import PretrainedConfig, TrainConfig, preset  # noqa: E402
from avsc_edge.errors import ArtifactError, ConfigError  # noqa: E402
from avsc_edge.model.backbones import AudioBackbone, VisualBackbone  # noqa: E402
from avsc_edge.model.pretrained import load_panns, load_resnet  # noqa: E402
from avsc_edge.model.taggers import AudioTagger, ImageTagger, load_audio_tagger, load_image_tagger  # noqa: E402


def small_random(module, scale=0.02):
    return {k: (torch.randn_like(v) * scale if v.dtype.is_floating_point and "running_var" not in k else
                torch.ones_like(v) if "running_var" in k else v) for k, v in module.state_dict().items()}


def panns_file(path, n_mels, channels):
    """PANNs' Cnn14 layout: {"model": {...}} with its front-end and head keys."""
    state = {k.removeprefix("backbone."): v for k, v in small_random(AudioTagger(n_mels, channels)).items()}
    state["spectrogram_extractor.stft.conv_real.weight"] = torch.randn(513, 1, 1024)   # PANNs' STFT as a conv
    torch.save({"model": state, "iteration": 100}, path)
    return path


def resnet_file(path, channels, blocks):
    """torchvision's ResNet layout (conv1, bn1, layerN.M.*, fc), as safetensors."""
    from safetensors.torch import save_file

    state = {k.removeprefix("backbone."): v.contiguous() for k, v in small_random(ImageTagger(channels, blocks)).items()}
    save_file(state, str(path))
    return path


def test_full_size_cnn14_and_resnet18_fit_the_base_preset(tmp_path):
    features, _, m = preset("base")
    cnn14 = panns_file(tmp_path / "Cnn14.pth", features.n_mels, m.audio_channels)
    resnet = resnet_file(tmp_path / "resnet18.safetensors", m.visual_channels, m.visual_blocks)
    audio, visual = AudioBackbone(features.n_mels, m.audio_channels), VisualBackbone(m.visual_channels, m.visual_blocks)
    report = load_panns(audio, cnn14)
    assert "conv_block6.conv2.weight" in report.loaded and "fc_audioset.weight" in report.unused
    assert tuple(audio.conv_block6.conv2.weight.shape) == (2048, 2048, 3, 3)
    assert "layer4.1.bn2.weight" in load_resnet(visual, resnet).loaded
    tagger = load_audio_tagger(cnn14, m, features.n_mels)
    assert tagger.fc_audioset.out_features == 527
    with torch.no_grad():
        probs = tagger(torch.randn(1, 1, features.n_mels, 320) * 10 - 40)
    assert probs.shape == (1, 527) and torch.all((probs > 0) & (probs < 1))
    assert load_image_tagger(resnet, m).fc.out_features == 1000


def test_wrong_files_are_clear_errors(tmp_path):
    f, _, m = preset("tiny")
    resnet50_like = resnet_file(tmp_path / "r.safetensors", (16, 32, 128), (1, 1, 1))
    with pytest.raises(ArtifactError, match="do not fit"):
        load_resnet(VisualBackbone(m.visual_channels, m.visual_blocks), resnet50_like)
    headless = tmp_path / "backbone_only.pth"
    state = {k.removeprefix("backbone."): v for k, v in small_random(AudioTagger(f.n_mels, m.audio_channels)).items()
             if k.startswith("backbone.")}
    torch.save(state, headless)
    with pytest.raises(ArtifactError, match="tagger head"):
        load_audio_tagger(headless, m, f.n_mels)
    with pytest.raises(ArtifactError, match="not found"):
        load_panns(AudioBackbone(f.n_mels, m.audio_channels), tmp_path / "Cnn14.pth")
    torch.save({"conv1.weight": torch.randn(4, 3, 7, 7)}, tmp_path / "tiny.pth")
    with pytest.raises(ArtifactError, match="do not fit|lacks"):
        load_resnet(VisualBackbone(m.visual_channels, m.visual_blocks), tmp_path / "tiny.pth")


@pytest.fixture(scope="module")
def untagged(tiny_dataset, tmp_path_factory):
    """The tiny dataset without its synthetic sidecar: like real TAU, no event/object tags."""
    root = tmp_path_factory.mktemp("untagged") / "data"
    shutil.copytree(tiny_dataset, root, ignore=shutil.ignore_patterns(".avsc_cache", "synth_ground_truth.json"))
    return root


def test_ceoa_and_sf_are_refused_without_presence(untagged, tmp_path):
    from avsc_edge.training.train import train

    features, clip, model = preset("tiny", clip={"seconds": 1.5, "frame_size": 32})
    with pytest.raises(ConfigError, match="presence"):
        train(untagged, tmp_path / "r", model, TrainConfig(epochs=1, batch_size=8), features, clip, progress=False)


def test_tagger_supervised_fine_tune_with_real_vocabularies(untagged, tmp_path):
    from avsc_edge import Classifier, vocab
    from avsc_edge.formats.checkpoint import load_checkpoint, read_info
    from avsc_edge.data import TauDataset
    from avsc_edge.training.train import train

    features, clip, model = preset("tiny", clip={"seconds": 1.5, "frame_size": 32})
    audio = panns_file(tmp_path / "Cnn14_tiny.pth", features.n_mels, model.audio_channels)
    visual = resnet_file(tmp_path / "resnet_tiny.safetensors", model.visual_channels, model.visual_blocks)
    pretrained = PretrainedConfig(audio_weights=str(audio), visual_weights=str(visual), events="top:5",
                                  objects="top:4")
    result = train(untagged, tmp_path / "run", model, TrainConfig(epochs=2, batch_size=8, freeze_epochs=2),
                   features, clip, progress=False, pretrained=pretrained)
    info = read_info(result.checkpoint)
    assert len(info.events) == 5 and set(info.events) <= set(vocab.load("audioset"))
    assert len(info.objects) == 4 and set(info.objects) <= set(vocab.load("imagenet"))
    assert info.model_config.n_events == 5 and info.metrics["presence"] == "teacher taggers"
    weights, _ = load_checkpoint(result.checkpoint)
    source = torch.load(audio, weights_only=True)["model"]
    assert torch.equal(weights["audio.backbone.conv_block2.conv1.weight"], source["conv_block2.conv1.weight"])  # frozen
    assert torch.equal(weights["audio.backbone.bn0.running_mean"], source["bn0.running_mean"])  # BN stats kept
    p = Classifier(result.checkpoint).predict(TauDataset(untagged).clips("evaluate")[0].video)
    assert p.events and all(name in info.events for name, _ in p.events)
    assert all(name in info.objects for name, _ in p.objects)
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        train(untagged, tmp_path / "run2", model, TrainConfig(epochs=1, batch_size=8), features, clip, progress=False,
              pretrained=PretrainedConfig(str(audio), str(visual), events="Speech,Not A Sound"))


def test_fine_tune_after_freezing_changes_the_backbone(untagged, tmp_path):
    from avsc_edge.formats.checkpoint import load_checkpoint
    from avsc_edge.training.train import train

    features, clip, model = preset("tiny", clip={"seconds": 1.5, "frame_size": 32})
    audio = panns_file(tmp_path / "a.pth", features.n_mels, model.audio_channels)
    visual = resnet_file(tmp_path / "v.safetensors", model.visual_channels, model.visual_blocks)
    result = train(untagged, tmp_path / "run", model,
                   TrainConfig(epochs=2, batch_size=8, freeze_epochs=1, backbone_lr_scale=0.5), features, clip,
                   progress=False, pretrained=PretrainedConfig(str(audio), str(visual), "top:3", "top:3"))
    weights, _ = load_checkpoint(result.checkpoint)
    source = torch.load(audio, weights_only=True)["model"]
    assert not torch.equal(weights["audio.backbone.conv_block2.conv1.weight"], source["conv_block2.conv1.weight"])
    assert np.isfinite(result.history[-1]["loss"])
