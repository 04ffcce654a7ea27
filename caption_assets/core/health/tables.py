"""Where the operations tables live in the store (``operations/health/...``, the service role's
area outside every tenant) and their Parquet form: an analyst loads them with pandas or pyarrow."""

from __future__ import annotations

import io

import pandas as pd

from caption_assets.core.errors import NotFoundError
from caption_assets.core.health.records import TABLES, Facts, frame
from caption_assets.core.keys import operations_key
from caption_assets.core.store.base import ArtifactStore

AREA = "health"
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"


def facts_key(table: str) -> str:
    """The incremental state: the facts every table is computed from."""
    return operations_key(AREA, "facts", f"{table}.parquet")


def table_key(name: str) -> str:
    return operations_key(AREA, "tables", f"{name}.parquet")


def plot_key(name: str) -> str:
    return operations_key(AREA, "plots", f"{name}.png")


def parquet_bytes(table: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, engine="pyarrow", index=False)
    return buffer.getvalue()


def read_parquet(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data), engine="pyarrow")


def save_table(store: ArtifactStore, name: str, table: pd.DataFrame) -> str:
    key = table_key(name)
    store.put_bytes(key, parquet_bytes(table), PARQUET_CONTENT_TYPE)
    return key


def load_facts(store: ArtifactStore) -> Facts:
    """The facts stored by the last materialization; empty tables where there are none yet."""
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        try:
            stored = read_parquet(store.get_bytes(facts_key(name)))
        except NotFoundError:
            stored = frame(name)
        # a fact table written by an older version gains the columns added since (missing values)
        tables[name] = stored.reindex(columns=frame(name).columns)
    return Facts(**tables)


def save_facts(store: ArtifactStore, facts: Facts) -> None:
    for name in TABLES:
        store.put_bytes(facts_key(name), parquet_bytes(facts.table(name)), PARQUET_CONTENT_TYPE)
