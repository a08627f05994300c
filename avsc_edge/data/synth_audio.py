"""Synthesised audio events: one small generator per event of ``labels.EVENTS``.

Each renderer returns a mono float32 signal of ``n`` samples at ``sr``; they are cheap (NumPy only),
distinct in spectrum and rhythm, and randomised by the generator passed in.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

Renderer = Callable[[np.random.Generator, int, int], np.ndarray]


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _bandnoise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.abs(x).max() + 1e-9)


def _onsets(rng: np.random.Generator, n: int, sr: int, rate_hz: float, jitter: float = 0.3) -> np.ndarray:
    period = sr / rate_hz
    starts = np.arange(rng.uniform(0, period), n, period)
    return (starts + rng.uniform(-jitter, jitter, starts.size) * period).clip(0, n - 1).astype(int)


def _place(n: int, starts: np.ndarray, grain: np.ndarray) -> np.ndarray:
    out = np.zeros(n)
    for s in starts:
        m = min(grain.size, n - s)
        out[s:s + m] += grain[:m]
    return out


def _decay(n: int, sr: int, tau: float) -> np.ndarray:
    return np.exp(-_t(n, sr) / tau)


def engine_hum(rng, n, sr):
    t = _t(n, sr)
    f0 = rng.uniform(55, 90)
    x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    return x * (1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))


def car_horn(rng, n, sr):
    g = int(sr * rng.uniform(0.3, 0.6))
    f = rng.uniform(380, 480)
    tg = _t(g, sr)
    grain = np.sign(np.sin(2 * np.pi * f * tg)) * 0.6 + np.sin(2 * np.pi * 1.26 * f * tg) * 0.4
    return _place(n, _onsets(rng, n, sr, rng.uniform(0.3, 0.6)), grain * np.hanning(g))


def bird_chirp(rng, n, sr):
    g = int(sr * 0.08)
    tg = _t(g, sr)
    f0, f1 = rng.uniform(2500, 3500), rng.uniform(4500, 6000)
    phase = 2 * np.pi * (f0 * tg + (f1 - f0) * tg ** 2 / (2 * tg[-1]))
    return _place(n, _onsets(rng, n, sr, rng.uniform(5, 9), 0.2), np.sin(phase) * np.hanning(g))


def footsteps(rng, n, sr):
    g = int(sr * 0.05)
    grain = _bandnoise(rng, g, sr, 100, 1500) * _decay(g, sr, 0.012)
    return 1.5 * _place(n, _onsets(rng, n, sr, rng.uniform(1.6, 2.2), 0.05), grain)


def speech_babble(rng, n, sr):
    t = _t(n, sr)
    x = np.zeros(n)
    for _ in range(3):
        syll = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6)), 0, None)
        x += _bandnoise(rng, n, sr, 300, 3000) * syll
    return x


def _struck(rng, n, sr, seconds, f_range, ratios, tau, rate_range):
    """A struck object (chime, bell): inharmonic partials with an exponential decay, repeated."""
    g = int(sr * seconds)
    tg = _t(g, sr)
    f = rng.uniform(*f_range)
    grain = sum(np.sin(2 * np.pi * f * r * tg) for r in ratios) * _decay(g, sr, tau) / len(ratios)
    return _place(n, _onsets(rng, n, sr, rng.uniform(*rate_range)), grain)


def chimes(rng, n, sr):
    return _struck(rng, n, sr, 0.8, (1200, 1800), (1, 2.4, 3.9), 0.25, (0.5, 1.0))


def rail_clack(rng, n, sr):
    g = int(sr * 0.04)
    grain = _bandnoise(rng, g, sr, 200, 2500) * _decay(g, sr, 0.008)
    period = rng.uniform(0.6, 0.8)
    starts = _onsets(rng, n, sr, 1 / period, 0.02)
    gap = int(sr * 0.12)
    return 2.0 * (_place(n, starts, grain) + _place(n, np.minimum(starts + gap, n - 1), grain))


def jet_roar(rng, n, sr):
    t = _t(n, sr)
    return _bandnoise(rng, n, sr, 80, 6000) * (0.6 + 0.4 * np.sin(2 * np.pi * t / (t[-1] + 1) + rng.uniform(0, 3)))


def door_beep(rng, n, sr):
    g = int(sr * 0.15)
    tg = _t(g, sr)
    beep = np.sin(2 * np.pi * rng.uniform(950, 1050) * tg) * np.hanning(g)
    pattern = np.concatenate([beep, np.zeros(int(sr * 0.1))] * 3)
    return _place(n, _onsets(rng, n, sr, rng.uniform(0.25, 0.4)), pattern)


def announcement(rng, n, sr):
    g = int(sr * 0.5)
    tg = _t(g, sr)
    ding = np.sin(2 * np.pi * 660 * tg) * _decay(g, sr, 0.2)
    dong = np.sin(2 * np.pi * 523 * tg) * _decay(g, sr, 0.2)
    voice = _bandnoise(rng, int(sr * 1.5), sr, 250, 2500) * np.clip(np.sin(2 * np.pi * 4 * _t(int(sr * 1.5), sr)), 0, None)
    return _place(n, _onsets(rng, n, sr, rng.uniform(0.2, 0.3), 0.1), np.concatenate([ding, dong, voice]))


def fountain_splash(rng, n, sr):
    crackle = (rng.random(n) < 0.002) * rng.standard_normal(n) * 3
    return _bandnoise(rng, n, sr, 2000, 9000) * 0.7 + crackle


def bell_ding(rng, n, sr):
    return _struck(rng, n, sr, 1.2, (700, 900), (1, 2.76, 5.4), 0.4, (0.3, 0.5))


RENDERERS: dict[str, Renderer] = {
    f.__name__: f for f in (engine_hum, car_horn, bird_chirp, footsteps, speech_babble, chimes,
                            rail_clack, jet_roar, door_beep, announcement, fountain_splash, bell_ding)
}


def render_scene_audio(rng: np.random.Generator, events: list[str], seconds: float, sr: int) -> np.ndarray:
    """Stereo float32 ``[2, samples]``: background noise plus each event at a random level and pan."""
    n = int(round(seconds * sr))
    left = 0.02 * _bandnoise(rng, n, sr, 20, sr / 2 - 1) * rng.uniform(0.5, 2.0)
    right = left.copy()
    for name in events:
        x = RENDERERS[name](rng, n, sr)
        x = x / (np.sqrt(np.mean(x ** 2)) + 1e-9) * 0.08 * rng.uniform(0.5, 1.5)
        pan = rng.uniform(0.2, 0.8)
        left += x * (1 - pan)
        right += x * pan
    out = np.stack([left, right])
    peak = np.abs(out).max()
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)
