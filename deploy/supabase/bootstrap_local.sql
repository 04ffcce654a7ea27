-- Local only (embedded / CI Postgres): what a Supabase project already provides, so that the
-- migrations and their row-level security run unchanged here. Never apply this to Supabase.
-- Idempotent; roles are cluster-wide and several databases may be bootstrapped at once, so a
-- concurrent creator is tolerated rather than prevented.

do $$
declare
    r record;
begin
    for r in
        select * from (values
            ('anon', false),
            ('authenticated', false),
            ('service_role', true)
        ) as t(name, bypass)
    loop
        if not exists (select 1 from pg_roles where rolname = r.name) then
            begin
                if r.bypass then
                    execute format('create role %I nologin noinherit bypassrls', r.name);
                else
                    execute format('create role %I nologin noinherit', r.name);
                end if;
            exception when duplicate_object or unique_violation then
                null;  -- another bootstrap created it between our check and create
            end;
        end if;
    end loop;
end
$$;

-- The connecting role must be able to SET ROLE to these, as Supabase's authenticator does
-- (a superuser already can).
do $$
begin
    if not (select rolsuper from pg_roles where rolname = current_user) then
        begin
            execute format('grant anon, authenticated, service_role to %I', current_user);
        exception when others then
            null;  -- a concurrent bootstrap granted it
        end;
    end if;
end
$$;

create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

-- Same definitions as Supabase's (claims are set by PostgREST per request as a GUC).
create or replace function auth.uid() returns uuid
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::json ->> 'sub')
    )::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::json ->> 'role')
    )::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

grant execute on function auth.uid(), auth.role(), auth.jwt() to anon, authenticated, service_role;
