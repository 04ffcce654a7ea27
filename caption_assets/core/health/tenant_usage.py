"""tenant_usage: per tenant and upload day, what billing and support read: uploads, minutes of
video processed, captions produced, errors and how long a tenant waited for captions."""

from __future__ import annotations

import pandas as pd

from caption_assets.core.health.stats import day_of, percentile

TENANT_USAGE_COLUMNS: tuple[str, ...] = (
    "day",
    "tier",
    "tenant",
    "tenant_id",
    "uploads",
    "minutes_processed",
    "captions",
    "errors",
    "captions_done",
    "to_captions_p50_min",
    "to_captions_p95_min",
)


def video_outcomes(videos: pd.DataFrame, captions: pd.DataFrame) -> pd.DataFrame:
    """Each video with its current caption count (its newest captions_db result) and when its
    captions were first done."""
    out = videos.copy()
    if captions.empty:
        out["captions"] = 0
        out["captions_done_at"] = float("nan")
        return out
    ordered = captions.sort_values("at", kind="stable")
    newest = ordered.groupby("video_id")["captions"].last()
    first = ordered.groupby("video_id")["at"].min()
    out["captions"] = out["video_id"].map(newest).fillna(0).astype(int)
    out["captions_done_at"] = out["video_id"].map(first).astype(float)
    return out


def tenant_usage(videos: pd.DataFrame, captions: pd.DataFrame) -> pd.DataFrame:
    """One row per (UTC day of upload, tier, tenant). Minutes count the videos whose length the
    platform measured (their frames were extracted); the wait is upload -> first captions."""
    if videos.empty:
        return pd.DataFrame(columns=list(TENANT_USAGE_COLUMNS))
    v = video_outcomes(videos, captions)
    v["day"] = day_of(v["uploaded_at"])
    v["wait_min"] = (v["captions_done_at"] - v["uploaded_at"].astype(float)) / 60.0
    rows = [
        {
            "day": day,
            "tier": tier,
            "tenant": group["tenant"].iloc[-1],
            "tenant_id": tenant_id,
            "uploads": len(group),
            "minutes_processed": round(float(group["duration_seconds"].astype(float).sum()) / 60.0, 3),
            "captions": int(group["captions"].sum()),
            "errors": int(group["error"].astype(bool).sum()),
            "captions_done": int(group["captions_done_at"].notna().sum()),
            "to_captions_p50_min": percentile(group["wait_min"], 0.5),
            "to_captions_p95_min": percentile(group["wait_min"], 0.95),
        }
        for (day, tier, tenant_id), group in v.groupby(["day", "tier", "tenant_id"], sort=True)
    ]
    return pd.DataFrame(rows, columns=list(TENANT_USAGE_COLUMNS))
