"""The telecom user's phone toolkit (30 tools) over :class:`TelecomUserDB`.

Tool descriptions and behaviour follow tau2-bench (MIT, Sierra Research). The docstrings are the
benchmark's tool descriptions and the returned texts are what the user simulator sees; both stay
verbatim. User tools report bad values as "Error. ..." / "Failed to ..." texts instead of raising.
Tool methods live directly on :class:`TelecomUserTools` so that Python's ``TypeError`` texts name
``TelecomUserTools.<tool>()`` like the benchmark's.
"""

from agentkit.tau2.toolkit import ToolKitBase, ToolType, is_tool

from .user_models import APNSettings, NetworkModePreference, SimStatus, TelecomUserDB
from .user_setup import UserSetupMixin

__all__ = ["TelecomUserTools"]

_SIM_TEXTS = {
    SimStatus.ACTIVE: "Your SIM card is active and working.",
    SimStatus.MISSING: "No SIM card detected in the phone.",
    SimStatus.LOCKED_PIN: "The SIM card is locked with a PIN code.",
    SimStatus.LOCKED_PUK: "The SIM card is locked with a PUK code.",
}

_SPEED_ADVICE = {
    "Very Poor": "Connection is very slow. Basic web browsing might be difficult.",
    "Poor": "Connection is slow. Web browsing may be sluggish, streaming difficult.",
    "Fair": "Connection is okay for web browsing and some standard definition streaming.",
    "Good": "Connection is good for most activities, including HD streaming.",
    "Excellent": "Connection is very fast.",
}


def _on_off(flag: bool) -> str:
    return "ON" if flag else "OFF"


def _yes_no(flag: bool) -> str:
    return "Yes" if flag else "No"


