"""The CEOA + SF reference model: shapes for every variant, missing modalities, pretrained loaders."""
import pickle

import pytest

torch = pytest.importorskip("torch")

from avsc_edge.formats.checkpoint import load_torch_weights  # noqa: E402
from avsc_edge.config import VARIANTS, ModelConfig  # noqa: E402
from avsc_edge.errors import ArtifactError, InputError  # noqa: E402
from avsc_edge.model import AVSCModel  # noqa: E402
from avsc_edge.model.backbones import AudioBackbone, VisualBackbone  # noqa: E402
from avsc_edge.model.pretrained import load_panns, load_resnet  # noqa: E402

SMALL = dict(d=32, heads=4, audio_channels=(8, 16), visual_channels=(8, 16), visual_blocks=(1, 1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_shapes(variant):
    cfg = ModelConfig(variant=variant, **SMALL)
    model = AVSCModel(cfg, n_mels=40).eval()
    out = model(torch.randn(3, 1, 40, 97), torch.randn(3, 2, 3, 32, 32))
    assert out.scene_logits.shape == (3, 10)
    if cfg.uses_audio:
        assert out.event_emb.shape == (3, 12, 32) and out.event_logits.shape == (3, 12)
    if cfg.uses_visual:
        assert out.object_emb.shape == (3, 12, 32) and out.object_logits.shape == (3, 12)
    if cfg.uses_audio and cfg.uses_visual:
        assert out.modalities == ("audio", "visual")
        assert out.event_to_object.shape == (3, 12, 12)
        assert torch.allclose(out.event_to_object.sum(-1), torch.ones(3, 12), atol=1e-5)
    assert torch.isfinite(out.scene_logits).all()


def test_missing_modality_uses_single_head():
    model = AVSCModel(ModelConfig(**SMALL), n_mels=40).eval()
    a, v = torch.randn(2, 1, 40, 50), torch.randn(2, 2, 3, 32, 32)
    audio_only, visual_only, both = model(a, None), model(None, v), model(a, v)
    assert audio_only.modalities == ("audio",) and torch.equal(audio_only.scene_logits, both.audio_logits)
    assert visual_only.modalities == ("visual",) and torch.equal(visual_only.scene_logits, both.visual_logits)
    with pytest.raises(InputError):
        model(None, None)


def test_semantic_fusion_changes_pooling():
    torch.manual_seed(0)
    sf = AVSCModel(ModelConfig(variant="av_ceoa_sf", dropout=0.0, **SMALL), 40).eval()
    plain = AVSCModel(ModelConfig(variant="av_ceoa", dropout=0.0, **SMALL), 40).eval()
    d = SMALL.get("d", ModelConfig().d)
    with torch.no_grad():
        sf.fusion_head.net[0].weight[:, 2 * d:] = 0          # the pair features silenced: pooling alone differs
    state = sf.state_dict()
    state["fusion_head.net.0.weight"] = state["fusion_head.net.0.weight"][:, :2 * d]
    plain.load_state_dict(state)
    a, v = torch.randn(2, 1, 40, 50), torch.randn(2, 2, 3, 32, 32)
    assert not torch.allclose(sf(a, v).scene_logits, plain(a, v).scene_logits)


def test_pair_features_make_which_event_goes_with_which_object_linear():
    """Scene A: (e1 with o1) or (e2 with o2); scene B: (e1 with o2) or (e2 with o1). Sums of the
    event and object embeddings are the same for both scenes (A1 + A2 == B1 + B2): no linear head
    separates them. The pair features do."""
    from avsc_edge.model.fusion import pair_features

    torch.manual_seed(1)
    e1, e2, o1, o2 = torch.randn(4, 16)
    attend = torch.ones(1, 1, 1)

    def pair(e, o):
        return pair_features(e[None, None], o[None, None], attend, 16.0)[0, 0]

    a = torch.stack([pair(e1, o1), pair(e2, o2)])
    b = torch.stack([pair(e1, o2), pair(e2, o1)])
    assert not torch.allclose(a.sum(0), b.sum(0), atol=1e-3)      # the additive obstruction is gone
    x = torch.cat([a, b])
    y = torch.tensor([1.0, 1.0, -1.0, -1.0])
    w = torch.linalg.lstsq(torch.cat([x, torch.ones(4, 1)], 1), y[:, None]).solution
    assert torch.all(torch.sign((torch.cat([x, torch.ones(4, 1)], 1) @ w)[:, 0]) == y)


def test_panns_checkpoint_loads_by_name(tmp_path):
    """A file in the PANNs Cnn14.pth layout ({'model': state_dict} with bn0/conv_blockN/fc1 keys)."""
    src = AudioBackbone(40, (8, 16))
    state = {k: torch.randn_like(v) if v.dtype.is_floating_point else v for k, v in src.state_dict().items()}
    state["fc1.weight"] = torch.randn(16, 16)          # PANNs head, absent from our backbone
    state["fc_audioset.weight"] = torch.randn(527, 16)
    path = tmp_path / "Cnn14_tiny.pth"
    torch.save({"model": state, "iteration": 0}, path)
    dst = AudioBackbone(40, (8, 16))
    report = load_panns(dst, path)
    assert "conv_block1.conv1.weight" in report.loaded and "fc1.weight" in report.unused
    assert torch.equal(dst.conv_block2.conv2.weight, state["conv_block2.conv2.weight"])
    assert torch.equal(dst.bn0.running_mean, state["bn0.running_mean"])


def test_resnet_checkpoint_loads_by_name(tmp_path):
    """A file in torchvision's resnet layout (conv1, bn1, layerN.M.*, fc), as safetensors and .pth."""
    from safetensors.torch import save_file

    src = VisualBackbone((8, 16), (1, 1))
    state = {k: torch.randn_like(v) if v.dtype.is_floating_point else v for k, v in src.state_dict().items()}
    state["fc.weight"] = torch.randn(1000, 16)
    for name, save in (("r.safetensors", lambda p: save_file(state, str(p))), ("r.pth", lambda p: torch.save(state, p))):
        dst = VisualBackbone((8, 16), (1, 1))
        save(tmp_path / name)
        report = load_resnet(dst, tmp_path / name)
        assert "layer2.0.downsample.0.weight" in report.loaded and not report.missing
        assert torch.equal(dst.layer1[0].conv1.weight, state["layer1.0.conv1.weight"])


def test_mismatched_and_foreign_pretrained_files(tmp_path):
    dst = AudioBackbone(40, (8, 16))
    torch.save({"conv_block1.conv1.weight": torch.randn(4, 1, 3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(ArtifactError, match="do not fit"):
        load_panns(dst, tmp_path / "bad.pth")
    torch.save({"foreign.weight": torch.randn(4)}, tmp_path / "foreign.pth")
    with pytest.raises(ArtifactError, match="no parameter"):
        load_panns(dst, tmp_path / "foreign.pth")
    with pytest.raises(ArtifactError, match="not found"):
        load_panns(dst, tmp_path / "missing.pth")


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": Evil()}, f)
    with pytest.raises(ArtifactError, match="pickled code"):
        load_torch_weights(path)
