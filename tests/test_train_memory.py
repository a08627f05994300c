"""Training's activation recomputation (issue 33: the edge preset peaked at 4.0 GB): the same
gradients and batch-norm statistics as keeping every activation, and far fewer bytes kept."""
from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from avsc_edge.model.memory import recompute_activations  # noqa: E402
from avsc_edge.model.mobilenet import MobileNetAudio  # noqa: E402
from avsc_edge.model.mobilenet_v1 import MobileNetV1Visual  # noqa: E402


def _step(net, x, recompute: bool):
    """(output, gradients, batch-norm buffers, bytes saved for the backward pass) of one step."""
    kept = []

    def pack(t):
        kept.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), recompute_activations(recompute):
        out = net(x)
    (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    return out.detach(), grads, {n: b.clone() for n, b in net.named_buffers()}, sum(kept)


@pytest.mark.parametrize("make,shape", [(lambda: MobileNetAudio(0.4), (4, 1, 128, 320)),
                                        (lambda: MobileNetV1Visual(0.25), (6, 3, 96, 96))])
def test_recomputed_activations_give_the_same_step_with_a_fraction_of_the_memory(make, shape):
    torch.manual_seed(11)
    net = make().train()
    twin = copy.deepcopy(net)
    x = torch.randn(shape)
    out_a, grads_a, bufs_a, kept_a = _step(net, x, recompute=False)
    out_b, grads_b, bufs_b, kept_b = _step(twin, x, recompute=True)
    torch.testing.assert_close(out_b, out_a)
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], rtol=1e-4, atol=1e-6, msg=name)
    for name in bufs_a:     # running statistics updated once, not again by the recomputation
        torch.testing.assert_close(bufs_b[name], bufs_a[name], msg=name)
    assert kept_b < 0.35 * kept_a, (kept_b, kept_a)


def test_outside_training_nothing_is_recomputed():
    net = MobileNetAudio(0.4).eval()
    with recompute_activations(True), torch.no_grad():
        out = net(torch.randn(2, 1, 128, 64))
    assert out.shape == (2, 2, net.out_channels) and out.grad_fn is None
