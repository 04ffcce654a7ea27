-- Who may do what. Roles are Supabase's: anon (no login), authenticated (a web-app user, whose
-- JWT 'sub' is auth.uid()), service_role (the orchestrator, BYPASSRLS).
-- A tenant's users see and change only their tenant's rows; pipeline state changes go through
-- the functions of 0002, which check membership themselves.

-- anon gets nothing in this schema, not even usage
revoke all on schema captionacc from public, anon;
grant usage on schema captionacc to authenticated, service_role;

-- tables ----------------------------------------------------------------------------------------
revoke all on all tables in schema captionacc from public, anon, authenticated;
grant select, insert, update, delete on all tables in schema captionacc to service_role;

grant select on captionacc.tenants to authenticated;
grant select on captionacc.tenant_members to authenticated;
grant select on captionacc.videos to authenticated;
-- an upload row starts in the default state; statuses are changed only through the functions
grant insert (id, tenant_id, storage_key, original_filename, size_bytes) on captionacc.videos to authenticated;
grant update (original_filename, deleted_at) on captionacc.videos to authenticated;
grant select on captionacc.caption_ocr_requests to authenticated;
grant insert (video_id, caption_id) on captionacc.caption_ocr_requests to authenticated;
grant select on captionacc.video_database_state to authenticated;

alter table captionacc.tenants enable row level security;
alter table captionacc.tenant_members enable row level security;
alter table captionacc.videos enable row level security;
alter table captionacc.caption_ocr_requests enable row level security;
alter table captionacc.video_database_state enable row level security;

-- (select auth.uid()) is evaluated once per statement instead of once per row
create policy tenant_members_own on captionacc.tenant_members
    for select to authenticated
    using (user_id = (select auth.uid()));

create policy tenants_member_select on captionacc.tenants
    for select to authenticated
    using (id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())));

create policy videos_member_select on captionacc.videos
    for select to authenticated
    using (tenant_id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())));

create policy videos_member_insert on captionacc.videos
    for insert to authenticated
    with check (tenant_id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())));

create policy videos_member_update on captionacc.videos
    for update to authenticated
    using (tenant_id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())))
    with check (tenant_id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())));

create policy caption_ocr_requests_member_select on captionacc.caption_ocr_requests
    for select to authenticated
    using (tenant_id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())));

-- tenant_id is filled from the video by a trigger before this check runs
create policy caption_ocr_requests_member_insert on captionacc.caption_ocr_requests
    for insert to authenticated
    with check (tenant_id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())));

create policy video_database_state_member_select on captionacc.video_database_state
    for select to authenticated
    using (tenant_id in (select m.tenant_id from captionacc.tenant_members m where m.user_id = (select auth.uid())));

-- functions -------------------------------------------------------------------------------------
-- Postgres grants EXECUTE to PUBLIC by default; nothing here is meant for everyone.
alter default privileges in schema captionacc revoke execute on functions from public;
revoke execute on all functions in schema captionacc from public, anon, authenticated, service_role;

-- called by the web app (membership checked inside) and by the orchestrator
grant execute on function
    captionacc.set_video_status(uuid, text, text, jsonb),
    captionacc.approve_layout(uuid),
    captionacc.mark_video_deleted(uuid),
    captionacc.acquire_server_lock(uuid, text, text, integer),
    captionacc.release_server_lock(uuid, text, text),
    captionacc.acquire_client_lock(uuid, text, text, integer),
    captionacc.release_client_lock(uuid, text, text),
    captionacc.request_caption_ocr(uuid, integer),
    -- run by the update trigger as the writing role
    captionacc.status_transition_allowed(text, text)
to authenticated, service_role;

-- the orchestrator's
grant execute on function
    captionacc.ensure_tenant(text, text, boolean),
    captionacc.insert_video(uuid, uuid, text, text, bigint, text),
    captionacc.begin_processing(uuid, text),
    captionacc.record_video_metadata(uuid, double precision, integer, integer, double precision, integer),
    captionacc.set_cropped_frames_version(uuid, integer),
    captionacc.pending_uploads(integer, timestamptz, uuid),
    captionacc.approved_layouts(timestamptz, integer),
    captionacc.clear_stale_locks(),
    captionacc.claim_caption_ocr_requests(integer),
    captionacc.finish_caption_ocr_request(uuid, text)
to service_role;
