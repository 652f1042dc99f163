"""Fine-tuning the encoder's last layers together with the projection head (``finetune_layers``).

With ``TrainConfig.finetune_layers = N > 0`` a learner no longer reads cached base vectors: each
batch runs the encoder on the raw inputs (tokenised texts; plain or augmented images), the last N
layers train together with the head, and the item vectors are the head over the fine-tuned
encoder's outputs of all items.

What counts as a layer:

- text (a sentence-transformers model with a BERT-like ``auto_model.encoder.layer`` stack, such as
  all-MiniLM-L6-v2 with 6): one transformer layer. N = 1 trains the last transformer layer; the
  token embeddings and all layers below are frozen (``requires_grad`` False). The modules after the
  transformer (mean pooling and normalisation for MiniLM, which have no weights; a Dense layer if a
  model has one) run as in the model and train too.
- image (the built-in EfficientNet-Lite0 of ``_efficientnet.py``): one MBConv block of the 16 in
  ``blocks``. N = 1 trains the last block plus the 1x1 conv head after the blocks (conv + BatchNorm
  to 1280 channels); the stem and earlier blocks are frozen. Every BatchNorm keeps its ImageNet
  running statistics (eval mode) even where its scale and shift train: batches of a few hundred
  small crops give worse statistics than ImageNet's.

The frozen lower part runs in eval mode without gradients, so its output for an input never
changes: when those outputs for all training inputs fit in ``LOWER_CACHE_BYTES`` they are computed
once and kept in memory, otherwise they are recomputed for every batch (same vectors up to float
rounding; a test compares the two). The trainable layers run in train mode (BERT's dropout on).

Fine-tuned outputs never reach the base-vector cache (``_encoders.VectorCache``): the towers load
their own copy of the encoder and keep everything in memory.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from recsys_cl.device import resolve_device
from recsys_cl.embeddings._encoders import (
    DEFAULT_IMAGE_MODEL,
    load_sentence_transformer,
)
from recsys_cl.embeddings._train import TrainConfig, project, to_device
from recsys_cl.errors import InputError
from recsys_cl.progress import StageProgress

log = logging.getLogger(__name__)

#: the largest frozen-part output kept in memory across epochs (bigger: recomputed per batch)
LOWER_CACHE_BYTES = 1 << 30
FINETUNE_TEXT_METHODS = ("text-nce", "text-triplet", "copurchase", "clip")
FINETUNE_IMAGE_METHODS = ("image-simclr", "clip")
FINETUNE_METHODS = ("text-nce", "text-triplet", "copurchase", "image-simclr", "clip")


def check_finetune(method: str, text_model: str, image_model: str, config: TrainConfig) -> None:
    """InputError when ``finetune_layers`` cannot apply to ``method`` with these encoders; on CPU,
    one warning line that it will be slow."""
    n = config.finetune_layers
    if not n:
        return
    flag = f"--finetune-layers {n}"
    if method not in FINETUNE_METHODS:
        raise InputError(f"{flag}: {method} trains no encoder; fine-tuning applies to {', '.join(FINETUNE_METHODS)}")
    if method in FINETUNE_TEXT_METHODS and text_model.lower() == "tfidf":
        raise InputError(f"{flag}: tfidf has no layers to fine-tune; use a sentence-transformers text model")
    if method in FINETUNE_IMAGE_METHODS and image_model != DEFAULT_IMAGE_MODEL:
        raise InputError(f"{flag}: image fine-tuning supports the built-in {DEFAULT_IMAGE_MODEL} only, not {image_model!r}")
    if resolve_device(config.device) == "cpu":
        log.warning("fine-tuning %d encoder layer(s) without a GPU: this is slow", n)


# ------------------------------------------------------------------ towers


class EncoderTower(nn.Module):
    """An encoder cut at a layer boundary: ``frozen`` below (eval mode, no gradients), ``trainable`` above.

    Subclasses say how a batch of raw inputs becomes the frozen part's output (``lower``), how that
    becomes base-space vectors (``upper``), and how to split and re-join the lower output per input.
    ``prepare(inputs)`` fixes the training inputs that ``features(rows)`` indexes.
    """

    def __init__(self, frozen: nn.Module, trainable: nn.Module, description: dict) -> None:
        super().__init__()
        self.frozen, self.trainable = frozen, trainable
        self.frozen.requires_grad_(False)
        self.trainable.requires_grad_(True)
        self.description = description
        self.inputs: list = []
        self._states: list | None = None

    # -- per-encoder pieces
    def lower(self, inputs: list) -> Any:
        raise NotImplementedError

    def upper(self, state: Any) -> torch.Tensor:
        raise NotImplementedError

    def unbatch(self, state: Any) -> list[torch.Tensor]:
        raise NotImplementedError

    def batch(self, states: list[torch.Tensor]) -> Any:
        raise NotImplementedError

    def state_bytes(self, inputs: list) -> int:
        raise NotImplementedError

    # -- shared
    @property
    def device(self) -> torch.device:
        return next(self.trainable.parameters()).device

    @property
    def cached(self) -> bool:
        return self._states is not None

    def train(self, mode: bool = True) -> EncoderTower:
        super().train(mode)
        self.frozen.eval()
        for module in self.trainable.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    def prepare(self, inputs: Sequence, *, batch_size: int = 64, budget: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> None:
        """Fix the training inputs; keep the frozen part's output for all of them when within ``budget``."""
        self.inputs, self._states = list(inputs), None
        if self.state_bytes(self.inputs) > (LOWER_CACHE_BYTES if budget is None else budget):
            return
        states: list[torch.Tensor] = []
        with torch.no_grad():
            for start in range(0, len(self.inputs), batch_size):
                states += self.unbatch(self.lower(self.inputs[start : start + batch_size]))
                if progress:
                    progress(min(start + batch_size, len(self.inputs)), len(self.inputs))
        self._states = states

    def features(self, rows: np.ndarray) -> torch.Tensor:
        """(*rows.shape, d) encoder outputs of training inputs ``rows``; each distinct input runs once."""
        rows = np.asarray(rows)
        unique, inverse = np.unique(rows, return_inverse=True)
        if self._states is not None:
            state = self.batch([self._states[i] for i in unique.tolist()])
        else:
            with torch.no_grad():
                state = self.lower([self.inputs[i] for i in unique.tolist()])
        out = self.upper(state)
        return out[torch.from_numpy(inverse.reshape(rows.shape)).to(out.device)]

    def encode_rows(self, batch_size: int = 64) -> np.ndarray:
        """(n, d) outputs of all training inputs (eval mode, no gradients)."""
        return self._eval(lambda s: self.features(np.arange(s, min(s + batch_size, len(self.inputs)))),
                          len(self.inputs), batch_size)

    def encode(self, inputs: Sequence, batch_size: int = 64) -> np.ndarray:
        """(n, d) outputs of any raw ``inputs`` (eval mode, no gradients, nothing kept)."""
        inputs = list(inputs)
        return self._eval(lambda s: self.upper(self.lower(inputs[s : s + batch_size])), len(inputs), batch_size)

    def _eval(self, chunk: Callable[[int], torch.Tensor], n: int, batch_size: int) -> np.ndarray:
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = [chunk(s).float().cpu().numpy() for s in range(0, n, batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 0), np.float32)


