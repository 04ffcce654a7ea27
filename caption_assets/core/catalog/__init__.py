"""The catalog (Supabase in production, PostgreSQL locally): interface in ``base``, adapters in
``postgres`` and ``supabase``, the local server in ``embedded``, migrations in ``migrate``."""
