"""What a stream's from-scratch prediction must equal: the whole model on the stream's window."""
from __future__ import annotations

import numpy as np


def window_scores(model, state, full_mel: np.ndarray, frames: np.ndarray, fps: float, timestamp: float, clip):
    """Scene probabilities of the PyTorch ``model`` on the window a ``StreamState`` classifies at
    ``timestamp``: the grid-aligned columns of ``full_mel`` (the whole signal's log-mel) up to the last
    complete token, and the frames nearest the stream's frame grid."""
    import torch

    from avsc_edge.preprocess.frames import preprocess_frames

    f = state.features
    e = int(np.floor(timestamp * f.sr / f.hop_length + 1e-9))
    last = (e + 1) // state.stride * state.stride          # the end of the last complete token
    first = last - state.n_tokens * state.stride
    mel = full_mel[:, max(first, 0):last][None, None]
    picked = frames[np.rint(state.frame_grid(timestamp) * fps).astype(int)]
    with torch.no_grad():
        out = model(torch.from_numpy(mel), torch.from_numpy(preprocess_frames(picked, clip)[None]))
    return torch.softmax(out.scene_logits, -1)[0].numpy()
