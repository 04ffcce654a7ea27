-- Everything atomic lives here, so the Postgres adapter (select captionacc.fn(...)) and the
-- Supabase adapter (client.rpc(...)) run the same code.
--
-- Error codes (SQLSTATE, mapped by both adapters):
--   CA001  status transition refused          -> StatusTransitionError
--   CA002  video / request not found          -> NotFoundError
--   CA003  tenant not found                   -> TenantNotFoundError
--   CA004  work refused (deleted video, inactive tenant)
--   CA005  bad argument                       -> BadInputError
--   42501  caller may not touch this video (insufficient_privilege)
--
-- Functions the web app calls run as security definer (with a fixed, empty search_path) and check
-- the caller's tenant membership themselves; the orchestrator's functions are granted to
-- service_role only (0003_rls.sql).

-- status rules -----------------------------------------------------------------------------------

-- wait -> processing -> annotate | done | review | error; annotate|review -> done (approval);
-- error|done|annotate|review -> wait (retry / reprocess); wait -> error (work refused before it
-- started, e.g. over the tier's limits); same state is a no-op. NULL (a captions column before its
-- first run) behaves as 'wait'.
create or replace function captionacc.status_transition_allowed(p_from text, p_to text)
returns boolean
language sql immutable
set search_path = ''
as $$
    select p_from is not distinct from p_to
        or (p_from is null and p_to = 'wait')
        or (coalesce(p_from, 'wait'), p_to) in (
            ('wait', 'processing'),
            ('wait', 'error'),
            ('processing', 'annotate'),
            ('processing', 'done'),
            ('processing', 'review'),
            ('processing', 'error'),
            ('annotate', 'done'),
            ('review', 'done'),
            ('error', 'wait'),
            ('done', 'wait'),
            ('annotate', 'wait'),
            ('review', 'wait')
        )
$$;

-- Enforced on every update of a video, whoever writes it (functions, dashboard, web app), so the
-- rules cannot be bypassed by a direct UPDATE.
create or replace function captionacc.videos_before_update()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
    v_retry boolean := false;
begin
    if new.id <> old.id or new.tenant_id <> old.tenant_id then
        raise exception 'video %: id and tenant cannot change', old.id using errcode = 'CA005';
    end if;
    if not captionacc.status_transition_allowed(old.layout_status, new.layout_status) then
        raise exception 'video %: layout_status cannot go from % to %',
            old.id, old.layout_status, new.layout_status using errcode = 'CA001';
    end if;
    if not captionacc.status_transition_allowed(old.boundaries_status, new.boundaries_status) then
        raise exception 'video %: boundaries_status cannot go from % to %',
            old.id, coalesce(old.boundaries_status, 'null'), coalesce(new.boundaries_status, 'null')
            using errcode = 'CA001';
    end if;
    if not captionacc.status_transition_allowed(old.text_status, new.text_status) then
        raise exception 'video %: text_status cannot go from % to %',
            old.id, coalesce(old.text_status, 'null'), coalesce(new.text_status, 'null')
            using errcode = 'CA001';
    end if;

    if new.layout_status = 'wait' and old.layout_status <> 'wait' then
        -- clock time, not transaction start: the sensor's keyset cursor must see this row
        new.layout_wait_since := clock_timestamp();
    end if;

    v_retry := (new.layout_status = 'wait' and old.layout_status in ('error', 'done', 'annotate', 'review'))
        or (new.boundaries_status = 'wait' and old.boundaries_status in ('error', 'done', 'annotate', 'review'))
        or (new.text_status = 'wait' and old.text_status in ('error', 'done', 'annotate', 'review'));
    -- a retry counts once per statement, whether or not the caller incremented it itself
    if v_retry and new.processing_attempt = old.processing_attempt then
        new.processing_attempt := old.processing_attempt + 1;
    end if;

    new.updated_at := now();
    return new;
end
$$;

create trigger videos_before_update
    before update on captionacc.videos
    for each row execute function captionacc.videos_before_update();

