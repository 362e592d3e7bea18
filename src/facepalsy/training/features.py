"""Pooled backbone features of a frozen backbone, computed once per image and shared by every fold, protocol and run of
a process.

With a frozen backbone and ``--feature-cache K``, training needs only each image's pooled backbone
features: K augmented views of a training image, and the plain view of a validation or test image.
A :class:`FeatureBank` computes a feature the first time it is asked for and keeps it, so the 24 folds
of a leave-one-subject-out run, and the protocols of ``reproduce``, pass each image through the
backbone K + 1 times in all, instead of once per fold.

View k of image i does not depend on which images are asked for with it: the augmentation parameters
of view k are drawn for all images at once, from a stream set by the seed and k alone, and a batch
takes its images' rows of them. A fold therefore trains on the same views whether it runs alone, in
a cross-validation, or after another protocol.
"""

from __future__ import annotations

import hashlib
import weakref
from collections import OrderedDict

import numpy as np
import torch
from kornia.augmentation.container.params import ParamItem

from facepalsy.config import Config

BANKS_KEPT = (
    2  # banks kept per process (reproduce alternates two backbones); a VGG bank of 3,261 images and 5 views is 33 MB
)
_banks: OrderedDict[tuple, "FeatureBank"] = OrderedDict()
_digests: dict[int, tuple[weakref.ref, str]] = {}
_backbone_digests: dict[int, tuple[weakref.ref, str]] = {}
_adopted: dict[tuple, dict[int, np.ndarray]] = {}


class FeatureBank:
    """Pooled features (N×C, fp32) of the plain view and of K augmented views of N images, filled on demand."""

    def __init__(self, module, images: torch.Tensor, views: int, seed: int, batch_size: int, bf16: bool):
        self.module, self.images, self.views = module, images, views
        self.seed, self.batch_size, self.bf16 = seed, batch_size, bf16
        self.augment = module.config.augment
        self._features: dict[int, torch.Tensor] = {}  # -1: plain view; k ≥ 0: augmented view k
        self._done: dict[int, torch.Tensor] = {}
        self._params: dict[int, list[ParamItem]] = {}
        self.computed = 0  # backbone passes so far (images × views), for the benchmark

    def plain(self, index: torch.Tensor) -> torch.Tensor:
        """Features of the un-augmented images ``index`` (validation, test)."""
        return self._view(-1, index)

    def augmented(self, index: torch.Tensor) -> torch.Tensor:
        """K×n×C features of the K augmented views of images ``index`` (training); without augmentation, K copies of the
        plain view."""
        if not self.augment:
            return self.plain(index).expand(self.views, -1, -1)
        return torch.stack([self._view(k, index) for k in range(self.views)])

    def contents(self) -> dict[int, np.ndarray]:
        """Every view of every image, computing what is missing: the bank as it travels to other processes
        (:func:`adopt_bank`)."""
        every = torch.arange(len(self.images))
        for view in range(-1, self.views if self.augment else 0):
            self._view(view, every)
        return {view: features.numpy() for view, features in self._features.items()}

    def fill(self, contents: dict[int, np.ndarray]) -> None:
        """Take the views another process computed (all images of each)."""
        for view, features in contents.items():
            self._features[view] = torch.from_numpy(features.copy())  # Ray hands read-only arrays
            self._done[view] = torch.ones(len(self.images), dtype=torch.bool)

    def _view(self, view: int, index: torch.Tensor) -> torch.Tensor:
        index = torch.as_tensor(index, dtype=torch.long)
        if view not in self._done:
            self._done[view] = torch.zeros(len(self.images), dtype=torch.bool)
        missing = index[~self._done[view][index]].unique()
        if len(missing):
            features = self._compute(view, missing)
            if view not in self._features:
                self._features[view] = torch.zeros(len(self.images), features.shape[1])
            self._features[view][missing] = features
            self._done[view][missing] = True
            self.computed += len(missing)
        return self._features[view][index]

    def _compute(self, view: int, index: torch.Tensor) -> torch.Tensor:
        if view < 0:
            return self.module.pooled_features(self.images[index], False, self.batch_size, self.bf16)
        params = self._view_params(view)
        chunks = []
        for start in range(0, len(index), self.batch_size):
            batch = index[start : start + self.batch_size]
            chunks.append(
                self.module.pooled_features(
                    self.images[batch], True, self.batch_size, self.bf16, params=_rows(params, batch, self._device)
                )
            )
        return torch.cat(chunks)

    def _view_params(self, view: int) -> list[ParamItem]:
        """The augmentation parameters of view ``view`` for all N images, drawn once from a stream set by the seed and
        the view."""
        if view not in self._params:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed + 7_919 * (view + 1))
                self._params[view] = self.module.train_transform.augment.forward_parameters(self.images.shape)
        return self._params[view]

    @property
    def _device(self) -> torch.device:
        return next(self.module.parameters()).device


