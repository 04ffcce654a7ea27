"""The catalog as a Dagster resource: Postgres (embedded by default) or Supabase."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import get_args

import dagster as dg

from caption_assets.core.backends import CatalogBackend
from caption_assets.core.catalog.base import Catalog

_cache: dict[tuple[object, ...], Catalog] = {}
_cache_lock = threading.Lock()


def open_catalog(
    backend: CatalogBackend,
    database_url: str | None,
    data_dir: str,
    supabase_url: str | None = None,
    supabase_service_role_key: str | None = None,
) -> Catalog:
    """One adapter (and so one connection pool) per process and configuration."""
    key = (backend, database_url, str(Path(data_dir).resolve()), supabase_url)
    with _cache_lock:
        catalog = _cache.get(key)
        if catalog is not None:
            return catalog
        if backend == "supabase":
            from caption_assets.core.catalog.supabase import SupabaseCatalog

            if not supabase_url or not supabase_service_role_key:
                raise dg.DagsterInvalidConfigError(
                    "CAPTION_ASSETS_CATALOG=supabase needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY",
                    [],
                    None,
                )
            catalog = SupabaseCatalog(supabase_url, supabase_service_role_key)
        elif backend == "postgres":
            from caption_assets.core.catalog.postgres import PostgresCatalog

            dsn = database_url
            if not dsn:
                from caption_assets.core.catalog.embedded import ensure_embedded

                dsn = ensure_embedded(Path(data_dir).resolve()).catalog_url
            catalog = PostgresCatalog(dsn)
        else:
            raise ValueError(f"unknown catalog backend {backend!r} ({' or '.join(get_args(CatalogBackend))})")
        _cache[key] = catalog
        return catalog


def close_catalogs() -> None:
    """Close every cached adapter's pool (tests, and a CLI process before it exits)."""
    with _cache_lock:
        for catalog in _cache.values():
            catalog.close()
        _cache.clear()


class CatalogResource(dg.ConfigurableResource):
    """Where uploads, statuses and locks live."""

    backend: CatalogBackend = "postgres"
    database_url: str | None = None
    data_dir: str = ".caption_assets"
    supabase_url: str | None = None
    supabase_service_role_key: str | None = None

    def get(self) -> Catalog:
        return open_catalog(
            self.backend,
            self.database_url,
            self.data_dir,
            self.supabase_url,
            self.supabase_service_role_key,
        )
