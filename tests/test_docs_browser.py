"""The interactive docs render in a real browser and their Authorize button takes an API key."""

from __future__ import annotations

import httpx
from playwright.async_api import async_playwright

from tests.browser import ARGS, SHOTS, chromium_path


async def test_docs_render_every_operation_and_authorize_with_a_key(server, api_keys):
    assert httpx.get(f"{server}/", follow_redirects=False).headers["location"] == "/docs"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{server}/docs")
            await page.wait_for_selector(".opblock-summary", timeout=20_000)
            paths = await page.locator(".opblock-summary-path").all_inner_texts()
            assert {"/threads", "/threads/{thread_id}/runs/wait", "/approvals", "/assistants/search"} <= {
                p.replace("\u200b", "") for p in paths
            }
            assert not await page.locator(".errors-wrapper").count()  # "does not specify a valid version field"

            await page.click("button.authorize")
            await page.fill(".auth-container input", api_keys["runner"])
            await page.click(".auth-btn-wrapper button.authorize")
            await page.click("button.btn-done")
            await page.screenshot(path=str(SHOTS / "docs.png"))
            operation = page.locator("#operations-threads-search_threads_threads_search_post")
            await operation.locator(".opblock-summary").click()
            await operation.locator("button.try-out__btn").click()
            await operation.locator("button.execute").click()
            status = operation.locator(".live-responses-table tr.response .response-col_status").first
            await status.wait_for(timeout=10_000)
            assert (await status.inner_text()).strip() == "200"  # the key went along: a 401 would show otherwise
        finally:
            await browser.close()