def _rows(params: list[ParamItem], index: torch.Tensor, device: torch.device) -> list[ParamItem]:
    """The parameters of the images ``index`` on ``device``: each per-image tensor's rows; the input shape follows the
    batch."""

    def select(name: str, value):
        if name == "forward_input_shape":
            return torch.tensor([len(index), *value[1:].tolist()])
        return value[index].to(device) if isinstance(value, torch.Tensor) and value.dim() > 0 else value

    return [
        ParamItem(p.name, {k: select(k, v) for k, v in p.data.items()} if isinstance(p.data, dict) else p.data)
        for p in params
    ]


def feature_bank(module, config: Config, images: np.ndarray, bf16: bool) -> FeatureBank:
    """The bank for these images, this backbone (by its weights) and these augmentation settings: the process's own, if
    it has one; else a new one, holding what another process computed for the same key (:func:`adopt_bank`)."""
    key = bank_key(module, config, images, bf16)
    if key in _banks:
        _banks.move_to_end(key)
        return _banks[key]
    while len(_banks) >= BANKS_KEPT:
        _banks.popitem(last=False)
    bank = _banks[key] = FeatureBank(
        module, torch.from_numpy(images), config.feature_cache, config.seed, config.batch_size, bf16
    )
    if key in _adopted:
        bank.fill(_adopted.pop(key))
    return bank


def forget_banks() -> None:
    """Drop this process's banks (the benchmark times runs as fresh processes would make them)."""
    _banks.clear()


def backbone_passes() -> int:
    """Images × views this process's banks have passed through the backbone (the benchmark, and Ray folds, count
    them)."""
    return sum(bank.computed for bank in _banks.values())


def adopt_bank(key: tuple, contents: dict[int, np.ndarray]) -> None:
    """Features computed elsewhere (a Ray task), for the bank of ``key`` this process makes next: a cross-validation on
    a cluster computes each image's views once for all its folds."""
    _adopted.clear()
    _adopted[key] = contents


def bank_key(module, config: Config, images: np.ndarray, bf16: bool) -> tuple:
    """What the features depend on: the backbone's weights, the images, the views and their augmentation, bf16 and the
    device."""
    return (
        backbone_digest(module.model),
        _digest(images),
        config.feature_cache,
        config.seed,
        config.augment,
        config.rotation_degrees,
        config.shift_fraction,
        config.scale_range,
        bf16,
        str(next(module.parameters()).device),
    )


def backbone_digest(model) -> str:
    """A content hash of the backbone's weights: which frozen backbone computed the features, or is missing from a
    checkpoint. Only frozen backbones are hashed, so the hash is kept while the backbone lives: the folds of a
    cross-validation share one (``model_to_train``), and hashing VGG16's 58 MB takes 0.1 s a fold otherwise."""
    known = _backbone_digests.get(id(model.features))
    if known is not None and known[0]() is model.features:
        return known[1]
    weights = hashlib.blake2b(digest_size=16)
    for tensor in model.features.state_dict().values():
        weights.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    _backbone_digests[id(model.features)] = (weakref.ref(model.features), weights.hexdigest())
    return weights.hexdigest()


def _digest(images: np.ndarray) -> str:
    """A content hash of the decoded images, remembered while the array lives (cv hands every fold the same one)."""
    known = _digests.get(id(images))
    if known is not None and known[0]() is images:
        return known[1]
    digest = hashlib.blake2b(np.ascontiguousarray(images).data, digest_size=16).hexdigest() + str(images.shape)
    _digests[id(images)] = (weakref.ref(images), digest)
    return digest
