"""The metric the approval-metrics function publishes and the observability stack alarms on:
one definition for both, so the alarm can never watch a name nobody writes."""

from flightdeck import metrics
from flightdeck.observability import NAMESPACE as NAMESPACE

# The catalogue's names (flightdeck.metrics), as CloudWatch spells them.
OLDEST_PENDING_APPROVAL = metrics.OLDEST_PENDING_APPROVAL_AGE.cloudwatch
APPROVALS_PENDING = metrics.APPROVALS_PENDING.cloudwatch
# The runtime stage (`flightdeck.settings.Settings.stage`): one series per deployment.
STAGE_DIMENSION = "Stage"
