"""The cross-attention runs in the CEOA space: its logits are the CEOA similarity plus the key's
log-presence, ruled-out slots get no attention (PyTorch, the fused kernel, the exported graph,
INT8), ``p.attention`` pairs present events with objects not ruled out, and ``avsc-edge explain``
draws it."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avsc_edge import Classifier  # noqa: E402
from avsc_edge.cli import main  # noqa: E402
from avsc_edge.config import RULED_OUT_BELOW, ModelConfig  # noqa: E402
from avsc_edge.data import TauDataset  # noqa: E402
from avsc_edge.export.pipeline import run_recipe  # noqa: E402
from avsc_edge.export.recipes import load_recipe  # noqa: E402
from avsc_edge.model import AVSCModel, from_checkpoint  # noqa: E402
from avsc_edge.model.ceoa import ceoa_loss, pair_affinity  # noqa: E402
from avsc_edge.runtime.prediction import WindowAccumulator  # noqa: E402

RULED_OUT = math.log(RULED_OUT_BELOW / (1 - RULED_OUT_BELOW))
SMALL = ModelConfig(d=32, heads=4, audio_channels=(8, 16), visual_channels=(8, 16), visual_blocks=(1, 1))


def slots(rng, b=3, n_e=12, n_o=12, d=32):
    """Random slots and presence logits with some objects ruled out in each clip, and one clip with
    all of them ruled out."""
    e = torch.from_numpy(rng.standard_normal((b, n_e, d)).astype(np.float32))
    o = torch.from_numpy(rng.standard_normal((b, 4, n_o, d)).astype(np.float32))
    el = torch.from_numpy(rng.standard_normal((b, n_e)).astype(np.float32) * 3)
    ol = torch.from_numpy(rng.standard_normal((b, 4, n_o)).astype(np.float32) * 4)
    ol[-1] = -abs(ol[-1]) + RULED_OUT - 0.1          # the last clip sees nothing
    return e, el, o, ol


def test_the_attention_logits_are_the_ceoa_similarity_plus_log_presence(rng):
    """The logit is the cosine of the slots (what ``model.loss`` hands CEOA) over the CEOA
    temperature, plus the key's log-presence; with equal presence, the CEOA ordering."""
    model = AVSCModel(SMALL, 64).eval()
    e, el, o, ol = slots(rng)
    with torch.no_grad():
        objects, presence = o.mean(dim=1), ol.amax(dim=1)
        ea, oa = e, objects
        attn = model.cross.event_to_object
        qh, kh, _ = attn.project(ea, oa, objects, presence)
        logits = attn.logits(qh, kh, None)[:, 0]
        cos = torch.nn.functional.normalize(ea, dim=-1) @ torch.nn.functional.normalize(oa, dim=-1).transpose(1, 2)
        log_p = torch.nn.functional.logsigmoid(presence)[:, None, :]
        assert torch.allclose(logits, cos / SMALL.ceoa_temperature + log_p, atol=1e-4)
        qh, kh, _ = attn.project(ea, oa, objects, torch.full_like(presence, 1.5))      # equal presence:
        same = attn.logits(qh, kh, None)[:, 0]
    assert torch.equal(same.argsort(dim=-1), cos.argsort(dim=-1))               # the CEOA ordering


@pytest.mark.parametrize("fused", [False, True])
def test_absent_objects_get_no_attention(rng, fused):
    model = AVSCModel(SMALL, 64).eval().use_fused_attention(fused)
    e, el, o, ol = slots(rng)
    with torch.no_grad():
        w = model.heads(e, el, o, ol)["event_to_object"]
    present = ol.amax(dim=1) >= RULED_OUT
    for b in range(len(w)):
        if present[b].any():
            assert (w[b][:, ~present[b]] == 0).all() and (w[b][:, present[b]] > 0).all()
        else:                              # all ruled out: attends over all, shown as nothing
            assert (w[b] > 0).all()
    assert torch.allclose(w.sum(-1), torch.ones(()), atol=1e-5)


def test_the_fused_kernel_and_pytorch_agree_with_masks(rng):
    model = AVSCModel(SMALL, 64).eval()
    e, el, o, ol = slots(rng)
    with torch.no_grad():
        ref = model.heads(e, el, o, ol)
        fused = model.use_fused_attention(True).heads(e, el, o, ol)
    for key in ("scene_logits", "event_to_object"):
        assert torch.allclose(ref[key], fused[key], atol=1e-5), key


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tiny_dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("aligned")
    fp32 = run_recipe(tiny_checkpoint, load_recipe("cpu-fp32"), folder / "model.onnx").artifact
    int8 = run_recipe(tiny_checkpoint, load_recipe("cpu-int8"), folder / "model.int8.onnx", str(tiny_dataset)).artifact
    return fp32, int8


