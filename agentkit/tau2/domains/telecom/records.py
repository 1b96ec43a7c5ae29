"""Record lookups and billing helpers over the agent-side :class:`TelecomDB`.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research). These helpers are not
tools; the error messages they raise surface verbatim in tool results ("Error: ...").
"""

import datetime
import hashlib

from .models import (
    Bill,
    BillStatus,
    Customer,
    Device,
    Line,
    LineItem,
    Plan,
    TelecomDB,
    get_today,
)

__all__ = ["TelecomRecords", "phone_digits"]


def phone_digits(phone_number: str) -> str:
    """Only the digits of a phone number (lookups ignore punctuation and spacing)."""
    return "".join(ch for ch in phone_number if ch.isdigit())


def _first_of_next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


class TelecomRecords:
    """Mixin for the agent toolkit: find customers, lines, plans, devices and bills."""

    db: TelecomDB

    def _customer(self, customer_id: str) -> Customer:
        for customer in self.db.customers:
            if customer.customer_id == customer_id:
                return customer
        raise ValueError(f"Customer with ID {customer_id} not found")

    def _get_line_by_phone(self, phone_number: str) -> Line:
        wanted = phone_digits(phone_number)
        for line in self.db.lines:
            if phone_digits(line.phone_number) == wanted:
                return line
        raise ValueError(f"Line with phone number {phone_number} not found")

    def _get_line_by_id(self, line_id: str) -> Line:
        for line in self.db.lines:
            if line.line_id == line_id:
                return line
        raise ValueError(f"Line with ID {line_id} not found")

    def _get_plan_by_id(self, plan_id: str) -> Plan:
        for plan in self.db.plans:
            if plan.plan_id == plan_id:
                return plan
        raise ValueError(f"Plan with ID {plan_id} not found")

    def _get_device_by_id(self, device_id: str) -> Device:
        for device in self.db.devices:
            if device.device_id == device_id:
                return device
        raise ValueError(f"Device with ID {device_id} not found")

    def _get_bill_by_id(self, bill_id: str) -> Bill:
        for bill in self.db.bills:
            if bill.bill_id == bill_id:
                return bill
        raise ValueError(f"Bill with ID {bill_id} not found")

    def _get_target_line(self, customer_id: str, line_id: str) -> Line:
        """The line ``line_id``, which must belong to customer ``customer_id``."""
        customer = self._customer(customer_id)
        if line_id not in customer.line_ids:
            raise ValueError(f"Line {line_id} not found for customer {customer_id}")
        return self._get_line_by_id(line_id)

    def _customer_by_phone(self, phone_number: str) -> Customer:
        """The customer whose contact number or one of whose lines has ``phone_number``."""
        wanted = phone_digits(phone_number)
        for customer in self.db.customers:
            if phone_digits(customer.phone_number) == wanted:
                return customer
            for line_id in customer.line_ids:
                if phone_digits(self._get_line_by_id(line_id).phone_number) == wanted:
                    return customer
        raise ValueError(f"Customer with phone number {phone_number} not found")

    def get_available_plan_ids(self) -> list[str]:
        """Ids of all plans."""
        return [plan.plan_id for plan in self.db.plans]

    def _get_bills_awaiting_payment(self, customer: Customer) -> list[Bill]:
        bills = (self._get_bill_by_id(bill_id) for bill_id in customer.bill_ids)
        return [bill for bill in bills if bill.status == BillStatus.AWAITING_PAYMENT]

    def _set_bill_to_paid(self, bill_id: str) -> str:
        self._get_bill_by_id(bill_id).status = BillStatus.PAID
        return f"Bill {bill_id} set to paid"

    def _new_draft_bill_id(self, customer_id: str) -> str:
        """Id for a new draft bill.

        tau2 uses ``"B" + uuid4().hex[:8]`` (random). We derive the same shape of id from the
        current state instead, so replays are reproducible; no reference task reaches this path.
        """
        n = len(self.db.bills)
        while True:
            digest = hashlib.sha256(f"{customer_id}:{n}".encode()).hexdigest()[:8]
            bill_id = f"B{digest}"
            if all(bill.bill_id != bill_id for bill in self.db.bills):
                return bill_id
            n += 1

    def _apply_one_time_charge(self, customer_id: str, amount: float, description: str) -> None:
        """Add a charge (or credit, if negative) to the customer's first draft bill.

        A draft bill for next month is created when the customer has none.
        """
        customer = self._customer(customer_id)
        draft: Bill | None = None
        for bill_id in customer.bill_ids:
            bill = self._get_bill_by_id(bill_id)
            if bill.status == BillStatus.DRAFT:
                draft = bill
                break
        if draft is None:
            start = _first_of_next_month(get_today())
            draft = Bill(
                bill_id=self._new_draft_bill_id(customer_id),
                customer_id=customer_id,
                period_start=start,
                period_end=_first_of_next_month(start) - datetime.timedelta(days=1),
                issue_date=start,
                total_due=0,
                due_date=start + datetime.timedelta(days=14),
                status=BillStatus.DRAFT,
            )
            self.db.bills.append(draft)
            customer.bill_ids.append(draft.bill_id)
        draft.line_items.append(
            LineItem(
                description=description,
                amount=amount,
                date=get_today(),
                item_type="Credit" if amount < 0 else "Charge",
            )
        )
        draft.total_due += amount
