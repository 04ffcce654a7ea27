-- Run claims (issue 20, finding 1): a row becomes visible when its transaction commits, not when
-- it was written, so a keyset cursor on a timestamp taken inside the writing transaction
-- (layout_wait_since, layout_approved_at) skips every row that commits after a later one was seen.
-- Instead each piece of work is claimed once, in the row itself: the sensors (and the webhook)
-- take whatever is unclaimed, whenever it became visible, and a compare-and-set makes concurrent
-- claimers disjoint. A claim whose run never started is found by the maintenance repair, which
-- releases it when the orchestrator has no run for it, so the next tick requests it again.

alter table captionacc.videos
    -- the processing_attempt a layout run was requested for
    add column layout_claimed_attempt    integer,
    -- set by a claim, cleared when the layout run starts (layout_status -> processing)
    add column layout_claimed_at         timestamptz,
    -- the layout_approved_at a captions run was requested for
    add column captions_claimed_approval timestamptz,
    -- set by a claim, cleared when the captions run starts (boundaries_status -> processing)
    add column captions_claimed_at       timestamptz,
    -- the run that claimed the captions work for itself (video_job), null for the sensor
    add column captions_claimed_by       text check (length(captions_claimed_by) <= 200);

-- Approvals made before this migration had their captions run from the old cursor sensor.
-- Waiting uploads stay unclaimed: the sensor's run key (video, attempt) deduplicates the ones the
-- old sensor already requested.
update captionacc.videos
   set captions_claimed_approval = layout_approved_at
 where layout_approved_at is not null;

-- unclaimed work only: these stay small however many videos were ever processed
create index videos_unclaimed_uploads_idx on captionacc.videos (layout_wait_since, id)
    where layout_status = 'wait' and deleted_at is null
      and layout_claimed_attempt is distinct from processing_attempt;
create index videos_unclaimed_approvals_idx on captionacc.videos (layout_approved_at, id)
    where layout_approved_at is not null and deleted_at is null
      and captions_claimed_approval is distinct from layout_approved_at;
create index videos_unstarted_claims_idx on captionacc.videos (id)
    where layout_claimed_at is not null or captions_claimed_at is not null;

-- A claim is done with once its run has started the work: from then on the run's own status
-- write-back (and the stuck-work repair) is responsible for the video.
create or replace function captionacc.videos_claim_started()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.layout_status = 'processing' and old.layout_status is distinct from 'processing' then
        new.layout_claimed_at := null;
    end if;
    if new.boundaries_status = 'processing' and old.boundaries_status is distinct from 'processing' then
        new.captions_claimed_at := null;
    end if;
    return new;
end
$$;

create trigger videos_claim_started
    before update on captionacc.videos
    for each row execute function captionacc.videos_claim_started();

-- What "waiting for a layout run" and "approved" mean, in one place for the listings and the claims.
create view captionacc.waiting_uploads with (security_invoker = true) as
    select v.id as video_id, v.tenant_id, t.tier, v.uploaded_at, v.processing_attempt,
           v.layout_wait_since as wait_since, v.layout_claimed_attempt as claimed_attempt
      from captionacc.videos v
      join captionacc.tenants t on t.id = v.tenant_id
     where v.layout_status = 'wait'
       and v.deleted_at is null
       and t.active;

create view captionacc.approved_videos with (security_invoker = true) as
    select v.id as video_id, v.tenant_id, t.tier, v.uploaded_at, v.layout_approved_at,
           v.captions_claimed_approval as claimed_approval
      from captionacc.videos v
      join captionacc.tenants t on t.id = v.tenant_id
     where v.layout_approved_at is not null
       and v.deleted_at is null
       and t.active;

revoke all on captionacc.waiting_uploads, captionacc.approved_videos from public, anon, authenticated;
grant select on captionacc.waiting_uploads, captionacc.approved_videos to service_role;

