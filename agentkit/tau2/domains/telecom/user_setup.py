"""Hidden user-side functions: breaking the phone for a task, and the phone assertions.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research). These methods are
reachable only through a task's ``initialization_actions`` / ``env_assertions``; the LLMs never
see them. The break functions check their own effect and raise ``AssertionError`` if the phone did
not end up broken, as the benchmark's do.
"""

from typing import Literal

from .phone import PhoneSimulator
from .user_models import APNNames, NetworkStatus, PerformanceLevel, SimStatus

__all__ = ["UserSetupMixin"]


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


class UserSetupMixin(PhoneSimulator):
    """Setup and assertion functions of the user toolkit."""

    # ------------------------------------------------------------------ who and where

    def set_user_info(self, name: str, phone_number: str) -> None:
        """Set the user's name and phone number."""
        self.surroundings.name = name
        self.surroundings.phone_number = phone_number

    def set_user_location(self, abroad: bool) -> None:
        """Put the user abroad (or at home)."""
        self.surroundings.is_abroad = abroad

    # ------------------------------------------------------------------ switches

    def turn_airplane_mode_on(self) -> str:
        if not self._toggle_airplane_mode():
            self._toggle_airplane_mode()
        return "Airplane Mode is now ON."

    def turn_airplane_mode_off(self) -> str:
        if self._toggle_airplane_mode():
            self._toggle_airplane_mode()
        return "Airplane Mode is now OFF."

    def turn_data_on(self) -> str:
        self.device.data_enabled = True
        return "Data connection restored."

    def turn_data_off(self) -> str:
        if self._toggle_data():
            self._toggle_data()
        return "Data connection broken."

    def turn_roaming_on(self) -> str:
        if not self._toggle_roaming():
            self._toggle_roaming()
        return "Data Roaming is now ON."

    def turn_roaming_off(self) -> str:
        if self._toggle_roaming():
            self._toggle_roaming()
        return "Data Roaming is now OFF."

    def turn_data_saver_mode_on(self) -> str:
        if not self._toggle_data_saver_mode():
            self._toggle_data_saver_mode()
        return "Data Saver Mode is now ON."

    def turn_data_saver_mode_off(self) -> str:
        if self._toggle_data_saver_mode():
            self._toggle_data_saver_mode()
        return "Data Saver Mode is now OFF."

    def set_wifi_calling(self, enabled: bool, mms_over_wifi: bool | None = None) -> str:
        """Set Wi-Fi Calling (and, if given, MMS over Wi-Fi)."""
        if self.device.wifi_calling_enabled != enabled:
            self._toggle_wifi_calling()
        message = f"Wi-Fi Calling is now {'ON' if enabled else 'OFF'}."
        if mms_over_wifi is not None:
            self.device.wifi_calling_mms_over_wifi = mms_over_wifi
            message += f"\nMMS over Wi-Fi is now {'ON' if mms_over_wifi else 'OFF'}."
        return message

    # ------------------------------------------------------------------ breakages

    def unseat_sim_card(self) -> str:
        """Remove the SIM card (fixed by ``reseat_sim_card``)."""
        self.device.sim_card_missing = True
        self.simulate_network_search()
        _check(self._check_sim_status() == SimStatus.MISSING, "SIM card should be missing")
        return "SIM card un-seated successfully."

    def lock_sim_card(self, mode: Literal["pin", "puk"]) -> str:
        """Lock the SIM with a PIN or PUK (no tool fixes this)."""
        locked = {"pin": SimStatus.LOCKED_PIN, "puk": SimStatus.LOCKED_PUK}
        if mode in locked:
            self.device.sim_card_status = locked[mode]
        self.simulate_network_search()
        if mode in locked:
            _check(self.device.sim_card_status == locked[mode], "SIM card should be locked")
        return f"SIM card locked successfully in {mode} mode."

    def break_apn_settings(self) -> str:
        """Break the APN (fixed by ``reset_apn_settings`` + reboot)."""
        self.device.active_apn_settings.apn_name = APNNames.BROKEN
        self.simulate_network_search()
        _check(
            self.device.network_connection_status == NetworkStatus.NO_SERVICE,
            "A broken APN should leave the phone without service",
        )
        return "APN settings broken. Please call reset_apn_settings() to fix."

    def break_apn_mms_setting(self) -> str:
        """Clear the MMSC URL (fixed by ``reset_apn_settings`` + reboot)."""
        self.device.active_apn_settings.mmsc_url = None
        _check(not self._can_send_mms(), "MMS should not work without an MMSC URL")
        return "APN MMS setting broken. Please call reset_apn_settings() to fix."

    def break_vpn(self) -> str:
        """Connect a VPN with poor performance (slow mobile data)."""
        self._connect_vpn()
        if self.device.vpn_details is None:
            raise AttributeError("'NoneType' object has no attribute 'server_performance'")
        self.device.vpn_details.server_performance = PerformanceLevel.POOR
        return "VPN connection broken."

    def remove_app_permission(self, app_name: str, permission: str) -> tuple[bool, str]:
        """Revoke one permission of an app."""
        app = self._app(app_name)
        permission = permission.lower()
        if app is None:
            return False, f"App '{app_name}' not found. Cannot remove permission."
        if not hasattr(app.permissions, permission):
            return False, f"Permission '{permission}' not tracked for app '{app_name}'."
        setattr(app.permissions, permission, False)
        return True, f"Permission '{permission}' removed from app '{app_name}'."

    # ------------------------------------------------------------------ assertions

    def assert_airplane_mode_status(self, expected_status: bool) -> bool:
        return self.device.airplane_mode == expected_status

    def assert_service_status(self, expected_status: str) -> bool:
        return self.device.network_connection_status == NetworkStatus(expected_status)

    def assert_mobile_data_status(self, expected_status: bool) -> bool:
        return self._get_mobile_data_working() == expected_status

    def assert_mobile_roaming_status(self, expected_status: bool) -> bool:
        return self.device.roaming_enabled == expected_status

    def assert_mobile_data_saver_mode_status(self, expected_status: bool) -> bool:
        return self.device.data_saver_mode == expected_status

    def assert_internet_speed(
        self, expected_speed: float, expected_desc: str | None = None
    ) -> bool:
        """Speed test reaches ``expected_speed`` (and has description ``expected_desc``)."""
        speed, desc = self._run_speed_test()
        speed = speed or 0.0
        if expected_desc is None:
            return speed >= expected_speed
        return speed >= expected_speed and (desc or "").lower() == expected_desc.lower()

    def assert_internet_not_excellent(self) -> bool:
        _, desc = self._run_speed_test()
        return (desc or "").lower() != "excellent"

    def assert_can_send_mms(self, expected_status: bool) -> bool:
        return self._can_send_mms() == expected_status

    def assert_mobile_data_usage_exceeded(self, expected_status: bool) -> bool:
        return self.surroundings.mobile_data_usage_exceeded == expected_status