create or replace function captionacc.caption_ocr_requests_before_write()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'INSERT' then
        -- the tenant always comes from the video, never from the caller
        select v.tenant_id into new.tenant_id from captionacc.videos v where v.id = new.video_id;
        if new.tenant_id is null then
            raise exception 'video % not found', new.video_id using errcode = 'CA002';
        end if;
    elsif new.tenant_id <> old.tenant_id or new.video_id <> old.video_id then
        raise exception 'ocr request %: video and tenant cannot change', old.id using errcode = 'CA005';
    end if;
    new.updated_at := now();
    return new;
end
$$;

create trigger caption_ocr_requests_before_write
    before insert or update on captionacc.caption_ocr_requests
    for each row execute function captionacc.caption_ocr_requests_before_write();

-- caller checks --------------------------------------------------------------------------------

-- The role the request runs as: PostgREST does SET LOCAL ROLE (anon/authenticated/service_role),
-- a direct connection (the orchestrator's Postgres adapter) has none set. Security definer does
-- not change this setting, so it still names the caller.
create or replace function captionacc.invoker_role()
returns text
language sql stable
set search_path = ''
as $$
    select coalesce(nullif(current_setting('role', true), 'none'), session_user::text)
$$;

-- Returns the video's tenant, or raises if the caller may not touch the video: anon never,
-- a tenant user only for videos of a tenant they are a member of, trusted roles always.
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
    return v_tenant;
end
$$;

-- Error details a person can act on: {"message", "error", "run_id", ...extra}.
create or replace function captionacc.normalize_error_details(p_details jsonb, p_default_message text)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
begin
    if p_details is null then
        return jsonb_build_object('message', p_default_message, 'error', null, 'run_id', null);
    end if;
    if jsonb_typeof(p_details) <> 'object' then
        raise exception 'error details must be a JSON object, got %', jsonb_typeof(p_details)
            using errcode = 'CA005';
    end if;
    if jsonb_typeof(p_details -> 'message') is distinct from 'string'
            or length(btrim(p_details ->> 'message')) = 0 then
        raise exception 'error details need a non-empty "message"' using errcode = 'CA005';
    end if;
    return jsonb_build_object('error', null, 'run_id', null) || p_details;
end
$$;

-- tenants ---------------------------------------------------------------------------------------

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
        raise exception 'tenant %: unknown tier %', p_name, p_tier using errcode = 'CA005';
    end if;
    -- on conflict do nothing: concurrent callers all get the one row
    insert into captionacc.tenants (name, tier, auto_approve)
    values (p_name, p_tier, coalesce(p_auto_approve, false))
    on conflict (name) do nothing
    returning * into v_row;
    if v_row.id is null then
        select * into v_row from captionacc.tenants t where t.name = p_name;
    end if;
    return v_row;
end
$$;

-- videos ----------------------------------------------------------------------------------------

-- Idempotent, so a retry after a lost reply does not fail: the same row again is fine, a
-- different row under the same id is refused.
create or replace function captionacc.insert_video(
    p_tenant_id uuid,
    p_video_id uuid,
    p_storage_key text,
    p_original_filename text default null,
    p_size_bytes bigint default null,
    p_layout_status text default 'wait'
)
returns captionacc.videos
language plpgsql
set search_path = ''
as $$
declare
    v_tenant captionacc.tenants;
    v_row captionacc.videos;
begin
    if p_video_id is null or p_storage_key is null then
        raise exception 'video id and storage key are required' using errcode = 'CA005';
    end if;
    if p_layout_status is null or p_layout_status not in ('wait', 'processing') then
        raise exception 'video %: a new video starts in wait or processing, not %',
            p_video_id, p_layout_status using errcode = 'CA005';
    end if;
    select * into v_tenant from captionacc.tenants t where t.id = p_tenant_id;
    if v_tenant.id is null then
        raise exception 'video %: tenant % not found', p_video_id, p_tenant_id using errcode = 'CA003';
    end if;
    if not v_tenant.active then
        raise exception 'video %: tenant % is not active', p_video_id, v_tenant.name using errcode = 'CA004';
    end if;
    insert into captionacc.videos (id, tenant_id, storage_key, original_filename, size_bytes, layout_status)
    values (p_video_id, p_tenant_id, p_storage_key, p_original_filename, p_size_bytes, p_layout_status)
    on conflict (id) do nothing
    returning * into v_row;
    if v_row.id is null then
        select * into v_row from captionacc.videos v where v.id = p_video_id;
        if v_row.tenant_id <> p_tenant_id or v_row.storage_key <> p_storage_key then
            raise exception 'video % already exists with another tenant or storage key', p_video_id
                using errcode = 'CA005';
        end if;
    end if;
    return v_row;
end
$$;

-- Moves one status column. Returns the previous status. Tenant users (the web app) may only send
-- a video back to 'wait' (retry / reprocess); the pipeline states are the orchestrator's.
create or replace function captionacc.set_video_status(
    p_video_id uuid,
    p_column text,
    p_status text,
    p_error_details jsonb default null
)
returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_old text;
    v_deleted timestamptz;
    v_details jsonb;
    v_details_column text;
begin
    if p_column is null or p_column not in ('layout_status', 'boundaries_status', 'text_status') then
        raise exception 'video %: unknown status column %', p_video_id, p_column using errcode = 'CA005';
    end if;
    if p_status is null or p_status not in ('wait', 'processing', 'annotate', 'done', 'review', 'error') then
        raise exception 'video %: unknown status %', p_video_id, p_status using errcode = 'CA005';
    end if;
    perform captionacc.assert_video_access(p_video_id);
    if captionacc.invoker_role() = 'authenticated' and p_status <> 'wait' then
        raise exception 'video %: users may only set % back to wait', p_video_id, p_column
            using errcode = '42501';
    end if;

    execute format('select %I, deleted_at from captionacc.videos where id = $1 for update', p_column)
        into v_old, v_deleted using p_video_id;
    if v_deleted is not null and p_status in ('wait', 'processing') then
        raise exception 'video %: deleted, no new work', p_video_id using errcode = 'CA004';
    end if;

    v_details_column := replace(p_column, '_status', '_error_details');
    if p_status = 'error' then
        v_details := captionacc.normalize_error_details(p_error_details, p_column || ' set to error');
    elsif p_status = 'review' and p_error_details is not null then
        v_details := captionacc.normalize_error_details(p_error_details, p_column || ' needs review');
    end if;

    -- the trigger checks the transition and counts retries
    execute format('update captionacc.videos set %I = $2, %I = $3 where id = $1',
                   p_column, v_details_column)
        using p_video_id, p_status, v_details;
    return v_old;
end
$$;

-- The orchestrator starts (or retries) work on one status column. Returns processing_attempt.
-- Already 'processing' is a no-op, so a re-executed step does not fail.
create or replace function captionacc.begin_processing(p_video_id uuid, p_column text)
returns integer
language plpgsql
set search_path = ''
as $$
declare
    v_old text;
    v_deleted timestamptz;
    v_active boolean;
    v_attempt integer;
begin
    if p_column is null or p_column not in ('layout_status', 'boundaries_status', 'text_status') then
        raise exception 'video %: unknown status column %', p_video_id, p_column using errcode = 'CA005';
    end if;
    execute format(
        'select v.%I, v.deleted_at, t.active, v.processing_attempt
           from captionacc.videos v join captionacc.tenants t on t.id = v.tenant_id
          where v.id = $1 for update of v', p_column)
        into v_old, v_deleted, v_active, v_attempt using p_video_id;
    if v_active is null then  -- EXECUTE does not set FOUND
        raise exception 'video % not found', p_video_id using errcode = 'CA002';
    end if;
    if v_deleted is not null then
        raise exception 'video %: deleted at %, no new work', p_video_id, v_deleted using errcode = 'CA004';
    end if;
    if not v_active then
        raise exception 'video %: tenant is not active, no new work', p_video_id using errcode = 'CA004';
    end if;
    if v_old = 'processing' then
        return v_attempt;
    end if;
    if v_old in ('error', 'done', 'annotate', 'review') then
        execute format('update captionacc.videos set %I = ''wait'' where id = $1', p_column) using p_video_id;
    end if;
    execute format(
        'update captionacc.videos set %I = ''processing'', %I = null where id = $1 returning processing_attempt',
        p_column, replace(p_column, '_status', '_error_details'))
        into v_attempt using p_video_id;
    return v_attempt;
end
$$;

-- A person (or auto-approve after the checks passed) accepts the layout: the approvals sensor
-- starts the captions run for layout_approved_at newer than its cursor.
create or replace function captionacc.approve_layout(p_video_id uuid)
returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_deleted timestamptz;
    v_status text;
    v_at timestamptz := clock_timestamp();
begin
    perform captionacc.assert_video_access(p_video_id);
    select deleted_at, layout_status into v_deleted, v_status
      from captionacc.videos where id = p_video_id for update;
    if v_deleted is not null then
        raise exception 'video %: deleted, cannot approve its layout', p_video_id using errcode = 'CA004';
    end if;
    -- a person approves what they have looked at; from 'processing' only the orchestrator
    -- (auto-approve after the checks passed) may approve
    if captionacc.invoker_role() = 'authenticated' and v_status not in ('annotate', 'review', 'done') then
        raise exception 'video %: layout is %, nothing to approve yet', p_video_id, v_status
            using errcode = 'CA001';
    end if;
    -- the trigger refuses approval from wait/error
    update captionacc.videos
       set layout_status = 'done', layout_approved_at = v_at, layout_error_details = null
     where id = p_video_id;
    return v_at;
end
$$;

create or replace function captionacc.record_video_metadata(
    p_video_id uuid,
    p_duration_seconds double precision,
    p_width integer,
    p_height integer,
    p_fps double precision,
    p_total_frames integer
)
returns void
language plpgsql
set search_path = ''
as $$
begin
    update captionacc.videos
       set duration_seconds = p_duration_seconds, width = p_width, height = p_height,
           fps = p_fps, total_frames = p_total_frames
     where id = p_video_id;
    if not found then
        raise exception 'video % not found', p_video_id using errcode = 'CA002';
    end if;
end
$$;

-- Bumped only after every chunk of the new version is stored; never goes back, so a late
-- writer of an older version cannot hide the newer chunks.
create or replace function captionacc.set_cropped_frames_version(p_video_id uuid, p_version integer)
returns void
language plpgsql
set search_path = ''
as $$
declare
    v_current integer;
begin
    select current_cropped_frames_version into v_current
      from captionacc.videos where id = p_video_id for update;
    if not found then
        raise exception 'video % not found', p_video_id using errcode = 'CA002';
    end if;
    if p_version is null or p_version < v_current then
        raise exception 'video %: cropped frames version % is older than the current %',
            p_video_id, p_version, v_current using errcode = 'CA005';
    end if;
    update captionacc.videos set current_cropped_frames_version = p_version where id = p_video_id;
end
$$;

create or replace function captionacc.mark_video_deleted(p_video_id uuid)
returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_at timestamptz;
begin
    perform captionacc.assert_video_access(p_video_id);
    update captionacc.videos set deleted_at = coalesce(deleted_at, now())
     where id = p_video_id
    returning deleted_at into v_at;
    return v_at;
end
$$;

-- sensors ---------------------------------------------------------------------------------------

-- Keyset pagination over (layout_wait_since, id), served by videos_pending_idx.
create or replace function captionacc.pending_uploads(
    p_limit integer default 100,
    p_after_wait_since timestamptz default null,
    p_after_video_id uuid default null
)
returns table (
    video_id uuid,
    tenant_id uuid,
    tier text,
    uploaded_at timestamptz,
    processing_attempt integer,
    wait_since timestamptz
)
language sql stable
set search_path = ''
as $$
    select v.id, v.tenant_id, t.tier, v.uploaded_at, v.processing_attempt, v.layout_wait_since
      from captionacc.videos v
      join captionacc.tenants t on t.id = v.tenant_id
     where v.layout_status = 'wait'
       and v.deleted_at is null
       and t.active
       and (v.layout_wait_since, v.id) > (
             coalesce(p_after_wait_since, '-infinity'::timestamptz),
             coalesce(p_after_video_id, '00000000-0000-0000-0000-000000000000'::uuid))
     order by v.layout_wait_since, v.id
     limit greatest(least(coalesce(p_limit, 100), 10000), 1)
$$;

create or replace function captionacc.approved_layouts(p_since timestamptz default null, p_limit integer default 100)
returns table (
    video_id uuid,
    tenant_id uuid,
    tier text,
    uploaded_at timestamptz,
    layout_approved_at timestamptz
)
language sql stable
set search_path = ''
as $$
    select v.id, v.tenant_id, t.tier, v.uploaded_at, v.layout_approved_at
      from captionacc.videos v
      join captionacc.tenants t on t.id = v.tenant_id
     where v.layout_approved_at is not null
       and v.layout_approved_at > coalesce(p_since, '-infinity'::timestamptz)
       and v.deleted_at is null
       and t.active
     order by v.layout_approved_at, v.id
     limit greatest(least(coalesce(p_limit, 100), 10000), 1)
$$;

-- locks -----------------------------------------------------------------------------------------

-- One compare-and-set (insert ... on conflict do update ... where): concurrent callers serialise
-- on the row, and the WHERE is re-checked against the winner's version, so exactly one wins.
-- Taken when free, expired, or already ours of the same kind (a renewal). Client and server locks
-- exclude each other because a lock of the other kind is never "ours".
create or replace function captionacc.acquire_lock(
    p_video_id uuid,
    p_database text,
    p_holder text,
    p_ttl_seconds integer,
    p_kind text
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_tenant uuid;
    v_ok boolean;
    v_now timestamptz := clock_timestamp();
begin
    if p_database is null or p_database not in ('layout', 'captions') then
        raise exception 'video %: unknown lock database %', p_video_id, p_database using errcode = 'CA005';
    end if;
    if p_kind is null or p_kind not in ('client', 'server') then
        raise exception 'video %: unknown lock kind %', p_video_id, p_kind using errcode = 'CA005';
    end if;
    if p_holder is null or length(btrim(p_holder)) = 0 or length(p_holder) > 200 then
        raise exception 'video %: lock holder must be 1..200 characters', p_video_id using errcode = 'CA005';
    end if;
    if p_ttl_seconds is null or p_ttl_seconds < 1 or p_ttl_seconds > 86400 then
        raise exception 'video %: lock ttl must be 1..86400 seconds, got %', p_video_id, p_ttl_seconds
            using errcode = 'CA005';
    end if;
    v_tenant := captionacc.assert_video_access(p_video_id);

    insert into captionacc.video_database_state as s
           (video_id, database, tenant_id, lock_holder, lock_kind, acquired_at, expires_at)
    values (p_video_id, p_database, v_tenant, p_holder, p_kind, v_now,
            v_now + make_interval(secs => p_ttl_seconds))
    on conflict (video_id, database) do update
       set lock_holder = excluded.lock_holder,
           lock_kind   = excluded.lock_kind,
           acquired_at = case
                             when s.lock_holder = excluded.lock_holder and s.lock_kind = excluded.lock_kind
                                  and s.expires_at > excluded.acquired_at
                             then s.acquired_at
                             else excluded.acquired_at
                         end,
           expires_at  = excluded.expires_at
     where s.lock_holder is null
        or s.expires_at <= excluded.acquired_at
        or (s.lock_holder = excluded.lock_holder and s.lock_kind = excluded.lock_kind)
    returning true into v_ok;
    return coalesce(v_ok, false);
end
$$;

create or replace function captionacc.release_lock(
    p_video_id uuid,
    p_database text,
    p_holder text,
    p_kind text
)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_ok boolean;
begin
    perform captionacc.assert_video_access(p_video_id);
    update captionacc.video_database_state
       set lock_holder = null, lock_kind = null, acquired_at = null, expires_at = null
     where video_id = p_video_id
       and database = p_database
       and lock_holder = p_holder
       and lock_kind = p_kind
    returning true into v_ok;
    return coalesce(v_ok, false);
end
$$;

create or replace function captionacc.acquire_server_lock(
    p_video_id uuid,
    p_database text,
    p_holder text,
    p_ttl_seconds integer
)
returns boolean
language sql
security definer
set search_path = ''
as $$
    select captionacc.acquire_lock(p_video_id, p_database, p_holder, p_ttl_seconds, 'server')
$$;

create or replace function captionacc.release_server_lock(p_video_id uuid, p_database text, p_holder text)
returns boolean
language sql
security definer
set search_path = ''
as $$
    select captionacc.release_lock(p_video_id, p_database, p_holder, 'server')
$$;

-- The web app's annotation session; excluded by (and excluding) the orchestrator's server lock.
create or replace function captionacc.acquire_client_lock(
    p_video_id uuid,
    p_database text,
    p_holder text,
    p_ttl_seconds integer
)
returns boolean
language sql
security definer
set search_path = ''
as $$
    select captionacc.acquire_lock(p_video_id, p_database, p_holder, p_ttl_seconds, 'client')
$$;

create or replace function captionacc.release_client_lock(p_video_id uuid, p_database text, p_holder text)
returns boolean
language sql
security definer
set search_path = ''
as $$
    select captionacc.release_lock(p_video_id, p_database, p_holder, 'client')
$$;

-- Frees every expired lock and reports which ones they were. Rows re-taken meanwhile are skipped
-- (FOR UPDATE re-checks the expiry against the latest row version).
create or replace function captionacc.clear_stale_locks()
returns table (
    video_id uuid,
    database text,
    lock_holder text,
    lock_kind text,
    expires_at timestamptz
)
language sql
set search_path = ''
as $$
    with stale as (
        select s.video_id, s.database, s.lock_holder, s.lock_kind, s.expires_at
          from captionacc.video_database_state s
         where s.lock_holder is not null
           and s.expires_at <= clock_timestamp()
           for update
    )
    update captionacc.video_database_state s
       set lock_holder = null, lock_kind = null, acquired_at = null, expires_at = null
      from stale
     where s.video_id = stale.video_id and s.database = stale.database
    returning stale.video_id, stale.database, stale.lock_holder, stale.lock_kind, stale.expires_at
$$;

-- caption OCR requests --------------------------------------------------------------------------

-- The web app asks for one caption to be re-read. A request already queued for the same caption
-- is returned instead of a duplicate.
create or replace function captionacc.request_caption_ocr(p_video_id uuid, p_caption_id integer)
returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_id uuid;
begin
    perform captionacc.assert_video_access(p_video_id);
    if p_caption_id is null or p_caption_id < 0 then
        raise exception 'video %: caption id must be >= 0', p_video_id using errcode = 'CA005';
    end if;
    -- serialise requests for one video so the duplicate check below holds
    perform 1 from captionacc.videos where id = p_video_id for update;
    select r.id into v_id from captionacc.caption_ocr_requests r
     where r.video_id = p_video_id and r.caption_id = p_caption_id and r.status = 'queued';
    if v_id is null then
        insert into captionacc.caption_ocr_requests (video_id, caption_id)
        values (p_video_id, p_caption_id)
        returning id into v_id;
    end if;
    return v_id;
end
$$;

-- Concurrent sensors each get disjoint requests (skip locked); requests of deleted videos or
-- inactive tenants stay queued.
create or replace function captionacc.claim_caption_ocr_requests(p_limit integer default 100)
returns setof captionacc.caption_ocr_requests
language sql
set search_path = ''
as $$
    with picked as (
        select r.id
          from captionacc.caption_ocr_requests r
          join captionacc.videos v on v.id = r.video_id
          join captionacc.tenants t on t.id = r.tenant_id
         where r.status = 'queued'
           and v.deleted_at is null
           and t.active
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

-- Completed without an error, 'error' with it. Finishing a request that already finished is a
-- no-op (a run and the failure sensor may both report it). Returns the resulting status.
create or replace function captionacc.finish_caption_ocr_request(p_request_id uuid, p_error text default null)
returns text
language plpgsql
set search_path = ''
as $$
declare
    v_status text;
begin
    update captionacc.caption_ocr_requests
       set status = case when p_error is null then 'completed' else 'error' end,
           error = p_error,
           completed_at = clock_timestamp()
     where id = p_request_id and status in ('queued', 'processing')
    returning status into v_status;
    if v_status is null then
        select status into v_status from captionacc.caption_ocr_requests where id = p_request_id;
        if v_status is null then
            raise exception 'ocr request % not found', p_request_id using errcode = 'CA002';
        end if;
    end if;
    return v_status;
end
$$;
