"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against a
real ``maas serve`` on loopback (see ``conftest.py``).

Every test fails on any browser console error or uncaught page error, and on any request that
leaves the server (the dashboard must work offline). Screenshots go to
``test-artifacts/screenshots/`` (``MAAS_TEST_ARTIFACTS`` moves the folder).

Run: ``python -m pytest tests/ui -q``; skipped with the reason when Chromium or Playwright is
missing (``apt-get install chromium``; ``pip install -e '.[dev]'``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import REFERENCE_MODEL, TRAINED_MODEL, Dashboard, chromium_path

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the browser tests need Playwright: pip install -e '.[dev]'",
)

CHROMIUM = chromium_path()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium installed: apt-get install chromium (.ci/run does it when it can)",
    ),
]

# Pixels of a chart's canvas close to the colour of its main series (uPlot draws on a
# transparent canvas; axes and grid are grey, so a coloured pixel means the data was drawn).
PAINTED = """([selector, rgb]) => {
  const canvas = document.querySelector(selector);
  if (!canvas || canvas.width === 0 || canvas.height === 0) return null;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0, coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    painted += 1;
    if (Math.abs(data[i] - rgb[0]) < 48 && Math.abs(data[i + 1] - rgb[1]) < 48
        && Math.abs(data[i + 2] - rgb[2]) < 48) coloured += 1;
  }
  return {width: canvas.width, height: canvas.height, painted, coloured};
}"""

BLUE = (37, 99, 235)
ORANGE = (217, 119, 6)
GREEN = (5, 150, 105)
INK = (31, 41, 55)


class UI:
    """One browser tab on the dashboard, watching the console and every request."""

    def __init__(self, page: Any, dashboard: Dashboard, screenshots: Path, name: str) -> None:
        self.page = page
        self.dashboard = dashboard
        self.screenshots = screenshots
        self.name = name
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self.dashboard.url + "/") and not request.url.startswith(
            "data:"
        ):
            self.foreign.append(request.url)

    def open(self, hash_: str = "") -> None:
        self.page.goto(f"{self.dashboard.url}/ui/{hash_}")

    def sign_in(self, key: str) -> None:
        self.open()
        self.page.wait_for_selector("#api-key")
        self.page.fill("#api-key", key)
        self.page.click("form.signin button[type=submit]")

    def signed_in(self, key: str) -> None:
        self.sign_in(key)
        self.page.wait_for_selector("#nav a")

    def go(self, hash_: str) -> None:
        self.page.evaluate("(h) => { location.hash = h; }", hash_)

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def shot(self, label: str) -> Path:
        path = self.screenshots / f"{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def chart_painted(self, chart: str, rgb: tuple[int, int, int]) -> dict[str, int]:
        """Wait until the chart's canvas shows its series; return the pixel counts."""
        selector = f'figure[data-chart="{chart}"] canvas'
        self.page.wait_for_selector(selector, timeout=10_000)
        self.page.wait_for_function(
            f"(args) => {{ const r = ({PAINTED})(args); return r !== null && r.coloured > 40; }}",
            arg=[selector, list(rgb)],
            timeout=10_000,
        )
        result: dict[str, int] = self.page.evaluate(PAINTED, [selector, list(rgb)])
        return result

    def assert_clean(self, allowed: tuple[str, ...] = ()) -> None:
        errors = [e for e in self.errors if not any(a in e for a in allowed)]
        assert errors == [], "the browser reported errors:\n" + "\n".join(errors)
        assert self.foreign == [], f"requests left the server: {self.foreign}"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def ui(
    browser: Any, dashboard: Dashboard, screenshots: Path, request: pytest.FixtureRequest
) -> Iterator[UI]:
    # A fresh context per test: its own session storage, so no key outlives its test.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield UI(page, dashboard, screenshots, request.node.name)
    context.close()


