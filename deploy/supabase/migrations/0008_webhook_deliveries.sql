-- Upload webhook deliveries (issue 19): one row per request the webhook answered on its path, so
-- the operations assets can measure the test plan's "webhook availability 99.9%" target where the
-- deliveries happen. The webhook writes them in batches from a background thread (never on a
-- request's critical path); the operations assets read them incrementally by (recorded_at, id).
--
-- No foreign key to videos: the video id is what the delivery named (an unknown video's too),
-- and a delivery outlives the purge of its video. recorded_at is the catalog's clock, so the
-- readers' cursor does not depend on the webhook hosts' clocks; received_at is the webhook's.

create table captionacc.webhook_deliveries (
    id          bigint generated always as identity primary key,
    received_at timestamptz not null,
    recorded_at timestamptz not null default now(),
    outcome     text not null check (outcome in
                    ('started', 'replay', 'ignored', 'refused_auth', 'refused_rate', 'bad_request',
                     'unavailable')),
    reason      text not null check (length(reason) <= 64),
    http_status smallint not null check (http_status between 100 and 599),
    latency_ms  double precision not null check (latency_ms >= 0),
    video_id    uuid
);
create index webhook_deliveries_recorded_idx on captionacc.webhook_deliveries (recorded_at, id);
alter table captionacc.webhook_deliveries enable row level security;
revoke all on captionacc.webhook_deliveries from public, anon, authenticated;
grant select, insert, delete on captionacc.webhook_deliveries to service_role;

-- p_batch: {"deliveries": [{received_at, outcome, reason, http_status, latency_ms, video_id}]}
-- (an object, not a bare array: both adapters pass a JSON object as jsonb). The rows inserted.
create or replace function captionacc.record_webhook_deliveries(p_batch jsonb)
returns integer
language sql
set search_path = ''
as $$
    with inserted as (
        insert into captionacc.webhook_deliveries
            (received_at, outcome, reason, http_status, latency_ms, video_id)
        select d.received_at, d.outcome, left(d.reason, 64), d.http_status, d.latency_ms, d.video_id
          from jsonb_to_recordset(coalesce(p_batch -> 'deliveries', '[]'::jsonb)) as d(
              received_at timestamptz, outcome text, reason text, http_status smallint,
              latency_ms double precision, video_id uuid)
        returning 1
    )
    select count(*)::integer from inserted
$$;

-- The deliveries recorded after (p_after, p_after_id) in (recorded_at, id) order, at most p_limit
-- (1..10000); every one from the start with p_after null.
create or replace function captionacc.webhook_deliveries_since(
    p_after timestamptz,
    p_after_id bigint default 0,
    p_limit integer default 1000
)
returns setof captionacc.webhook_deliveries
language sql stable
set search_path = ''
as $$
    select d.*
      from captionacc.webhook_deliveries d
     where p_after is null or (d.recorded_at, d.id) > (p_after, coalesce(p_after_id, 0))
     order by d.recorded_at, d.id
     limit least(greatest(coalesce(p_limit, 1000), 1), 10000)
$$;

revoke execute on function
    captionacc.record_webhook_deliveries(jsonb),
    captionacc.webhook_deliveries_since(timestamptz, bigint, integer)
from public, anon, authenticated;
grant execute on function
    captionacc.record_webhook_deliveries(jsonb),
    captionacc.webhook_deliveries_since(timestamptz, bigint, integer)
to service_role;
