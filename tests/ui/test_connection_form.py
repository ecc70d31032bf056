"""The Moveworks connection form in Airflow 3.3's React UI, driven by a headless Chromium.

Adds an API-key and an OAuth connection the way a user does, checks every label, placeholder,
description and required mark, saves, reopens, and checks what was stored and what is shown:
no field missing, no value masked or changed, no default written into the connection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.connection import read_settings
from airflow_provider_moveworks.defaults import DEFAULT_TOKEN_URL

pytestmark = pytest.mark.integration

WAIT_SECONDS = 20

STANDARD_FIELDS = {
    # input name: (label, placeholder)
    "host": ("Base URL", "https://api.moveworks.ai/rest/v1beta1"),
    "login": ("OAuth client ID (optional)", "leave empty to use an API key"),
    "password": ("API key or OAuth client secret", "API key, or the OAuth client secret"),
}
EXTRA_FIELDS = {
    # extra: (label as shown, with the required mark, description)
    "assistant_name": (
        "Assistant name *",
        "Required. Sent as the Assistant-Name header; must match the assistant's name exactly, "
        "e.g. hr-assistant.",
    ),
    "oauth_url": ("OAuth token URL", f"Used only with an OAuth client ID. Empty: {DEFAULT_TOKEN_URL}"),
    "timeout": ("Timeout (seconds)", "Per request, connect to last byte. Empty: 30"),
    "verify": (
        "Verify TLS certificates",
        "Keep on. Off sends the API key to any server that answers: for tests only.",
    ),
    "ca_bundle_path": (
        "CA bundle path",
        "A PEM file on the workers to verify the API's certificate with (e.g. behind a TLS-inspecting "
        "proxy). Empty: the CAs trusted by requests (certifi).",
    ),
    "max_retries": ("Max retries", "Retries of one request on 429, 5xx and network errors. Empty: 5"),
}
OAUTH_URL = "https://login.example.com/oauth/v1/token"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


class ConnectionDialog:
    """The Add/Edit Connection dialog, found the way a user finds things: by labels and names."""

    def __init__(self, driver: Any, screenshots: Path) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1)
        self.screenshots = screenshots

    def shot(self, name: str) -> None:
        self.driver.save_screenshot(str(self.screenshots / f"{name}.png"))

    @property
    def dialog(self) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, "[role=dialog]")

    def by(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.dialog.find_element(By.CSS_SELECTOR, css)

    def open_list(self, url: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.get(f"{url}/connections")
        self.wait.until(lambda d: d.find_elements(By.XPATH, "//button[normalize-space()='Add Connection']"))

    def add(self, conn_id: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        self.driver.find_element(By.XPATH, "//button[normalize-space()='Add Connection']").click()
        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=dialog] input[name=connection_id]"))
        self.by("input[name=connection_id]").send_keys(conn_id)
        type_label = self.dialog.find_element(
            By.XPATH, ".//label[starts-with(normalize-space(), 'Connection Type')]"
        )
        select = self.dialog.find_element(By.ID, type_label.get_attribute("for"))
        select.send_keys("Moveworks")
        select.send_keys(Keys.ENTER)
        self.wait.until(
            lambda d: self.dialog.find_elements(By.CSS_SELECTOR, "input[name=element_assistant_name]")
        )

    def edit(self, conn_id: str) -> None:
        from selenium.webdriver.common.by import By

        row = self.wait.until(
            lambda d: d.find_element(By.XPATH, f"//tr[.//*[normalize-space()='{conn_id}']]")
        )
        row.find_element(By.CSS_SELECTOR, "button[aria-label='Edit Connection']").click()
        self.wait.until(
            lambda d: self.dialog.find_elements(By.CSS_SELECTOR, "input[name=element_assistant_name]")
        )

    def expand(self, section: str) -> None:
        from selenium.webdriver.common.by import By

        trigger = self.dialog.find_element(
            By.XPATH, f".//button[@data-part='item-trigger' and normalize-space()='{section}']"
        )
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
        content = self.dialog.find_element(By.ID, trigger.get_attribute("aria-controls"))
        # Opened, and its animation over (the height stops changing).
        self.wait.until(lambda d: trigger.get_attribute("aria-expanded") == "true" and self._settled(content))

    def _settled(self, element: Any) -> bool:
        height = element.size["height"]
        last, self._last_height = getattr(self, "_last_height", None), height
        return height > 0 and height == last

    def field(self, name: str) -> Any:
        """The field group (label, input, description) around the input called ``name``."""
        from selenium.webdriver.common.by import By

        return self.dialog.find_element(
            By.XPATH, f".//input[@name='{name}']/ancestor::*[@data-scope='field' and @data-part='root'][1]"
        )

    def label(self, name: str) -> str:
        from selenium.webdriver.common.by import By

        label = self.field(name).find_element(By.CSS_SELECTOR, "[data-part=label]")
        return " ".join(label.get_attribute("textContent").split())

    def description(self, name: str) -> str:
        from selenium.webdriver.common.by import By

        return self.field(name).find_element(By.CSS_SELECTOR, "[data-part=helper-text]").text

    def input(self, name: str) -> Any:
        return self.by(f"input[name='{name}']")

    def type(self, name: str, text: str) -> None:
        # One accordion section is open at a time: open the one holding the field.
        self.expand("Extra Fields" if name.startswith("element_") else "Standard Fields")
        self.wait.until(lambda d: self.input(name).is_displayed())
        # A key at a time, each seen in the field before the next, as a user types. Sent in one
        # burst, a re-render of the number field between "12." and "5" can drop the point.
        shown = self.input(name).get_attribute("value")
        for key in text:
            shown += key
            self.input(name).send_keys(key)
            self.wait_for_value(name, shown)

    def wait_for_value(self, name: str, value: str) -> None:
        from selenium.common.exceptions import TimeoutException

        try:
            self.wait.until(lambda d: self.input(name).get_attribute("value") == value)
        except TimeoutException:
            raise AssertionError(
                f"{name}: typed {value!r}, the field shows {self.input(name).get_attribute('value')!r}"
            ) from None

    def switch(self, name: str) -> Any:
        self.expand("Extra Fields")
        return self.by(f"[id='switch:{name}']")

    def save_button(self) -> Any:
        from selenium.webdriver.common.by import By

        return self.dialog.find_element(By.XPATH, ".//button[normalize-space()='Save']")

    def save(self) -> None:
        from selenium.webdriver.common.by import By

        self.wait.until(lambda d: self.save_button().is_enabled())
        self.save_button().click()
        self.wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[role=dialog]"))

    def extra_json(self) -> str:
        """The text of the Extra Fields JSON editor, as shown."""
        from selenium.webdriver.common.by import By

        self.expand("Extra Fields JSON")
        editor = self.wait.until(lambda d: self.dialog.find_element(By.CSS_SELECTOR, ".view-lines"))
        return str(editor.get_attribute("textContent"))


@pytest.fixture
def form(browser: Any, airflow_ui: str, screenshots: Path) -> ConnectionDialog:
    dialog = ConnectionDialog(browser, screenshots)
    dialog.open_list(airflow_ui)
    return dialog


def stored(airflow_ui: str, conn_id: str) -> dict[str, Any]:
    response = requests.get(f"{airflow_ui}/api/v2/connections/{conn_id}", timeout=10)
    response.raise_for_status()
    return dict(response.json())


class Stored:
    """A connection as the REST API returns it, in the shape ``read_settings`` takes."""

    def __init__(self, body: dict[str, Any], password: str) -> None:
        self.host, self.login, self.schema, self.port = (
            body["host"],
            body["login"],
            body["schema"],
            body["port"],
        )
        self.password = password  # the API never returns it
        self.extra_dejson = json.loads(body["extra"] or "{}")


def check_labels_and_descriptions(form: ConnectionDialog) -> None:
    for name, (label, placeholder) in STANDARD_FIELDS.items():
        assert form.label(name) == label
        assert form.input(name).get_attribute("placeholder") == placeholder
    assert not form.dialog.find_elements("css selector", "input[name=port], input[name=schema]")
    for extra, (label, description) in EXTRA_FIELDS.items():
        assert form.label(f"element_{extra}") == label, extra
        assert form.description(f"element_{extra}") == description, extra
    required = [extra for extra in EXTRA_FIELDS if form.input(f"element_{extra}").get_attribute("required")]
    assert required == ["assistant_name"]
    assert form.input("element_verify").get_attribute("type") == "checkbox"


def test_api_key_connection_stores_what_was_typed_and_nothing_else(
    form: ConnectionDialog, airflow_ui: str
) -> None:
    form.add("moveworks_api_key")
    form.expand("Extra Fields")
    form.shot("01-api-key-empty")
    check_labels_and_descriptions(form)
    assert form.switch("element_verify").get_attribute("data-state") == "checked"

    form.type("host", "https://api.moveworks.ai/rest/v1beta1")
    form.type("password", "ui-test-api-key-5e1d")
    assert not form.save_button().is_enabled(), "saved without the required assistant name"
    form.type("element_assistant_name", "hr-assistant")
    form.shot("02-api-key-filled")
    form.save()

    body = stored(airflow_ui, "moveworks_api_key")
    assert (body["conn_type"], body["host"], body["login"]) == (
        "moveworks",
        "https://api.moveworks.ai/rest/v1beta1",
        None,
    )
    # Untouched fields stay empty (null): the defaults are the provider's, not the connection's.
    assert json.loads(body["extra"]) == {
        "assistant_name": "hr-assistant",
        "oauth_url": None,
        "timeout": None,
        "verify": True,
        "ca_bundle_path": None,
        "max_retries": None,
    }
    settings = read_settings(Stored(body, "ui-test-api-key-5e1d"))
    assert (settings.assistant_name, settings.timeout, settings.verify, settings.max_retries) == (
        "hr-assistant",
        30.0,
        True,
        5,
    )

    form.edit("moveworks_api_key")
    form.expand("Extra Fields")
    form.shot("03-api-key-reopened")
    check_labels_and_descriptions(form)
    assert form.input("host").get_attribute("value") == "https://api.moveworks.ai/rest/v1beta1"
    assert form.input("element_assistant_name").get_attribute("value") == "hr-assistant"
    assert form.input("element_timeout").get_attribute("value") == ""
    assert form.switch("element_verify").get_attribute("data-state") == "checked"

    form.switch("element_verify").click()  # a switch, turned off for a test server
    form.wait.until(lambda d: form.switch("element_verify").get_attribute("data-state") == "unchecked")
    form.save()
    assert json.loads(stored(airflow_ui, "moveworks_api_key")["extra"])["verify"] is False
    form.edit("moveworks_api_key")
    form.expand("Extra Fields")
    assert form.switch("element_verify").get_attribute("data-state") == "unchecked"
    form.shot("04-api-key-verify-off")


def test_oauth_connection_shows_its_token_url_in_clear(form: ConnectionDialog, airflow_ui: str) -> None:
    form.add("moveworks_oauth")
    form.expand("Extra Fields")
    form.type("host", "https://api.moveworks.ai/rest/v1beta1")
    form.type("login", "airflow-client")
    form.type("password", "ui-test-client-secret-9a7c")
    form.type("element_assistant_name", "hr-assistant")
    form.type("element_oauth_url", OAUTH_URL)
    form.type("element_timeout", "12.5")
    form.type("element_ca_bundle_path", CA_BUNDLE)
    form.type("element_max_retries", "3")
    form.shot("05-oauth-filled")
    form.save()

    body = stored(airflow_ui, "moveworks_oauth")
    assert body["login"] == "airflow-client"
    assert json.loads(body["extra"]) == {
        "assistant_name": "hr-assistant",
        "oauth_url": OAUTH_URL,
        "timeout": 12.5,
        "verify": True,
        "ca_bundle_path": CA_BUNDLE,
        "max_retries": 3,
    }
    settings = read_settings(Stored(body, "ui-test-client-secret-9a7c"))
    assert (
        settings.client_id,
        settings.token_url,
        settings.timeout,
        settings.verify,
        settings.max_retries,
    ) == (
        "airflow-client",
        OAUTH_URL,
        12.5,
        CA_BUNDLE,
        3,
    )

    form.edit("moveworks_oauth")
    form.expand("Extra Fields")
    form.shot("06-oauth-reopened")
    check_labels_and_descriptions(form)
    shown = {
        name: form.input(f"element_{name}").get_attribute("value")
        for name in ("assistant_name", "oauth_url", "timeout", "ca_bundle_path", "max_retries")
    }
    assert shown == {
        "assistant_name": "hr-assistant",
        "oauth_url": OAUTH_URL,
        "timeout": "12.5",
        "ca_bundle_path": CA_BUNDLE,
        "max_retries": "3",
    }
    assert form.input("login").get_attribute("value") == "airflow-client"
    extra_json = form.extra_json()
    form.shot("07-oauth-json")
    assert OAUTH_URL in extra_json
    assert "***" not in extra_json
