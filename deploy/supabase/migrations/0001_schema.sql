-- Catalog schema shared by the web app (Supabase) and the orchestrator (caption_assets).
-- PostgreSQL 15 features only: this file runs unchanged on Supabase and on the local Postgres.

create schema if not exists captionacc;

-- tenants ---------------------------------------------------------------------------------------
create table captionacc.tenants (
    id           uuid primary key default gen_random_uuid(),
    name         text not null unique check (length(btrim(name)) > 0 and length(name) <= 200),
    tier         text not null default 'free' check (tier in ('free', 'premium', 'enterprise')),
    -- off by default: in production a person approves layouts unless the tenant opted in
    auto_approve boolean not null default false,
    active       boolean not null default true,
    created_at   timestamptz not null default now()
);

-- user ids are Supabase auth user ids (auth.users.id); no FK so the schema also works where the
-- auth tables are not present (the local Postgres)
create table captionacc.tenant_members (
    tenant_id  uuid not null references captionacc.tenants (id) on delete cascade,
    user_id    uuid not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, user_id)
);
-- RLS policies look memberships up by user
create index tenant_members_user_idx on captionacc.tenant_members (user_id, tenant_id);

-- videos ----------------------------------------------------------------------------------------
create table captionacc.videos (
    id                             uuid primary key default gen_random_uuid(),
    tenant_id                      uuid not null references captionacc.tenants (id),
    storage_key                    text not null,
    original_filename              text,
    size_bytes                     bigint check (size_bytes >= 0),
    uploaded_at                    timestamptz not null default now(),
    deleted_at                     timestamptz,
    duration_seconds               double precision check (duration_seconds >= 0),
    width                          integer check (width > 0),
    height                         integer check (height > 0),
    fps                            double precision check (fps > 0),
    total_frames                   integer check (total_frames >= 0),
    layout_status                  text not null default 'wait',
    -- when layout_status last became 'wait' (upload, retry, reprocess): the new_uploads cursor
    layout_wait_since              timestamptz not null default now(),
    layout_error_details           jsonb,
    layout_approved_at             timestamptz,
    boundaries_status              text,
    boundaries_error_details       jsonb,
    text_status                    text,
    text_error_details             jsonb,
    current_cropped_frames_version integer not null default 0 check (current_cropped_frames_version >= 0),
    processing_attempt             integer not null default 0 check (processing_attempt >= 0),
    updated_at                     timestamptz not null default now(),

    constraint videos_layout_status_check
        check (layout_status in ('wait', 'processing', 'annotate', 'done', 'review', 'error')),
    constraint videos_boundaries_status_check
        check (boundaries_status in ('wait', 'processing', 'annotate', 'done', 'review', 'error')),
    constraint videos_text_status_check
        check (text_status in ('wait', 'processing', 'annotate', 'done', 'review', 'error')),
    -- a video's objects live under its tenant's prefix; a row pointing elsewhere would let one
    -- tenant's catalog entry address another tenant's files
    constraint videos_storage_key_tenant_prefix
        check (starts_with(storage_key, tenant_id::text || '/') and position('..' in storage_key) = 0),
    constraint videos_layout_error_details_object
        check (layout_error_details is null or jsonb_typeof(layout_error_details) = 'object'),
    constraint videos_boundaries_error_details_object
        check (boundaries_error_details is null or jsonb_typeof(boundaries_error_details) = 'object'),
    constraint videos_text_error_details_object
        check (text_error_details is null or jsonb_typeof(text_error_details) = 'object')
);

create index videos_tenant_idx on captionacc.videos (tenant_id, uploaded_at);
-- new_uploads sensor: keyset scan over waiting rows (tens of thousands may wait at once)
create index videos_pending_idx on captionacc.videos (layout_wait_since, id)
    where layout_status = 'wait' and deleted_at is null;
-- layout_approvals sensor
create index videos_approved_idx on captionacc.videos (layout_approved_at, id)
    where layout_approved_at is not null and deleted_at is null;
-- stuck-work repair looks for rows left in 'processing'
create index videos_processing_idx on captionacc.videos (id)
    where layout_status = 'processing' or boundaries_status = 'processing' or text_status = 'processing';

-- caption OCR requests (one caption re-read after a person edited its extents) -----------------
create table captionacc.caption_ocr_requests (
    id           uuid primary key default gen_random_uuid(),
    video_id     uuid not null references captionacc.videos (id) on delete cascade,
    -- copied from the video by a trigger: lets RLS check the tenant without a join
    tenant_id    uuid not null references captionacc.tenants (id),
    caption_id   integer not null check (caption_id >= 0),
    status       text not null default 'queued'
                 check (status in ('queued', 'processing', 'completed', 'error')),
    error        text,
    created_at   timestamptz not null default now(),
    claimed_at   timestamptz,
    completed_at timestamptz,
    updated_at   timestamptz not null default now()
);
create index caption_ocr_requests_queued_idx on captionacc.caption_ocr_requests (created_at, id)
    where status = 'queued';
create index caption_ocr_requests_video_idx on captionacc.caption_ocr_requests (video_id);
create index caption_ocr_requests_tenant_idx on captionacc.caption_ocr_requests (tenant_id);

-- per-database locks of a video (web app annotation vs. orchestrator runs) ----------------------
create table captionacc.video_database_state (
    video_id    uuid not null references captionacc.videos (id) on delete cascade,
    database    text not null check (database in ('layout', 'captions')),
    tenant_id   uuid not null references captionacc.tenants (id),
    lock_holder text,
    lock_kind   text check (lock_kind in ('client', 'server')),
    acquired_at timestamptz,
    expires_at  timestamptz,
    primary key (video_id, database),
    -- a lock is all four fields or none
    constraint video_database_state_lock_complete check (
        (lock_holder is null and lock_kind is null and acquired_at is null and expires_at is null)
        or (lock_holder is not null and lock_kind is not null and acquired_at is not null
            and expires_at is not null)
    )
);
create index video_database_state_expiry_idx on captionacc.video_database_state (expires_at)
    where lock_holder is not null;
create index video_database_state_tenant_idx on captionacc.video_database_state (tenant_id);
