"""The mock phone's behaviour: network search, status bar, speed test, MMS and toggles.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research). The status-bar and
status texts are benchmark data (the user simulator reads them) and must stay verbatim.
"""

from typing import Any

from .user_models import (
    APNNames,
    APNSettings,
    AppPermissions,
    AppStatus,
    MockPhoneAttributes,
    NetworkModePreference,
    NetworkStatus,
    NetworkTechnology,
    PaymentRequest,
    PerformanceLevel,
    SignalStrength,
    SimStatus,
    TelecomUserDB,
    UserSurroundings,
    VpnDetails,
)

__all__ = ["PhoneSimulator"]

_SIGNAL_ICONS = {
    SignalStrength.NONE: "📵 No Signal",
    SignalStrength.POOR: "📶¹ Poor",
    SignalStrength.FAIR: "📶² Fair",
    SignalStrength.GOOD: "📶³ Good",
    SignalStrength.EXCELLENT: "📶⁴ Excellent",
}

# Speed range (min, max) in Mbps per technology; signal strength scales the mid-point.
_TECH_SPEED = {
    NetworkTechnology.TWO_G: (0.1, 0.4),
    NetworkTechnology.THREE_G: (1.0, 5.0),
    NetworkTechnology.FOUR_G: (10.0, 100.0),
    NetworkTechnology.FIVE_G: (50.0, 500.0),
    NetworkTechnology.NONE: (0.0, 0.0),
}
_SIGNAL_FACTOR = {
    SignalStrength.POOR: 0.2,
    SignalStrength.FAIR: 0.5,
    SignalStrength.GOOD: 0.8,
    SignalStrength.EXCELLENT: 1.0,
    SignalStrength.NONE: 0.0,
}
_MODE_TECH = {
    NetworkModePreference.FOUR_G_ONLY: NetworkTechnology.FOUR_G,
    NetworkModePreference.THREE_G_ONLY: NetworkTechnology.THREE_G,
    NetworkModePreference.TWO_G_ONLY: NetworkTechnology.TWO_G,
}

DEFAULT_VPN = VpnDetails(
    server_address="192.168.1.1",
    protocol="OpenVPN",
    server_performance=PerformanceLevel.EXCELLENT,
)


