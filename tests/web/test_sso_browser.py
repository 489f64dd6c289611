"""A program admin sets up single sign-on in a real browser (Chromium, headless, against daphne):
she registers the institution's OpenID provider and a group rule in the admin, and the login
page then offers "Sign in with <institution>". The pages she fills in are kept as the
screenshots of docs/sso.md (docs/screenshots/sso_*.png). She also registers an LMS for LTI
launches (docs/screenshots/lti_registration.png)."""

from __future__ import annotations

import pytest
from allauth.socialaccount.models import SocialApp
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from abvlmq_web.accounts.services import cohort_create
from abvlmq_web.sso.models import ClaimRule
from tests.web.conftest import PASSWORD, Wait
from tests.web.live import ROOT

DOCS = ROOT / "docs" / "screenshots"

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def server(shared_daphne, transactional_db):
    """The browser tests' shared daphne (tests/web/conftest.py); each test's rows are its own."""
    return shared_daphne


@pytest.fixture
def browser(fresh_browser):
    """The browser tests' shared Chromium, reset for each test (tests/web/conftest.py)."""
    return fresh_browser


def sign_in_as_pat(driver, server: str, wait) -> None:
    """Pat, the program admin, through the login page."""
    driver.get(f"{server}/accounts/login/")
    driver.find_element(By.ID, "id_username").send_keys("pat")
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: "/accounts/login/" not in d.current_url)


def test_a_program_admin_registers_the_provider_and_a_group_rule_then_the_button_shows(
    server,
    browser,
    program_admin,
):
    cohort_create(name="Residents 2026")
    wait = Wait(browser, 30)
    sign_in_as_pat(browser, server, wait)

    # the provider: Social applications -> add
    browser.get(f"{server}/admin/socialaccount/socialapp/add/")
    Select(browser.find_element(By.ID, "id_provider")).select_by_visible_text("Institution")
    browser.find_element(By.ID, "id_provider_id").send_keys("hospital")
    browser.find_element(By.ID, "id_name").send_keys("St Elsewhere Hospital")
    browser.find_element(By.ID, "id_client_id").send_keys("abvlmq")
    browser.find_element(By.ID, "id_secret").send_keys("the client secret")
    settings = browser.find_element(By.ID, "id_settings")
    settings.clear()
    settings.send_keys('{"server_url": "https://login.microsoftonline.com/<tenant>/v2.0"}')
    DOCS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(DOCS / "sso_1_provider.png"))
    browser.find_element(By.NAME, "_save").click()
    wait.until(lambda d: "/add/" not in d.current_url)
    app = SocialApp.objects.get(provider_id="hospital")
    assert (app.provider, app.name, app.client_id) == (
        "institution",
        "St Elsewhere Hospital",
        "abvlmq",
    )

    # a group rule: Claim rules -> add
    browser.get(f"{server}/admin/sso/claimrule/add/")
    provider = browser.find_element(By.ID, "id_provider")
    provider.clear()
    provider.send_keys("hospital")
    browser.find_element(By.ID, "id_value").send_keys("us-residents")
    Select(browser.find_element(By.ID, "id_role")).select_by_visible_text("Resident")
    Select(browser.find_element(By.ID, "id_cohort")).select_by_visible_text("Residents 2026")
    browser.save_screenshot(str(DOCS / "sso_2_group_rule.png"))
    browser.find_element(By.NAME, "_save").click()
    wait.until(lambda d: "/add/" not in d.current_url)
    rule = ClaimRule.objects.get()
    assert (rule.provider, rule.claim, rule.value, rule.role, rule.cohort.name) == (
        "hospital",
        "groups",
        "us-residents",
        "resident",
        "Residents 2026",
    )

    # the login page now offers the institution
    browser.delete_all_cookies()
    browser.get(f"{server}/accounts/login/")
    button = browser.find_element(By.CSS_SELECTOR, "button.sso-button")
    assert button.text == "Sign in with St Elsewhere Hospital"
    browser.save_screenshot(str(DOCS / "sso_3_login_page.png"))


def test_a_program_admin_registers_an_lms_for_lti_launches(
    server,
    browser,
    program_admin,
):
    """The LMS's registration and its deployment (docs/lti.md's screenshot)."""
    from lti_tool.models import LtiRegistration

    wait = Wait(browser, 30)
    sign_in_as_pat(browser, server, wait)
    browser.get(f"{server}/admin/lti_tool/ltiregistration/add/")
    values = {
        "id_name": "Canvas",
        "id_issuer": "https://canvas.instructure.com",
        "id_client_id": "10000000000042",
        "id_auth_url": "https://sso.canvaslms.com/api/lti/authorize_redirect",
        "id_token_url": "https://sso.canvaslms.com/login/oauth2/token",
        "id_keyset_url": "https://sso.canvaslms.com/api/lti/security/jwks",
        "id_deployments-0-deployment_id": "42:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
    }
    for field, value in values.items():
        browser.find_element(By.ID, field).send_keys(value)
    active = browser.find_element(By.ID, "id_deployments-0-is_active")
    if not active.is_selected():
        active.click()
    browser.execute_script("document.getElementById('id_name').scrollIntoView()")
    DOCS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(DOCS / "lti_registration.png"))
    browser.find_element(By.NAME, "_save").click()
    wait.until(lambda d: "/add/" not in d.current_url)
    registration = LtiRegistration.objects.get()
    assert (registration.issuer, registration.client_id) == (
        "https://canvas.instructure.com",
        "10000000000042",
    )
    [deployment] = registration.deployments.all()
    assert deployment.is_active
    # the tool's keys are published for the LMS to fetch
    browser.get(f"{server}/lti/jwks/")
    assert '"kty": "RSA"' in browser.find_element(By.TAG_NAME, "body").text
