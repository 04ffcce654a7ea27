"""What a person sees in the Dagster UI after ``caption-assets dev --demo``: headless Chromium opens
the asset list, the layout and captions assets' metadata, the runs and a run page, and finds the
four video assets, the layout preview picture, the first cue's text, the tenant's name and each
asset's status for the demo video, and the operations group's tables the demo materialized.
Screenshots of every page are kept in the test's tmp dir.

The catalog's own status columns (layout/boundaries/text) reach the UI as observations the steps
log; the asset partitions' materialization status is checked against them too (``done`` -> the
video's partition materialized, none failed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from caption_assets.core.keys import VideoKeys, is_operations_key
from caption_assets.core.processing.captions_db import read_captions
from caption_assets.defs.runs import TENANT_NAME_TAG
from caption_assets.defs.sensors.run_status import STEP_COLUMNS
from caption_assets_tests.fixtures.browser import app_dialog, browser_page, chromium_executable
from caption_assets_tests.fixtures.devdemo import (
    OPERATIONS_LINE,
    DevDemo,
    running_dev_demo,
    wait_for_demo,
    wait_for_line,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.ui, pytest.mark.timeout(1200)]

# the video assets of the layout and captions groups (other assets and groups may exist)
VIDEO_ASSETS = {
    "full_frames": "layout",
    "layout_db": "layout",
    "cropped_frames": "captions",
    "captions_db": "captions",
}
JOBS = ("layout_job", "captions_job")  # the runs the sensors start for an upload
UI_TIMEOUT_MS = 90_000  # the UI loads definitions and runs slowly on a shared machine


def _catalog_view(dev: DevDemo, video_id: str) -> tuple[str, dict[str, str]]:
    """The tenant's name and the status columns of the video, as ``caption-assets status``
    prints them from the catalog."""
    text = dev.cli("status", video_id)
    tenant = re.search(r"^tenant\s+(.+) \(\w+\)$", text, re.MULTILINE)
    status = re.search(r"^status\s+layout (\S+), boundaries (\S+), text (\S+)$", text, re.MULTILINE)
    assert tenant and status, text
    columns = dict(zip(("layout_status", "boundaries_status", "text_status"), status.groups()))
    return tenant.group(1), columns


def _first_cue(dev: DevDemo, video_id: str, tmp_path: Path) -> str:
    """The text of the earliest caption in the captions.db the run stored."""
    store = dev.store()
    # the tenants' prefixes, not the platform's own operations area the demo also wrote
    tenants = [d.name for d in store.root.iterdir() if d.is_dir() and not is_operations_key(f"{d.name}/")]
    keys = [VideoKeys(tenant, video_id) for tenant in tenants]
    stored = [k for k in keys if store.exists(k.captions_db())]
    assert len(stored) == 1, f"captions.db of {video_id} under {store.root}: {stored}"
    captions = read_captions(store.get_gunzip_file(stored[0].captions_db(), tmp_path / "captions.db"))
    assert captions, "the demo's captions.db has no captions"
    text = captions[0].text.strip()
    # the metadata table shows a multi-line cue joined with " / "; the demo's cues are one line each
    assert "\n" not in text, text
    return text


def _metadata_row(page: Page, key: str):
    """The row of the asset page's metadata table whose key is ``key``."""
    return page.locator("tr").filter(has=page.get_by_text(key, exact=True))


def _list_rows(page: Page):
    """The rows of the UI's asset and run lists: virtualised tables of divs (no <tr>, no row
    role), found by their CSS module's class name (its hashed suffix changes between builds)."""
    return page.locator('div[class*="VirtualizedTable_row"]')


def _shoot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=shots / f"{name}.png", full_page=True)


def _asset_list(page: Page, dev: DevDemo, shots: Path) -> None:
    page.goto(f"{dev.ui_url}/assets")
    for asset, group in VIDEO_ASSETS.items():
        row = _list_rows(page).filter(has=page.locator(f'a[href="/assets/{asset}"]'))
        expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
        expect(row).to_contain_text(group)
    _shoot(page, shots, "assets")


def _layout_preview(page: Page, dev: DevDemo, shots: Path) -> None:
    page.goto(f"{dev.ui_url}/assets/layout_db")
    _markdown_picture(page, "layout")
    # the dialog stays open: the next check navigates to another page (a fresh document), and an
    # Escape could land on a first-run dialog that opened over this one instead
    _shoot(page, shots, "layout_db_preview")


def _markdown_picture(page: Page, key: str) -> None:
    """The picture in the markdown value of metadata ``key`` is shown, decoded."""
    row = _metadata_row(page, key)
    expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    opener = row.get_by_text("[Show Markdown]", exact=True)
    if opener.count():  # a large markdown value opens in a dialog; a small one renders in the row
        opener.click()
        shown = app_dialog(page)
    else:
        shown = row
    image = shown.locator("img")
    expect(image).to_have_count(1, timeout=UI_TIMEOUT_MS)
    # the data: URL decoded into a picture (a broken one stays at naturalWidth 0)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=UI_TIMEOUT_MS
    )


