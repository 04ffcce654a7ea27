-- What a tenant's own users may do to their own rows (issue 20, findings 2 and 10). Limits are
-- checked on facts the orchestrator establishes, never on what the uploader declares; statuses
-- are the pipeline's except the retry/reprocess a person asks for; a deletion is final; a deleted
-- (or deactivated) tenant's members can start nothing.

-- size_bytes is measured from the stored object by the orchestrator, not declared on insert
revoke insert on captionacc.videos from authenticated;
grant insert (id, tenant_id, storage_key, original_filename) on captionacc.videos to authenticated;

-- membership of an active tenant: what every write of a tenant user needs
create or replace function captionacc.is_active_member(p_tenant_id uuid)
returns boolean
language sql stable
security definer
set search_path = ''
as $$
    select exists (
        select 1
          from captionacc.tenant_members m
          join captionacc.tenants t on t.id = m.tenant_id
         where m.tenant_id = p_tenant_id and m.user_id = auth.uid() and t.active
    )
$$;

drop policy videos_member_insert on captionacc.videos;
create policy videos_member_insert on captionacc.videos
    for insert to authenticated
    with check (captionacc.is_active_member(tenant_id));

drop policy videos_member_update on captionacc.videos;
create policy videos_member_update on captionacc.videos
    for update to authenticated
    using (captionacc.is_active_member(tenant_id))
    with check (captionacc.is_active_member(tenant_id));

drop policy caption_ocr_requests_member_insert on captionacc.caption_ocr_requests;
create policy caption_ocr_requests_member_insert on captionacc.caption_ocr_requests
    for insert to authenticated
    with check (captionacc.is_active_member(tenant_id));

-- 0002's caller check, plus: a tenant user's tenant must be active (deleted tenants are inactive
-- for good), so every function of the web app refuses the members of a deleted tenant.
create or replace function captionacc.assert_video_access(p_video_id uuid)
returns uuid
language plpgsql stable
security definer
set search_path = ''
as $$
declare
    v_role text := captionacc.invoker_role();
    v_tenant uuid;
begin
    if p_video_id is null then
        raise exception 'video id is required' using errcode = 'CA005';
    end if;
    if v_role = 'anon' then
        raise exception 'permission denied for video %', p_video_id using errcode = '42501';
    end if;
    select v.tenant_id into v_tenant from captionacc.videos v where v.id = p_video_id;
    if v_role = 'authenticated' and (v_tenant is null or not exists (
        select 1 from captionacc.tenant_members m
        where m.tenant_id = v_tenant and m.user_id = auth.uid()
    )) then
        -- a non-member learns nothing about whether the video exists
        raise exception 'permission denied for video %', p_video_id using errcode = '42501';
    end if;
    if v_tenant is null then
        raise exception 'video % not found', p_video_id using errcode = 'CA002';
    end if;
    if v_role = 'authenticated' and not captionacc.is_active_member(v_tenant) then
        raise exception 'video %: its tenant is not active, no new work', p_video_id using errcode = 'CA004';
    end if;
    return v_tenant;
end
$$;

-- A tenant user moves a status only back to 'wait' from a finished state (error: retry, done:
-- reprocess; the update trigger counts the attempt), or approves the layout.
create or replace function captionacc.user_status_change_allowed(p_from text, p_to text, p_approval boolean)
returns boolean
language sql immutable
set search_path = ''
as $$
    select p_from is not distinct from p_to
        or (p_to = 'wait' and p_from in ('error', 'done'))
        or (p_approval and p_to = 'done')
$$;

-- security definer: invoker_role() is not granted to the writing roles (it still names the caller)
create or replace function captionacc.videos_rights()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if old.deleted_at is not null and new.deleted_at is distinct from old.deleted_at then
        raise exception 'video %: deleted at %, a deletion is final', old.id, old.deleted_at
            using errcode = 'CA004';
    end if;
    -- a deletion dated later would keep the video (and its objects) past every purge
    if new.deleted_at > now() + interval '1 minute' then
        raise exception 'video %: deleted_at % is in the future', old.id, new.deleted_at
            using errcode = 'CA005';
    end if;
    if captionacc.invoker_role() = 'authenticated' and not (
        captionacc.user_status_change_allowed(old.layout_status, new.layout_status,
                                              new.layout_approved_at is distinct from old.layout_approved_at)
        and captionacc.user_status_change_allowed(old.boundaries_status, new.boundaries_status, false)
        and captionacc.user_status_change_allowed(old.text_status, new.text_status, false)
    ) then
        raise exception 'video %: users may only ask for a retry or reprocess (error or done -> wait)', old.id
            using errcode = '42501';
    end if;
    return new;
end
$$;

create trigger videos_rights
    before update on captionacc.videos
    for each row execute function captionacc.videos_rights();

revoke execute on function
    captionacc.videos_rights(),
    captionacc.user_status_change_allowed(text, text, boolean),
    captionacc.is_active_member(uuid)
from public, anon, authenticated;
-- the policies run as the writing role
grant execute on function captionacc.is_active_member(uuid) to authenticated, service_role;