def test_dashboard_sign_in_shows_the_models(ui: UI) -> None:
    ui.open()
    ui.page.wait_for_selector("form.signin")
    ui.shot("01-sign-in")
    ui.page.fill("#api-key", ui.dashboard.admin)
    ui.page.click("form.signin button[type=submit]")
    ui.page.wait_for_selector("#models-table tbody tr")
    names = ui.page.locator("#models-table tbody tr td:first-child strong").all_inner_texts()
    assert set(names) >= {"machine-failure", "tool-life", REFERENCE_MODEL}
    assert ui.text("#who").startswith("default")
    assert "admin" in ui.text("#who")
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('#models-table tbody td:nth-child(4)')]"
        ".every((td) => td.innerText !== '…')"
    )
    row = ui.page.locator("#models-table tbody tr", has_text="machine-failure")
    assert "production → v" in row.inner_text()
    assert "failure prediction" in row.inner_text()
    ui.shot("02-models")
    ui.assert_clean()


def test_dashboard_model_page_shows_versions_lineage_and_alias_history(ui: UI) -> None:
    ui.signed_in(ui.dashboard.admin)
    ui.go(f"#/models/{TRAINED_MODEL}")
    ui.page.wait_for_selector("#versions-table tbody tr")
    ui.page.wait_for_selector(".alias-history")
    versions = ui.page.locator("#versions-table tbody tr")
    assert versions.count() == ui.dashboard.trained_version
    newest = versions.first.inner_text()
    assert f"v{ui.dashboard.trained_version}" in newest
    assert "failure prediction" in newest
    assert "line-3-conditions" in newest
    history = ui.text("#aliases")
    assert f"v1 → v{ui.dashboard.trained_version}" in history
    assert "staging" in history
    ui.shot("03-model")
    ui.assert_clean()


def test_dashboard_report_of_a_trained_version(ui: UI) -> None:
    ui.signed_in(ui.dashboard.admin)
    version = ui.dashboard.trained_version
    ui.go(f"#/models/{TRAINED_MODEL}/versions/{version}")
    ui.page.wait_for_selector("#metrics-table tbody tr")
    metrics = ui.text("#metrics-table")
    assert "ROC AUC" in metrics
    assert "±" in metrics  # stability over two runs
    assert "better" in metrics  # held-out next to the baseline
    bars = ui.page.locator('figure[data-chart="importance"] .bar-row')
    assert bars.count() == len(ui.dashboard.trained["report"]["feature_importance"])
    plots = ui.dashboard.trained["report"].get("plots") or {}
    assert {"roc", "pr", "confusion"} <= set(plots)  # what failure_prediction reports
    _assert_plots_drawn(ui, plots)
    ui.shot("04-report-trained")
    ui.assert_clean()


def _assert_plots_drawn(ui: UI, plots: dict[str, Any]) -> None:
    colours = {
        "roc": BLUE,
        "pr": ORANGE,
        "predicted_vs_true": BLUE,
        "forecast": BLUE,
        "scores": BLUE,
    }
    for chart, rgb in colours.items():
        if chart in plots:
            drawn = ui.chart_painted(chart, rgb)
            assert drawn["width"] > 300
            assert drawn["height"] > 150
            assert drawn["coloured"] > 40, f"{chart}: {drawn}"
    if "confusion" in plots:
        n = len(plots["confusion"]["labels"])
        cells = ui.page.locator('figure[data-chart="confusion"] td.cm-cell')
        assert cells.count() == n * n
        counts = [int(t.replace(",", "")) for t in cells.locator(".cm-count").all_inner_texts()]
        assert counts == [int(c) for row in plots["confusion"]["matrix"] for c in row]