class TelecomUserTools(UserSetupMixin, ToolKitBase):
    """
    Provides methods to simulate user actions and agent instructions
    on a MockPhoneAttributes instance.
    """

    db: TelecomUserDB

    def __init__(self, db: TelecomUserDB) -> None:
        super().__init__(db)

    # ------------------------------------------------------------------ status & network

    @is_tool(ToolType.READ)
    def check_status_bar(self) -> str:
        """Shows what icons are currently visible in your phone's status bar (the area at the top of the screen). Displays network signal strength, mobile data status (enabled, disabled, data saver), Wi-Fi status, and battery level."""  # noqa: E501
        return f"Status Bar: {self._check_status_bar()}"

    @is_tool(ToolType.READ)
    def check_network_status(self) -> str:
        """Checks your phone's connection status to cellular networks and Wi-Fi. Shows airplane mode status, signal strength, network type, whether mobile data is enabled, and whether data roaming is enabled."""  # noqa: E501
        status = self._check_network_status()
        lines = [
            f"Airplane Mode: {_on_off(status['airplane_mode'])}",
            f"SIM Card Status: {status['sim_status'].value}",
            f"Cellular Connection: {status['connection_status'].value}",
            f"Cellular Signal: {status['signal_strength'].value}",
            f"Cellular Network Type: {status['network_technology'].value}",
            f"Mobile Data Enabled: {_yes_no(status['mobile_data_enabled'])}",
            f"Data Roaming Enabled: {_yes_no(status['data_roaming_enabled'])}",
            f"Wi-Fi Radio: {_on_off(status['wifi_enabled'])}",
            f"Wi-Fi Connected: {_yes_no(status['wifi_connected'])}",
        ]
        if status["wifi_connected"]:
            lines.append(f"Connected Wi-Fi Network: {status['wifi_ssid']}")
        return "\n".join(lines)

    @is_tool(ToolType.READ)
    def check_network_mode_preference(self) -> str:
        """Shows the current network mode preference."""
        return f"Network Mode Preference: {self.device.network_mode_preference.value}"

    @is_tool(ToolType.WRITE)
    def set_network_mode_preference(self, mode: NetworkModePreference | str) -> str:
        """Changes the type of cellular network your phone prefers to connect to (e.g., 5G, LTE/4G, 3G). Higher-speed networks (LTE/5G) provide faster data but may use more battery."""  # noqa: E501
        valid_mode = self._set_network_mode_preference(mode)
        if valid_mode is None:
            options = ", ".join(m.value for m in NetworkModePreference)
            return self._with_status_bar(
                f"Failed to set network mode: '{mode}' is not a valid option. "
                f"Please use one of: {options}"
            )
        return self._with_status_bar(f"Preferred Network Mode set to: {valid_mode.value}")

    @is_tool(ToolType.READ)
    def run_speed_test(self) -> str:
        """Measures your current internet connection speed (download speed). Provides information about connection quality and what activities it can support."""  # noqa: E501
        speed, desc = self._run_speed_test()
        if speed is None:
            return f"Speed test failed: {desc or 'Could not determine speed'}."
        advice = _SPEED_ADVICE.get(desc or "", "")
        return f"Speed Test Result: {speed:.2f} Mbps ({desc}). {advice}"

    # ------------------------------------------------------------------ airplane mode & SIM

    @is_tool(ToolType.WRITE)
    def toggle_airplane_mode(self) -> str:
        """Toggles Airplane Mode ON or OFF. When ON, it disconnects all wireless communications including cellular, Wi-Fi, and Bluetooth.
        Returns the new state of airplane_mode.
        """  # noqa: E501
        new_state = self._toggle_airplane_mode()
        return self._with_status_bar(f"Airplane Mode is now {_on_off(new_state)}.")

    @is_tool(ToolType.READ)
    def check_sim_status(self) -> str:
        """Checks if your SIM card is working correctly and displays its current status. Shows if the SIM is active, missing, or locked with a PIN or PUK code."""  # noqa: E501
        status = self._check_sim_status()
        return _SIM_TEXTS.get(status, f"Unknown SIM status: {status.value}")

    @is_tool(ToolType.WRITE)
    def reseat_sim_card(self) -> str:
        """Simulates removing and reinserting your SIM card. This can help resolve recognition issues."""  # noqa: E501
        return self._with_status_bar(self._reseat_sim_card())

    # ------------------------------------------------------------------ mobile data & roaming

    @is_tool(ToolType.WRITE)
    def toggle_data(self) -> str:
        """Toggles your phone's mobile data connection ON or OFF. Controls whether your phone can use cellular data for internet access when Wi-Fi is unavailable.
        Returns the new data connection status.
        """  # noqa: E501
        new_state = self._toggle_data()
        return self._with_status_bar(f"Mobile Data is now {_on_off(new_state)}.")

    @is_tool(ToolType.WRITE)
    def toggle_roaming(self) -> str:
        """Toggles Data Roaming ON or OFF. When ON, your phone can use data networks in areas outside your carrier's coverage.
        Returns the new data roaming status.
        """  # noqa: E501
        new_state = self._toggle_roaming()
        return self._with_status_bar(f"Data Roaming is now {_on_off(new_state)}.")

    @is_tool(ToolType.READ)
    def check_data_restriction_status(self) -> str:
        """Checks if your phone has any data-limiting features active. Shows if Data Saver mode is on."""  # noqa: E501
        if self.device.data_saver_mode:
            return "Data Saver mode is ON (limits data usage)."
        return "Data Saver mode is OFF."

    @is_tool(ToolType.WRITE)
    def toggle_data_saver_mode(self) -> str:
        """Toggles Data Saver mode ON or OFF. When ON, it reduces data usage, which may affect data speed.
        Returns the new data saver mode status.
        """  # noqa: E501
        new_state = self._toggle_data_saver_mode()
        return self._with_status_bar(f"Data Saver Mode is now {_on_off(new_state)}.")

    # ------------------------------------------------------------------ APN

    @is_tool(ToolType.READ)
    def check_apn_settings(self) -> str:
        """Checks the technical APN settings your phone uses to connect to your carrier's mobile data network. Shows current APN name and MMSC URL for picture messaging."""  # noqa: E501
        settings = self.device.active_apn_settings
        apn_name = settings.apn_name.value or "Not Set"
        mmsc_url = settings.mmsc_url or "Not Set"
        return (
            f"Current APN Name: {apn_name}\nMMSC URL (for picture messages): {mmsc_url}\n"
            "(These are technical settings, usually best left unchanged.)"
        )

    @is_tool(ToolType.WRITE)
    def set_apn_settings(self, apn_settings: APNSettings | dict) -> str:
        """Sets the APN settings for the phone."""
        if isinstance(apn_settings, dict):
            apn_settings = APNSettings(**apn_settings)
        status = self._set_apn_settings(apn_settings)
        self.simulate_network_search()
        return self._with_status_bar(status)

    @is_tool(ToolType.WRITE)
    def reset_apn_settings(self) -> str:
        """Resets your APN settings to the default settings."""
        self.device.active_apn_settings.reset_at_reboot = True
        self.simulate_network_search()
        return self._with_status_bar("APN settings will reset at reboot.")

    # ------------------------------------------------------------------ Wi-Fi

    @is_tool(ToolType.READ)
    def check_wifi_status(self) -> str:
        """Checks your Wi-Fi connection status. Shows if Wi-Fi is turned on, which network you're connected to (if any), and the signal strength."""  # noqa: E501
        device = self.device
        if not device.wifi_enabled:
            return "Wi-Fi is turned OFF."
        if device.wifi_connected:
            return (
                f"Wi-Fi is ON and connected to '{device.wifi_ssid}'. "
                f"Signal strength: {device.wifi_signal_strength.value}."
            )
        return "Wi-Fi is ON but not connected to any network."

    @is_tool(ToolType.WRITE)
    def toggle_wifi(self) -> str:
        """Toggles your phone's Wi-Fi radio ON or OFF. Controls whether your phone can discover and connect to wireless networks for internet access.
        Returns the new Wi-Fi status.
        """  # noqa: E501
        new_state = self._toggle_wifi()
        if new_state is None:
            return self._with_status_bar("Cannot change Wi-Fi settings while Airplane Mode is ON.")
        return self._with_status_bar(f"Wi-Fi is now {_on_off(new_state)}.")

    @is_tool(ToolType.READ)
    def check_wifi_calling_status(self) -> str:
        """Checks if Wi-Fi Calling is enabled on your device. This feature allows you to make and receive calls over a Wi-Fi network instead of using the cellular network."""  # noqa: E501
        return f"Wi-Fi Calling is currently turned {_on_off(self.device.wifi_calling_enabled)}."

    @is_tool(ToolType.WRITE)
    def toggle_wifi_calling(self) -> str:
        """Toggles Wi-Fi Calling ON or OFF. This feature allows you to make and receive calls over Wi-Fi instead of the cellular network, which can help in areas with weak cellular signal.
        Returns the new Wi-Fi Calling status.
        """  # noqa: E501
        new_state = self._toggle_wifi_calling()
        return self._with_status_bar(f"Wi-Fi Calling is now {_on_off(new_state)}.")

    # ------------------------------------------------------------------ VPN

    @is_tool(ToolType.READ)
    def check_vpn_status(self) -> str:
        """Checks if you're using a VPN (Virtual Private Network) connection. Shows if a VPN is active, connected, and displays any available connection details."""  # noqa: E501
        device = self.device
        if device.vpn_connected:
            details = device.vpn_details.model_dump() if device.vpn_details else None
            if details:
                return f"VPN is ON and connected. Details: {details}"
            return "VPN is ON and connected (no specific details available)."
        if device.vpn_enabled_setting:
            return "VPN is turned ON in settings, but currently not connected."
        return "VPN is turned OFF."

    @is_tool(ToolType.WRITE)
    def connect_vpn(self) -> str:
        """Connects to your VPN (Virtual Private Network)."""
        if self._connect_vpn() is None:
            return "VPN already connected."
        return self._with_status_bar("VPN connected successfully.")

    @is_tool(ToolType.WRITE)
    def disconnect_vpn(self) -> str:
        """Disconnects any active VPN (Virtual Private Network) connection. Stops routing your internet traffic through a VPN server, which might affect connection speed or access to content."""  # noqa: E501
        if self._disconnect_vpn():
            return self._with_status_bar("VPN disconnected successfully.")
        return self._with_status_bar("No active VPN connection to disconnect.")

    # ------------------------------------------------------------------ apps

    @is_tool(ToolType.READ)
    def check_installed_apps(self) -> str:
        """Returns the name of all installed apps on the phone."""
        names = ", ".join(self.device.app_statuses.keys())
        return f"The following apps are installed on the phone: {names}"

    @is_tool(ToolType.READ)
    def check_app_status(self, app_name: str) -> str:
        """Checks detailed information about a specific app. Shows its permissions and background data usage settings."""  # noqa: E501
        app = self._app(app_name)
        if app is None:
            return f"App '{app_name}' not found on this phone."
        lines = [f"Status for App: {app_name}"]
        granted = self._granted(app.permissions)
        if not granted:
            lines.append(" - Permissions: None granted.")
        else:
            lines.append(" - Permissions Granted:")
            lines.extend(f"   - {perm}" for perm in granted)
        return "\n".join(lines)

    @is_tool(ToolType.READ)
    def check_app_permissions(self, app_name: str) -> str:
        """Checks what permissions a specific app currently has. Shows if the app has access to features like storage, camera, location, etc."""  # noqa: E501
        app = self._app(app_name)
        if app is None:
            return f"App '{app_name}' not found on this phone."
        granted = self._granted(app.permissions)
        if not granted:
            return f"App '{app_name}' currently has no permissions granted."
        return f"App '{app_name}' has permission for: {', '.join(granted)}."

    @is_tool(ToolType.WRITE)
    def grant_app_permission(self, app_name: str, permission: str) -> str:
        """Gives a specific permission to an app (like access to storage, camera, or location). Required for some app functions to work properly.

        Args:
            app_name: The name of the app to grant the permission to.
            permission: The permission to grant, should be lowercase.
        """  # noqa: E501
        success, message = self._grant_app_permission(app_name, permission)
        prefix = "Success. " if success else "Error. "
        return self._with_status_bar(f"{prefix}{message}")

    # ------------------------------------------------------------------ MMS & device

    @is_tool(ToolType.READ)
    def can_send_mms(self) -> str:
        """Checks if the default messaging app can send MMS messages."""
        if self._can_send_mms():
            return "Your messaging app can send MMS messages."
        return "Your messaging app cannot send MMS messages."

    @is_tool(ToolType.WRITE)
    def reboot_device(self) -> str:
        """Restarts your phone completely. This can help resolve many temporary software glitches by refreshing all running services and connections."""  # noqa: E501
        return self._with_status_bar(self._reboot_device())

    # ------------------------------------------------------------------ payment

    @is_tool(ToolType.READ)
    def check_payment_request(self) -> str:
        """
        Checks if the agent has sent you a payment request.
        """
        request = self._check_payment_request()
        if request is None:
            return "No payment request has been made."
        return f"You have a payment request for bill {request.bill_id} of {request.amount_due} USD."

    @is_tool(ToolType.WRITE)
    def make_payment(self) -> str:
        """
        Makes a payment for the bill that the agent has sent you.
        """
        message = self._make_payment()
        if message is None:
            return "You do not have a payment request."
        return message