def _call_layer(layer: nn.Module, hidden: torch.Tensor, mask: Any) -> torch.Tensor:
    out = layer(hidden, mask)
    return out[0] if isinstance(out, tuple) else out  # transformers < 5 returns a tuple


class TextTower(EncoderTower):
    """A sentence-transformers model: embeddings + first layers frozen, last ``n_layers`` + pooling trained."""

    def __init__(self, st: nn.Module, n_layers: int, name: str = "") -> None:
        modules = list(st.children())
        model = getattr(modules[0], "auto_model", None) if modules else None
        layers = getattr(getattr(model, "encoder", None), "layer", None)
        if model is None or layers is None or not hasattr(model, "embeddings"):
            raise InputError(f"--finetune-layers: text model {name!r} has no BERT-like encoder.layer stack to split")
        total = len(layers)
        if n_layers > total:
            raise InputError(f"--finetune-layers {n_layers}: text model {name!r} has {total} transformer layers")
        cut = total - n_layers
        st.requires_grad_(False)  # everything not in ``trainable`` stays frozen (the unused pooler too)
        super().__init__(
            nn.ModuleList([model.embeddings, *layers[:cut]]),
            nn.ModuleList([*layers[cut:], *modules[1:]]),
            {"layers": n_layers, "of": total, "unit": "transformer layer", "trainable": f"layers {cut + 1}-{total} "
             f"of {total} and the modules after the transformer ({', '.join(type(m).__name__ for m in modules[1:])})"},
        )
        self.n_layers = n_layers
        self._tokenise = st.preprocess if hasattr(st, "preprocess") else st.tokenize  # sentence-transformers >= 6
        self._config = model.config
        self._legacy_mask = getattr(model, "get_extended_attention_mask", None)

    def _mask(self, hidden: torch.Tensor, mask: torch.Tensor) -> Any:
        try:
            from transformers.masking_utils import create_bidirectional_mask
        except ImportError:  # older transformers: the additive (B, 1, 1, L) mask
            return self._legacy_mask(mask, mask.shape)
        return create_bidirectional_mask(config=self._config, inputs_embeds=hidden, attention_mask=mask)

    def lower(self, inputs: list) -> tuple[torch.Tensor, torch.Tensor]:
        features = self._tokenise([str(t) for t in inputs])
        device = self.device
        extra = {"token_type_ids": features["token_type_ids"].to(device)} if "token_type_ids" in features else {}
        hidden = self.frozen[0](input_ids=features["input_ids"].to(device), **extra)
        mask = features["attention_mask"].to(device)
        extended = self._mask(hidden, mask)
        for layer in self.frozen[1:]:
            hidden = _call_layer(layer, hidden, extended)
        return hidden, mask

    def upper(self, state: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        hidden, mask = state
        extended = self._mask(hidden, mask)
        for layer in self.trainable[: self.n_layers]:
            hidden = _call_layer(layer, hidden, extended)
        features: dict[str, Any] = {"token_embeddings": hidden, "attention_mask": mask}
        for module in self.trainable[self.n_layers :]:
            features = module(features)
        return features["sentence_embedding"]

    def unbatch(self, state: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
        hidden, mask = state
        return [h[m.bool()].cpu() for h, m in zip(hidden, mask)]  # real tokens only (positions are already in)

    def batch(self, states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(s) for s in states])
        hidden = nn.utils.rnn.pad_sequence(states, batch_first=True)
        mask = (torch.arange(hidden.shape[1])[None, :] < lengths[:, None]).long()
        return hidden.to(self.device), mask.to(self.device)

    def state_bytes(self, inputs: list) -> int:
        tokens = sum(int(self._tokenise([str(t) for t in inputs[s : s + 256]])["attention_mask"].sum())
                     for s in range(0, len(inputs), 256))
        return tokens * self._config.hidden_size * 4


class ImageTower(EncoderTower):
    """EfficientNet-Lite0: stem + first blocks frozen, last ``n_layers`` blocks + conv head trained.
    ``load(input) -> PIL image`` turns an input (e.g. a path and view parameters) into the image."""

    def __init__(self, net: nn.Module, n_layers: int, load: Callable[[Any], Any]) -> None:
        total = len(net.blocks)
        if n_layers > total:
            raise InputError(f"--finetune-layers {n_layers}: {DEFAULT_IMAGE_MODEL} has {total} blocks")
        cut = total - n_layers
        net.requires_grad_(False)
        super().__init__(
            nn.Sequential(net.stem, *net.blocks[:cut]),
            nn.Sequential(*net.blocks[cut:], net.head),
            {"layers": n_layers, "of": total, "unit": "MBConv block",
             "trainable": f"blocks {cut + 1}-{total} of {total} and the 1x1 conv head (BatchNorm statistics frozen)"},
        )
        self._load = load

    def lower(self, inputs: list) -> torch.Tensor:
        from recsys_cl.embeddings._efficientnet import preprocess_images

        return self.frozen(preprocess_images([self._load(x) for x in inputs]).to(self.device))

    def upper(self, state: torch.Tensor) -> torch.Tensor:
        return self.trainable(state).mean(dim=(2, 3))

    def unbatch(self, state: torch.Tensor) -> list[torch.Tensor]:
        return list(state.cpu().unbind(0))

    def batch(self, states: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(states).to(self.device)

    def state_bytes(self, inputs: list) -> int:
        with torch.no_grad():
            one = self.frozen(torch.zeros(1, 3, 224, 224, device=self.device))
        return one.numel() * 4 * len(inputs)


def text_tower(model: str, n_layers: int, device: str = "auto") -> TextTower:
    """A fresh copy of the sentence-transformers ``model``, split for fine-tuning its last ``n_layers``."""
    return TextTower(load_sentence_transformer(model, device), n_layers, model).to(resolve_device(device))


def image_tower(n_layers: int, load: Callable[[Any], Any], device: str = "auto") -> ImageTower:
    """A fresh EfficientNet-Lite0 (packaged ImageNet weights), split for fine-tuning its last ``n_layers`` blocks."""
    from recsys_cl.embeddings._efficientnet import load_efficientnet_lite0

    return ImageTower(load_efficientnet_lite0(), n_layers, load).to(resolve_device(device))


# ------------------------------------------------------------------ what the learners train on


class FrozenFeatures:
    """Cached base vectors: only the head trains (``finetune_layers = 0``)."""

    tower = None

    def __init__(self, vectors: np.ndarray, config: TrainConfig) -> None:
        self.vectors = vectors
        self.x = to_device(vectors, config)
        self.device = self.x.device

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        return self.x[np.asarray(rows)]

    def outputs(self, head: nn.Module) -> np.ndarray:
        return project(head, self.vectors)

    def encode(self, head: nn.Module, base: np.ndarray, inputs: Sequence) -> np.ndarray:
        return project(head, base)


class TowerFeatures:
    """Encoder outputs of raw inputs through a tower whose last layers train with the head.

    Rows index the learner's own rows (items, or views); ``index`` (one learner row per input, the
    inputs' order) is for inputs that cover only some rows, e.g. items with an image.
    ``check``: (raw inputs, their base vectors from the frozen encoder); the untrained tower must
    reproduce them, which proves the split runs the encoder exactly as it is.
    """

    def __init__(self, tower: EncoderTower, inputs: Sequence, config: TrainConfig, *,
                 check: tuple[Sequence, np.ndarray], index: np.ndarray | None = None, n_rows: int | None = None,
                 progress: StageProgress | None = None, stage: str = "encode lower layers", budget: int | None = None) -> None:
        self.tower, self.device, self.config = tower, tower.device, config
        raw, reference = check
        got = tower.encode(list(raw)[:4])
        want = reference[:4]
        if got.shape != want.shape or np.abs(got - want).max() > 1e-3 * max(1.0, float(np.abs(want).max())):
            raise InputError(f"--finetune-layers: the split {type(tower).__name__} does not reproduce the encoder's own "
                             "output for this model; it cannot be fine-tuned here")
        tower.prepare(inputs, budget=budget, progress=(lambda d, t: progress(stage, d, t)) if progress else None)
        self.n_rows = len(tower.inputs) if n_rows is None else n_rows
        self.index = index
        self._position = None
        if index is not None:
            self._position = np.full(self.n_rows, -1, dtype=np.int64)
            self._position[index] = np.arange(len(index))

    def __call__(self, rows: np.ndarray) -> torch.Tensor:
        rows = np.asarray(rows)
        return self.tower.features(self._position[rows] if self._position is not None else rows)

    def _rows(self, values: np.ndarray) -> np.ndarray:
        if self.index is None:
            return values
        out = np.zeros((self.n_rows, values.shape[1]), dtype=np.float32)
        out[self.index] = values
        return out

    def before(self) -> np.ndarray:
        """Outputs of the training inputs now (call before training: the frozen encoder's vectors)."""
        return self._rows(self.tower.encode_rows())

    def outputs(self, head: nn.Module) -> np.ndarray:
        return self._rows(project(head, self.tower.encode_rows()))

    def encode(self, head: nn.Module, base: np.ndarray, inputs: Sequence) -> np.ndarray:
        return project(head, self.tower.encode(inputs))

    def describe(self) -> dict:
        return {**self.tower.description, "learning_rate": self.config.finetune_learning_rate,
                "lower_part_cached": self.tower.cached, "device": str(self.device)}


Features = FrozenFeatures | TowerFeatures


def training_modules(heads: dict[str, nn.Module], features: Sequence[Features],
                     config: TrainConfig) -> tuple[nn.Module, list[dict] | None]:
    """What ``fit`` trains: the heads, plus the towers' trainable layers at ``finetune_learning_rate``."""
    towers = {f"encoder{i}": f.tower for i, f in enumerate(features) if f.tower is not None}
    modules = nn.ModuleDict({**heads, **towers})
    if not towers:
        return modules, None
    return modules, [
        {"params": [p for head in heads.values() for p in head.parameters()]},
        {"params": [p for t in towers.values() for p in t.trainable.parameters()], "lr": config.finetune_learning_rate},
    ]
