"""/docs works on a network that reaches nothing but the app: Swagger UI's script and style are the app's own
(``/docs-assets``), and the page, in a real browser whose every request to another origin is refused, shows
every operation of the API."""

from __future__ import annotations

from tests.web.conftest import shot


def test_the_api_docs_render_in_a_browser_with_no_other_origin_reachable(live_server, browser, tmp_path):
    import httpx

    base = live_server.url
    spec = httpx.get(f"{base}/openapi.json").json()
    operations = sum(1 for ops in spec["paths"].values() for m in ops if m in ("get", "post", "put", "patch",
                                                                               "delete"))
    assert operations >= 10
    ctx = browser.new_context(base_url=base, locale="vi-VN", viewport={"width": 1280, "height": 900})
    asked: list[str] = []
    refused: list[str] = []

    def only_the_app(route, request) -> None:
        asked.append(request.url)
        if request.url.startswith(base + "/") or request.url.startswith("data:"):
            route.continue_()
        else:
            refused.append(request.url)
            route.abort()

    ctx.route("**/*", only_the_app)
    page = ctx.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() == operations
    assert page.locator(".opblock-summary-path[data-path='/api/dossiers/{ref}']").count() >= 1
    assert page.locator(".info .title").first.inner_text().startswith("quytrinh API")
    assert page.locator("button.authorize").count() == 1  # the bearer scheme
    shot(page, tmp_path, "api-docs-offline")
    assert refused == [] and failed == [] and errors == [], (refused, failed, errors)
    assert f"{base}/docs-assets/swagger-ui-bundle.js" in asked and f"{base}/openapi.json" in asked
    assert all(u.startswith(base + "/") or u.startswith("data:") for u in asked), asked
    ctx.close()


def test_the_docs_page_names_only_the_apps_own_assets_and_forbids_others(client_for):
    c = client_for()
    r = c.get("/docs")
    assert r.status_code == 200
    assert "cdn" not in r.text.lower() and "https://" not in r.text and "http://" not in r.text
    assert '<script src="/docs-assets/swagger-ui-bundle.js">' in r.text
    assert '"validatorUrl": null' in r.text  # no badge fetched from swagger.io
    policy = r.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "'sha256-" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    js = c.get("/docs-assets/swagger-ui-bundle.js")
    assert js.status_code == 200 and "SwaggerUIBundle" in js.text
    assert c.get("/docs-assets/swagger-ui.css").status_code == 200