class PhoneSimulator:
    """Mixin for the user toolkit: the phone's internal state machine (no tools here)."""

    db: TelecomUserDB

    @property
    def device(self) -> MockPhoneAttributes:
        return self.db.device

    @property
    def surroundings(self) -> UserSurroundings:
        return self.db.surroundings

    # ------------------------------------------------------------------ network

    def simulate_network_search(self) -> None:
        """Re-evaluate connection status, technology and signal from SIM, mode and surroundings."""
        device, signal = self.device, self.surroundings.signal_strength
        if self._check_sim_status() == SimStatus.ACTIVE:
            device.network_connection_status = NetworkStatus.CONNECTED
            pref = device.network_mode_preference
            # Compared with == (not a dict lookup): the stored value is not revalidated.
            tech = next((t for m, t in _MODE_TECH.items() if pref == m), NetworkTechnology.FOUR_G)
            if pref == NetworkModePreference.FOUR_G_5G_PREFERRED:
                if signal.get(NetworkTechnology.FIVE_G, SignalStrength.NONE) != SignalStrength.NONE:
                    tech = NetworkTechnology.FIVE_G
            device.network_technology_connected = tech
            device.network_signal_strength = signal.get(tech, SignalStrength.NONE)
        else:
            self._lose_service()
        if (
            device.airplane_mode
            or device.active_apn_settings.apn_name == APNNames.BROKEN
            or not self.surroundings.line_active
        ):
            self._lose_service()

    def _lose_service(self) -> None:
        self.device.network_connection_status = NetworkStatus.NO_SERVICE
        self.device.network_technology_connected = NetworkTechnology.NONE
        self.device.network_signal_strength = SignalStrength.NONE

    def _check_sim_status(self) -> SimStatus:
        if self.device.sim_card_missing:
            return SimStatus.MISSING
        return self.device.sim_card_status

    def _check_status_bar(self) -> str:
        device = self.device
        parts: list[str] = []
        if device.airplane_mode:
            parts.append("✈️ Airplane Mode")
        else:
            parts.append(_SIGNAL_ICONS.get(device.network_signal_strength, "📵 No Signal"))
            has_tech = device.network_technology_connected != NetworkTechnology.NONE
            if has_tech:
                parts.append(device.network_technology_connected.value)
            if device.data_enabled and has_tech:
                parts.append("📱 Data Enabled")
                if device.data_saver_mode:
                    parts.append("🔽 Data Saver")
            else:
                parts.append("📵 Data Disabled")
        if device.wifi_enabled and device.wifi_connected:
            parts.append(
                f"📡 Connected to {device.wifi_ssid}" if device.wifi_ssid else "📡 Enabled"
            )
        if device.vpn_connected:
            parts.append("🔒 VPN Connected")
        parts.append(f"🔋 {device.battery_level}%")
        return " | ".join(parts)

    def _with_status_bar(self, text: str) -> str:
        return f"{text}\nStatus Bar: {self._check_status_bar()}"

    def _check_network_status(self) -> dict[str, Any]:
        device = self.device
        return {
            "airplane_mode": device.airplane_mode,
            "sim_status": self._check_sim_status(),
            "connection_status": device.network_connection_status,
            "signal_strength": device.network_signal_strength,
            "network_technology": device.network_technology_connected,
            "mobile_data_enabled": device.data_enabled,
            "data_roaming_enabled": device.roaming_enabled,
            "wifi_enabled": device.wifi_enabled,
            "wifi_connected": device.wifi_connected,
            "wifi_ssid": device.wifi_ssid,
        }

    def _set_network_mode_preference(
        self, mode: NetworkModePreference | str
    ) -> NetworkModePreference | None:
        try:
            if isinstance(mode, str):
                mode = NetworkModePreference(mode)
            self.device.network_mode_preference = mode
            self.simulate_network_search()
            return mode
        except ValueError:
            return None

    # ------------------------------------------------------------------ data

    def _get_mobile_data_working(self) -> bool:
        device, surroundings = self.device, self.surroundings
        if device.airplane_mode or device.network_signal_strength == SignalStrength.NONE:
            return False
        if device.network_connection_status == NetworkStatus.NO_SERVICE:
            return False
        if surroundings.is_abroad and not (device.roaming_enabled and surroundings.roaming_allowed):
            return False
        return device.data_enabled and not surroundings.mobile_data_usage_exceeded

    def _run_speed_test(self) -> tuple[float | None, str | None]:
        """(speed in Mbps, description), or (None, "No Connection") without mobile data."""
        if not self._get_mobile_data_working():
            return None, "No Connection"
        device = self.device
        factor = 1.0
        if (
            device.vpn_connected
            and device.vpn_details
            and device.vpn_details.server_performance == PerformanceLevel.POOR
        ):
            factor = 0.1
        if device.data_saver_mode:
            factor *= 0.2
        low, high = _TECH_SPEED.get(device.network_technology_connected, (0.0, 0.0))
        signal = _SIGNAL_FACTOR.get(device.network_signal_strength, 0.0)
        speed = round((low + high) / 2.0 * signal * factor, 2)
        for limit, desc in ((1, "Very Poor"), (5, "Poor"), (25, "Fair"), (100, "Good")):
            if speed < limit:
                return speed, desc
        return speed, "Excellent"

    def _can_send_mms(self) -> bool:
        device = self.device
        if not self._get_mobile_data_working():
            return False
        if device.network_technology_connected == NetworkTechnology.TWO_G:
            return False
        if device.wifi_calling_enabled and device.wifi_calling_mms_over_wifi:
            return False
        if device.active_apn_settings.mmsc_url is None:
            return False
        app = device.app_statuses.get("messaging")
        if app is None:
            return False
        return app.permissions.storage and app.permissions.sms

    # ------------------------------------------------------------------ toggles

    def _toggle_airplane_mode(self) -> bool:
        device = self.device
        was_on = device.airplane_mode
        device.airplane_mode = not was_on
        if was_on:
            device.network_connection_status = NetworkStatus.SEARCHING
        if not was_on or device.wifi_enabled:
            device.wifi_connected = False
            device.wifi_ssid = None
            device.wifi_signal_strength = SignalStrength.NONE
        if not was_on and device.vpn_connected:
            self._disconnect_vpn()
        self.simulate_network_search()
        return device.airplane_mode

    def _toggle_data(self) -> bool:
        self.device.data_enabled = not self.device.data_enabled
        self.simulate_network_search()
        return self.device.data_enabled

    def _toggle_roaming(self) -> bool:
        self.device.roaming_enabled = not self.device.roaming_enabled
        self.simulate_network_search()
        return self.device.roaming_enabled

    def _toggle_data_saver_mode(self) -> bool:
        self.device.data_saver_mode = not self.device.data_saver_mode
        return self.device.data_saver_mode

    def _toggle_wifi(self) -> bool | None:
        device = self.device
        if device.airplane_mode:
            return None
        device.wifi_enabled = not device.wifi_enabled
        if not device.wifi_enabled:
            device.wifi_connected = False
            device.wifi_ssid = None
            device.wifi_signal_strength = SignalStrength.NONE
        return device.wifi_enabled

    def _toggle_wifi_calling(self) -> bool:
        self.device.wifi_calling_enabled = not self.device.wifi_calling_enabled
        return self.device.wifi_calling_enabled

    def _connect_vpn(self) -> bool | None:
        if self.device.vpn_connected:
            return None
        self.device.vpn_connected = True
        self.device.vpn_details = DEFAULT_VPN.model_copy(deep=True)
        return True

    def _disconnect_vpn(self) -> bool:
        if not self.device.vpn_connected:
            return False
        self.device.vpn_connected = False
        self.device.vpn_details = None
        return True

    def _reseat_sim_card(self) -> str:
        self.device.sim_card_missing = False
        self.simulate_network_search()
        return "SIM card re-seated successfully."

    def _set_apn_settings(self, apn_settings: APNSettings) -> str:
        self.device.active_apn_settings = apn_settings
        return f"APN settings set to: {apn_settings.apn_name.value}"

    def _reboot_device(self) -> str:
        lines = []
        if self.device.active_apn_settings.reset_at_reboot:
            lines.append("Resetting APN settings...")
            self.device.active_apn_settings = APNSettings()
        lines.append("Restarting network services...")
        self.device.network_connection_status = NetworkStatus.SEARCHING
        self.simulate_network_search()
        return "\n".join(lines)

    # ------------------------------------------------------------------ apps & payment

    def _app(self, app_name: str) -> AppStatus | None:
        return self.device.app_statuses.get(app_name)

    @staticmethod
    def _granted(permissions: AppPermissions) -> list[str]:
        return [
            name.replace("_", " ").lower()
            for name, allowed in permissions.model_dump().items()
            if allowed
        ]

    def _grant_app_permission(self, app_name: str, permission: str) -> tuple[bool, str]:
        app = self._app(app_name)
        permission = permission.lower()
        if app is None:
            return False, f"App '{app_name}' not found. Cannot grant permission."
        available = list(app.permissions.model_dump().keys())
        if permission not in available:
            return (
                False,
                f"Permission '{permission}' not tracked for app '{app_name}', "
                f"available permissions: {available}",
            )
        setattr(app.permissions, permission, True)
        return True, f"Permission '{permission}' granted to app '{app_name}'."

    def _check_payment_request(self) -> PaymentRequest | None:
        return self.surroundings.payment_request

    def _make_payment(self) -> str | None:
        request = self._check_payment_request()
        if request is None:
            return None
        request.paid = True
        return f"Payment of {request.amount_due} USD has been made for bill {request.bill_id}."
