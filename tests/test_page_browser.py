"""The step-by-step page in a real browser: headless Chromium driven by Selenium.

The page of seed 003 is opened from a file; the test steps through it with the arrow keys, and at every backward
step reads the numbers the page shows and checks them against the library's own gradients (a separate backward
pass with every intermediate value's gradient retained). It also checks what the graph highlights, that each
tensor's gradient appears in its box once the backward pass reached it, the per-parameter view, and that the page
makes no network request and logs no error. CI installs Chromium, its driver and Selenium and sets
CHAINRULE_REQUIRE_BROWSER=1, so there this test runs, never skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import example_trace
from chainrule.explain.examples import build

REQUIRED = os.environ.get("CHAINRULE_REQUIRE_BROWSER") == "1"


def _driver_or_skip():
    why = None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        why = "Selenium is not installed (pip install 'chainrule[test]')"
    driver = shutil.which("chromedriver")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if why is None and (driver is None or browser is None):
        why = "Chromium or its driver is not installed (apt-get install chromium chromium-driver)"
    if why is not None:
        if REQUIRED:
            pytest.fail(f"CHAINRULE_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    opts = Options()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)


@pytest.fixture(scope="module")
def browser():
    d = _driver_or_skip()
    yield d
    d.quit()


def _library_gradients():
    """Every tensor's gradient by name, from the library's own backward pass (names from the trace)."""
    out, _ = build("seed003")
    tr = cr.explain(out)
    tensors = {
        tr.name_of(t): t for s in tr.steps for t in [e.tensor for e in s.edges] + [s.out_tensor] if t is not None
    }
    for t in tensors.values():
        if not t.is_leaf:
            t.retain_grad()
    out.backward()
    grads = {n: t.grad.item() for n, t in tensors.items() if t.grad is not None}
    grads[tr.out_name] = 1.0
    return grads, len(tr.steps)


def _number(text: str) -> float:
    """The value a row ends with (after its last '= ', or the whole text), before any bracketed remark."""
    text = text.split("  (")[0].split("  [")[0]
    return float(text.rsplit("= ", 1)[-1].split()[0])


def _requests(d):
    urls = []
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def test_seed003_page_steps_through_every_backward_step_with_the_librarys_numbers(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    path = tmp_path / "seed003.html"
    example_trace("seed003").to_html(path)
    browser.get(path.as_uri())
    grads, n_steps = _library_gradients()
    body = browser.find_element(By.TAG_NAME, "body")
    total = int(browser.find_element(By.ID, "slider").get_attribute("max"))
    assert total == 2 * n_steps + 1  # overview, forward, backward, result

    sent: dict[str, float] = {}
    seen_backward = 0
    for k in range(1, total + 1):
        body.send_keys(Keys.ARROW_RIGHT)
        assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-step") == str(k)
        panel = browser.find_element(By.CSS_SELECTOR, "section.step:not([hidden])")
        assert panel.get_attribute("data-step") == str(k)
        if panel.get_attribute("data-phase") != "backward":
            continue
        seen_backward += 1
        where = browser.find_element(By.ID, "where").text
        assert where == f"Backward {seen_backward} of {n_steps}"
        # the node of this step is highlighted on the graph, with its value in its box
        current = browser.find_elements(By.CSS_SELECTOR, "#graph g.node.current")
        heading = panel.find_element(By.TAG_NAME, "h3").text
        out_name = re.match(r"Backward \d+ of \d+: \[\d+\] \w+: (\S+) = ", heading).group(1)
        assert len(current) == 1 and current[0].text.split("\n")[0].startswith(f"{out_name} = ")
        # the incoming gradient: the library's gradient of this node's output
        incoming = panel.find_elements(By.CSS_SELECTOR, "tr.incoming")
        assert len(incoming) == 1
        name = incoming[0].get_attribute("data-name")
        assert name == out_name
        shown = _number(incoming[0].find_elements(By.TAG_NAME, "td")[1].text.replace("\n", " "))
        assert shown == pytest.approx(grads[name], rel=1e-8, abs=1e-15), (k, name)
        # its gradient is now written in its box on the graph
        assert f"dE/d{name} = " in current[0].text
        # each product sent to an input: local derivative times incoming gradient, with numbers
        for row in panel.find_elements(By.CSS_SELECTOR, "tr.sent"):
            target = row.get_attribute("data-name")
            text = row.find_elements(By.TAG_NAME, "td")[1].text.replace("\n", " ")
            m = re.match(r"dE/d\S+ \* d\S+/d\S+ = (\S+) \* (\S+) = (\S+)", text)
            assert m, text
            g, local, product = (float(x) for x in m.groups())
            assert g == pytest.approx(grads[name], rel=1e-8)
            assert product == pytest.approx(g * local, rel=1e-8, abs=1e-15)
            sent[target] = sent.get(target, 0.0) + product
    assert seen_backward == n_steps
    # every value's gradient is the sum of what its uses sent (one term for most, two for out_h1, b1, ...)
    for target, value in sent.items():
        assert value == pytest.approx(grads[target], rel=1e-7, abs=1e-14), target
    assert set(sent) == set(grads) - {"E"}  # every tensor with a gradient but the output got its terms

    # the result: every parameter's gradient and its step of gradient descent
    result = browser.find_element(By.CSS_SELECTOR, "section.step:not([hidden])")
    assert result.get_attribute("data-phase") == "result"
    for w in ("w1", "w5", "w6", "b1", "b2"):
        assert re.search(rf"dE/d{w}\s+[^\n]*(\n= [^\n]*)*{re.escape(f'{grads[w]:.9g}')}", result.text), w

    # the per-parameter view: w1's chain, two paths, its nodes marked on the graph
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "param")).select_by_value("w1")
    chain = browser.find_element(By.ID, "chain-text").text
    assert chain.startswith("dE/dw1 = ") and chain.count(" + ") >= 2
    assert _number(chain.splitlines()[-1]) == pytest.approx(grads["w1"], rel=1e-8)
    marked = browser.find_elements(By.CSS_SELECTOR, "#graph g.node.path")
    labels = [m.get_attribute("textContent") for m in marked]
    assert any(t.startswith("w1") for t in labels) and any(t.startswith("E = ") for t in labels)
    assert not any(t.startswith("w5") for t in labels)  # not on w1's paths
    assert all(m.is_displayed() for m in marked)  # the whole graph is shown with the paths

    # back to the start with the key, the slider agrees
    body.send_keys(Keys.HOME)
    assert browser.find_element(By.ID, "slider").get_attribute("value") == "0"

    requests = _requests(browser)
    assert requests == [path.as_uri()]  # the page itself, nothing else: no network, no other file
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_a_users_mlp_page_works_and_shows_the_matrix_products(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(8, 16), cr.nn.ReLU(), cr.nn.Linear(16, 3))
    x = cr.randn(32, 8)
    loss = cr.nn.functional.cross_entropy(model(x), cr.tensor(np.arange(32) % 3))
    path = tmp_path / "mlp.html"
    cr.explain(loss).to_html(path)
    browser.get(path.as_uri())
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.END)
    texts = []
    for _ in range(int(browser.find_element(By.ID, "slider").get_attribute("max"))):
        panel = browser.find_element(By.CSS_SELECTOR, "section.step:not([hidden])")
        texts.append(panel.text)
        body.send_keys(Keys.ARROW_LEFT)
    joined = "\n".join(texts)
    assert "(dL/dt3)^T @ t2,  (3, 16) = (3, 32) @ (32, 16)" in joined  # dW = g^T x with shapes
    assert "shape (32, 16): mean" in joined  # large tensors are summarised
    # the boxes fit the picture: the graph's drawing is no wider than its box at the "fit" view
    browser.find_element(By.ID, "fit").click()
    box = browser.find_element(By.ID, "graph-box").rect
    nodes = browser.find_elements(By.CSS_SELECTOR, "#graph g.node")
    for n in nodes:
        r = n.rect
        assert box["x"] - 1 <= r["x"] and r["x"] + r["width"] <= box["x"] + box["width"] + 1
    # the buttons and the keys agree, whatever control has the focus
    body.send_keys(Keys.HOME)
    browser.find_element(By.ID, "next").click()
    assert browser.find_element(By.ID, "slider").get_attribute("value") == "1"
    follow = browser.find_element(By.ID, "follow")
    assert not follow.is_selected()  # "fit" turned following off
    follow.click()  # on again: the focus is now on the checkbox
    assert follow.is_selected()
    follow.send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "slider").get_attribute("value") == "2"
    browser.find_element(By.ID, "prev").click()
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-step") == "1"
    assert _requests(browser) == [path.as_uri()]
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
