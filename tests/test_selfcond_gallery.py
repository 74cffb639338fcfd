"""The cluster gallery (selfcond.gallery, visualize_clusters.py's index.html) in headless Chromium: the page loads
from disk with every image, typing into the filter box (real key events) shows exactly the matching files, a click
opens the lightbox, and a screenshot is written (kept in $SELFCOND_GALLERY_SCREENSHOT when set)."""

import os
import shutil

import numpy as np
import PIL.Image
import pytest

from headless_chromium import Browser
from selfcond.gallery import write_gallery

VISIBLE = ("Array.prototype.filter.call(document.querySelectorAll('.thumb'), function (b) {"
           " return getComputedStyle(b).display !== 'none'; }).map(function (b) { return b.dataset.file; })")


@pytest.fixture
def gallery(tmp_path):
    """Twelve clusters: {i}_gen.png for each, {i}_real.png for the even ones (grids of a cluster-specific colour)."""
    entries = []
    for i in range(12):
        for kind in ("gen", "real") if i % 2 == 0 else ("gen",):
            colour = np.array([20 * i, 255 - 20 * i, 120 if kind == "gen" else 240], np.uint8)
            image = np.broadcast_to(colour, (40, 32, 3)).copy()
            image[::8] = 0  # grid lines
            PIL.Image.fromarray(image).save(tmp_path / f"{i}_{kind}.png")
            entries.append({"file": f"{i}_{kind}.png", "caption": f"cluster {i}: {kind}"})
    return tmp_path, write_gallery(str(tmp_path), entries, "Clusters of a test <run>")


@pytest.mark.slow
def test_gallery_renders_and_the_filter_works_in_headless_chromium(gallery, tmp_path):
    folder, page_path = gallery
    with Browser("file://" + page_path) as page:
        assert page.evaluate("document.title") == "Clusters of a test <run>"
        every = page.evaluate(VISIBLE)
        assert len(every) == 18 and every[:3] == ["0_gen.png", "0_real.png", "1_gen.png"]
        assert page.evaluate("Array.prototype.every.call(document.querySelectorAll('.thumb img'), "
                             "function (i) { return i.complete && i.naturalWidth === 32; })")  # every file loaded
        assert page.evaluate("document.getElementById('count').textContent") == "18 of 18 images"

        page.click("#filter")
        page.type_text("^1")
        assert page.evaluate(VISIBLE) == ["1_gen.png", "10_gen.png", "10_real.png", "11_gen.png"]
        page.type_text("_")
        assert page.evaluate("document.getElementById('filter').value") == "^1_"
        assert page.evaluate(VISIBLE) == ["1_gen.png"]
        assert page.evaluate("document.getElementById('count').textContent") == "1 of 18 images"
        for _ in range(3):
            page.call("Input.dispatchKeyEvent", type="rawKeyDown", key="Backspace", code="Backspace",
                      windowsVirtualKeyCode=8)
            page.call("Input.dispatchKeyEvent", type="keyUp", key="Backspace", code="Backspace",
                      windowsVirtualKeyCode=8)
        assert page.evaluate("document.getElementById('filter').value") == ""
        page.type_text("_real")
        assert page.evaluate(VISIBLE) == [f"{i}_real.png" for i in range(0, 12, 2)]
        screenshot = page.screenshot(str(tmp_path / "gallery-filter.png"))
        page.type_text("[")  # an unfinished regular expression shows everything, without an error
        assert len(page.evaluate(VISIBLE)) == 18

        page.click(".thumb img")
        assert page.evaluate("document.getElementById('lightbox').className") == "open"
        assert page.evaluate("document.getElementById('lightbox-caption').textContent") == "0_gen.png: cluster 0: gen"
        page.click("#lightbox")
        assert page.evaluate("document.getElementById('lightbox').className") == ""

        page.navigate("file://" + page_path + "#%5E4_")  # a filter in the address: ^4_
        assert page.evaluate(VISIBLE) == ["4_gen.png", "4_real.png"]

    shot = np.asarray(PIL.Image.open(screenshot).convert("RGB"))
    assert shot.shape == (900, 1200, 3)
    # What the filter showed is what was drawn: the six real grids' colours are on the screenshot, no generated one's.
    def pixels(i, kind):
        return int((np.abs(shot.astype(int) - [20 * i, 255 - 20 * i, 120 if kind == "gen" else 240]).sum(-1) < 4).sum())
    assert all(pixels(i, "real") > 1000 for i in range(0, 12, 2))
    assert all(pixels(i, "gen") == 0 for i in range(12))
    if os.environ.get("SELFCOND_GALLERY_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["SELFCOND_GALLERY_SCREENSHOT"])
