"""The adapters each port can be configured with, written once: the Dagster resources type their
``backend`` with these, so a wrong value fails at config validation naming the choices."""

from typing import Literal

CatalogBackend = Literal["postgres", "supabase"]
StoreBackend = Literal["local", "s3"]
ComputeBackend = Literal["local", "modal"]
