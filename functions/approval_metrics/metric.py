"""The metric the approval-metrics function publishes and the observability stack alarms on:
one definition for both, so the alarm can never watch a name nobody writes."""

from flightdeck.observability import NAMESPACE as NAMESPACE

OLDEST_PENDING_APPROVAL = "OldestPendingApprovalAgeSeconds"
# The runtime stage (`flightdeck.settings.Settings.stage`): one series per deployment.
STAGE_DIMENSION = "Stage"