def test_dashboard_draws_every_plot_of_the_contract(ui: UI) -> None:
    ui.signed_in(ui.dashboard.viewer)
    ui.go(f"#/models/{REFERENCE_MODEL}/versions/1")
    ui.page.wait_for_selector(".chart-grid")
    plots = ui.dashboard.reference["report"]["plots"]
    assert set(plots) == {"roc", "pr", "confusion", "predicted_vs_true", "forecast", "scores"}
    _assert_plots_drawn(ui, plots)
    caption = ui.text('figure[data-chart="roc"] figcaption')
    assert "0.962" in caption
    assert "P10–P90" in ui.text('figure[data-chart="forecast"] figcaption')
    comparison = ui.text("#comparison")  # the champion-vs-challenger panel of a retrained version
    assert "promoted" in comparison
    assert "improved by 0.39" in comparison
    assert "400 rows" in comparison
    assert "fitted on the other 600 rows" in comparison
    rows = ui.page.locator("#comparison-table tbody tr").all_inner_texts()
    assert rows[0].split("\t")[:3] == ["F1 score (decides)", "0.35", "0.74"]
    assert "worse" in rows[1]  # mae went up
    ui.page.wait_for_timeout(300)  # let the last chart finish its first frame
    ui.shot("05-report-every-plot")
    ui.assert_clean()


def test_dashboard_jobs_page_follows_a_job_to_its_end(ui: UI) -> None:
    with ui.dashboard.api() as api:
        job = api.post(
            "/v1/models/line-3-failure/train",
            json={
                "template": "failure_prediction",
                "dataset": "line-3-conditions",
                "target": "machine_failure",
                "params": {"n_estimators": 80},
                "stability_runs": 3,
            },
        )
        assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    ui.signed_in(ui.dashboard.viewer)
    ui.go("#/jobs")
    ui.page.wait_for_selector("#jobs-table tbody tr")
    row = ui.page.locator("#jobs-table tbody tr", has_text="line-3-failure")
    assert row.count() == 1
    assert row.locator('[role="progressbar"]').count() == 1
    ui.shot("06-jobs-running")
    # No reload: the page refreshes itself while a job runs.
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('#jobs-table tbody tr')].some((tr) =>"
        " tr.innerText.includes('line-3-failure') && tr.innerText.includes('succeeded'))",
        timeout=120_000,
    )
    done = ui.page.locator("#jobs-table tbody tr", has_text="line-3-failure").inner_text()
    assert "100 %" in done
    assert "line-3-failure v1" in done
    finished = ui.page.locator("#jobs-table tbody tr", has_text="succeeded").count()
    assert finished >= 2
    ui.shot("07-jobs-finished")
    ui.assert_clean()
    with ui.dashboard.api() as api:
        assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded"


def test_dashboard_audit_log_pages_and_filters(ui: UI) -> None:
    ui.signed_in(ui.dashboard.admin)
    ui.go("#/audit")
    ui.page.wait_for_selector("#audit-table tbody tr")
    rows = ui.page.locator("#audit-table tbody tr")
    assert 10 <= rows.count() <= 50
    ui.shot("08-audit")
    ui.page.fill("input.filter", "alias.set")
    ui.page.wait_for_function(
        "() => [...document.querySelectorAll('#audit-table tbody tr')]"
        ".every((tr) => tr.innerText.includes('alias.set'))"
    )
    assert rows.count() >= 3  # two example productions, staging, and the promotion
    ui.assert_clean()


def test_dashboard_viewer_sees_no_admin_panel(ui: UI) -> None:
    ui.signed_in(ui.dashboard.viewer)
    menu = ui.page.locator("#nav a").all_inner_texts()
    assert "Audit log" not in menu
    assert "Models" in menu
    ui.go("#/audit")
    ui.page.wait_for_selector(".note-box")
    message = ui.text("main")
    assert "Your key's role cannot see this." in message
    assert "admin" in message
    ui.shot("09-viewer-audit")
    ui.go("#/models")
    ui.page.wait_for_selector("#models-table tbody tr")
    ui.assert_clean()  # nothing was asked of the server that it had to refuse


def test_dashboard_consumer_key_is_told_what_it_may_do(ui: UI) -> None:
    ui.sign_in(ui.dashboard.consumer)
    ui.page.wait_for_selector("main .note-box")
    assert "consumer" in ui.text("#who")
    message = ui.text("main")
    assert "consumer key" in message
    assert "predictions" in message
    assert ui.page.locator("#nav a").count() == 0
    ui.shot("10-consumer")
    ui.assert_clean()


