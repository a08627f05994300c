"""CEOA loss properties on fresh random embeddings."""
import pytest

torch = pytest.importorskip("torch")

from avsc_edge.model.ceoa import ceoa_loss, event_object_similarity  # noqa: E402


def _aligned(b=8, n=5, d=16, noise=0.1):
    events = torch.randn(b, n, d)
    objects = events[:, torch.randperm(n)] + noise * torch.randn(b, n, d)
    return events, objects


def test_aligned_pairs_score_lower_loss_than_shuffled():
    for _ in range(5):
        events, objects = _aligned()
        shuffled = objects[torch.roll(torch.arange(8), 1)]
        assert ceoa_loss(events, objects) < ceoa_loss(events, shuffled)


def test_invariant_to_batch_order():
    events, objects = _aligned()
    perm = torch.randperm(8)
    w_e, w_o = torch.rand(8, 5), torch.rand(8, 5)
    a = ceoa_loss(events, objects, 0.1, w_e, w_o)
    b = ceoa_loss(events[perm], objects[perm], 0.1, w_e[perm], w_o[perm])
    assert torch.allclose(a, b, atol=1e-5)


def test_similarity_is_best_match_and_bounded():
    events, objects = _aligned(b=4, noise=0.0)
    sim = event_object_similarity(events, objects)
    assert sim.shape == (4, 4)
    assert torch.allclose(sim.diagonal(), torch.ones(4), atol=1e-5)  # each event finds itself among the objects
    assert (sim <= 1 + 1e-5).all() and (sim >= -1 - 1e-5).all()


def test_presence_weights_ignore_absent_events():
    from avsc_edge.model.ceoa import _weighted_best_match

    events, objects = _aligned(b=4, noise=0.0)
    e, o = torch.nn.functional.normalize(events, dim=-1), torch.nn.functional.normalize(objects, dim=-1)
    garbage = e.clone()
    garbage[:, 0] = torch.nn.functional.normalize(torch.randn(4, 16), dim=-1)
    w, ones = torch.ones(4, 5), torch.ones(4, 5)
    w[:, 0] = 0  # slot 0 absent
    assert torch.allclose(_weighted_best_match(e, o, w, ones), _weighted_best_match(garbage, o, w, ones), atol=1e-6)
    assert not torch.allclose(_weighted_best_match(e, o, ones, ones), _weighted_best_match(garbage, o, ones, ones))


def test_absent_objects_cannot_be_the_best_match():
    from avsc_edge.model.ceoa import _weighted_best_match

    e = torch.nn.functional.normalize(torch.randn(2, 3, 8), dim=-1)
    o = e.clone()  # object l == event l
    wb = torch.ones(2, 3)
    wb[1] = torch.tensor([0.0, 0.0, 1.0])  # clip 1 shows only object 2
    s = _weighted_best_match(e, o, torch.ones(2, 3), wb)
    assert torch.allclose(s[0, 0], torch.tensor(1.0), atol=1e-5)
    assert s[0, 1] < 1.0 - 1e-3  # events 0 and 1 of clip 0 find no present partner in clip 1


def test_gradients_flow():
    events, objects = _aligned()
    events.requires_grad_(True)
    ceoa_loss(events, objects).backward()
    assert events.grad is not None and torch.isfinite(events.grad).all() and events.grad.abs().sum() > 0
