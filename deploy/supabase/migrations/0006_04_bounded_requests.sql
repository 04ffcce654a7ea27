-- Bounded reprocessing (issue 20, finding 5): what a tenant's users ask for is rate limited per
-- tenant, and a caption OCR request already queued is not queued again, however it is inserted
-- (10,000 copies in one INSERT are one request). Approving an approved layout is already a no-op
-- (0006_01); a reprocess is the explicit done -> wait with a new attempt.
--
-- Error code: CA006 rate limit exceeded (a person may try again after a minute).

-- per tenant and minute; the orchestrator (service_role) is not limited
create table captionacc.rate_limits (
    action     text primary key check (action in ('approve_layout', 'caption_ocr_request')),
    per_minute integer not null check (per_minute > 0)
);
alter table captionacc.rate_limits enable row level security;
revoke all on captionacc.rate_limits from public, anon, authenticated;
grant select, insert, update, delete on captionacc.rate_limits to service_role;
insert into captionacc.rate_limits (action, per_minute) values
    ('approve_layout', 120),
    ('caption_ocr_request', 600);

-- Raises CA006 when the tenant already did p_done of p_action in the last minute.
create or replace function captionacc.assert_within_rate(p_action text, p_tenant_id uuid, p_done bigint)
returns void
language plpgsql stable
set search_path = ''
as $$
declare
    v_limit integer;
begin
    select r.per_minute into v_limit from captionacc.rate_limits r where r.action = p_action;
    if v_limit is not null and p_done >= v_limit then
        raise exception 'tenant %: at most % % per minute', p_tenant_id, v_limit, replace(p_action, '_', ' ')
            using errcode = 'CA006';
    end if;
end
$$;

create or replace function captionacc.videos_approval_rate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    if new.layout_approved_at is distinct from old.layout_approved_at
            and captionacc.invoker_role() = 'authenticated' then
        perform captionacc.assert_within_rate(
            'approve_layout', new.tenant_id,
            (select count(*) from captionacc.videos v
              where v.tenant_id = new.tenant_id and v.layout_approved_at > now() - interval '1 minute'));
    end if;
    return new;
end
$$;

create trigger videos_approval_rate
    before update on captionacc.videos
    for each row execute function captionacc.videos_approval_rate();

-- Requests already queued twice or more: keep the oldest, so the unique index below can exist.
delete from captionacc.caption_ocr_requests r
 using captionacc.caption_ocr_requests older
 where r.status = 'queued' and older.status = 'queued'
   and older.video_id = r.video_id and older.caption_id = r.caption_id
   and (older.created_at, older.id) < (r.created_at, r.id);

-- the backstop for concurrent inserters; the trigger below makes a duplicate a quiet no-op
create unique index caption_ocr_requests_one_queued_idx
    on captionacc.caption_ocr_requests (video_id, caption_id) where status = 'queued';
create index caption_ocr_requests_tenant_created_idx
    on captionacc.caption_ocr_requests (tenant_id, created_at);

create or replace function captionacc.caption_ocr_requests_bounded()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    -- rows inserted earlier by the same statement are visible here: 10,000 copies become one
    if exists (select 1 from captionacc.caption_ocr_requests r
                where r.video_id = new.video_id and r.caption_id = new.caption_id and r.status = 'queued') then
        return null;
    end if;
    if captionacc.invoker_role() = 'authenticated' then
        perform captionacc.assert_within_rate(
            'caption_ocr_request', new.tenant_id,
            (select count(*) from captionacc.caption_ocr_requests r
              where r.tenant_id = new.tenant_id and r.created_at > now() - interval '1 minute'));
    end if;
    return new;
end
$$;

-- after caption_ocr_requests_before_write (names order triggers): the tenant is filled in
create trigger caption_ocr_requests_bounded
    before insert on captionacc.caption_ocr_requests
    for each row execute function captionacc.caption_ocr_requests_bounded();

revoke execute on function
    captionacc.assert_within_rate(text, uuid, bigint),
    captionacc.videos_approval_rate(),
    captionacc.caption_ocr_requests_bounded()
from public, anon, authenticated;
