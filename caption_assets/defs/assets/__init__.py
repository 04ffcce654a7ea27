"""The per-video assets (layout.py, captions.py) and what they share (runtime.py, metadata.py)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import dagster as dg


def with_code_references(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets with links to their source file and line on their UI pages. Dagster 1.13 marks
    the API beta and warns at every load of the code location: that warning is silenced here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return [a for a in dg.with_source_code_references(assets) if isinstance(a, dg.AssetsDefinition)]
