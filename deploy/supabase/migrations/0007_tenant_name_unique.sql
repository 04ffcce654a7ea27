-- Tenant names unique case-insensitively and ignoring surrounding spaces (issue 20, finding 12):
-- 'local', 'local ' and 'LOCAL' were three tenants. The orchestrator already normalises names
-- (platform.normalize_tenant_name), but the rule is the catalog's: the web app and SQL callers
-- insert rows directly, so the index below is what holds it.
--
-- Catalogs that already hold such duplicates are not refused: refusing would stop `dev` and every
-- deploy until a person merges tenants by hand, and merging here cannot be done safely (members,
-- videos and artifact prefixes would change owner). Instead, within each group of names equal
-- under lower(btrim(name)), the oldest tenant (created_at, then id: deterministic) keeps its name
-- and every other one is renamed to '<name> [duplicate <id>]'. Nothing else changes (artifact keys
-- use the tenant id, not the name), the renamed tenants stay usable, and a WARNING names each one
-- so an operator can merge or delete them. The suffix contains the id, so the new name is itself
-- unique, and the name is cut to 150 characters so it stays within the 200-character check.

do $$
declare
    r record;
begin
    for r in
        select id, name, new_name
          from (
              select t.id, t.name,
                     left(btrim(t.name), 150) || ' [duplicate ' || t.id::text || ']' as new_name,
                     row_number() over (
                         partition by lower(btrim(t.name)) order by t.created_at, t.id
                     ) as rank
                from captionacc.tenants t
          ) ranked
         where rank > 1
         order by id
    loop
        update captionacc.tenants set name = r.new_name where id = r.id;
        raise warning 'tenant % renamed from % to %: its name equals an older tenant''s ignoring case and spaces',
            r.id, quote_literal(r.name), quote_literal(r.new_name);
    end loop;
end
$$;

create unique index tenants_name_folded_key on captionacc.tenants (lower(btrim(name)));

-- 0002's ensure_tenant, with the same name rule: a name equal to an existing one ignoring case
-- and surrounding spaces returns that tenant instead of failing on the new index.
create or replace function captionacc.ensure_tenant(
    p_name text,
    p_tier text default 'free',
    p_auto_approve boolean default false
)
returns captionacc.tenants
language plpgsql
set search_path = ''
as $$
declare
    v_row captionacc.tenants;
begin
    if p_name is null or length(btrim(p_name)) = 0 then
        raise exception 'tenant name is required' using errcode = 'CA005';
    end if;
    if p_tier is null or p_tier not in ('free', 'premium', 'enterprise') then
        raise exception 'tenant %: unknown tier %', left(p_name, 80), p_tier using errcode = 'CA005';
    end if;
    -- on conflict do nothing: concurrent callers all get the one row
    insert into captionacc.tenants (name, tier, auto_approve)
    values (p_name, p_tier, coalesce(p_auto_approve, false))
    on conflict ((lower(btrim(name)))) do nothing
    returning * into v_row;
    if v_row.id is null then
        select * into v_row from captionacc.tenants t
         where lower(btrim(t.name)) = lower(btrim(p_name));
    end if;
    return v_row;
end
$$;
