"""A real browser for the console's tests: Playwright driving Debian's Chromium (`.ci/run`
installs the `chromium` package; Playwright's own browser downloads are not used)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

#: Where the browser lives; CALLREC_TEST_CHROMIUM names another.
CHROMIUM = os.environ.get("CALLREC_TEST_CHROMIUM", "/usr/bin/chromium")
#: Screenshots of the console's main pages, kept as the suite's artifacts.
ARTIFACTS = Path(os.environ.get("CALLREC_TEST_ARTIFACTS", "test-artifacts")) / "console"
#: No sandbox (the suite may run as root), and none of the browser's own network traffic:
#: this machine's network is closed, and a test must not wait on it.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


def launch(playwright: Playwright) -> Browser:
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(
            f"The console's tests need Chromium at {CHROMIUM}: apt-get install chromium"
            " (or set CALLREC_TEST_CHROMIUM)"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def sign_in(page: Page, base_url: str, account_sid: str, token: str) -> None:
    """Through the sign-in form, as a person would."""
    page.goto(f"{base_url}/console/")
    page.get_by_label("Account SID", exact=True).fill(account_sid)
    page.get_by_label("Auth token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/console/calls**")


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