-- the listings of 0002, now over the views (same signatures and answers)
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
    select w.video_id, w.tenant_id, w.tier, w.uploaded_at, w.processing_attempt, w.wait_since
      from captionacc.waiting_uploads w
     where (w.wait_since, w.video_id) > (
             coalesce(p_after_wait_since, '-infinity'::timestamptz),
             coalesce(p_after_video_id, '00000000-0000-0000-0000-000000000000'::uuid))
     order by w.wait_since, w.video_id
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
    select a.video_id, a.tenant_id, a.tier, a.uploaded_at, a.layout_approved_at
      from captionacc.approved_videos a
     where a.layout_approved_at > coalesce(p_since, '-infinity'::timestamptz)
     order by a.layout_approved_at, a.video_id
     limit greatest(least(coalesce(p_limit, 100), 10000), 1)
$$;

-- Claims the layout runs of waiting uploads not claimed for their current attempt, oldest first
-- (only those of p_video_ids when given: the webhook claims the one row it was told about).
-- The update re-checks the claim against the row's latest version, so of concurrent claimers
-- exactly one gets each row; the others get fewer rows, never the same ones.
create or replace function captionacc.claim_pending_uploads(
    p_limit integer default 100,
    p_video_ids uuid[] default null
)
returns table (
    video_id uuid,
    tenant_id uuid,
    tier text,
    uploaded_at timestamptz,
    processing_attempt integer,
    wait_since timestamptz
)
language sql
set search_path = ''
as $$
    with picked as (
        select w.*
          from captionacc.waiting_uploads w
         where w.claimed_attempt is distinct from w.processing_attempt
           and (p_video_ids is null or w.video_id = any(p_video_ids))
         order by w.wait_since, w.video_id
         limit greatest(least(coalesce(p_limit, 100), 10000), 1)
    ), claimed as (
        update captionacc.videos v
           set layout_claimed_attempt = v.processing_attempt, layout_claimed_at = clock_timestamp()
          from picked p
         where v.id = p.video_id
           and v.layout_status = 'wait'
           and v.processing_attempt = p.processing_attempt
           and v.layout_claimed_attempt is distinct from v.processing_attempt
        returning v.id
    )
    select p.video_id, p.tenant_id, p.tier, p.uploaded_at, p.processing_attempt, p.wait_since
      from picked p
      join claimed c on c.id = p.video_id
     order by p.wait_since, p.video_id
$$;

-- The same for captions runs of approved layouts not claimed for their current approval.
create or replace function captionacc.claim_approved_layouts(
    p_limit integer default 100,
    p_video_ids uuid[] default null
)
returns table (
    video_id uuid,
    tenant_id uuid,
    tier text,
    uploaded_at timestamptz,
    layout_approved_at timestamptz
)
language sql
set search_path = ''
as $$
    with picked as (
        select a.*
          from captionacc.approved_videos a
         where a.claimed_approval is distinct from a.layout_approved_at
           and (p_video_ids is null or a.video_id = any(p_video_ids))
         order by a.layout_approved_at, a.video_id
         limit greatest(least(coalesce(p_limit, 100), 10000), 1)
    ), claimed as (
        update captionacc.videos v
           set captions_claimed_approval = v.layout_approved_at,
               captions_claimed_at = clock_timestamp(),
               captions_claimed_by = null
          from picked p
         where v.id = p.video_id
           and v.layout_approved_at = p.layout_approved_at
           and v.captions_claimed_approval is distinct from v.layout_approved_at
        returning v.id
    )
    select p.video_id, p.tenant_id, p.tier, p.uploaded_at, p.layout_approved_at
      from picked p
      join claimed c on c.id = p.video_id
     order by p.layout_approved_at, p.video_id
$$;

-- Claims whose run has not started the work, claimed before p_claimed_before, for the repair to
-- check against the orchestrator's runs. work 'layout' carries the attempt, 'captions' the approval.
create or replace function captionacc.unstarted_claims(p_claimed_before timestamptz, p_limit integer default 1000)
returns table (
    video_id uuid,
    work text,
    processing_attempt integer,
    layout_approved_at timestamptz,
    claimed_by text,
    claimed_at timestamptz
)
language sql stable
set search_path = ''
as $$
    select * from (
        select v.id, 'layout', v.layout_claimed_attempt, null::timestamptz, null::text, v.layout_claimed_at
          from captionacc.videos v
         where v.layout_claimed_at < p_claimed_before
           and v.layout_status = 'wait'
           and v.layout_claimed_attempt = v.processing_attempt
           and v.deleted_at is null
        union all
        select v.id, 'captions', null::integer, v.captions_claimed_approval, v.captions_claimed_by,
               v.captions_claimed_at
          from captionacc.videos v
         where v.captions_claimed_at < p_claimed_before
           and v.captions_claimed_approval = v.layout_approved_at
           and v.deleted_at is null
    ) c (video_id, work, processing_attempt, layout_approved_at, claimed_by, claimed_at)
     order by c.claimed_at, c.video_id, c.work
     limit greatest(least(coalesce(p_limit, 1000), 10000), 1)
