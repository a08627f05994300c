"""Turn the genuine pretrained weights into what the package ships (``avsc_edge/weights/``).

    python scripts/bundle_weights.py SOURCE_DIR [--out avsc_edge/weights]

SOURCE_DIR holds the published files, each checked against its sha256 before it is read:
EfficientAT's ``mn04_as_mAP_432.pt`` (a PyTorch state dict, read with ``weights_only=True``) and
Google's ``mobilenet_v1_0.25_128_quant.tflite`` (a TFLite flatbuffer, read with the ``tflite``
package: its uint8 weights and int32 biases dequantised, batch norm already folded). Written:

* ``mn04_as.safetensors`` (EfficientAT's key layout) and ``mobilenet_v1_025.safetensors`` (the
  layout of :mod:`avsc_edge.model.mobilenet_v1`): what ``train --preset edge`` starts from;
* ``audio_tagger.onnx`` and ``parts/{audio_tokens,audio_slots,frames}.onnx``: the graphs ``tag``
  and ``adapt`` run through ONNX Runtime (:mod:`avsc_edge.model.genuine`), each checked against
  the PyTorch module on random inputs;
* ``manifest.json``: every file's sha256, and the sources'.

Needs torch, onnx and tflite (``pip install tflite``); nothing is downloaded. Run it again after a
change to the model code the graphs come from; the tests check the shipped files against the
manifest and against the references.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCES = {
    "mn04_as_mAP_432.pt": {
        "sha256": "899a8c6217063f6941793102a2780b3dd788ab11fce468d9cf5f0577c453321c",
        "what": "EfficientAT mn04_as (AudioSet tagger, width 0.4, mAP 0.432), release v0.0.1",
        "licence": "MIT (LICENSE-EfficientAT)"},
    "mobilenet_v1_0.25_128_quant.tflite": {
        "sha256": "cb273c23ee76374b05b9583177e28aa19744858a7679c56a250e83d0333da785",
        "what": "Google's post-training-quantised MobileNetV1 0.25/128 (ImageNet, 1001 classes), "
                "google-coral/test_data at 104342d2",
        "licence": "Apache-2.0"},
}
OPSET = 18


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checked(source_dir: Path, name: str) -> Path:
    path = source_dir / name
    if not path.is_file():
        sys.exit(f"{path}: not found")
    digest = sha256(path)
    if digest != SOURCES[name]["sha256"]:
        sys.exit(f"{path}: sha256 {digest} is not the published {SOURCES[name]['sha256']}; refusing it")
    return path


# -- TFLite ----------------------------------------------------------------------------------------
def tflite_convolutions(path: Path) -> list[dict]:
    """The convolutions of a quantised TFLite MobileNetV1, in order: dequantised weights in the
    TFLite layout, biases, stride, kind; the graph must be conv, 13 x (depthwise, conv), average
    pool, conv, reshape, softmax."""
    import tflite

    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    def tensor(index: int) -> np.ndarray:
        t = graph.Tensors(index)
        q = t.Quantization()
        dtype = {tflite.TensorType.UINT8: np.uint8, tflite.TensorType.INT32: np.int32}[t.Type()]
        raw = np.frombuffer(model.Buffers(t.Buffer()).DataAsNumpy().tobytes(), dtype).reshape(t.ShapeAsNumpy())
        return ((raw.astype(np.float64) - q.ZeroPointAsNumpy()[0]) * q.ScaleAsNumpy()[0]).astype(np.float32)

    kinds, convs = [], []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        kinds.append(kind)
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            options = (tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions)()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            convs.append({"kind": kind, "weight": tensor(op.Inputs(1)), "bias": tensor(op.Inputs(2)),
                          "stride": options.StrideH(), "relu6": options.FusedActivationFunction() == 3,
                          "same": options.Padding() == tflite.Padding.SAME})
    expected = ["CONV_2D", *["DEPTHWISE_CONV_2D", "CONV_2D"] * 13, "AVERAGE_POOL_2D", "CONV_2D", "RESHAPE", "SOFTMAX"]
    if kinds != expected:
        sys.exit(f"{path}: not the MobileNetV1 graph this converter knows ({kinds})")
    return convs


def mobilenet_v1_state(path: Path, model) -> dict:
    """The TFLite weights in :class:`~avsc_edge.model.mobilenet_v1.MobileNetV1ImageTagger`'s layout:
    convolutions as they are, each folded batch norm as one that passes its input on plus the bias."""
    import torch

    convs = tflite_convolutions(path)
    own, strides = model.state_dict(), dict(own_strides(model))
    state: dict[str, torch.Tensor] = {}
    prefixes = ["backbone.features.0"] + [f"backbone.features.{b}.{part}" for b in range(1, 14) for part in ("dw", "pw")]
    for prefix, conv in zip(prefixes, convs[:-1]):
        w = conv["weight"]
        w = w.transpose(3, 0, 1, 2) if conv["kind"] == "DEPTHWISE_CONV_2D" else w.transpose(0, 3, 1, 2)
        if not (conv["relu6"] and conv["same"] and conv["stride"] == strides[prefix]):
            sys.exit(f"{path}: {prefix} is not a SAME, ReLU6 convolution of the expected stride")
        eps = model.get_submodule(f"{prefix}.bn").eps
        state[f"{prefix}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(w))
        n = len(conv["bias"])
        state.update({f"{prefix}.bn.weight": torch.ones(n), f"{prefix}.bn.bias": torch.from_numpy(conv["bias"]),
                      f"{prefix}.bn.running_mean": torch.zeros(n), f"{prefix}.bn.running_var": torch.full((n,), 1 - eps),
                      f"{prefix}.bn.num_batches_tracked": torch.tensor(0)})
    head = convs[-1]
    state["classifier.weight"] = torch.from_numpy(np.ascontiguousarray(head["weight"][:, 0, 0, :]))
    state["classifier.bias"] = torch.from_numpy(head["bias"])
    missing = sorted(set(own) - set(state))
    wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
    if missing or wrong:
        sys.exit(f"{path}: the converted weights do not fit the model (missing {missing[:3]}, shapes {wrong[:3]})")
    return state


def own_strides(model):
    for name, module in model.named_modules():
        if name.endswith(".conv") and name.startswith("backbone.features"):
            yield name.removesuffix(".conv"), module.stride[0]


# -- ONNX ------------------------------------------------------------------------------------------
def export(module, args, inputs, outputs, axes, path: Path) -> None:
    import onnx
    import onnxruntime as ort
    import torch

    # a copy: the TorchScript exporter folds batch norms into the convolutions' tensors in place
    torch.onnx.export(copy.deepcopy(module).eval(), args, str(path), input_names=inputs, output_names=outputs,
                      dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        result = module(*args)
        want = [t.numpy() for t in (result if isinstance(result, tuple) else (result,))]
    got = session.run(outputs, {n: a.numpy() for n, a in zip(inputs, args)})
    worst = max(float(np.abs(g - w).max()) for g, w in zip(got, want))
    if worst > 1e-4:
        sys.exit(f"{path}: ONNX Runtime differs from PyTorch by {worst}")
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size / 1e6:.2f} MB, "
          f"max |ONNX - PyTorch| {worst:.1e}")


def graphs(taggers) -> dict[str, tuple]:
    """name -> (module, example inputs, input names, output names, dynamic axes)."""
    import torch

    class Call(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.taggers, self.fn = taggers, fn

        def forward(self, *x):
            return getattr(self.taggers, self.fn)(*x)

    mel = torch.randn(2, 1, 128, 1001) * 0.5 - 1
    tokens = taggers.audio_tokens(mel).detach()
    frame = torch.randn(2, 3, 128, 128).clamp(-1, 1)
    return {
        "audio_tagger.onnx": (Call("audio_tagger"), (mel,), ["log_mel"], ["event_logits", "embedding"],
                              {"log_mel": {0: "batch", 3: "time"}, "event_logits": {0: "batch"},
                               "embedding": {0: "batch"}}),
        "parts/audio_tokens.onnx": (Call("audio_tokens"), (mel,), ["log_mel"], ["tokens"],
                                    {"log_mel": {0: "batch", 3: "time"}, "tokens": {0: "batch", 1: "tokens"}}),
        "parts/audio_slots.onnx": (Call("audio_slots"), (tokens,), ["tokens"], ["event_emb", "event_logits"],
                                   {"tokens": {0: "batch", 1: "tokens"}, "event_emb": {0: "batch"},
                                    "event_logits": {0: "batch"}}),
        "parts/frames.onnx": (Call("frames"), (frame,), ["frame"], ["frame_emb", "frame_logits"],
                              {"frame": {0: "batch"}, "frame_emb": {0: "batch"}, "frame_logits": {0: "batch"}}),
    }


def main(argv=None) -> int:
    import torch
    from safetensors.torch import save_file

    from avsc_edge.config import ModelConfig
    from avsc_edge.model.genuine import AUDIO_WIDTH, GenuineTaggers
    from avsc_edge.model.taggers import load_audio_tagger

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source_dir", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "avsc_edge" / "weights")
    args = ap.parse_args(argv)
    (args.out / "parts").mkdir(parents=True, exist_ok=True)

    taggers = GenuineTaggers().eval()
    mn04 = checked(args.source_dir, "mn04_as_mAP_432.pt")
    audio = load_audio_tagger(mn04, ModelConfig(audio_backbone="mn", audio_width=AUDIO_WIDTH), 128)
    taggers.audio.load_state_dict(audio.state_dict())
    v1 = checked(args.source_dir, "mobilenet_v1_0.25_128_quant.tflite")
    taggers.visual.load_state_dict(mobilenet_v1_state(v1, taggers.visual))

    meta = lambda name: {"source": name, "source_sha256": SOURCES[name]["sha256"],  # noqa: E731
                         "licence": SOURCES[name]["licence"]}
    save_file({k: v.contiguous() for k, v in torch.load(mn04, weights_only=True).items()},
              str(args.out / "mn04_as.safetensors"), metadata=meta(mn04.name))
    save_file({k.removeprefix("backbone."): v.contiguous() for k, v in taggers.visual.state_dict().items()},
              str(args.out / "mobilenet_v1_025.safetensors"), metadata=meta(v1.name))
    for name, (module, example, inputs, outputs, axes) in graphs(taggers).items():
        export(module, example, inputs, outputs, axes, args.out / name)
    files = sorted(p for p in args.out.rglob("*") if p.suffix in (".onnx", ".safetensors"))
    manifest = {"sources": SOURCES,
                "files": {str(p.relative_to(args.out)): {"sha256": sha256(p), "bytes": p.stat().st_size} for p in files}}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{args.out / 'manifest.json'}: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
