"""``edge`` sees what its pretrained checkpoints saw, checked against the references:

* the front end (fused C++ kernel and NumPy reference) vs EfficientAT's ``AugmentMelSTFT`` in eval
  mode, computed here independently from its definition with torch ops (``conv1d`` pre-emphasis,
  ``torch.stft`` with a symmetric 800-sample Hann, Kaldi mel banks as torchaudio computes them, ln,
  ``(x + 4.5) / 5``) on fresh random signals; streaming equals the whole signal;
* EfficientAT ``mn`` checkpoints (random tensors in the published key layout of ``mn04_as`` /
  ``mn10_as``, ``tests/data/efficientat_mn_layout.json``, listed from EfficientAT's own
  ``get_model``) load through the SDK's loaders with every key matched, and the wrong width is
  refused;
* torchvision's own ``mobilenet_v3_large`` / ``_small`` (random weights) load with every key matched
  and the SDK's tagger gives torchvision's output."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from references import torchvision  # noqa: E402

from avsc_edge.backbones import BACKBONES  # noqa: E402
from avsc_edge.config import ModelConfig, preset  # noqa: E402
from avsc_edge.errors import ArtifactError  # noqa: E402
from avsc_edge.model.mobilenet import MobileNetAudio, MobileNetVisual  # noqa: E402
from avsc_edge.model.pretrained import load_backbone  # noqa: E402
from avsc_edge.model.taggers import load_audio_tagger, load_image_tagger  # noqa: E402
from avsc_edge.preprocess.audio_features import (StreamingLogMel, log_mel, log_mel_reference,  # noqa: E402
                                                 mel_filterbank)

FEATURES, CLIP, MODEL = preset("edge")
LAYOUT = json.loads((Path(__file__).parent / "data" / "efficientat_mn_layout.json").read_text())
WIDTHS = {"mn04_as": 0.4, "mn10_as": 1.0}


def kaldi_mel_banks(num_bins: int, n_fft: int, sr: float, low: float, high: float) -> torch.Tensor:
    """torchaudio.compliance.kaldi.get_mel_banks without VTLN (float32, as torchaudio computes it)."""
    def mel(f):
        return 1127.0 * torch.log(1.0 + f / 700.0)

    lo, hi = 1127.0 * math.log(1.0 + low / 700.0), 1127.0 * math.log(1.0 + high / 700.0)
    delta = (hi - lo) / (num_bins + 1)
    b = torch.arange(num_bins).unsqueeze(1)
    left, centre, right = lo + b * delta, lo + (b + 1.0) * delta, lo + (b + 2.0) * delta
    m = mel(sr / n_fft * torch.arange(n_fft // 2)).unsqueeze(0)
    return torch.clamp(torch.minimum((m - left) / (centre - left), (right - m) / (right - centre)), min=0.0)


def efficientat_bank() -> torch.Tensor:
    """EfficientAT's mel filters: torchaudio's Kaldi bank up to 15 kHz (fmax=None, fmax_aug_range=2000,
    eval mode), a zero column for Nyquist."""
    return torch.nn.functional.pad(kaldi_mel_banks(128, 1024, 32000, 0.0, 32000 // 2 - 2000 // 2), (0, 1))


def efficientat_mel(wave: np.ndarray, bank: np.ndarray | None = None) -> np.ndarray:
    """AugmentMelSTFT(n_mels=128, sr=32000, win_length=800, hopsize=320, n_fft=1024).eval() forward,
    in float64; ``bank`` replaces its mel filters (:func:`efficientat_bank`)."""
    x = torch.from_numpy(wave).double()
    x = torch.nn.functional.conv1d(x.unsqueeze(1), torch.tensor([[[-0.97, 1.0]]], dtype=x.dtype)).squeeze(1)
    spec = torch.stft(x, 1024, hop_length=320, win_length=800, center=True, normalized=False,
                      window=torch.hann_window(800, periodic=False, dtype=x.dtype), return_complex=True)
    power = spec.abs() ** 2
    filters = efficientat_bank() if bank is None else torch.tensor(bank)
    return (((filters.double() @ power + 0.00001).log() + 4.5) / 5.0).float().numpy()


def random_scene(rng, samples: int, signals: int = 2) -> np.ndarray:
    t = np.arange(samples) / 32000
    x = rng.standard_normal((signals, samples)) * rng.uniform(0.01, 0.1, (signals, 1))
    x += rng.uniform(0.05, 0.3, (signals, 1)) * np.sin(2 * np.pi * rng.uniform(50, 14000, (signals, 1)) * t)
    return x.astype(np.float32)


def test_edge_preset_names_the_efficientat_front_end():
    assert (FEATURES.sr, FEATURES.n_fft, FEATURES.effective_win_length, FEATURES.hop_length) == (32000, 1024, 800, 320)
    assert (FEATURES.n_mels, FEATURES.fmin, FEATURES.effective_fmax) == (128, 0.0, 15000.0)
    assert (FEATURES.preemphasis, FEATURES.periodic, FEATURES.mel_scale, FEATURES.log) == (0.97, False, "kaldi", "ln")
    assert (MODEL.audio_backbone, MODEL.visual_backbone) == ("mn", "mobilenet_v1_025")


@pytest.mark.parametrize("samples", [32000 * 3 + 137, 4001, 1025])
def test_front_end_equals_efficientat_definition(samples, rng):
    wave = random_scene(rng, samples)
    want = efficientat_mel(wave)
    exact = efficientat_mel(wave, mel_filterbank(FEATURES))
    assert want.shape == (2, 128, 1 + (samples - 1) // 320)
    for got in (log_mel(wave, FEATURES), log_mel_reference(wave, FEATURES)):
        assert got.shape == want.shape
        # the arithmetic, against float64 with the kernel's own filters: ln values / 5, so 1e-4 is
        # 0.05 % of a bin's energy (measured <= 1.4e-5 over 100 random scenes)
        np.testing.assert_allclose(got, exact, atol=1e-4)
        # and the filters: torchaudio computes the Kaldi bank in float32 (weights off by up to
        # 1.3e-5, test_mel_filters_equal_torchaudios); a tone on a filter's edge moves its bin by
        # up to 3.2e-4 through them (900 random scenes; 1.1 % beyond 1e-4)
        np.testing.assert_allclose(got, want, atol=5e-4)


def test_mel_filters_equal_torchaudios():
    np.testing.assert_allclose(mel_filterbank(FEATURES), efficientat_bank().numpy(), atol=2e-5)


def test_front_end_would_fail_with_the_librosa_settings(rng):
    """The check can tell: periodic window, Slaney filters or no pre-emphasis each move the values by
    far more than its 1e-4 tolerance (a periodic window moves them least: 0.008-0.02 on random scenes,
    so the bound is ten times the tolerance, not the 1e-2 it once was, which random scenes missed)."""
    import dataclasses

    wave = random_scene(rng, 32000)
    want = efficientat_mel(wave)
    for change in (dict(periodic=True), dict(mel_scale="slaney"), dict(preemphasis=0.0)):
        off = log_mel(wave if "preemphasis" not in change else wave[:, 1:], dataclasses.replace(FEATURES, **change))
        assert np.abs(off - want).max() > 10 * 1e-4, change   # ten times the parity tolerance


def test_streaming_front_end_with_preemphasis_equals_the_whole_signal(rng):
    wave = random_scene(rng, 32000 * 2 + 77, signals=1)[0]
    whole = log_mel(wave, FEATURES)
    stream = StreamingLogMel(FEATURES)
    cuts = np.sort(rng.integers(1, wave.size, 9))
    parts = [stream.push(chunk) for chunk in np.split(wave, cuts)]
    got = np.concatenate(parts, axis=-1)
    assert got.shape[-1] > 0.9 * whole.shape[-1]
    # the stream pre-emphasises in float32, the kernel in double: measured <= 2e-5 here
    np.testing.assert_allclose(got, whole[:, :got.shape[-1]], atol=1e-4)


def random_state(layout: dict[str, list[int]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout.items():
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        else:
            out[key] = torch.randn(shape, generator=g) * 0.1
    return out


@pytest.mark.parametrize("name", ["mn04_as", "mn10_as"])
def test_efficientat_checkpoints_load_with_every_key(name, tmp_path):
    layout = LAYOUT[name]
    width = WIDTHS[name]
    cfg = ModelConfig(audio_backbone="mn", audio_width=width)
    path = tmp_path / f"{name}.pt"
    state = random_state(layout)
    torch.save(state, path)

    backbone = MobileNetAudio(width)
    features = {k for k in layout if k.startswith("features.")}
    assert set(backbone.state_dict()) == features
    report = load_backbone(backbone, path, BACKBONES["mn"])
    assert set(report.loaded) == features and not report.missing and not report.mismatched
    assert set(report.unused) == set(layout) - features            # the classifier, nothing else
    assert torch.equal(backbone.state_dict()["features.16.0.weight"], state["features.16.0.weight"])

    tagger = load_audio_tagger(path, cfg, FEATURES.n_mels)
    own = {k.removeprefix("backbone."): v for k, v in tagger.state_dict().items()}
    assert set(own) == set(layout)
    assert all(torch.equal(own[k], state[k]) for k in layout)
    with torch.no_grad():
        probs = tagger(torch.randn(1, 1, 128, 300))
    assert probs.shape == (1, 527)

    wrong = MobileNetAudio(0.4 if width == 1.0 else 1.0)
    with pytest.raises(ArtifactError, match="do not fit"):
        load_backbone(wrong, path, BACKBONES["mn"])


def test_efficientat_tokens_are_the_backbone_features_averaged_over_frequency():
    net = MobileNetAudio(0.4).eval()
    x = torch.randn(2, 1, 128, 32 * 5 + 7)
    with torch.no_grad():
        tokens = net(x)
        fmap = net.features(x[..., :160])
    assert tokens.shape == (2, 5, net.out_channels)
    torch.testing.assert_close(tokens, fmap.mean(dim=2).transpose(1, 2))


@pytest.mark.parametrize("table", ["large", "small"])
def test_torchvision_mobilenet_v3_loads_and_tags_as_torchvision(table, tmp_path):
    tv = torchvision()
    ref = getattr(tv.models, f"mobilenet_v3_{table}")(weights=None).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    path = tmp_path / f"mobilenet_v3_{table}.pth"
    torch.save(ref.state_dict(), path)
    cfg = ModelConfig(visual_backbone=f"mobilenet_v3_{table}")

    backbone = MobileNetVisual(table)
    report = load_backbone(backbone, path, BACKBONES[f"mobilenet_v3_{table}"])
    assert not report.missing and not report.mismatched
    assert set(report.unused) == {k for k in ref.state_dict() if k.startswith("classifier.")}
    tagger = load_image_tagger(path, cfg)
    x = torch.randn(2, 3, 224, 224, generator=g)
    with torch.no_grad():
        want = torch.softmax(ref(x), dim=-1)
        got = tagger(x)
        tokens = backbone.eval()(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert tokens.shape == (2, 49, BACKBONES[f"mobilenet_v3_{table}"].channels(cfg))

    with pytest.raises(ArtifactError):
        load_backbone(MobileNetVisual("small" if table == "large" else "large"), path,
                      BACKBONES[f"mobilenet_v3_{table}"])


def test_front_end_and_backbone_settings_are_checked():
    from avsc_edge.config import FeatureConfig
    from avsc_edge.errors import ConfigError, InputError

    for bad in (dict(mel_scale="htk"), dict(log="log2"), dict(log="ln", top_db=80.0), dict(preemphasis=2.0),
                dict(norm_scale=0.0), dict(log_offset=0.0)):
        with pytest.raises(ConfigError):
            FeatureConfig(**bad)
    for bad in (dict(audio_backbone="vggish"), dict(visual_backbone="mn"), dict(audio_width=0.0)):
        with pytest.raises(ConfigError, match="backbone|audio_width"):
            ModelConfig(**bad)
    # a model written before the registry reads as the CNN14 + ResNet layouts
    old = ModelConfig.from_dict({"variant": "av", "d": 32, "heads": 4})
    assert (old.audio_backbone, old.visual_backbone, old.audio_width) == ("cnn", "resnet", 1.0)
    with pytest.raises(InputError, match="2 samples"):
        log_mel(np.full(1, 0.1, np.float32), FEATURES)
