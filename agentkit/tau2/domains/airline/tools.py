"""Airline agent toolkit.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research): fixed clock
2024-05-15T15:00:00, reservation ids HATHAT/HATHAU/HATHAV, certificate ids certificate_3221322..324,
no seat release on cancellation and no seat change on flight updates.
"""

from copy import deepcopy
from typing import Any

from ...cow import peek_values
from ...toolkit import ToolKitBase, ToolType, is_tool
from .data_model import (
    AirportCode,
    CabinClass,
    Certificate,
    DirectFlight,
    Flight,
    FlightDateStatusAvailable,
    FlightDB,
    FlightInfo,
    FlightType,
    Insurance,
    Passenger,
    Payment,
    Reservation,
    ReservationFlight,
    User,
)

__all__ = ["AirlineTools"]

NOW = "2024-05-15T15:00:00"
NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
AIRPORTS = (
    ("SFO", "San Francisco"),
    ("JFK", "New York"),
    ("LAX", "Los Angeles"),
    ("ORD", "Chicago"),
    ("DFW", "Dallas"),
    ("DEN", "Denver"),
    ("SEA", "Seattle"),
    ("ATL", "Atlanta"),
    ("MIA", "Miami"),
    ("BOS", "Boston"),
    ("PHX", "Phoenix"),
    ("IAH", "Houston"),
    ("LAS", "Las Vegas"),
    ("MCO", "Orlando"),
    ("EWR", "Newark"),
    ("CLT", "Charlotte"),
    ("MSP", "Minneapolis"),
    ("DTW", "Detroit"),
    ("PHL", "Philadelphia"),
    ("LGA", "LaGuardia"),
)


def _as_models(items: Any, model: type[Any]) -> Any:
    """Convert a list of dicts into models; anything else is returned unchanged (like tau2)."""
    if all(isinstance(item, dict) for item in items):
        return [model(**item) for item in items]
    return items


def safe_calculate(expression: str) -> str:
    """Evaluate an arithmetic expression (digits, + - * / ( ) . and spaces), rounded to 2."""
    if not all(ch in "0123456789+-*/(). " for ch in expression):
        raise ValueError("Invalid characters in expression")
    value = eval(expression, {"__builtins__": None}, {})  # charset checked above
    return str(round(float(value), 2))


