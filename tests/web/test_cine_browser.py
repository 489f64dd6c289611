"""In a real browser (Chromium, headless): a resident uploads a short MP4 through the upload
page, which counts its frames read and de-identified; a real Celery worker assesses its sampled
frames (scripted engine) while the scan page counts them; the scan page plays the clip with a
timeline marking each assessed frame's grade and the chosen one, and clicking another mark
shows that frame with its own boxes and deductions."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from tests.web.conftest import Wait
from tests.web.live import ROOT
from tests.web.test_cine_clips import mp4

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
]  # real processes: daphne, a Celery worker, Chromium


# The browser tests' shared daphne and Chromium (tests/web/conftest.py; the browser is reset for
# each test); each test starts its own worker (the engine's delay is the worker's).


@pytest.fixture
def browser(fresh_browser):
    return fresh_browser


@pytest.fixture
def scripted_server(shared_daphne, worker_factory, log_dir):
    worker_factory()
    return shared_daphne


@pytest.fixture
def slow_batches_server(shared_daphne, worker_factory, log_dir):
    """The scripted engine taking 1.5 s a batch of 4 frames, so the counts can be seen."""
    worker_factory(ABVLMQ_SCRIPTED_DELAY="1.5", ABVLMQ_CLIP_BATCH="4")
    return shared_daphne


# what the upload row says, kept across the page change a single upload makes
RECORD_ROW_STATES = """
sessionStorage.setItem("states", "[]");
new MutationObserver(() => {
  const seen = JSON.parse(sessionStorage.getItem("states"));
  document.querySelectorAll("#uploads .state").forEach((s) => {
    if (s.textContent && seen[seen.length - 1] !== s.textContent) seen.push(s.textContent);
  });
  sessionStorage.setItem("states", JSON.stringify(seen));
}).observe(document.getElementById("uploads"),
           {subtree: true, childList: true, characterData: true});
"""


def test_a_clip_upload_counts_its_frames_then_shows_the_timeline_and_the_chosen_frame(
    slow_batches_server,
    browser,
    resident,
    tmp_path,
):
    scripted_server = slow_batches_server
    clip = tmp_path / "loop.mp4"
    clip.write_bytes(mp4())
    wait = Wait(browser, 60)
    browser.get(f"{scripted_server}/accounts/login/")
    browser.find_element(By.ID, "id_username").send_keys("rita")
    browser.find_element(By.ID, "id_password").send_keys("correct horse battery")
    browser.find_element(By.ID, "login-submit").click()
    # the login's redirect must land before the next page, or that page asks to log in again
    wait.until(lambda d: "/accounts/login/" not in d.current_url)
    browser.get(f"{scripted_server}/upload/")
    browser.execute_script(RECORD_ROW_STATES)
    wait.until(lambda d: d.find_elements(By.ID, "files"))[0].send_keys(str(clip))
    wait.until(lambda d: "/scans/" in d.current_url)  # one file alone opens its scan page

    # issue 32, item 4: while the request ran, the row counted the frames read and de-identified
    states = browser.execute_script("return JSON.parse(sessionStorage.getItem('states'))")
    counted = [s for s in states if s.startswith("frames read and de-identified: ")]
    assert counted and counted[-1].endswith(" of 12"), states
    assert "all 12 frames read and de-identified · storing the clip" in states, states
    # then the scan page counts the frames assessed, a batch at a time, until the answer
    progress = browser.find_element(By.ID, "frames-progress")
    Wait(browser, 30).until(lambda d: progress.text == "Frames assessed: 4 of 8")
    wait.until(lambda d: not progress.is_displayed())  # the answer came: the count is gone

    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#clip-timeline .mark")) == 8)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip-timeline .mark.chosen"))
    marks = browser.find_elements(By.CSS_SELECTOR, "#clip-timeline .mark")
    grades = [m.get_attribute("data-grade") for m in marks]
    assert grades == ["Good"] * 4 + ["Excellent"] + ["Good"] * 3
    chosen = [m for m in marks if "chosen" in m.get_attribute("class")]
    assert len(chosen) == 1 and chosen[0] == marks[4] and chosen[0].text == "★"
    canvas = browser.find_element(By.ID, "clip-canvas")
    # the page opened while the clip was being read: it shows the chosen frame once it is known
    wait.until(lambda d: canvas.get_attribute("data-frame") == marks[4].get_attribute("data-index"))
    wait.until(lambda d: canvas.get_attribute("data-boxes") == "2")
    assert "(chosen)" in browser.find_element(By.ID, "clip-frame-label").text
    assert browser.find_elements(By.CSS_SELECTOR, "#clip-deductions li") == []
    video = browser.find_element(By.ID, "clip-video")
    wait.until(lambda d: d.execute_script("return arguments[0].readyState", video) >= 1)
    assert browser.execute_script("return arguments[0].duration", video) == pytest.approx(
        2, abs=0.2
    )

    marks[1].click()

    wait.until(lambda d: canvas.get_attribute("data-frame") == marks[1].get_attribute("data-index"))
    items = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#clip-deductions li"))
    assert [i.text.split("\n")[0] for i in items] == ["−2GB.gallbladder.incomplete", "−2ATT.mild"]
    assert "selected" in marks[1].get_attribute("class")
    seek = browser.execute_script("return arguments[0].currentTime", video)
    assert seek == pytest.approx(
        float(marks[1].get_attribute("title").split(" at ")[1].split(" s")[0]), abs=0.05
    )
    # The main scan view shows the chosen frame's assessment: Excellent, 10.
    assert "10" in browser.find_element(By.ID, "score-badge").text
    (ROOT / "artifacts").mkdir(exist_ok=True)
    browser.save_screenshot(str(ROOT / "artifacts" / "clip_page.png"))


@pytest.mark.parametrize("width", [1280, 390])
def test_several_files_stay_listed_each_following_its_analysis_scripted_engine(
    scripted_server,
    browser,
    resident,
    tmp_path,
    width,
):
    """Several scans at once: the upload page keeps them listed, each row following its own
    analysis (queued, assessing) to its score, with a link to its page; one file chooser."""
    from tests.web import images

    files = []
    for n in (6, 7):
        f = tmp_path / f"phantom{n}.png"
        f.write_bytes(images.phantom(index=n))
        files.append(str(f))
    browser.set_window_size(width, 844)
    wait = Wait(browser, 90)
    browser.get(f"{scripted_server}/accounts/login/")
    browser.find_element(By.ID, "id_username").send_keys("rita")
    browser.find_element(By.ID, "id_password").send_keys("correct horse battery")
    browser.find_element(By.ID, "login-submit").click()
    wait.until(lambda d: "/accounts/login/" not in d.current_url)
    browser.get(f"{scripted_server}/upload/")
    assert len(browser.find_elements(By.CSS_SELECTOR, "input[type=file]")) == 1
    assert browser.find_element(By.ID, "choose-files").is_displayed()
    wait.until(lambda d: d.find_elements(By.ID, "files"))[0].send_keys("\n".join(files))
    rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li[data-scan-id]"))
    wait.until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#uploads li[data-status=done]")) == 2
    )
    assert "/upload/" in browser.current_url  # several files: the page stays
    rows = browser.find_elements(By.CSS_SELECTOR, "#uploads li")
    for row in rows:
        link = row.find_element(By.CSS_SELECTOR, "a.scan-link")
        assert link.text.endswith("· view") and link.get_attribute("href").endswith(
            f"/scans/{row.get_attribute('data-scan-id')}/"
        )
    overflow = browser.execute_script(
        "return document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    assert not overflow, f"horizontal scroll at {width} px"
