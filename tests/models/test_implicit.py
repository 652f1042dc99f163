"""implicit's ALS and BPR through the shared contract."""

from __future__ import annotations

from recsys_cl.testing import ModelTests


class TestImplicitALS(ModelTests):
    model_name = "implicit-als"
    params = {"factors": 8, "epochs": 10, "reg": 0.1}


class TestImplicitBPR(ModelTests):
    model_name = "implicit-bpr"
    params = {"factors": 8, "epochs": 60, "learning_rate": 0.05}
