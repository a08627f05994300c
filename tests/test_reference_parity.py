"""``base`` sees exactly what its pretrained checkpoints saw, checked against the references' own
code (see ``tests/references.py``), on fresh random signals and on real photographs:

* audio: the log-mel of files and arrays (mono, stereo; 32, 44.1, 48 kHz) vs ``librosa.load(sr=32000,
  mono=True)`` + torchlibrosa's front end with FP64 tables, on every frame within 80 dB of the peak;
* PANNs' ``Cnn14`` (random weights, saved in its public ``{"model": ...}`` layout and loaded by the
  SDK's loader) end to end from a 48 kHz stereo file;
* frames vs torchvision's ImageNet eval transform (Resize(256), CenterCrop(224), normalisation), on
  photographs and on decoded 720p video frames;
* checkpoints of a related but different architecture (ResNet-34, PANNs' Cnn14 widths that do not
  fit) are refused.

Each of these failed before the front ends were aligned (stereo 3 dB hot, zero-padded edge frames,
squashed frames): the ``*_would_fail`` checks keep the tests able to tell."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avsc_edge.config import preset  # noqa: E402
from avsc_edge.errors import ArtifactError  # noqa: E402
from avsc_edge.preprocess.frames import preprocess_frames  # noqa: E402
from avsc_edge.preprocess.windows import Recording  # noqa: E402

from references import need, panns_models, sample_photographs, torchvision  # noqa: E402

FEATURES, CLIP, MODEL = preset("base")
SECONDS = 10.0
DB_RANGE = 80.0       # frames and bins within 80 dB of the peak are compared
LOGMEL_TOLERANCE_DB = 1e-3   # measured <= 4e-4 dB (float32 window and mel tables; the FFT is double)


def scene_audio(sr: int, channels: int, rng, seconds: float = SECONDS) -> np.ndarray:
    """Float32 [channels, samples]: tones gliding in and out, enveloped noise and clicks, different
    per channel; peaks below full scale so that 16-bit files do not clip."""
    n = int(sr * seconds)
    t = np.arange(n) / sr
    out = np.zeros((channels, n))
    for c in range(channels):
        for _ in range(4):
            f0, f1 = rng.uniform(80, 12000, 2)
            phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds))
            out[c] += rng.uniform(0.02, 0.15) * np.sin(phase) * np.clip(np.sin(np.pi * t * rng.uniform(0.1, 1)), 0, 1)
        out[c] += rng.standard_normal(n) * 0.03 * (1 + np.sin(2 * np.pi * t * rng.uniform(0.2, 2)))
        clicks = rng.integers(0, n, 20)
        out[c, clicks] += rng.uniform(-0.3, 0.3, 20)
    return (out / np.abs(out).max() * 0.7).astype(np.float32)


def write_wav(path, audio: np.ndarray, sr: int):
    sf = need("soundfile")
    sf.write(str(path), audio.T, sr, subtype="PCM_16")
    return path


# -- the references ---------------------------------------------------------------------------
def torchlibrosa_log_mel(wave: np.ndarray) -> np.ndarray:
    """torchlibrosa's Spectrogram + LogmelFilterBank as PANNs configures them, in FP64 with FP64
    tables (its own DFT matrix and librosa's window and filters): [n_mels, T]."""
    librosa = need("librosa")
    stft = need("torchlibrosa.stft")
    f = FEATURES
    spec = stft.Spectrogram(n_fft=f.n_fft, hop_length=f.hop_length, win_length=f.n_fft, window="hann",
                            center=True, pad_mode="reflect", freeze_parameters=True).double()
    mel = stft.LogmelFilterBank(sr=f.sr, n_fft=f.n_fft, n_mels=f.n_mels, fmin=f.fmin, fmax=f.fmax, ref=1.0,
                                amin=1e-10, top_db=None, freeze_parameters=True).double()
    conv = spec.stft
    dft = conv.dft_matrix(f.n_fft)[:, :f.n_fft // 2 + 1] * librosa.filters.get_window("hann", f.n_fft, fftbins=True)[:, None]
    conv.conv_real.weight.data = torch.from_numpy(np.real(dft).T[:, None, :].copy())
    conv.conv_imag.weight.data = torch.from_numpy(np.imag(dft).T[:, None, :].copy())
    mel.melW.data = torch.from_numpy(librosa.filters.mel(sr=f.sr, n_fft=f.n_fft, n_mels=f.n_mels, fmin=f.fmin,
                                                         fmax=f.fmax, dtype=np.float64).T.copy())
    with torch.no_grad():
        out = mel(spec(torch.from_numpy(np.asarray(wave, np.float64))[None]))
    return out[0, 0].T.numpy()


def librosa_wave(path_or_array, sr: int | None = None) -> np.ndarray:
    """What PANNs feeds Cnn14: ``librosa.load(path, sr=32000, mono=True)`` (or the same on an array),
    the first window's samples."""
    librosa = need("librosa")
    if sr is None:
        y, _ = librosa.load(str(path_or_array), sr=FEATURES.sr, mono=True)
    else:
        y = librosa.resample(librosa.to_mono(path_or_array), orig_sr=sr, target_sr=FEATURES.sr)
    n = int(SECONDS * FEATURES.sr)
    return np.pad(y, (0, max(0, n - len(y))))[:n]


def sdk_log_mel(recording: Recording) -> np.ndarray:
    return next(recording.windows()).log_mel[0]


def max_db_error(ours: np.ndarray, reference: np.ndarray) -> float:
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    loud = reference >= reference.max() - DB_RANGE
    return float(np.abs(ours - reference)[loud].max())


def assert_log_mel_matches(ours: np.ndarray, reference: np.ndarray) -> None:
    assert max_db_error(ours, reference) <= LOGMEL_TOLERANCE_DB


# -- audio ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sr", [32000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_log_mel_of_files_and_arrays_equals_torchlibrosa_on_every_frame(sr, channels, tmp_path, rng):
    audio = scene_audio(sr, channels, rng)
    path = write_wav(tmp_path / "clip.wav", audio, sr)
    from_file = sdk_log_mel(Recording.from_files(path, None, FEATURES, CLIP))
    assert_log_mel_matches(from_file, torchlibrosa_log_mel(librosa_wave(path)))
    array = need("soundfile").read(str(path), dtype="float32", always_2d=True)[0].T   # the file's exact samples
    from_array = sdk_log_mel(Recording.from_arrays(array, sr, None, None, FEATURES, CLIP))
    assert_log_mel_matches(from_array, torchlibrosa_log_mel(librosa_wave(array, sr)))


def test_edge_frames_would_fail_with_zero_padding(rng):
    """The check above can tell: a zero-padded STFT (the old ``base``) is dB off at the edges."""
    from dataclasses import replace

    from avsc_edge.preprocess.audio_features import log_mel, log_mel_reference

    wave = librosa_wave(scene_audio(FEATURES.sr, 1, rng)[0], FEATURES.sr)
    reference = torchlibrosa_log_mel(wave)
    assert_log_mel_matches(log_mel(wave, FEATURES), reference)
    assert_log_mel_matches(log_mel_reference(wave, FEATURES), reference)
    assert max_db_error(log_mel(wave, replace(FEATURES, pad_mode="constant")), reference) > 0.5


def test_stereo_is_the_channel_mean_on_every_path(tmp_path, rng):
    """Files, arrays and streams downmix as librosa does ((L+R)/2), not libswresample's (L+R)/sqrt(2)."""
    from avsc_edge.media import load_audio, resample

    stereo = scene_audio(48000, 2, rng, seconds=3.0)
    path = write_wav(tmp_path / "s.wav", stereo, 48000)
    exact = need("soundfile").read(str(path), dtype="float32", always_2d=True)[0].T
    reference = need("librosa").resample(exact.mean(axis=0), orig_sr=48000, target_sr=FEATURES.sr)
    n = len(reference) - 64
    for ours in (load_audio(path, FEATURES.sr)[0], resample(exact, 48000, FEATURES.sr)[0]):
        np.testing.assert_allclose(ours[:n], reference[:n], atol=1e-6)
    gain_db = 20 * np.log10(np.std(load_audio(path, FEATURES.sr)[0][:n]) / np.std(reference[:n]))
    assert abs(gain_db) < 0.01     # libswresample's mono downmix read +3.01 dB here


@pytest.fixture(scope="module")
def cnn14_file(tmp_path_factory):
    """PANNs' own Cnn14 with its own random initialisation, the AudioSet head scaled so that the
    probabilities spread over (0, 1) as a trained tagger's do (at initialisation they all sit at
    0.50 +- 0.01, which hides any input difference), saved as PANNs publishes it."""
    models = panns_models()
    torch.manual_seed(0)
    f = FEATURES
    net = models.Cnn14(sample_rate=f.sr, window_size=f.n_fft, hop_size=f.hop_length, mel_bins=f.n_mels,
                       fmin=f.fmin, fmax=f.fmax, classes_num=527).eval()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        batch = np.stack([scene_audio(f.sr, 1, rng, seconds=3.0)[0] for _ in range(2)])
        logits = torch.logit(net(torch.from_numpy(batch))["clipwise_output"])
        net.fc_audioset.weight.mul_(2.0 / logits.std())
        net.fc_audioset.bias.zero_()
    path = tmp_path_factory.mktemp("cnn14") / "Cnn14.pth"
    torch.save({"model": net.state_dict(), "iteration": 0}, path)
    return path, net


def test_audioset_output_from_a_stereo_48k_file_equals_panns(cnn14_file, tmp_path, rng):
    """load_audio_tagger + the SDK's input path vs librosa.load(sr=32000, mono=True) + PANNs Cnn14
    (measured rel ~3e-7; a 3 dB hotter input, the old stereo downmix, gives ~3e-2)."""
    from avsc_edge.model.taggers import load_audio_tagger

    path, reference_net = cnn14_file
    tagger = load_audio_tagger(path, MODEL, FEATURES.n_mels)
    clip = write_wav(tmp_path / "stereo48k.wav", scene_audio(48000, 2, rng), 48000)
    mel = sdk_log_mel(Recording.from_files(clip, None, FEATURES, CLIP))
    with torch.no_grad():
        ours = tagger(torch.from_numpy(mel)[None, None]).numpy()[0]
        hot = tagger(torch.from_numpy(mel + 3.0103)[None, None]).numpy()[0]
        reference = reference_net(torch.from_numpy(librosa_wave(clip))[None])["clipwise_output"].numpy()[0]
    assert reference.std() > 0.1, "the random Cnn14 must not be saturated for this check to mean anything"
    rel = lambda x: np.linalg.norm(x - reference) / np.linalg.norm(reference)  # noqa: E731
    assert rel(ours) <= 1e-3, rel(ours)
    assert rel(hot) > 1e-2       # the check can tell a 3 dB gain


# -- frames -----------------------------------------------------------------------------------
def imagenet_eval(rgb: np.ndarray) -> np.ndarray:
    """torchvision's ImageNet eval transform on a PIL image: [3, 224, 224] float32."""
    from PIL import Image

    T = torchvision().transforms
    transform = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                           T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    return transform(Image.fromarray(rgb)).numpy()


FRAME_TOLERANCE = 0.06    # mean |d| of the normalised inputs (the filters differ: PIL's vs libswscale's;
                          # measured 0.0024-0.0026 on the photographs, 0.021 on decoded 720p frames)


def test_frames_of_photographs_equal_the_imagenet_eval_transform():
    for name, photo in sample_photographs().items():
        ours = preprocess_frames(photo[None], CLIP)[0]
        reference = imagenet_eval(photo)
        assert np.abs(ours - reference).mean() <= FRAME_TOLERANCE, name
        from dataclasses import replace

        squashed = preprocess_frames(photo[None], replace(CLIP, frame_geometry="squash"))[0]
        assert np.abs(squashed - reference).mean() > 0.15, name    # the old geometry would fail


def test_decoded_720p_frames_equal_the_imagenet_eval_transform(tmp_path):
    """A 1280x720 H.264 clip made of the photographs: the frames the SDK samples (files, arrays)
    vs the transform applied to the same decoded frames at full resolution."""
    import av
    from PIL import Image

    from avsc_edge.data.synth import write_av
    from avsc_edge.media import FrameSampler

    photos = [np.asarray(Image.fromarray(p).resize((1280, 720), Image.BICUBIC)) for p in sample_photographs().values()]
    frames = np.stack([photos[i // 10 % 2] for i in range(40)])          # 4 s at 10 fps, a cut every second
    path = tmp_path / "720p.mp4"
    write_av(path, frames, 10.0, None, 48000)
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    times = [0.55, 1.55, 2.55, 3.55]
    with FrameSampler(path, CLIP.frame_size, "exact", geometry=CLIP.frame_geometry) as sampler:
        sampled, found = sampler.sample(times)
    for rgb, t in zip(sampled, found):
        full = decoded[int(round(t * 10))]
        ours = preprocess_frames(rgb[None], CLIP)[0]
        assert np.abs(ours - imagenet_eval(full)).mean() <= FRAME_TOLERANCE
        from_array = preprocess_frames(full[None], CLIP)[0]     # RGB at full size, then the same scaling
        assert np.abs(from_array - imagenet_eval(full)).mean() <= 0.01
        assert np.abs(from_array - ours).mean() <= 0.03        # files scale from YUV: chroma is filtered once


# -- checkpoints of another architecture ---------------------------------------------------------
def test_a_related_architecture_that_loads_by_name_is_refused(tmp_path):
    from avsc_edge.model.backbones import VisualBackbone
    from avsc_edge.model.pretrained import load_resnet
    from avsc_edge.model.taggers import load_image_tagger

    models = torchvision().models
    resnet18, resnet34 = tmp_path / "resnet18.pth", tmp_path / "resnet34.pth"
    torch.save(models.resnet18().state_dict(), resnet18)
    torch.save(models.resnet34().state_dict(), resnet34)   # every ResNet-18 name and shape is in it
    backbone = VisualBackbone(MODEL.visual_channels, MODEL.visual_blocks)
    assert "layer4.1.conv2.weight" in load_resnet(backbone, resnet18).loaded
    with pytest.raises(ArtifactError, match="different architecture"):
        load_resnet(backbone, resnet34)
    with pytest.raises(ArtifactError, match="different architecture"):
        load_image_tagger(resnet34, MODEL)


def test_resnet18_from_torchvision_equals_the_sdk_tagger_on_sdk_frames(tmp_path):
    """torchvision's resnet18 (random weights) on the eval transform of a photograph vs the SDK's
    ImageTagger, loaded from the same file, on the SDK's frames."""
    from avsc_edge.model.taggers import load_image_tagger

    models = torchvision().models
    torch.manual_seed(0)
    net = models.resnet18().eval()
    path = tmp_path / "resnet18.pth"
    torch.save(net.state_dict(), path)
    tagger = load_image_tagger(path, MODEL)
    photo = sample_photographs()["china.jpg"]
    with torch.no_grad():
        reference = torch.softmax(net(torch.from_numpy(imagenet_eval(photo))[None]), -1).numpy()[0]
        ours = tagger(torch.from_numpy(preprocess_frames(photo[None], CLIP))).numpy()[0]
    assert np.argmax(ours) == np.argmax(reference)
    assert np.abs(ours - reference).max() < 0.05 * reference.max()
