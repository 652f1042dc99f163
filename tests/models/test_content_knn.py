"""Content-kNN: the shared contract (cold items included) plus its own rules."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsys_cl.data import EncodedSplit, loo
from recsys_cl.data._split import DAY
from recsys_cl.embeddings._io import ItemEmbeddings
from recsys_cl.errors import InputError
from recsys_cl.models import create

from .backend_contract import BackendContract


class TestContentKNN(BackendContract):
    model_name = "content-knn"
    needs_embeddings = True
    expected_cold_margin = 0.3


class TestContentKNNPlainMean(BackendContract):
    model_name = "content-knn"
    params = {"half_life_days": None}
    needs_embeddings = True
    expected_cold_margin = 0.3