def _catalog_status_shown(
    page: Page, dev: DevDemo, shots: Path, video_id: str, columns: dict[str, str]
) -> None:
    """The catalog's own status, as the web app shows it to the tenant, in the events of the
    asset whose step ended the video's processing (an observation logged by that step)."""
    page.goto(f"{dev.ui_url}/assets/captions_db?view=events")
    words = ", ".join(f"{part} {columns[f'{part}_status']}" for part in ("layout", "boundaries", "text"))
    shown = page.get_by_text(words, exact=True)
    # the events list opens on the latest one (the materialization); the step's observation is
    # another entry of the video's partition: open each until the status shows
    entries = page.get_by_text(video_id, exact=True)
    expect(entries.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    for index in range(entries.count()):
        if shown.count():
            break
        entries.nth(index).click()
    expect(shown.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _shoot(page, shots, "captions_db_events")


def _operations_shown(page: Page, dev: DevDemo, shots: Path, group_url: str) -> None:
    """The operations group the demo materialized at its end: the page the CLI's line names
    lists its assets, and run_health shows its week's success rate and its plot."""
    page.goto(group_url)
    for asset in ("run_health", "tenant_usage", "caption_quality"):
        # the group's lineage graph: one node per asset, named
        expect(page.get_by_text(asset, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    _shoot(page, shots, "operations_group")
    page.goto(f"{dev.ui_url}/assets/run_health")
    # both demo runs succeeded: the week's flow success rate is 1
    value = _metadata_row(page, "week_flow_success_rate").get_by_role("cell").last
    expect(value).to_have_text("1", timeout=UI_TIMEOUT_MS)
    _markdown_picture(page, "success_rate_plot")
    _shoot(page, shots, "run_health")


def _first_cue_shown(page: Page, dev: DevDemo, shots: Path, cue: str) -> None:
    page.goto(f"{dev.ui_url}/assets/captions_db")
    row = _metadata_row(page, "cues")
    expect(row).to_have_count(1, timeout=UI_TIMEOUT_MS)
    cell = row.get_by_role("cell", name=cue, exact=True)
    expect(cell).to_be_visible(timeout=UI_TIMEOUT_MS)
    cell.scroll_into_view_if_needed()  # for the screenshot: the metadata table scrolls in its pane
    _shoot(page, shots, "captions_db_cues")


def _runs_show_tenant(page: Page, dev: DevDemo, shots: Path, video_id: str, tenant: str) -> None:
    tag = f"{TENANT_NAME_TAG}: {tenant}"
    page.goto(f"{dev.ui_url}/runs")
    rows = _list_rows(page).filter(has_text=video_id)
    for job in JOBS:
        row = rows.filter(has=page.get_by_role("link", name=job, exact=True)).filter(has_text="Success")
        expect(row.first).to_contain_text(tag, timeout=UI_TIMEOUT_MS)
    _shoot(page, shots, "runs")

    # the captions run's own page: its status, and the tag in its tags dialog
    captions_run = rows.filter(has=page.get_by_role("link", name="captions_job", exact=True)).first
    captions_run.get_by_role("link", name="View", exact=True).click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"), timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)
    page.get_by_role("button", name="View tags and config").click()
    tags = app_dialog(page)
    expect(tags).to_contain_text(tag, timeout=UI_TIMEOUT_MS)
    expect(tags).to_contain_text(video_id)
    _shoot(page, shots, "captions_run_tags")


def _partition_status(page: Page, dev: DevDemo, shots: Path, video_id: str, columns: dict[str, str]) -> None:
    for asset in VIDEO_ASSETS:
        # what the catalog's column says about this asset's step, in the UI's words
        assert columns[STEP_COLUMNS[asset]] == "done", (asset, columns)
        page.goto(f"{dev.ui_url}/assets/{asset}?view=partitions")
        expect(page.get_by_text("Materialized (1)", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(page.get_by_text("Failed (0)", exact=True)).to_be_visible()
        # the partition list names the video (the full id is in the entry's tooltip)
        expect(page.locator(f'[data-tooltip="{video_id}"]').first).to_be_visible()
        _shoot(page, shots, f"{asset}_partitions")


def test_the_ui_shows_the_demo_video_assets_metadata_tenant_and_status(tmp_path: Path) -> None:
    executable = chromium_executable()  # skip before minutes of processing, not after
    shots = tmp_path / "screenshots"
    with running_dev_demo(webhook=False) as dev:
        outcome = wait_for_demo(dev, deadline_seconds=600)
        assert outcome.state == ("done", "done", "done"), dev.log()[-3000:]
        operations = wait_for_line(dev, OPERATIONS_LINE, deadline_seconds=600)
        assert operations, dev.log()[-3000:]
        # the operations run's outcome, in the CLI's words (a failed run names its page)
        group = re.search(r"operations group\): (\S+)", operations)
        assert group, operations
        assert outcome.video_id is not None
        video_id = outcome.video_id
        tenant, columns = _catalog_view(dev, video_id)
        cue = _first_cue(dev, video_id, tmp_path)

        with browser_page(shots, executable) as page:
            _asset_list(page, dev, shots)
            _layout_preview(page, dev, shots)
            _first_cue_shown(page, dev, shots, cue)
            _runs_show_tenant(page, dev, shots, video_id, tenant)
            _partition_status(page, dev, shots, video_id, columns)
            _catalog_status_shown(page, dev, shots, video_id, columns)
            _operations_shown(page, dev, shots, group.group(1))
