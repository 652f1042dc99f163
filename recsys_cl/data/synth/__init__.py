"""Synthetic fashion data in the exact Kaggle layouts (H&M-shaped and styles-shaped), images included.

``generate_hm`` and ``generate_styles`` are documented generative models (see their modules), deterministic
by seed, so the real-data adapters and every downstream stage can run without a download.
"""

from recsys_cl.data.synth._hm import (
    HM_DEMO,
    generate_hm,
    hm_latent,
    image_relpath,
)
from recsys_cl.data.synth._hm_population import HMSynthConfig
from recsys_cl.data.synth._styles import STYLES_DEMO, StylesSynthConfig, generate_styles

__all__ = [
    "HM_DEMO",
    "HMSynthConfig",
    "STYLES_DEMO",
    "StylesSynthConfig",
    "generate_hm",
    "generate_styles",
    "hm_latent",
    "image_relpath",
]