@pytest.mark.parametrize("which", [0, 1])
def test_the_exported_heads_graph_masks_absent_objects(exported, tiny_checkpoint, rng, which):
    clf = Classifier(exported[which])
    m = clf.info.model_config
    e, el, o, ol = slots(rng, n_e=m.n_events, n_o=m.n_objects, d=m.d)
    out = clf.backend.heads(*(t.numpy() for t in (e, el, o, ol)))
    w = out["event_to_object"]
    present = ol.amax(dim=1).numpy() >= RULED_OUT
    for b in range(len(w)):
        if present[b].any():
            assert (w[b][:, ~present[b]] == 0).all()
    if which == 0:   # INT8 on random slots (outside the calibration range) only keeps the mask
        model, _ = from_checkpoint(tiny_checkpoint)
        with torch.no_grad():
            ref = model.heads(e, el, o, ol)["event_to_object"].numpy()
        assert np.abs(w - ref).max() < 1e-4


def test_pair_affinity_weighs_what_goes_together_and_zeroes_chance():
    events = np.array([[1], [1], [0], [0]], np.float32)            # event 0 in clips 0, 1
    objects = np.array([[1, 1], [1, 0], [0, 1], [0, 0]], np.float32)  # object 0 with it; object 1 by chance
    w = pair_affinity(events, objects)
    assert w.shape == (1, 2) and w[0, 0] > 1 and w[0, 1] == 0


def test_ceoa_with_a_prior_pulls_the_partner_closer_than_a_bystander():
    """Event 0 is always seen with objects 0 and 1; the prior says object 0 goes with it. The
    within-clip weights make the partner the nearer one, which plain CEOA cannot tell apart."""
    gen = torch.Generator().manual_seed(0)
    e = torch.randn(8, 2, 16, generator=gen, requires_grad=True)
    o = torch.randn(8, 3, 16, generator=gen, requires_grad=True)
    pe = torch.tensor([[True, False]] * 4 + [[False, True]] * 4)
    po = torch.tensor([[True, True, False]] * 4 + [[False, False, True]] * 4)
    prior = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    opt = torch.optim.SGD([e, o], lr=0.5)
    for _ in range(100):
        opt.zero_grad()
        ceoa_loss(e, o, pe, po, 0.2, prior).backward()
        opt.step()
    en, on = torch.nn.functional.normalize(e, dim=-1), torch.nn.functional.normalize(o, dim=-1)
    partner, bystander = (en[:4, 0] * on[:4, 0]).sum(-1), (en[:4, 0] * on[:4, 1]).sum(-1)
    assert (partner > bystander + 0.2).all()


def accumulate(info, event_logits, object_logits, weights):
    acc = WindowAccumulator(info)
    acc.add({"scene_logits": np.zeros((1, len(info.labels)), np.float32), "modalities": ("audio", "visual"),
             "event_logits": event_logits[None], "object_logits": object_logits[None],
             "event_to_object": weights[None]}, [0.0])
    return acc.result({}, None, [], None)


def test_prediction_attention_pairs_present_events_with_present_objects(tiny_checkpoint):
    info = Classifier(tiny_checkpoint).info
    n_e, n_o = len(info.events), len(info.objects)
    el, ol = np.full(n_e, -5.0, np.float32), np.full(n_o, -5.0, np.float32)
    el[[1, 4]], ol[[2, 7]] = 5.0, 5.0
    w = np.full((n_e, n_o), 0.01, np.float32)
    w[1, 3] = 0.9                      # an absent object with the largest weight is never shown
    w[1, 7], w[1, 2], w[4, 2] = 0.5, 0.3, 0.6
    p = accumulate(info, el, ol, w)
    assert [(e, o) for e, o, _ in p.attention] == [(info.events[1], info.objects[7]), (info.events[4], info.objects[2])]
    assert set(p.attention_map) == {info.events[1], info.events[4]}
    assert set(p.attention_map[info.events[1]]) == {info.objects[2], info.objects[7]}
    nothing_seen = accumulate(info, el, np.full(n_o, -5.0, np.float32), w)
    assert nothing_seen.attention == [] and nothing_seen.attention_map == {}


def test_explain_writes_a_picture(tiny_checkpoint, tiny_dataset, tmp_path, capsys):
    plt = pytest.importorskip("matplotlib.pyplot")
    clip = TauDataset(tiny_dataset).clips("evaluate")[0].video
    out = tmp_path / "explain.png"
    assert main(["explain", str(clip), "--model", str(tiny_checkpoint), "--out", str(out), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)["prediction"]
    image = plt.imread(out)
    assert image.shape[:2] == ((800, 960) if pred["attention_map"] else (520, 960))   # no blank third
    strip = image[40:220, 60:900, :3]
    assert strip.std() > 0.05                       # the frame strip is drawn, not blank
    assert main(["explain", str(clip), "--model", str(tiny_checkpoint), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "picture:" in text
    assert "note: the model was trained on synthetic scenes" in text     # the notes reach the terminal


def test_explain_picture_parts():
    from avsc_edge.plots import frame_strip

    frames = np.random.default_rng(0).integers(0, 200, (3, 8, 10, 3), dtype=np.uint8)
    strip = frame_strip(frames, gap=4)
    assert strip.shape == (8, 3 * 10 + 2 * 4, 3)
    assert (strip[:, 10:14] == 255).all() and (strip[:, 24:28] == 255).all()    # a border between frames
    assert np.array_equal(strip[:, 28:], frames[2])
