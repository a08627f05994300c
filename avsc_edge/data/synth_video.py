"""Synthesised visual objects drawn with OpenCV: one small painter per object of ``labels.OBJECTS``.

A painter draws its object into an RGB frame at a position ``(x, y)`` (top-left, pixels) and scale.
Objects drift slowly across a clip so that sampled frames differ.
"""
from __future__ import annotations

from typing import Callable, Iterator

import cv2
import numpy as np

Painter = Callable[[np.ndarray, int, int, float, tuple], None]


def _c(color) -> tuple[int, int, int]:
    return tuple(int(v) for v in color)


def bus_body(img, x, y, s, col):
    w, h = int(60 * s), int(30 * s)
    cv2.rectangle(img, (x, y), (x + w, y + h), _c(col), -1)
    for i in range(4):
        cv2.rectangle(img, (x + 4 + i * w // 4, y + 4), (x + (i + 1) * w // 4 - 2, y + h // 2), (200, 230, 255), -1)
    for cx in (x + w // 5, x + 4 * w // 5):
        cv2.circle(img, (cx, y + h), max(2, int(5 * s)), (20, 20, 20), -1)


def car(img, x, y, s, col):
    w, h = int(30 * s), int(12 * s)
    cv2.rectangle(img, (x, y + h // 2), (x + w, y + h), _c(col), -1)
    cv2.rectangle(img, (x + w // 4, y), (x + 3 * w // 4, y + h // 2), _c(col), -1)
    for cx in (x + w // 5, x + 4 * w // 5):
        cv2.circle(img, (cx, y + h), max(2, int(3 * s)), (20, 20, 20), -1)


def tree(img, x, y, s, col):
    cv2.rectangle(img, (x + int(8 * s), y + int(18 * s)), (x + int(12 * s), y + int(34 * s)), (60, 40, 20), -1)
    cv2.circle(img, (x + int(10 * s), y + int(12 * s)), int(11 * s), (30, int(120 + col[1] % 80), 40), -1)


def person(img, x, y, s, col):
    cv2.circle(img, (x + int(5 * s), y + int(4 * s)), max(2, int(4 * s)), (230, 190, 160), -1)
    cv2.rectangle(img, (x + int(2 * s), y + int(8 * s)), (x + int(8 * s), y + int(22 * s)), _c(col), -1)


def crowd(img, x, y, s, col):
    for i in range(5):
        person(img, x + int(i * 8 * s), y + int((i % 2) * 4 * s), s * 0.8, np.roll(col, i))


def shop_sign(img, x, y, s, col):
    w, h = int(34 * s), int(12 * s)
    cv2.rectangle(img, (x, y), (x + w, y + h), _c(col), -1)
    for i in range(3):
        cv2.line(img, (x + 4 + i * w // 3, y + h // 2), (x + (i + 1) * w // 3 - 2, y + h // 2), (255, 255, 255), 1)


def rail(img, x, y, s, col):
    h, w = img.shape[:2]
    y0 = min(h - 6, y + int(20 * s))
    for k in range(0, w, max(4, int(8 * s))):
        cv2.line(img, (k, y0 - 3), (k, y0 + 5), (90, 60, 30), 2)
    cv2.line(img, (0, y0), (w, y0), (160, 160, 170), 2)
    cv2.line(img, (0, y0 + 3), (w, y0 + 3), (160, 160, 170), 2)


def window(img, x, y, s, col):
    w, h = int(40 * s), int(26 * s)
    cv2.rectangle(img, (x, y), (x + w, y + h), (170, 210, 240), -1)
    for i in range(1, 3):
        cv2.line(img, (x + i * w // 3, y), (x + i * w // 3, y + h), (80, 80, 90), 2)
    cv2.line(img, (x, y + h // 2), (x + w, y + h // 2), (80, 80, 90), 2)


def sliding_door(img, x, y, s, col):
    w, h = int(14 * s), int(32 * s)
    cv2.rectangle(img, (x, y), (x + w, y + h), (150, 150, 155), -1)
    cv2.rectangle(img, (x + w + 3, y), (x + 2 * w + 3, y + h), (150, 150, 155), -1)
    cv2.rectangle(img, (x + 3, y + 4), (x + w - 3, y + h // 2), (190, 220, 240), -1)


def display_board(img, x, y, s, col):
    w, h = int(36 * s), int(16 * s)
    cv2.rectangle(img, (x, y), (x + w, y + h), (10, 10, 10), -1)
    for r in range(3):
        cv2.line(img, (x + 3, y + 4 + r * 4), (x + w - 3 - r * 5, y + 4 + r * 4), (255, 200, 0), 1)


def fountain(img, x, y, s, col):
    cx, cy = x + int(16 * s), y + int(24 * s)
    cv2.ellipse(img, (cx, cy), (int(16 * s), int(6 * s)), 0, 0, 180, (120, 120, 130), -1)
    for k in range(-2, 3):
        cv2.line(img, (cx, cy - 2), (cx + int(k * 5 * s), cy - int(14 * s)), (90, 160, 255), 1)


def overhead_wire(img, x, y, s, col):
    w = img.shape[1]
    y0 = max(2, y // 4)
    cv2.line(img, (0, y0), (w, y0 + 2), (40, 40, 40), 1)
    cv2.line(img, (0, y0 + 4), (w, y0 + 6), (40, 40, 40), 1)
    cv2.line(img, (x, y0), (x, y0 + int(40 * s)), (70, 70, 70), 2)


PAINTERS: dict[str, Painter] = {
    f.__name__: f for f in (bus_body, car, tree, person, crowd, shop_sign, rail, window,
                            sliding_door, display_board, fountain, overhead_wire)
}


def iter_scene_frames(rng: np.random.Generator, objects: list[str], num_frames: int,
                      width: int, height: int) -> Iterator[np.ndarray]:
    """RGB uint8 ``[height, width, 3]`` frames, one at a time: a random background with drifting
    objects and sensor-like noise. Frames larger than 320 px wide are drawn at a quarter of the
    size, upscaled, and given a fixed fine texture (camera-like detail for the encoder) so that
    720p clips render in a few milliseconds per frame."""
    scale = 4 if width > 320 else 1
    w, h = max(16, width // scale), max(16, height // scale)
    top = rng.integers(60, 200, 3)
    bottom = rng.integers(40, 160, 3)
    ramp = np.linspace(0, 1, h)[:, None, None]
    background = (top * (1 - ramp) + bottom * ramp).astype(np.uint8) * np.ones((1, w, 1), np.uint8)
    placements = []
    for name in objects:
        size = rng.uniform(0.8, 1.3) * h / 96
        x0, y0 = rng.integers(0, max(1, w - 40)), rng.integers(0, max(1, h - 36))
        velocity = rng.uniform(-1.5, 1.5, 2)
        color = rng.integers(40, 255, 3)
        placements.append((PAINTERS[name], x0, y0, size, velocity, color))
    noise = rng.integers(-8, 9, (h, w, 3))
    texture = None
    if scale > 1:
        texture = cv2.GaussianBlur(rng.integers(-12, 13, (height, width, 3)).astype(np.float32), (3, 3), 0.8)
        texture = texture.astype(np.int16)
    for i in range(num_frames):
        img = background.copy()
        for paint, x0, y0, size, vel, color in placements:
            x = int(np.clip(x0 + vel[0] * i / scale, 0, w - 8))
            y = int(np.clip(y0 + vel[1] * i * 0.3 / scale, 0, h - 8))
            paint(img, x, y, size, color)
        frame = np.clip(img.astype(np.int16) + np.roll(noise, i, axis=1), 0, 255).astype(np.uint8)
        if texture is not None:
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
            frame = np.clip(frame + texture, 0, 255).astype(np.uint8)
        yield frame
