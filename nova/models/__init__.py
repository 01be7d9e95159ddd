"""Every table lives here, one module per family. Importing this package registers them all
with ``SQLModel.metadata`` (Alembic's autogenerate and the tests rely on that)."""

from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.calls import Call, CallContext
from nova.models.events import Event, Task
from nova.models.idempotency import IdempotencyRecord
from nova.models.quality import CallScore, FineTuneRun
from nova.models.user import PasswordResetCode, User

__all__ = [
    "BillingAccount",
    "Call",
    "CallContext",
    "CallScore",
    "Event",
    "FineTuneRun",
    "IdempotencyRecord",
    "MinuteReservation",
    "PasswordResetCode",
    "Task",
    "User",
]
