"""Every table lives here, one module per family. Importing this package registers them all
with ``SQLModel.metadata`` (Alembic's autogenerate and the tests rely on that)."""

from nova.models.billing import (
    BillingAccount,
    Invoice,
    MinuteReservation,
    ReferralBalance,
    ReferralEarning,
    ReferralPayout,
    StripeEvent,
    ZiinaPayment,
)
from nova.models.calls import Call, CallContext
from nova.models.compliance import ComplianceDecision
from nova.models.evals import EvalConversation, EvalPersona, EvalRun
from nova.models.events import Event, Task
from nova.models.idempotency import IdempotencyRecord
from nova.models.portals import PortalIntegration, PortalLead
from nova.models.quality import CallScore, FineTuneRun
from nova.models.records import (
    AnalyticsDaily,
    AnalyticsMonthly,
    CallAnalysis,
    CallMetrics,
    CallRecording,
    RecordSettings,
)
from nova.models.transfer import TransferTarget
from nova.models.twilio import TwilioCredential, TwilioNumber, TwilioNumberOtp
from nova.models.user import PasswordResetCode, User
from nova.models.voice import VoiceConsent, VoiceProfile, VoiceSample
from nova.models.webhooks import Webhook, WebhookDelivery
from nova.models.worker import DoNotCall, WorkerReport

__all__ = [
    "AnalyticsDaily",
    "AnalyticsMonthly",
    "CallAnalysis",
    "CallMetrics",
    "CallRecording",
    "RecordSettings",
    "BillingAccount",
    "Call",
    "CallContext",
    "CallScore",
    "ComplianceDecision",
    "DoNotCall",
    "EvalConversation",
    "EvalPersona",
    "EvalRun",
    "Event",
    "FineTuneRun",
    "IdempotencyRecord",
    "Invoice",
    "MinuteReservation",
    "PasswordResetCode",
    "ReferralBalance",
    "ReferralEarning",
    "ReferralPayout",
    "StripeEvent",
    "PortalIntegration",
    "PortalLead",
    "Task",
    "TransferTarget",
    "User",
    "TwilioCredential",
    "TwilioNumber",
    "TwilioNumberOtp",
    "VoiceConsent",
    "VoiceProfile",
    "VoiceSample",
    "ZiinaPayment",
    "WorkerReport",
    "Webhook",
    "WebhookDelivery",
]
