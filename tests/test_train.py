"""Training: loss goes down, checkpoints are safetensors with metadata, resume, DDP world size 1."""
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avsc_edge.formats.checkpoint import load_checkpoint, read_info  # noqa: E402
from avsc_edge.config import ClipConfig, FeatureConfig, ModelConfig, TrainConfig  # noqa: E402
from avsc_edge.data import TauDataset  # noqa: E402
from avsc_edge.data.featureset import load_featureset  # noqa: E402
from avsc_edge.errors import ArtifactError  # noqa: E402
from avsc_edge.training.train import STATE_FILE, lr_factor, train  # noqa: E402

from conftest import TINY_SECONDS  # noqa: E402

SMALL = ModelConfig(d=32, heads=4, audio_channels=(8, 16), visual_channels=(8, 16), visual_blocks=(1, 1))
CLIP = ClipConfig(seconds=TINY_SECONDS, frame_size=32)


@pytest.fixture(scope="module")
def data(tiny_dataset):
    ds = TauDataset(tiny_dataset)
    return load_featureset(ds, "train", FeatureConfig(), CLIP, False), load_featureset(ds, "evaluate", FeatureConfig(), CLIP, False)


def test_short_run_lowers_the_loss(tmp_path, tiny_dataset, data):
    r = train(tiny_dataset, tmp_path, SMALL, TrainConfig(epochs=12, batch_size=4, lr=1e-2, warmup_epochs=0),
              FeatureConfig(), CLIP, progress=False, data=data)
    losses = [h["loss"] for h in r.history]
    assert losses[-1] < 0.85 * losses[0], losses
    assert "loss_ceoa" in r.history[0] and "loss_event_tags" in r.history[0]
    assert 0 <= r.metrics["evaluate"]["accuracy"] <= 1


def test_checkpoint_is_safetensors_with_configs(tiny_checkpoint):
    assert tiny_checkpoint.suffix == ".safetensors"
    assert tiny_checkpoint.read_bytes()[8:9] == b"{"  # a JSON header, not a pickle
    info = read_info(tiny_checkpoint)
    assert info.model_config.d == 32 and info.clip_config.seconds == TINY_SECONDS
    assert info.labels[0] == "airport" and len(info.events) == 12
    weights, _ = load_checkpoint(tiny_checkpoint)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())


def test_resume_equals_uninterrupted(tmp_path, tiny_dataset, data):
    cfg = TrainConfig(epochs=3, batch_size=4, seed=5)
    full = train(tiny_dataset, tmp_path / "full", SMALL, cfg, FeatureConfig(), CLIP, progress=False, data=data)
    class Interrupted(Exception):
        pass

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(tiny_dataset, tmp_path / "part", SMALL, cfg, FeatureConfig(), CLIP, progress=False, data=data,
              on_epoch=stop_after_two)
    resumed = train(tiny_dataset, tmp_path / "part", SMALL, cfg, FeatureConfig(), CLIP, resume=True,
                    progress=False, data=data)
    assert len(resumed.history) == 3
    assert resumed.history[-1]["loss"] == pytest.approx(full.history[-1]["loss"], rel=1e-4)
    a, _ = load_checkpoint(full.checkpoint)
    b, _ = load_checkpoint(resumed.checkpoint)
    assert max(float((a[k].float() - b[k].float()).abs().max()) for k in a) < 1e-4


def test_resume_without_state_is_a_clear_error(tmp_path, tiny_dataset, data):
    with pytest.raises(ArtifactError, match="nothing to resume"):
        train(tiny_dataset, tmp_path, SMALL, TrainConfig(epochs=1), FeatureConfig(), CLIP, resume=True,
              progress=False, data=data)


def test_ddp_path_with_world_size_one(tmp_path, tiny_dataset, data, monkeypatch):
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)).items():
        monkeypatch.setenv(k, v)
    try:
        r = train(tiny_dataset, tmp_path, SMALL, TrainConfig(epochs=1, batch_size=4), FeatureConfig(), CLIP,
                  progress=False, data=data)
        assert dist.is_initialized() and dist.get_backend() == "gloo" and dist.get_world_size() == 1
        assert (tmp_path / STATE_FILE).is_file() and r.checkpoint.is_file()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_schedule_warms_up_then_decays():
    f = [lr_factor(s, 100, 10) for s in range(100)]
    assert f[0] < f[5] < f[9] == 1.0 and f[50] < 1.0 and f[99] < 0.01
    assert np.all(np.diff(f[10:]) <= 1e-12)


def test_two_runs_building_one_feature_cache_at_once_both_succeed(tiny_dataset, tmp_path, monkeypatch):
    """Ablation runs split over cores share a dataset: each writes the cache under a name of its
    own (one shared temporary name made the slower run's rename fail: FileNotFoundError)."""
    import shutil
    import threading

    from avsc_edge.data import featureset

    root = tmp_path / "d"
    shutil.copytree(tiny_dataset, root, ignore=shutil.ignore_patterns(".avsc_cache"))
    both_written = threading.Barrier(2, timeout=60)
    savez = np.savez

    def savez_then_wait(path, **arrays):
        savez(path, **arrays)
        both_written.wait()      # both temporaries are on disk before either is renamed

    monkeypatch.setattr(featureset.np, "savez", savez_then_wait)
    results, errors = [], []

    def load() -> None:
        try:
            results.append(load_featureset(TauDataset(root), "train", FeatureConfig(), CLIP, False))
        except Exception as exc:   # noqa: BLE001 - the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    np.testing.assert_array_equal(results[0].log_mel, results[1].log_mel)
    assert [p.name.endswith(".tmp.npz") for p in (root / ".avsc_cache").iterdir()] == [False]
