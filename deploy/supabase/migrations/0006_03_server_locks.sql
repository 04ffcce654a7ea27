-- Locks (issue 20, finding 3): server locks are the orchestrator's alone. A tenant user could
-- release a run's lock (its holder, the run id, is readable), shorten it to a second or hold one
-- for a day; the web app takes client locks, which exclude server locks and are excluded by them.
-- This supersedes DESIGN.md's "the web app and the orchestrator call the same two functions".

revoke execute on function
    captionacc.acquire_server_lock(uuid, text, text, integer),
    captionacc.release_server_lock(uuid, text, text)
from authenticated;

-- The longest a lock may be taken for at once: a holder that renews keeps it as long as it
-- needs, one that died frees it within this time.
create or replace function captionacc.max_lock_ttl_seconds()
returns integer
language sql immutable
set search_path = ''
as $$ select 3600 $$;

create or replace function captionacc.checked_lock_ttl(p_video_id uuid, p_ttl_seconds integer)
returns integer
language plpgsql immutable
set search_path = ''
as $$
begin
    if p_ttl_seconds > captionacc.max_lock_ttl_seconds() then
        raise exception 'video %: lock ttl must be at most % seconds, got %',
            p_video_id, captionacc.max_lock_ttl_seconds(), p_ttl_seconds using errcode = 'CA005';
    end if;
    return p_ttl_seconds;
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
    select captionacc.acquire_lock(p_video_id, p_database, p_holder,
                                   captionacc.checked_lock_ttl(p_video_id, p_ttl_seconds), 'server')
$$;

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
    select captionacc.acquire_lock(p_video_id, p_database, p_holder,
                                   captionacc.checked_lock_ttl(p_video_id, p_ttl_seconds), 'client')
$$;

revoke execute on function
    captionacc.max_lock_ttl_seconds(),
    captionacc.checked_lock_ttl(uuid, integer)
from public, anon, authenticated;
