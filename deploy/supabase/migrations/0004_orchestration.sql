-- Orchestration helpers: stuck-work repair, cancelling refused work, tenant deactivation.

-- Videos with a status column in 'processing': the repair schedule checks each against the
-- orchestrator's live runs.
create or replace function captionacc.videos_in_processing(p_limit integer default 1000)
returns table (
    video_id uuid,
    tenant_id uuid,
    layout_status text,
    boundaries_status text,
    text_status text,
    updated_at timestamptz
)
language sql stable
set search_path = ''
as $$
    select v.id, v.tenant_id, v.layout_status, v.boundaries_status, v.text_status, v.updated_at
      from captionacc.videos v
     where 'processing' in (v.layout_status, v.boundaries_status, v.text_status)
     order by v.updated_at, v.id
     limit greatest(least(coalesce(p_limit, 1000), 10000), 1)
$$;

create index if not exists videos_processing_idx on captionacc.videos (updated_at, id)
    where layout_status = 'processing' or boundaries_status = 'processing' or text_status = 'processing';

-- Of the given videos, those whose work must not run: unknown, deleted, or of an inactive tenant.
create or replace function captionacc.refused_videos(p_video_ids uuid[])
returns table (video_id uuid, reason text)
language sql stable
set search_path = ''
as $$
    select ids.id,
           case
               when v.id is null then 'unknown video'
               when v.deleted_at is not null then 'video deleted'
               else 'tenant inactive'
           end
      from unnest(p_video_ids) as ids(id)
      left join captionacc.videos v on v.id = ids.id
      left join captionacc.tenants t on t.id = v.tenant_id
     where v.id is null or v.deleted_at is not null or not t.active
$$;

create or replace function captionacc.set_tenant_active(p_tenant_id uuid, p_active boolean)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
    update captionacc.tenants set active = p_active where id = p_tenant_id;
    if not found then
        raise exception 'tenant % not found', p_tenant_id using errcode = 'CA003';
    end if;
    return p_active;
end
$$;

revoke execute on function
    captionacc.videos_in_processing(integer),
    captionacc.refused_videos(uuid[]),
    captionacc.set_tenant_active(uuid, boolean)
from public, anon, authenticated;

grant execute on function
    captionacc.videos_in_processing(integer),
    captionacc.refused_videos(uuid[]),
    captionacc.set_tenant_active(uuid, boolean)
to service_role;

-- Claim every queued request, including those of deleted videos and inactive tenants: the
-- orchestrator refuses those explicitly (the request ends 'error' with the reason and the refusal
-- is logged) instead of leaving them queued forever.
create or replace function captionacc.claim_caption_ocr_requests(p_limit integer default 100)
returns setof captionacc.caption_ocr_requests
language sql
set search_path = ''
as $$
    with picked as (
        select r.id
          from captionacc.caption_ocr_requests r
         where r.status = 'queued'
         order by r.created_at, r.id
         limit greatest(least(coalesce(p_limit, 100), 10000), 1)
           for update of r skip locked
    )
    update captionacc.caption_ocr_requests r
       set status = 'processing', claimed_at = clock_timestamp(), error = null
      from picked
     where r.id = picked.id
    returning r.*
$$;