def test_dashboard_revoked_key_goes_back_to_sign_in(ui: UI) -> None:
    ui.signed_in(ui.dashboard.doomed)
    ui.page.wait_for_selector("#models-table tbody tr")
    with ui.dashboard.api() as api:
        assert api.delete(f"/v1/keys/{ui.dashboard.doomed_id}").status_code == 204
    ui.go("#/jobs")
    ui.page.wait_for_selector("form.signin .note-box")
    message = ui.text("form.signin")
    assert "Your session has ended." in message
    assert "revoked" in message
    assert ui.page.evaluate("() => sessionStorage.length") == 0
    assert not ui.page.is_visible("#nav")
    assert not ui.page.is_visible("#who")
    ui.shot("11-revoked-session")
    # Signing in again with the revoked key: refused with a plain message, no blank page.
    ui.page.fill("#api-key", ui.dashboard.doomed)
    ui.page.click("form.signin button[type=submit]")
    ui.page.wait_for_selector("#signin-status .note-box")
    assert "This key was not accepted." in ui.text("#signin-status")
    ui.shot("12-revoked-sign-in")
    # The browser itself logs the refused requests (401) as failed resource loads.
    ui.assert_clean(allowed=("status of 401",))


def test_dashboard_keeps_tenants_apart(ui: UI) -> None:
    with ui.dashboard.api() as api:
        made = api.post("/v1/tenants", json={"name": "plant-koeln"})
        assert made.status_code == 201, made.text
    other = made.json()["admin_key"]
    # First the default tenant's admin, then the other plant's in the same tab: nothing read
    # with the first key shows under the second.
    ui.signed_in(ui.dashboard.admin)
    ui.page.wait_for_selector("#models-table tbody tr")
    ui.page.click("#sign-out")
    ui.page.wait_for_selector("form.signin")
    ui.page.fill("#api-key", other)
    ui.page.click("form.signin button[type=submit]")
    ui.page.wait_for_selector("#nav a")
    ui.page.wait_for_selector("text=No models yet.")
    assert ui.text("#who").startswith("plant-koeln")
    assert "No models yet." in ui.text("main")
    assert ui.page.locator("#models-table").count() == 0
    ui.go(f"#/models/{TRAINED_MODEL}")
    ui.page.wait_for_selector("text=Not found.")
    ui.shot("17-other-tenant")
    ui.assert_clean(allowed=("status of 404",))


def test_dashboard_unknown_model_is_a_calm_message(ui: UI) -> None:
    ui.signed_in(ui.dashboard.viewer)
    ui.go("#/models/no-such-model/versions/3")
    ui.page.wait_for_selector(".note-box")
    assert "Not found." in ui.text("main")
    assert "no-such-model" in ui.text("main")
    ui.assert_clean(allowed=("status of 404",))


def _traffic_points() -> list[dict[str, Any]]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    points = []
    for i in range(60):
        t = now - timedelta(minutes=59 - i)
        requests = 120 + (i * 37) % 90
        points.append(
            {
                "t": t.isoformat().replace("+00:00", "Z"),
                "requests": requests,
                "errors": 3 if i % 17 == 0 else 0,
                "p50_ms": 4.0 + (i % 7) * 0.3,
                "p99_ms": 18.0 + (i % 11) * 1.7,
            }
        )
    return points


