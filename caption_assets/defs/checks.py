"""Asset check specs and the mapping from pure quality findings to Dagster check results."""

from __future__ import annotations

import dagster as dg

from caption_assets.core.policy.quality import Finding


def to_check_result(finding: Finding) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=finding.name,
        passed=finding.passed,
        severity=dg.AssetCheckSeverity.ERROR if finding.blocking else dg.AssetCheckSeverity.WARN,
        description=finding.message,
        metadata=dict(finding.metadata),
    )
