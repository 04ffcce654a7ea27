"""The catalog (Supabase in production, PostgreSQL locally): interface and operations in ``base``,
what it hands out in ``records``, the rows it reads in ``rows``, adapters in ``postgres`` and
``supabase``, the local server in ``embedded``, migrations in ``migrate``."""