$$;

-- Gives a claim up so the next tick claims the work again. Only the exact claim the caller saw
-- (by its claimed_at) is released: a newer claim, or one whose run started meanwhile, stays.
create or replace function captionacc.release_claim(p_video_id uuid, p_work text, p_claimed_at timestamptz)
returns boolean
language plpgsql
set search_path = ''
as $$
begin
    if p_work is null or p_work not in ('layout', 'captions') then
        raise exception 'video %: unknown work %', p_video_id, p_work using errcode = 'CA005';
    end if;
    if p_work = 'layout' then
        update captionacc.videos
           set layout_claimed_attempt = null, layout_claimed_at = null
         where id = p_video_id and layout_claimed_at = p_claimed_at;
    else
        update captionacc.videos
           set captions_claimed_approval = null, captions_claimed_at = null, captions_claimed_by = null
         where id = p_video_id and captions_claimed_at = p_claimed_at;
    end if;
    return found;
end
$$;

-- Approval (0002's, plus): approving a layout that is already approved changes nothing, so it
-- starts no second captions run (a reprocess is an explicit done -> wait, a new attempt). A run
-- that goes on to the captions itself (video_job) claims them in the same statement, so the
-- approvals sensor never starts a second run for that approval.
drop function captionacc.approve_layout(uuid);
create function captionacc.approve_layout(p_video_id uuid, p_captions_run_id text default null)
returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_deleted timestamptz;
    v_status text;
    v_approved timestamptz;
    v_at timestamptz := clock_timestamp();
begin
    perform captionacc.assert_video_access(p_video_id);
    if p_captions_run_id is not null and captionacc.invoker_role() in ('anon', 'authenticated') then
        raise exception 'video %: only the orchestrator claims captions runs', p_video_id
            using errcode = '42501';
    end if;
    select deleted_at, layout_status, layout_approved_at into v_deleted, v_status, v_approved
      from captionacc.videos where id = p_video_id for update;
    if v_deleted is not null then
        raise exception 'video %: deleted, cannot approve its layout', p_video_id using errcode = 'CA004';
    end if;
    if v_status = 'done' and v_approved is not null then
        return v_approved;
    end if;
    -- a person approves what they have looked at; from 'processing' only the orchestrator
    -- (auto-approve after the checks passed) may approve
    if captionacc.invoker_role() = 'authenticated' and v_status not in ('annotate', 'review', 'done') then
        raise exception 'video %: layout is %, nothing to approve yet', p_video_id, v_status
            using errcode = 'CA001';
    end if;
    -- the trigger refuses approval from wait/error
    update captionacc.videos
       set layout_status = 'done', layout_approved_at = v_at, layout_error_details = null,
           captions_claimed_approval = case when p_captions_run_id is null
                                            then captions_claimed_approval else v_at end,
           captions_claimed_at = case when p_captions_run_id is null
                                      then captions_claimed_at else clock_timestamp() end,
           captions_claimed_by = coalesce(p_captions_run_id, captions_claimed_by)
     where id = p_video_id;
    return v_at;
end
$$;

revoke execute on function
    captionacc.videos_claim_started(),
    captionacc.approve_layout(uuid, text),
    captionacc.claim_pending_uploads(integer, uuid[]),
    captionacc.claim_approved_layouts(integer, uuid[]),
    captionacc.unstarted_claims(timestamptz, integer),
    captionacc.release_claim(uuid, text, timestamptz)
from public, anon, authenticated;

grant execute on function captionacc.approve_layout(uuid, text) to authenticated, service_role;
grant execute on function
    captionacc.claim_pending_uploads(integer, uuid[]),
    captionacc.claim_approved_layouts(integer, uuid[]),
    captionacc.unstarted_claims(timestamptz, integer),
    captionacc.release_claim(uuid, text, timestamptz)
to service_role;