class AirlineTools(ToolKitBase):
    """All the tools for the airline domain."""

    db: FlightDB

    def __init__(self, db: FlightDB) -> None:
        super().__init__(db)

    # ------------------------------------------------------------------ lookups
    def _get_user(self, user_id: str) -> User:
        if user_id not in self.db.users:
            raise ValueError(f"User {user_id} not found")
        return self.db.users[user_id]

    def _get_reservation(self, reservation_id: str) -> Reservation:
        if reservation_id not in self.db.reservations:
            raise ValueError(f"Reservation {reservation_id} not found")
        return self.db.reservations[reservation_id]

    def _get_flight(self, flight_number: str) -> Flight:
        if flight_number not in self.db.flights:
            raise ValueError(f"Flight {flight_number} not found")
        return self.db.flights[flight_number]

    def _get_flight_instance(self, flight_number: str, date: str) -> Any:
        flight = self._get_flight(flight_number)
        if date not in flight.dates:
            raise ValueError(f"Flight {flight_number} not found on date {date}")
        return flight.dates[date]

    def _new_reservation_id(self) -> str:
        for rid in NEW_RESERVATION_IDS:
            if rid not in self.db.reservations:
                return rid
        raise ValueError("Too many reservations")

    def _search_direct_flight(
        self,
        date: str,
        origin: str | None = None,
        destination: str | None = None,
        leave_after: str | None = None,
    ) -> list[DirectFlight]:
        found: list[DirectFlight] = []
        for flight in peek_values(self.db.flights):  # read-only scan, results are new models
            if origin is not None and flight.origin != origin:
                continue
            if destination is not None and flight.destination != destination:
                continue
            status = flight.dates.get(date)
            if status is None or status.status != "available":
                continue
            if leave_after is not None and flight.scheduled_departure_time_est < leave_after:
                continue
            found.append(
                DirectFlight(
                    flight_number=flight.flight_number,
                    origin=flight.origin,
                    destination=flight.destination,
                    status="available",
                    scheduled_departure_time_est=flight.scheduled_departure_time_est,
                    scheduled_arrival_time_est=flight.scheduled_arrival_time_est,
                    available_seats=status.available_seats,
                    prices=status.prices,
                )
            )
        return found

    def _charge_for_update(self, user: User, payment_id: str, amount: Any) -> Payment | None:
        """Validate the payment method and debit gift cards; a Payment if ``amount`` != 0."""
        if payment_id not in user.payment_methods:
            raise ValueError("Payment method not found")
        method = user.payment_methods[payment_id]
        if method.source == "certificate":
            raise ValueError("Certificate cannot be used to update reservation")
        if method.source == "gift_card":
            if method.amount < amount:
                raise ValueError("Gift card balance is not enough")
            method.amount -= amount
        if amount != 0:
            return Payment(payment_id=payment_id, amount=amount)
        return None

    # ------------------------------------------------------------------ tools
    @is_tool(ToolType.WRITE)
    def book_reservation(
        self,
        user_id: str,
        origin: str,
        destination: str,
        flight_type: FlightType,
        cabin: CabinClass,
        flights: list[FlightInfo | dict],
        passengers: list[Passenger | dict],
        payment_methods: list[Payment | dict],
        total_baggages: int,
        nonfree_baggages: int,
        insurance: Insurance,
    ) -> Reservation:
        """
        Book a reservation.

        Args:
            user_id: The ID of the user to book the reservation such as 'sara_doe_496'`.
            origin: The IATA code for the origin city such as 'SFO'.
            destination: The IATA code for the destination city such as 'JFK'.
            flight_type: The type of flight such as 'one_way' or 'round_trip'.
            cabin: The cabin class such as 'basic_economy', 'economy', or 'business'.
            flights: An array of objects containing details about each piece of flight.
            passengers: An array of objects containing details about each passenger.
            payment_methods: An array of objects containing details about each payment method.
            total_baggages: The total number of baggage items to book the reservation.
            nonfree_baggages: The number of non-free baggage items to book the reservation.
            insurance: Whether the reservation has insurance.
        """
        flight_infos: Any = _as_models(flights, FlightInfo)
        people: Any = _as_models(passengers, Passenger)
        payments: Any = _as_models(payment_methods, Payment)
        user = self._get_user(user_id)
        reservation_id = self._new_reservation_id()
        reservation = Reservation(
            reservation_id=reservation_id,
            user_id=user_id,
            origin=origin,
            destination=destination,
            flight_type=flight_type,
            cabin=cabin,
            flights=[],
            passengers=deepcopy(people),
            payment_history=deepcopy(payments),
            created_at=NOW,
            total_baggages=total_baggages,
            nonfree_baggages=nonfree_baggages,
            insurance=insurance,
        )
        total_price: Any = 0
        seat_records: list[FlightDateStatusAvailable] = []
        for info in flight_infos:
            flight = self._get_flight(info.flight_number)
            status = self._get_flight_instance(info.flight_number, info.date)
            if not isinstance(status, FlightDateStatusAvailable):
                raise ValueError(f"Flight {info.flight_number} not available on date {info.date}")
            if status.available_seats[cabin] < len(people):
                raise ValueError(f"Not enough seats on flight {info.flight_number}")
            price = status.prices[cabin]
            reservation.flights.append(
                ReservationFlight(
                    flight_number=info.flight_number,
                    origin=flight.origin,
                    destination=flight.destination,
                    date=info.date,
                    price=price,
                )
            )
            seat_records.append(status)
            total_price += price * len(people)
        if insurance == "yes":
            total_price += 30 * len(people)
        total_price += 50 * nonfree_baggages

        for payment in payments:
            if payment.payment_id not in user.payment_methods:
                raise ValueError(f"Payment method {payment.payment_id} not found")
            method = user.payment_methods[payment.payment_id]
            if method.source in ("gift_card", "certificate") and method.amount < payment.amount:
                raise ValueError(f"Not enough balance in payment method {payment.payment_id}")
        paid = sum(payment.amount for payment in payments)
        if paid != total_price:
            raise ValueError(
                f"Payment amount does not add up, total price is {total_price}, but paid {paid}"
            )
        for payment in payments:
            method = user.payment_methods[payment.payment_id]
            if method.source == "gift_card":
                method.amount -= payment.amount
            elif method.source == "certificate":
                del user.payment_methods[payment.payment_id]
        for status in seat_records:
            status.available_seats[cabin] -= len(people)
        self.db.reservations[reservation_id] = reservation
        self.db.users[user_id].reservations.append(reservation_id)
        return reservation

    @is_tool(ToolType.GENERIC)
    def calculate(self, expression: str) -> str:
        """
        Calculate the result of a mathematical expression.

        Args:
            expression: The mathematical expression to calculate, such as '2 + 2'. The expression can contain numbers, operators (+, -, *, /), parentheses, and spaces.

        Returns:
            The result of the mathematical expression.

        Raises:
            ValueError: If the expression is invalid.
        """  # noqa: E501
        return safe_calculate(expression)

    @is_tool(ToolType.WRITE)
    def cancel_reservation(self, reservation_id: str) -> Reservation:
        """
        Cancel the whole reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.

        Returns:
            The updated reservation.

        Raises:
            ValueError: If the reservation is not found.
        """
        reservation = self._get_reservation(reservation_id)
        refunds = [
            Payment(payment_id=p.payment_id, amount=-p.amount) for p in reservation.payment_history
        ]
        reservation.payment_history.extend(refunds)
        reservation.status = "cancelled"
        # Seats are deliberately not released (tau2 behaviour).
        return reservation

    @is_tool(ToolType.READ)
    def get_reservation_details(self, reservation_id: str) -> Reservation:
        """
        Get the details of a reservation.

        Args:
            reservation_id: The reservation ID, such as '8JX2WO'.

        Returns:
            The reservation details.

        Raises:
            ValueError: If the reservation is not found.
        """
        return self._get_reservation(reservation_id)

    @is_tool(ToolType.READ)
    def get_user_details(self, user_id: str) -> User:
        """
        Get the details of a user, including their reservations.

        Args:
            user_id: The user ID, such as 'sara_doe_496'.

        Returns:
            The user details.

        Raises:
            ValueError: If the user is not found.
        """
        return self._get_user(user_id)

    @is_tool(ToolType.READ)
    def list_all_airports(self) -> list[AirportCode]:
        """Returns a list of all available airports.

        Returns:
            A dictionary mapping IATA codes to AirportInfo objects.
        """
        return [AirportCode(iata=iata, city=city) for iata, city in AIRPORTS]

    @is_tool(ToolType.READ)
    def search_direct_flight(self, origin: str, destination: str, date: str) -> list[DirectFlight]:
        """
        Search for direct flights between two cities on a specific date.

        Args:
            origin: The origin city airport in three letters, such as 'JFK'.
            destination: The destination city airport in three letters, such as 'LAX'.
            date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-01-01'.

        Returns:
            The direct flights between the two cities on the specific date.
        """
        return self._search_direct_flight(date=date, origin=origin, destination=destination)

    @is_tool(ToolType.READ)
    def search_onestop_flight(
        self, origin: str, destination: str, date: str
    ) -> list[tuple[DirectFlight, DirectFlight]]:
        """
        Search for one-stop flights between two cities on a specific date.

        Args:
            origin: The origin city airport in three letters, such as 'JFK'.
            destination: The destination city airport in three letters, such as 'LAX'.
            date: The date of the flight in the format 'YYYY-MM-DD', such as '2024-05-01'.

        Returns:
            A list of pairs of DirectFlight objects.
        """
        pairs: list[Any] = []
        for first in self._search_direct_flight(date=date, origin=origin):
            first.date = date
            # tau2 builds the next day without zero padding; harmless for this data.
            if "+1" in first.scheduled_arrival_time_est:
                second_date = f"2024-05-{int(date[-2:]) + 1}"
            else:
                second_date = date
            for second in self._search_direct_flight(
                date=second_date,
                origin=first.destination,
                destination=destination,
                leave_after=first.scheduled_arrival_time_est,
            ):
                second.date = second_date
                pairs.append([first, second])
        return pairs

    @is_tool(ToolType.WRITE)
    def send_certificate(self, user_id: str, amount: int) -> str:
        """
        Send a certificate to a user. Be careful!

        Args:
            user_id: The ID of the user to book the reservation, such as 'sara_doe_496'.
            amount: The amount of the certificate to send.

        Returns:
            A message indicating the certificate was sent.

        Raises:
            ValueError: If the user is not found.
        """
        user = self._get_user(user_id)
        for cert_id in NEW_CERTIFICATE_IDS:
            if cert_id not in user.payment_methods:
                user.payment_methods[cert_id] = Certificate(
                    id=cert_id, amount=amount, source="certificate"
                )
                return f"Certificate {cert_id} added to user {user_id} with amount {amount}."
        raise ValueError("Too many certificates")

    @is_tool(ToolType.GENERIC)
    def transfer_to_human_agents(self, summary: str) -> str:
        """
        Transfer the user to a human agent, with a summary of the user's issue.
        Only transfer if
         -  the user explicitly asks for a human agent
         -  given the policy and the available tools, you cannot solve the user's issue.

        Args:
            summary: A summary of the user's issue.

        Returns:
            A message indicating the user has been transferred to a human agent.
        """
        return "Transfer successful"

    @is_tool(ToolType.WRITE)
    def update_reservation_baggages(
        self,
        reservation_id: str,
        total_baggages: int,
        nonfree_baggages: int,
        payment_id: str,
    ) -> Reservation:
        """
        Update the baggage information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'
            total_baggages: The updated total number of baggage items included in the reservation.
            nonfree_baggages: The updated number of non-free baggage items included in the reservation.
            payment_id: The payment id stored in user profile, such as 'credit_card_7815826', 'gift_card_7815826', 'certificate_7815826'.

        Returns:
            The updated reservation.

        Raises:
            ValueError: If the reservation is not found.
            ValueError: If the user is not found.
            ValueError: If the payment method is not found.
            ValueError: If the certificate cannot be used to update reservation.
            ValueError: If the gift card balance is not enough.
        """  # noqa: E501
        reservation = self._get_reservation(reservation_id)
        user = self._get_user(reservation.user_id)
        charge = 50 * max(0, nonfree_baggages - reservation.nonfree_baggages)
        payment = self._charge_for_update(user, payment_id, charge)
        if payment is not None:
            reservation.payment_history.append(payment)
        reservation.total_baggages = total_baggages
        reservation.nonfree_baggages = nonfree_baggages
        return reservation

    @is_tool(ToolType.WRITE)
    def update_reservation_flights(
        self,
        reservation_id: str,
        cabin: CabinClass,
        flights: list[FlightInfo | dict],
        payment_id: str,
    ) -> Reservation:
        """
        Update the flight information of a reservation.


        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
            cabin: The cabin class of the reservation
            flights: An array of objects containing details about each piece of flight in the ENTIRE new reservation. Even if the a flight segment is not changed, it should still be included in the array.
            payment_id: The payment id stored in user profile, such as 'credit_card_7815826', 'gift_card_7815826', 'certificate_7815826'.

        Returns:
            The updated reservation.

        Raises:
            ValueError: If the reservation is not found.
            ValueError: If the user is not found.
            ValueError: If the payment method is not found.
            ValueError: If the certificate cannot be used to update reservation.
            ValueError: If the gift card balance is not enough.
        """  # noqa: E501
        flight_infos: Any = _as_models(flights, FlightInfo)
        reservation = self._get_reservation(reservation_id)
        user = self._get_user(reservation.user_id)
        n_passengers = len(reservation.passengers)
        total: Any = 0
        new_flights: list[ReservationFlight] = []
        for info in flight_infos:
            kept = None
            if cabin == reservation.cabin:
                kept = next(
                    (
                        f
                        for f in reservation.flights
                        if f.flight_number == info.flight_number and f.date == info.date
                    ),
                    None,
                )
            if kept is not None:
                total += kept.price * n_passengers
                new_flights.append(kept)
                continue
            flight = self._get_flight(info.flight_number)
            status = self._get_flight_instance(info.flight_number, info.date)
            if not isinstance(status, FlightDateStatusAvailable):
                raise ValueError(f"Flight {info.flight_number} not available on date {info.date}")
            if status.available_seats[cabin] < n_passengers:
                raise ValueError(f"Not enough seats on flight {info.flight_number}")
            segment = ReservationFlight(
                flight_number=info.flight_number,
                date=info.date,
                price=status.prices[cabin],
                origin=flight.origin,
                destination=flight.destination,
            )
            total += segment.price * n_passengers
            new_flights.append(segment)
        total -= sum(f.price for f in reservation.flights) * n_passengers
        payment = self._charge_for_update(user, payment_id, total)
        if payment is not None:
            reservation.payment_history.append(payment)
        reservation.flights = new_flights
        reservation.cabin = cabin
        # Seat counts are deliberately not updated (tau2 behaviour).
        return reservation

    @is_tool(ToolType.WRITE)
    def update_reservation_passengers(
        self, reservation_id: str, passengers: list[Passenger | dict]
    ) -> Reservation:
        """
        Update the passenger information of a reservation.

        Args:
            reservation_id: The reservation ID, such as 'ZFA04Y'.
            passengers: An array of objects containing details about each passenger.

        Returns:
            The updated reservation.

        Raises:
            ValueError: If the reservation is not found.
            ValueError: If the number of passengers does not match.
        """
        people: Any = _as_models(passengers, Passenger)
        reservation = self._get_reservation(reservation_id)
        if len(people) != len(reservation.passengers):
            raise ValueError("Number of passengers does not match")
        reservation.passengers = deepcopy(people)
        return reservation

    @is_tool(ToolType.READ)
    def get_flight_status(self, flight_number: str, date: str) -> str:
        """
        Get the status of a flight.

        Args:
            flight_number: The flight number.
            date: The date of the flight.

        Returns:
            The status of the flight.

        Raises:
            ValueError: If the flight is not found.
        """
        return str(self._get_flight_instance(flight_number, date).status)
