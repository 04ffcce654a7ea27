-- Partition retention (issue 9): videos deleted in the catalog, or archived longer than the
-- configured age, have their objects and their Dagster partition removed by the retention job,
-- which then marks them purged so they are never returned again. Deleting a tenant marks the
-- tenant and all its videos deleted in one statement; the job removes the tenant's objects.
--
-- Rows are kept (purged_at / deleted_at record what happened): the web app and audits still see
-- that a video existed, and the store's tenant check keeps accepting the prefix delete.

alter table captionacc.videos
    add column archived_at timestamptz,
    add column purged_at   timestamptz;

alter table captionacc.tenants
    add column deleted_at timestamptz;

-- the retention job's keyset scan over videos that still hold objects and a partition
create index videos_purge_candidates_idx on captionacc.videos (id)
    where purged_at is null and (deleted_at is not null or archived_at is not null);

-- Archive (p_archived) or unarchive a video. Returns archived_at (null once unarchived).
-- A purged video has no objects left, so it cannot come back from the archive.
create or replace function captionacc.set_video_archived(p_video_id uuid, p_archived boolean default true)
returns timestamptz
language plpgsql
set search_path = ''
as $$
declare
    v_purged timestamptz;
    v_at timestamptz;
begin
    if p_video_id is null or p_archived is null then
        raise exception 'video id and archived flag are required' using errcode = 'CA005';
    end if;
    select v.purged_at into v_purged from captionacc.videos v where v.id = p_video_id for update;
    if not found then
        raise exception 'video % not found', p_video_id using errcode = 'CA002';
    end if;
    if v_purged is not null and not p_archived then
        raise exception 'video %: purged at %, its artifacts are gone', p_video_id, v_purged
            using errcode = 'CA004';
    end if;
    update captionacc.videos v
       set archived_at = case when p_archived then coalesce(v.archived_at, now()) end
     where v.id = p_video_id
    returning v.archived_at into v_at;
    return v_at;
end
$$;

-- Videos whose objects and partition should go: deleted at or before p_deleted_before, or archived
-- at or before p_archived_before (null: that kind is not purged), not purged yet. Keyset pagination
-- by id, so a caller that skips some rows (a run still in flight) still reaches the rest.
create or replace function captionacc.videos_to_purge(
    p_deleted_before timestamptz,
    p_archived_before timestamptz default null,
    p_limit integer default 500,
    p_after_video_id uuid default null
)
returns table (
    video_id uuid,
    tenant_id uuid,
    reason text,
    deleted_at timestamptz,
    archived_at timestamptz
)
language sql stable
set search_path = ''
as $$
    select v.id,
           v.tenant_id,
           case when v.deleted_at <= p_deleted_before then 'deleted' else 'archived' end,
           v.deleted_at,
           v.archived_at
      from captionacc.videos v
     where v.purged_at is null
       and (v.deleted_at is not null or v.archived_at is not null)
       and (v.deleted_at <= p_deleted_before or v.archived_at <= p_archived_before)
       and v.id > coalesce(p_after_video_id, '00000000-0000-0000-0000-000000000000'::uuid)
     order by v.id
     limit greatest(least(coalesce(p_limit, 500), 10000), 1)
$$;

-- Record that these videos' objects and partitions are gone. A purged video counts as deleted
-- (an archived one too), so no new work starts on it. Only deleted or archived videos can be
-- purged: a live id here is a bug in the caller and nothing is marked. Unknown ids are ignored.
-- Returns the ids that are now purged (already purged ones included: the call is idempotent).
-- setof uuid, which PostgREST answers as a plain JSON array of ids (a one-column "returns table"
-- is the same type to Postgres, but PostgREST answers it as an array of objects).
create or replace function captionacc.mark_videos_purged(p_video_ids uuid[])
returns setof uuid
language plpgsql
set search_path = ''
as $$
declare
    v_live uuid;
begin
    select v.id into v_live
      from captionacc.videos v
     where v.id = any(p_video_ids) and v.deleted_at is null and v.archived_at is null
     limit 1;
    if v_live is not null then
        raise exception 'video % is neither deleted nor archived, it cannot be purged', v_live
            using errcode = 'CA004';
    end if;
    return query
    update captionacc.videos v
       set purged_at = coalesce(v.purged_at, now()),
           deleted_at = coalesce(v.deleted_at, now())
     where v.id = any(p_video_ids)
    returning v.id;
end
$$;

-- Deletes a tenant: inactive for good (no new uploads or work), every video deleted. Returns the
-- ids of its videos not purged yet, whose objects and partitions the caller removes. Calling it
-- again is harmless (the timestamps of the first call stay).
create or replace function captionacc.delete_tenant(p_tenant_id uuid)
returns setof uuid
language plpgsql
set search_path = ''
as $$
begin
    if p_tenant_id is null then
        raise exception 'tenant id is required' using errcode = 'CA005';
    end if;
    update captionacc.tenants t
       set active = false, deleted_at = coalesce(t.deleted_at, now())
     where t.id = p_tenant_id;
    if not found then
        raise exception 'tenant % not found', p_tenant_id using errcode = 'CA003';
    end if;
    update captionacc.videos v
       set deleted_at = now()
     where v.tenant_id = p_tenant_id and v.deleted_at is null;
    return query
    select v.id from captionacc.videos v
     where v.tenant_id = p_tenant_id and v.purged_at is null
     order by v.id;
end
$$;

-- As in 0004, plus: a deleted tenant cannot be reactivated (its objects are gone).
create or replace function captionacc.set_tenant_active(p_tenant_id uuid, p_active boolean)
returns boolean
language plpgsql
set search_path = ''
as $$
declare
    v_deleted timestamptz;
begin
    select t.deleted_at into v_deleted from captionacc.tenants t where t.id = p_tenant_id for update;
    if not found then
        raise exception 'tenant % not found', p_tenant_id using errcode = 'CA003';
    end if;
    if v_deleted is not null and p_active then
        raise exception 'tenant % was deleted at %, it cannot be reactivated', p_tenant_id, v_deleted
            using errcode = 'CA004';
    end if;
    update captionacc.tenants set active = p_active where id = p_tenant_id;
    return p_active;
end
$$;

revoke execute on function
    captionacc.set_video_archived(uuid, boolean),
    captionacc.videos_to_purge(timestamptz, timestamptz, integer, uuid),
    captionacc.mark_videos_purged(uuid[]),
    captionacc.delete_tenant(uuid)
from public, anon, authenticated;

grant execute on function
    captionacc.set_video_archived(uuid, boolean),
    captionacc.videos_to_purge(timestamptz, timestamptz, integer, uuid),
    captionacc.mark_videos_purged(uuid[]),
    captionacc.delete_tenant(uuid)
to service_role;
