"""caption_quality: per day, what the captions came out as: captions per minute of video, the OCR
confidence distribution, the share of videos a check warned about, and re-OCR requests per 100
captions (a proxy for what people had to fix)."""

from __future__ import annotations

import pandas as pd

from caption_assets.core.health.records import CONFIDENCE_BINS
from caption_assets.core.health.stats import day_of, rate

CAPTION_QUALITY_COLUMNS: tuple[str, ...] = (
    "day",
    "videos",
    "captions",
    "minutes",
    "captions_per_minute",
    *(f"share_{b}" for b in CONFIDENCE_BINS),
    "videos_with_warn_share",
    "reocr_requests",
    "reocr_per_100_captions",
)


def caption_quality(captions: pd.DataFrame, videos: pd.DataFrame) -> pd.DataFrame:
    """One row per UTC day of captions_db results (a re-read counts on the day it ran)."""
    if captions.empty:
        return pd.DataFrame(columns=list(CAPTION_QUALITY_COLUMNS))
    c = captions.merge(videos[["video_id", "duration_seconds"]], on="video_id", how="left")
    c["day"] = day_of(c["at"])
    rows = []
    for day, group in c.groupby("day", sort=True):
        n_captions = int(group["captions"].sum())
        minutes = float(group["duration_seconds"].astype(float).fillna(0).sum()) / 60.0
        bins = {b: int(group[b].sum()) for b in CONFIDENCE_BINS}
        read = sum(bins.values())
        warned = group.loc[group["warn_checks"].astype(int) > 0, "video_id"].nunique()
        reocr = int(group["reocr_requests"].sum())
        videos_n = int(group["video_id"].nunique())
        per_100 = rate(reocr, n_captions)
        rows.append(
            {
                "day": day,
                "videos": videos_n,
                "captions": n_captions,
                "minutes": round(minutes, 3),
                "captions_per_minute": None if not minutes else round(n_captions / minutes, 3),
                **{f"share_{b}": rate(count, read) for b, count in bins.items()},
                "videos_with_warn_share": rate(warned, videos_n),
                "reocr_requests": reocr,
                "reocr_per_100_captions": None if per_100 is None else round(100 * per_100, 2),
            }
        )
    return pd.DataFrame(rows, columns=list(CAPTION_QUALITY_COLUMNS))
