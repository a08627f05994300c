"""The synthetic generator: layout, real containers, determinism, designed ambiguity."""
import json
import wave

import av
import numpy as np

from avsc_edge.data.scenes import SCENE_SOURCES, SOURCES
from avsc_edge.data.synth import GROUND_TRUTH_FILE, SynthConfig, generate, plan_clip


def test_layout_and_real_streams(tiny_dataset):
    wavs = sorted((tiny_dataset / "audio").glob("*.wav"))
    mp4s = sorted((tiny_dataset / "video").glob("*.mp4"))
    assert len(wavs) == len(mp4s) == 20
    assert [w.stem for w in wavs] == [m.stem for m in mp4s]
    with wave.open(str(wavs[0])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (48000, 2, 2)
        assert w.getnframes() == int(1.5 * 48000)
    with av.open(str(mp4s[0])) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
    truth = json.loads((tiny_dataset / GROUND_TRUTH_FILE).read_text())["clips"]
    assert set(truth) == {w.stem for w in wavs}
    for clip in truth.values():
        assert clip["events"] and clip["objects"]
        assert all(tuple(p) in SOURCES for p in clip["pairs"])


def test_deterministic_per_seed(tmp_path):
    cfg = SynthConfig(clips=20, seed=3, duration=0.5, width=32, height=32)
    a, b = generate(tmp_path / "a", cfg), generate(tmp_path / "b", cfg)
    c = generate(tmp_path / "c", SynthConfig(clips=20, seed=4, duration=0.5, width=32, height=32))
    for wav in (a / "audio").glob("*.wav"):
        assert wav.read_bytes() == (b / "audio" / wav.name).read_bytes()
    assert (a / GROUND_TRUTH_FILE).read_text() == (b / GROUND_TRUTH_FILE).read_text()
    assert (a / "meta.csv").read_text() == (b / "meta.csv").read_text()
    different = [w.name for w in (a / "audio").glob("*.wav") if w.read_bytes() != (c / "audio" / w.name).read_bytes()]
    assert len(different) == 20


def test_plan_is_a_pure_function_of_seed_and_index():
    cfg = SynthConfig(seed=11)
    assert plan_clip(cfg, 5)[0] == plan_clip(cfg, 5)[0]
    assert plan_clip(cfg, 5)[0] != plan_clip(cfg, 15)[0] or plan_clip(cfg, 5)[0].stem != plan_clip(cfg, 15)[0].stem


def test_single_modalities_are_ambiguous_by_design():
    from avsc_edge.data.scenes import CONTEXT, SIGNATURES

    heard_alike = [("bus", "street_traffic"), ("metro", "tram"), ("metro_station", "street_pedestrian")]
    seen_alike = [("airport", "shopping_mall"), ("bus", "metro"), ("park", "public_square")]
    for a, b in heard_alike:
        assert SIGNATURES[a][0] == SIGNATURES[b][0] and SIGNATURES[a][1] != SIGNATURES[b][1]
    for a, b in seen_alike:
        assert SIGNATURES[a][1] == SIGNATURES[b][1] and SIGNATURES[a][0] != SIGNATURES[b][0]
    assert len(set(SIGNATURES.values())) == len(SIGNATURES)                     # both together: every scene
    background = {x for src, _ in CONTEXT for x in src}
    assert not background & {x for sig in SIGNATURES.values() for x in sig}     # no scene hides in the background
    for scene, sources in SCENE_SOURCES.items():                                 # the same background everywhere
        assert {s: w for s, w in sources.items() if SOURCES[s] != SIGNATURES[scene]} == \
            {s: w for s, w in SCENE_SOURCES["bus"].items() if SOURCES[s] != SIGNATURES["bus"]}


def _plan_ceilings(cfg):
    from avsc_edge.data.ceilings import tag_ceilings
    from avsc_edge.data.synth import _split

    plans = [plan_clip(cfg, i)[0] for i in range(cfg.clips)]
    train, evaluate = _split(plans, cfg.evaluate_fraction)
    truth = {p.stem: {"scene": p.scene, "events": list(p.events), "objects": list(p.objects),
                      "pairs": [list(x) for x in p.pairs]} for p in plans}
    sources = sorted({tuple(x) for c in truth.values() for x in c["pairs"]})
    return tag_ceilings(truth, [p.stem for p in train], [p.stem for p in evaluate], sources)


def test_designed_ceilings_one_modality_confuses_both_resolve():
    c = _plan_ceilings(SynthConfig(clips=2000, seed=5))
    assert 0.55 <= c["audio"] <= 0.80 and 0.55 <= c["visual"] <= 0.80, c
    assert c["audio_visual"] >= 0.95, c


def test_designed_ceilings_congruence_needs_the_pairs():
    c = _plan_ceilings(SynthConfig(clips=2000, seed=5, congruence=True))
    assert 0.45 <= c["audio_visual"] <= 0.70, c           # the tags find the scene pair, not its member
    assert c["audio_visual_pairs"] >= 0.95, c


def test_generate_records_the_ceilings(tiny_dataset):
    from avsc_edge.data import TauDataset
    from avsc_edge.data.ceilings import INPUTS, dataset_ceilings

    stored = json.loads((tiny_dataset / GROUND_TRUTH_FILE).read_text())["ceilings"]
    assert set(stored) == set(INPUTS) and all(0 <= v <= 1 for v in stored.values())
    assert dataset_ceilings(TauDataset(tiny_dataset)) == stored


def test_audio_events_are_audible(tiny_dataset):
    with wave.open(str(next((tiny_dataset / "audio").glob("*.wav")))) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    assert 0.01 < np.sqrt(np.mean(x ** 2)) < 0.9


def test_congruence_scenes_are_told_apart_only_by_which_event_goes_with_which_object():
    from avsc_edge.data.scenes import CONGRUENCE_PAIRS, congruence_plan
    from avsc_edge.data.synth import SynthConfig, plan_clip

    cfg = SynthConfig(clips=4000, seed=0, congruence=True)
    plans = [plan_clip(cfg, i)[0] for i in range(cfg.clips)]
    for first, second, (e1, e2), (o1, o2) in CONGRUENCE_PAIRS:
        (keys_a, context_a), (keys_b, context_b) = congruence_plan(first), congruence_plan(second)
        assert context_a == context_b and sorted(keys_a) != sorted(keys_b)
        assert sorted(e for e, _ in keys_a) == sorted(e for e, _ in keys_b)     # the same events ...
        assert sorted(o for _, o in keys_a) == sorted(o for _, o in keys_b)     # ... and objects
        a = [p for p in plans if p.scene == first]
        b = [p for p in plans if p.scene == second]

        def rate(clips, test):
            return sum(map(test, clips)) / len(clips)

        for event in {e for p in a + b for e in p.events}:      # audio alone: same rates (400 clips each)
            assert abs(rate(a, lambda p: event in p.events) - rate(b, lambda p: event in p.events)) < 0.12, event
        for obj in {o for p in a + b for o in p.objects}:       # vision alone: same rates
            assert abs(rate(a, lambda p: obj in p.objects) - rate(b, lambda p: obj in p.objects)) < 0.12, obj

        def congruent(p):                                        # the first scene's pairing, both seen and heard
            return (e1 in p.events and o1 in p.objects) or (e2 in p.events and o2 in p.objects)

        assert rate(a, congruent) == 1.0 and rate(b, congruent) < 0.15
