"""Screenshots of the step-by-step page for the README: python docs/make_screenshots.py

Needs Selenium (pip install selenium) and Chromium with its driver (apt-get install chromium chromium-driver).
Writes docs/page-backward.png (seed 003 at the backward step of out_h1, whose gradient is a sum of two terms),
docs/page-chain.png (the per-parameter view of w1) and docs/page-linear.png (a Linear node of a small MLP,
written as matrix products with shapes), each at a 1280-px wide window.
"""

from __future__ import annotations

import pathlib
import shutil
import sys
import tempfile

import numpy as np

import chainrule as cr
from chainrule.explain import example_trace

DOCS = pathlib.Path(__file__).resolve().parent


def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        opts.add_argument(arg)
    path = shutil.which("chromedriver")
    if path is None:
        sys.exit("make_screenshots: chromedriver not found (apt-get install chromium chromium-driver)")
    return webdriver.Chrome(service=Service(path), options=opts)


def go_to(d, heading_part: str) -> None:
    """Step forward with the arrow key until the shown step's heading contains ``heading_part``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    body = d.find_element(By.TAG_NAME, "body")
    for _ in range(int(d.find_element(By.ID, "slider").get_attribute("max"))):
        if heading_part in d.find_element(By.CSS_SELECTOR, "section.step:not([hidden]) h3").text:
            return
        body.send_keys(Keys.ARROW_RIGHT)
    sys.exit(f"make_screenshots: no step whose heading contains {heading_part!r}")


def main() -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    tmp = pathlib.Path(tempfile.mkdtemp())
    d = driver()
    try:
        seed = tmp / "seed003.html"
        example_trace("seed003").to_html(seed)
        d.get(seed.as_uri())
        go_to(d, "Sigmoid: out_h1")
        d.save_screenshot(str(DOCS / "page-backward.png"))
        Select(d.find_element(By.ID, "param")).select_by_value("w1")
        d.execute_script("document.getElementById('chain-view').scrollIntoView()")
        d.save_screenshot(str(DOCS / "page-chain.png"))

        cr.manual_seed(0)
        model = cr.nn.Sequential(cr.nn.Linear(8, 16), cr.nn.ReLU(), cr.nn.Linear(16, 3))
        loss = cr.nn.functional.cross_entropy(model(cr.randn(32, 8)), cr.tensor(np.arange(32) % 3))
        mlp = tmp / "mlp.html"
        cr.explain(loss).to_html(mlp)
        d.get(mlp.as_uri())
        go_to(d, "Backward 2 of")
        d.save_screenshot(str(DOCS / "page-linear.png"))
    finally:
        d.quit()
        shutil.rmtree(tmp, ignore_errors=True)
    print("wrote", ", ".join(f"docs/{n}" for n in ("page-backward.png", "page-chain.png", "page-linear.png")))


if __name__ == "__main__":
    main()