def _drift_document() -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC).replace(microsecond=0)
    history = []
    for i in range(24):
        wear = 0.02 + 0.012 * i
        history.append(
            {
                "t": (now - timedelta(hours=23 - i)).isoformat().replace("+00:00", "Z"),
                "state": "alert" if wear > 0.25 else "warning" if wear > 0.1 else "ok",
                "max_psi": wear,
                "features": {"tool_wear_min": wear, "torque_nm": 0.03, "air_temperature_k": 0.05},
            }
        )
    return {
        "model": TRAINED_MODEL,
        "version": 2,
        "state": "alert",
        "checked_at": history[-1]["t"],
        "window": {"rows": 4800, "since": history[0]["t"]},
        "thresholds": {"psi_warning": 0.1, "psi_alert": 0.25},
        "features": [
            {"name": "tool_wear_min", "psi": 0.296, "ks": 0.31, "state": "alert"},
            {"name": "torque_nm", "psi": 0.03, "ks": 0.04, "state": "ok"},
            {"name": "air_temperature_k", "psi": 0.12, "ks": 0.09, "state": "warning"},
        ],
        "prediction": {"psi": 0.14, "state": "warning"},
        "history": history,
    }


def test_dashboard_traffic_and_drift_from_this_server(ui: UI) -> None:
    """What the real server answers: charts where it has data, a plain note where not."""
    ui.signed_in(ui.dashboard.viewer)
    ui.go(f"#/traffic/{TRAINED_MODEL}")
    if ui.dashboard.has_route("/v1/models/{name}/traffic"):
        assert ui.dashboard.traffic_seen, "the fixture's predictions never showed in /traffic"
        ui.page.wait_for_selector("#traffic .tiles")
        assert int(ui.text("#traffic .tile-value").replace(",", "")) >= 10
        ui.chart_painted("traffic-rate", BLUE)
        ui.chart_painted("traffic-latency", ORANGE)
    else:
        ui.page.wait_for_selector(".note-box")
        assert "not available on this server" in ui.text("main")
    ui.shot("13-traffic-server")
    ui.go(f"#/drift/{TRAINED_MODEL}")
    if ui.dashboard.has_route("/v1/models/{name}/drift"):
        ui.page.wait_for_selector("#drift .tiles")
        assert "Overall" in ui.text("#drift .tiles")
        if ui.page.locator("#drift-table").count():  # the fixture's check had rows to compare
            assert ui.page.locator("#drift-table tbody tr").count() == 6
            ui.chart_painted("drift-history", INK)
    else:
        ui.page.wait_for_selector(".note-box")
        assert "not available on this server" in ui.text("main")
    ui.shot("14-drift-server")
    ui.assert_clean()


def test_dashboard_traffic_and_drift_draw_their_contracts(ui: UI) -> None:
    """The pages against the agreed answer shapes, whatever this server has yet."""
    points = _traffic_points()
    drift = _drift_document()

    def openapi(route: Any) -> None:
        doc = route.fetch().json()
        for path in ("traffic", "drift", "drift/check"):
            doc["paths"].setdefault(f"/v1/models/{{name}}/{path}", {})
        route.fulfill(json=doc)

    ui.page.route(re.compile(r".*/openapi\.json$"), openapi)
    ui.page.route(
        re.compile(r".*/v1/models/[^/]+/traffic\?.*"),
        lambda route: route.fulfill(json={"model": TRAINED_MODEL, "points": points}),
    )
    ui.page.route(re.compile(r".*/v1/models/[^/]+/drift$"), lambda route: route.fulfill(json=drift))
    ui.signed_in(ui.dashboard.viewer)
    ui.go(f"#/traffic/{TRAINED_MODEL}")
    ui.page.wait_for_selector("#traffic .tiles")
    tiles = ui.text("#traffic .tiles")
    total = sum(p["requests"] for p in points)
    assert f"{total:,}" in tiles
    assert "requests/s" in tiles
    assert " ms" in tiles
    ui.chart_painted("traffic-rate", BLUE)
    ui.chart_painted("traffic-latency", ORANGE)
    ui.shot("15-traffic")
    ui.go(f"#/drift/{TRAINED_MODEL}")
    ui.page.wait_for_selector("#drift-table tbody tr")
    assert ui.page.locator("#drift-table tbody tr").count() == 3
    assert "Alert" in ui.text("#drift .tiles")
    assert ui.page.locator("#drift-check").count() == 0  # a viewer key cannot run a check
    ui.chart_painted("drift-history", INK)
    ui.shot("16-drift")
    ui.assert_clean()
