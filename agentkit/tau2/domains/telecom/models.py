"""Agent-side telecom DB models (plans, customers, lines, bills, devices).

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research). Field names, types,
defaults and field order mirror the benchmark's models so that ``model_dump()`` -- and therefore
the canonical DB hash and the JSON tool outputs -- are identical for the same state.
"""

import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentkit.tau2.toolkit import DB

__all__ = [
    "DEFAULT_START_DATE",
    "AccountStatus",
    "Address",
    "Bill",
    "BillStatus",
    "Customer",
    "Device",
    "DeviceType",
    "Line",
    "LineItem",
    "LineStatus",
    "PaymentMethod",
    "PaymentMethodType",
    "Plan",
    "TelecomDB",
    "get_now",
    "get_today",
]

# The benchmark's default for ``Customer.created_at`` is a *date* (not a datetime); pydantic does
# not validate defaults, so it dumps as "2025-01-01".
DEFAULT_START_DATE = datetime.date(2025, 1, 1)


def get_today() -> datetime.date:
    """The telecom domain's fixed "today" (2025-02-25)."""
    return datetime.date(2025, 2, 25)


def get_now() -> datetime.datetime:
    """The telecom domain's fixed "now" (2025-02-25 12:08, EST)."""
    return datetime.datetime(2025, 2, 25, 12, 8, 0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Address(_Strict):
    street: str
    city: str
    state: str
    zip_code: str


class Plan(_Strict):
    plan_id: str
    name: str
    data_limit_gb: float
    price_per_month: float
    data_refueling_price_per_gb: float


class DeviceType(str, Enum):
    PHONE = "phone"
    ROUTER = "router"
    TABLET = "tablet"
    WATCH = "watch"
    OTHER = "other"


class Device(_Strict):
    device_id: str
    device_type: DeviceType
    model: str
    imei: str | None = None
    is_esim_capable: bool
    activated: bool = False
    activation_date: datetime.datetime | None = None
    last_esim_transfer_date: datetime.datetime | None = None


class LineStatus(str, Enum):
    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    PENDING_ACTIVATION = "Pending Activation"
    CLOSED = "Closed"


class Line(_Strict):
    line_id: str
    phone_number: str
    status: LineStatus = LineStatus.PENDING_ACTIVATION
    plan_id: str
    device_id: str | None = None
    data_used_gb: float = 0.0
    data_refueling_gb: float = 0.0
    roaming_enabled: bool = False
    contract_end_date: datetime.date | None = None
    last_plan_change_date: datetime.date | None = None
    last_sim_replacement_date: datetime.date | None = None
    suspension_start_date: datetime.date | None = None


class LineItem(_Strict):
    description: str
    amount: float
    date: datetime.date
    item_type: str


class BillStatus(str, Enum):
    DRAFT = "Draft"
    ISSUED = "Issued"
    AWAITING_PAYMENT = "Awaiting Payment"
    PAID = "Paid"
    OVERDUE = "Overdue"
    DISPUTED = "Disputed"


class Bill(_Strict):
    bill_id: str
    customer_id: str
    period_start: datetime.date
    period_end: datetime.date
    issue_date: datetime.date
    total_due: float
    due_date: datetime.date
    line_items: list[LineItem] = Field(default_factory=list)
    status: BillStatus = BillStatus.DRAFT


class AccountStatus(str, Enum):
    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    PENDING_VERIFICATION = "Pending Verification"
    CLOSED = "Closed"


class PaymentMethodType(str, Enum):
    CREDIT_CARD = "Credit Card"
    DEBIT_CARD = "Debit Card"
    PAYPAL = "PayPal"


class PaymentMethod(_Strict):
    method_type: PaymentMethodType
    account_number_last_4: str
    expiration_date: str


class Customer(_Strict):
    customer_id: str
    full_name: str
    date_of_birth: str
    email: str
    phone_number: str
    address: Address
    account_status: AccountStatus = AccountStatus.PENDING_VERIFICATION
    payment_methods: list[PaymentMethod] = Field(default_factory=list)
    line_ids: list[str] = Field(default_factory=list)
    bill_ids: list[str] = Field(default_factory=list)
    created_at: datetime.datetime = DEFAULT_START_DATE  # type: ignore[assignment]
    last_extension_date: datetime.date | None = None
    goodwill_credit_used_this_year: float = 0.0


class TelecomDB(DB):
    """The agent's telecom database (``db.toml``)."""

    model_config = ConfigDict(extra="forbid")

    plans: list[Plan] = Field(default_factory=list)
    customers: list[Customer] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)
    bills: list[Bill] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)

    def get_statistics(self) -> dict[str, Any]:
        """Counts of the DB's records."""
        return {
            "num_plans": len(self.plans),
            "num_customers": len(self.customers),
            "num_lines": len(self.lines),
            "num_bills": len(self.bills),
            "num_devices": len(self.devices),
            "num_payment_methods": sum(len(c.payment_methods) for c in self.customers),
        }
