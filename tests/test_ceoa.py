"""Pair-level CEOA: loss properties on fresh random embeddings, and alignment metrics that slot
identity alone cannot satisfy."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avsc_edge.model.ceoa import anchor_losses, ceoa_loss  # noqa: E402

F = torch.nn.functional


def random_batch(b=8, n=5, d=16, p=0.5):
    return (torch.randn(b, n, d), torch.randn(b, n, d), torch.rand(b, n) < p, torch.rand(b, n) < p)


def test_a_partner_in_another_clip_is_never_a_negative():
    """Clips 0 and 1 both hold event 0 with object 0 (its partner); clip 2 holds object 1 without
    the event. Anchor (clip 0, event 0) must not see clip 1's object: moving it onto the anchor or
    away changes nothing for that anchor (a clip-level loss would push it away)."""
    e, o = F.normalize(torch.randn(3, 1, 8), dim=-1), F.normalize(torch.randn(3, 2, 8), dim=-1)
    pe = torch.tensor([[True], [True], [False]])
    po = torch.tensor([[True, False], [True, False], [False, True]])
    near, far = o.clone(), o.clone()
    near[1, 0], far[1, 0] = e[0, 0], -e[0, 0]
    (l_near, anchors), (l_far, _) = anchor_losses(e, near, pe, po, 0.2), anchor_losses(e, far, pe, po, 0.2)
    assert anchors[0, 0] and torch.allclose(l_near[0, 0], l_far[0, 0])
    far2 = o.clone()
    far2[2, 1] = e[0, 0]                      # the object seen WITHOUT the event is a negative: it counts
    assert anchor_losses(e, far2, pe, po, 0.2)[0][0, 0] > l_near[0, 0] + 0.1


def test_absent_slots_get_no_gradient_and_are_masked_not_weighted():
    for _ in range(5):
        e, o, pe, po = random_batch()
        e.requires_grad_(True)
        o.requires_grad_(True)
        ceoa_loss(e, o, pe, po).backward()
        assert e.grad[~pe].abs().sum() == 0 and o.grad[~po].abs().sum() == 0
        assert e.grad[pe].abs().sum() > 0
        garbage = e.detach().clone()
        garbage[~pe] = torch.randn(int((~pe).sum()), 16) * 100   # absent embeddings do not matter at all
        assert torch.allclose(ceoa_loss(garbage, o.detach(), pe, po), ceoa_loss(e.detach(), o.detach(), pe, po))


def test_invariant_to_batch_order():
    e, o, pe, po = random_batch()
    perm = torch.randperm(8)
    assert torch.allclose(ceoa_loss(e, o, pe, po), ceoa_loss(e[perm], o[perm], pe[perm], po[perm]), atol=1e-6)


def test_aligned_partners_score_lower_than_shuffled():
    """Event k's partner is object k: when the embeddings align partners, the loss is lower."""
    for _ in range(5):
        b, n, d = 16, 6, 32
        base = F.normalize(torch.randn(n, d), dim=-1)
        pe = torch.rand(b, n) < 0.4
        po = pe.clone()                                    # partners co-occur
        e = base[None].expand(b, n, d) + 0.05 * torch.randn(b, n, d)
        aligned, shuffled = e + 0.05 * torch.randn(b, n, d), e[:, torch.randperm(n)] + 0.05 * torch.randn(b, n, d)
        assert ceoa_loss(e, aligned, pe, po) < ceoa_loss(e, shuffled, pe, po)


def test_no_anchor_no_loss():
    e, o, _, _ = random_batch()
    none = torch.zeros(8, 5, dtype=torch.bool)
    assert ceoa_loss(e, o, none, none).item() == 0.0


def test_content_metric_is_at_chance_for_slot_identity_alone(tiny_dataset):
    """An embedding fixed per slot class (identity alone) scores 0.5 partner-AUC, whatever the
    retrieval metric says; an embedding that moves toward the partner when it is visible scores higher."""
    import json

    from avsc_edge.training.alignment import alignment_metrics
    from avsc_edge.labels import EVENTS, OBJECTS

    truth = json.loads((tiny_dataset / "synth_ground_truth.json").read_text())["clips"]
    stems = sorted(truth)
    rng = np.random.default_rng(0)
    classes_e, classes_o = rng.standard_normal((len(EVENTS), 16)), rng.standard_normal((len(OBJECTS), 16))
    fixed_e = np.broadcast_to(classes_e, (len(stems), *classes_e.shape)).copy()
    fixed_o = np.broadcast_to(classes_o, (len(stems), *classes_o.shape)).copy()
    m = alignment_metrics(fixed_e, fixed_o, stems, truth)
    assert m["partner_auc"] == pytest.approx(0.5) and m["auc_pairs"] > 10
    assert m["retrieval"] == pytest.approx(m["retrieval_class_mean"])
    content_o = fixed_o.copy()
    for i, s in enumerate(stems):                         # visible partners move toward their events
        for ev_name, ob_name in truth[s]["pairs"]:
            content_o[i, OBJECTS.index(ob_name)] += 3 * fixed_e[i, EVENTS.index(ev_name)]
    assert alignment_metrics(fixed_e, content_o, stems, truth)["partner_auc"] > 0.7


def test_congruence_accuracy_separates_finding_the_pair_from_using_the_congruence():
    from avsc_edge.data.scenes import CONGRUENCE_PAIRS
    from avsc_edge.training.evaluation import congruence_accuracy
    from avsc_edge.labels import SCENES

    rng = np.random.default_rng()
    labels = rng.permutation(np.repeat(np.arange(len(SCENES)), 15))
    onehot = lambda idx: np.eye(len(SCENES))[idx] + rng.random((len(idx), len(SCENES))) * 0.1  # noqa: E731
    right = congruence_accuracy(onehot(labels), labels)
    assert right["pair"] == right["member"] == 1.0
    assert right["no_congruence_ceiling"] == pytest.approx(1 - 0.5 * 8 / 10)
    swap = {SCENES.index(a): SCENES.index(b) for a, b, _, _ in CONGRUENCE_PAIRS}
    swap |= {b: a for a, b in swap.items()}
    swapped = np.array([swap.get(int(t), int(t)) for t in labels])   # the pair found, the other member named
    wrong = congruence_accuracy(onehot(swapped), labels)
    assert wrong["pair"] == 1.0 and wrong["member"] == 0.0
    unpaired = [SCENES.index(s) for s in SCENES if SCENES.index(s) not in swap]
    elsewhere = np.array([unpaired[0] if int(t) != unpaired[0] else unpaired[1] for t in labels])
    lost = congruence_accuracy(onehot(elsewhere), labels)
    assert lost["pair"] == 0.0 and np.isnan(lost["member"])
