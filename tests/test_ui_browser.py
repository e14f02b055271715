"""The operator console in a real browser (Debian's chromium driven by Playwright): an approver logs in, sees the
inbox, opens a run, is stopped by an invalid edit, approves and watches the run complete without a reload, rejects
another, and sees a new request arrive live; a runner key gets no approve buttons and the API refuses it anyway.
Screenshots land in reports/ui/."""

from __future__ import annotations

import httpx
from playwright.async_api import Page, async_playwright, expect

from tests.browser import ARGS, SHOTS, chromium_path
from tests.seeds import load_seed, refunds

UI_TICKETS = [
    {"id": "T-UI", "customer_id": "C-1", "subject": "Refund", "body": "Please refund $70.00 on INV-3."},
    {"id": "T-LIVE", "customer_id": "C-1", "subject": "Refund", "body": "Please refund $80.00 on INV-3."},
]


async def log_in(page: Page, server: str, key: str) -> None:
    await page.goto(f"{server}/ui")
    await page.fill("#key", key)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#who")).to_be_visible()


async def test_an_approver_works_the_inbox_and_run_view_in_a_browser(server, sdk, api_keys, services, seeded):
    await load_seed(services, {"tenant": seeded, "tickets": UI_TICKETS})
    runner = sdk("runner")
    waiting = {}
    for ticket in ("T-BIG", "T-UI"):
        thread = await runner.threads.create()
        await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": ticket})
        waiting[ticket] = thread["thread_id"]

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            failed_requests: list[str] = []
            page.on("requestfailed", lambda r: failed_requests.append(r.url))
            await log_in(page, server, api_keys["approver"])
            big_row = page.locator(f'tr[data-thread="{waiting["T-BIG"]}"]')
            await expect(big_row).to_contain_text("refund.needs_approval")
            await expect(big_row).to_contain_text("0 of 1")
            await expect(page.locator(f'tr[data-thread="{waiting["T-UI"]}"]')).to_contain_text("70.00")
            await page.screenshot(path=str(SHOTS / "inbox.png"), full_page=True)

            await big_row.get_by_role("link", name="Run view").click()
            await expect(page.locator('g.current[data-node="approval"]')).to_have_count(1)
            await expect(page.locator('g.taken[data-node="policy_gate"]')).to_have_count(1)
            await expect(page.locator("#timeline tbody tr").first).to_be_visible()
            await page.screenshot(path=str(SHOTS / "run-view.png"), full_page=True)
            await page.evaluate("window.__notReloaded = true")

            pending = page.locator("#pending")
            await pending.get_by_role("button", name="Edit").click()
            amount = pending.get_by_label("Amount Usd")
            await amount.fill("-5")
            await pending.get_by_role("button", name="Submit edit").click()
            await expect(pending.locator(".error").filter(has_text="must be more than 0")).to_be_visible()
            assert await amount.get_attribute("aria-invalid") == "true"
            await amount.fill("5000")  # valid as a number; the server's policy check refuses it, shown inline
            await pending.get_by_role("button", name="Submit edit").click()
            await expect(pending.locator('[data-role="form-error"]')).not_to_be_empty()
            await page.screenshot(path=str(SHOTS / "edit-error.png"), full_page=True)

            await pending.get_by_role("button", name="Approve").click()
            await expect(page.locator("#run-outcome")).to_have_text("completed (refund.issued)")
            assert await page.evaluate("window.__notReloaded === true")  # updated in place
            await page.screenshot(path=str(SHOTS / "run-completed.png"), full_page=True)

            await page.get_by_role("link", name="Approvals").click()
            ui_row = page.locator(f'tr[data-thread="{waiting["T-UI"]}"]')
            await ui_row.get_by_role("button", name="Reject").click()
            await ui_row.get_by_label("Message to the requester (optional)").fill("INV-3 is outside the policy")
            await ui_row.get_by_role("button", name="Confirm reject").click()
            await expect(ui_row).to_have_count(0)
            await expect(page.locator("#status")).to_contain_text("rejected")

            # a new request arrives while the page is open: it appears without a reload (server-sent events)
            thread = await runner.threads.create()
            await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-LIVE"})
            await expect(page.locator(f'tr[data-thread="{thread["thread_id"]}"]')).to_have_count(1, timeout=15_000)

            await page.set_viewport_size({"width": 390, "height": 844})
            await page.screenshot(path=str(SHOTS / "inbox-phone.png"), full_page=True)
            assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert failed_requests == [], failed_requests  # every asset is served here; nothing from elsewhere

            await page.get_by_role("button", name="Log out").click()
            await log_in(page, server, api_keys["runner"])
            await expect(page.locator("#no-role")).to_be_visible()
            assert await page.get_by_role("button", name="Approve").count() == 0
        finally:
            await browser.close()

    assert [str(r["amount_usd"]) for r in await refunds(services.pool, seeded)] == ["120.00"]
    refused = httpx.post(
        f"{server}/approvals/{thread['thread_id']}", json={"type": "approve"}, headers={"x-api-key": api_keys["runner"]}
    )
    assert refused.status_code == 403


async def test_an_admin_sees_the_overview_escalations_and_controls(server, sdk, api_keys, services, seeded):
    runner = sdk("runner")
    thread = await runner.threads.create()
    await runner.runs.wait(thread["thread_id"], "refund", input={"ticket_id": "T-NOINV"})  # escalates
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await log_in(page, server, api_keys["admin"])
            await page.get_by_role("link", name="Overview").click()
            await expect(page.locator('#overview tr[data-workflow="refund"]')).to_be_visible()
            await page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

            await page.get_by_role("link", name="Escalations").click()
            item = page.locator("tr[data-escalation]").first
            await expect(item).to_contain_text("validation.missing")
            await item.get_by_role("button", name="Take").click()
            await expect(page.locator("tr[data-escalation]").first).to_contain_text(f"{seeded}-admin")
            await page.screenshot(path=str(SHOTS / "escalations.png"), full_page=True)

            await page.get_by_role("link", name="Controls").click()
            await page.select_option("#mode-refund", "suggest")
            await page.locator("#mode-refund").locator("xpath=..").get_by_role("button", name="Set").click()
            await expect(page.locator("#status")).to_have_text("Saved.")
            await expect(page.locator("#mode-refund").locator("xpath=../..")).to_contain_text(f"{seeded}-admin")
            await page.screenshot(path=str(SHOTS / "controls.png"), full_page=True)
        finally:
            await browser.close()
    async with httpx.AsyncClient(base_url=server, headers={"x-api-key": api_keys["admin"]}) as admin:
        modes = {m["workflow"]: m for m in (await admin.get("/controls/modes")).json()}
        assert modes["refund"]["mode"] == "suggest" and modes["refund"]["set_by"] == f"{seeded}-admin"
