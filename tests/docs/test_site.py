"""The documentation site: it builds in strict mode, and its pages render in a headless browser.

The build (``mkdocs build --strict``, from mkdocs.yml at the repository root) fails on a broken
link, a missing page, a bad anchor or an API reference that names nothing. The built pages are
then checked as files (every <img> points to an image of the site) and, where a Chromium is
installed, opened in it: the DOM it renders has the expected headings and images, and a
screenshot of the page is not blank. Skips where mkdocs, the Material theme or mkdocstrings is
missing (``pip install -e ".[docs]"``), and the browser part where no Chromium is found
(``apt-get install chromium``).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

for _module, _package in (("mkdocs", "mkdocs"), ("material", "mkdocs-material"),
                          ("mkdocstrings", "mkdocstrings[python]"),
                          ("mkdocstrings_handlers.python", "mkdocstrings[python]")):
    try:
        _found = importlib.util.find_spec(_module) is not None
    except ModuleNotFoundError:  # a missing parent package
        _found = False
    if not _found:
        pytest.skip(f"documentation site: {_package} is not installed", allow_module_level=True)

# pages of the site and what each must show
PAGES = {
    "index.html": {"h1": "chainrule", "h2": ["Ten lines", "Two commands for a fresh machine"],
                   "images": ["img/mlp_fashion_mnist_curves.png"]},
    "tutorials/cnn.html": {"h1": "2. Convolutional networks",
                           "h2": ["2.1 Convolution, kernels, stride, padding, pooling",
                                  "2.4 Batch normalization", "2.5 Residual nets"],
                           "images": ["img/lenet5_filters.png", "img/lenet5_curves.png",
                                      "img/vgg_bn_comparison.png"]},
    "api/autograd.html": {"h1": "chainrule.autograd",
                          "h2": ["Function", "backward", "grad", "no_grad", "gradcheck"],
                          "images": []},
}


class _Page(HTMLParser):
    """Headings (by level), <img> sources and element ids of an HTML document."""

    def __init__(self):
        super().__init__()
        self.headings: dict[str, list[str]] = {}
        self.images: list[str] = []
        self.ids: set[str] = set()
        self._in: str | None = None
        self._text: list[str] = []
        self._skip = 0  # depth inside a heading's permalink anchor

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag in ("h1", "h2", "h3"):
            self._in, self._text = tag, []
        elif tag == "a" and self._in and "headerlink" in (a.get("class") or ""):
            self._skip += 1
        elif tag == "img" and a.get("src"):
            self.images.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "a" and self._skip:
            self._skip -= 1
        elif tag == self._in:
            self.headings.setdefault(tag, []).append(" ".join("".join(self._text).split()))
            self._in = None

    def handle_data(self, data):
        if self._in and not self._skip:
            self._text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def _local_image(site: Path, page: str, src: str) -> Path:
    assert "://" not in src and not src.startswith("/"), \
        f"{page}: <img src={src!r}> is not a relative link into the site"
    return ((site / page).parent / src.split("#")[0].split("?")[0]).resolve()


@pytest.fixture(scope="module")
def site():
    """The site built from the repository's mkdocs.yml into a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="chainrule-site-") as tmp:
        out = Path(tmp) / "site"
        env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
        proc = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
             str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, (
            f"mkdocs build --strict failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
        yield out


def test_build_writes_every_page(site):
    for page in ["index.html", "getting-started.html", "RESULTS.html", "notes.html",
                 "tutorials/perceptron-and-mlp.html", "tutorials/cnn.html", "tutorials/rnn.html",
                 *[f"api/{m}.html" for m in ("chainrule", "nn", "functional", "optim",
                                             "autograd", "data", "datasets", "models",
                                             "train")]]:
        path = site / page
        assert path.is_file() and path.stat().st_size > 1000, f"the site has no page {page}"
    assert not list(site.rglob("*.py")), "a Python file of docs/ was copied into the site"


def test_every_image_of_every_page_exists(site):
    seen = 0
    for path in site.rglob("*.html"):
        page = path.relative_to(site).as_posix()
        for src in _parse(path.read_text(encoding="utf-8")).images:
            target = _local_image(site, page, src)
            assert target.is_file() and target.stat().st_size > 0, \
                f"{page}: <img src={src!r}> points to {target}, which is not in the site"
            seen += 1
    # the figures of the tutorials, the home page and the results page
    assert seen >= 12, f"expected the recipes' figures on the pages, found {seen} <img>"


def test_api_reference_is_generated_from_the_docstrings(site):
    expected = {
        "chainrule": ["chainrule.Tensor", "chainrule.Tensor.backward", "chainrule.randn",
                      "chainrule.no_grad", "chainrule.save", "chainrule.load"],
        "nn": ["chainrule.nn.Linear", "chainrule.nn.Conv2d", "chainrule.nn.BatchNorm2d",
               "chainrule.nn.LSTM", "chainrule.nn.GRU", "chainrule.nn.CrossEntropyLoss",
               "chainrule.nn.Module.parameters", "chainrule.nn.init",
               "chainrule.nn.utils.clip_grad_norm_"],
        "functional": ["chainrule.nn.functional.cross_entropy", "chainrule.nn.functional.conv2d"],
        "optim": ["chainrule.optim.SGD", "chainrule.optim.Adam",
                  "chainrule.optim.lr_scheduler.InverseTimeLR"],
        "autograd": ["chainrule.autograd.Function", "chainrule.autograd.backward",
                     "chainrule.autograd.gradcheck.gradcheck"],
        "data": ["chainrule.data.DataLoader", "chainrule.data.TensorDataset"],
        "datasets": ["chainrule.datasets.FashionMNIST", "chainrule.datasets.synthetic.make_rings"],
        "models": ["chainrule.models.TwoLayerPerceptron", "chainrule.models.explicit_gradients",
                   "chainrule.models.LeNet5", "chainrule.models.resnet20",
                   "chainrule.models.Seq2Seq", "chainrule.models.alexnet.alexnet"],
        "train": ["chainrule.train.fit", "chainrule.train.save_checkpoint"],
    }
    for name, ids in expected.items():
        html = (site / "api" / f"{name}.html").read_text(encoding="utf-8")
        missing = sorted(set(ids) - _parse(html).ids)
        assert not missing, f"api/{name}.html documents no {missing}"
    # docstring formulas come through as text, doctests as code rather than quotes
    nn_html = (site / "api" / "nn.html").read_text(encoding="utf-8")
    assert "c_t = f * c_{t-1} + i * g" in nn_html
    for page in (site / "api").glob("*.html"):
        assert "<blockquote>" not in page.read_text(encoding="utf-8"), \
            f"api/{page.name}: a docstring's doctest (>>>) rendered as a quote, not as code"


def test_links_to_the_repository_files_get_pages(site):
    """docs/notes.md links source and test files (../src/..., ../tests/...); the hook
    docs/hooks/code_pages.py gives each a page of the site, which the links point to."""
    notes = (ROOT / "docs" / "notes.md").read_text(encoding="utf-8")
    if "](../src/" not in notes:
        pytest.skip("docs/notes.md links no source file")
    html = (site / "notes.html").read_text(encoding="utf-8")
    links = sorted(set(re.findall(r'href="(_code/[^"#]+)', html)))
    assert links, "notes.html has no link to a page of a source file"
    for link in links:
        page = site / link
        assert page.is_file(), f"notes.html links {link}, which the site does not have"
    page = (site / links[0]).read_text(encoding="utf-8")
    assert "linenos" in page or "__codelineno" in page, f"{links[0]} shows no numbered code"


# ---- the browser -------------------------------------------------------------------------------

def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _start_chromium(binary, page_url, profile, screenshot):
    """One run of the browser on a page: it prints the DOM after the page loaded and ran its
    scripts, and writes a screenshot of the top of the page (its images included)."""
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--run-all-compositor-stages-before-draw",
           "--virtual-time-budget=5000", "--window-size=1280,3200",
           f"--screenshot={screenshot}", "--dump-dom", page_url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def rendered(site, tmp_path_factory):
    """page -> (exit status, dumped DOM, stderr, screenshot path), the pages rendered at once."""
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    work = tmp_path_factory.mktemp("chromium")
    runs = {}
    for k, page in enumerate(PAGES):
        shot = work / f"page{k}.png"
        runs[page] = (_start_chromium(binary, (site / page).as_uri(), work / f"profile{k}", shot),
                      shot)
    results = {}
    for page, (proc, shot) in runs.items():
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err = "timed out after 120 s\n" + err
        results[page] = (proc.returncode, out, err, shot)
    return results


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_in_chromium(site, rendered, page):
    want = PAGES[page]
    status, out, err, shot = rendered[page]
    assert status == 0 and "<html" in out, \
        f"chromium --dump-dom {page} failed (exit {status}): {err[-2000:]}"
    dom = _parse(out)
    assert dom.headings.get("h1", [None])[0] == want["h1"], \
        f"{page}: expected the title {want['h1']!r}, the rendered h1s are {dom.headings.get('h1')}"
    for heading in want["h2"]:
        assert heading in dom.headings.get("h2", []), \
            f"{page}: no section {heading!r} among {dom.headings.get('h2')}"
    rendered_images = {_local_image(site, page, src) for src in dom.images}
    for image in want["images"]:
        assert (site / image).resolve() in rendered_images, \
            f"{page}: the rendered page has no <img> of {image}; it has {dom.images}"
    for target in rendered_images:
        assert target.is_file(), f"{page}: an <img> points to {target}, which does not exist"

    # the screenshot must not be blank
    assert shot.is_file() and shot.stat().st_size > 0, \
        f"chromium --screenshot {page} wrote no PNG: {err[-2000:]}"
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)  # (H, W, 3 or 4) floats in [0, 1]
    assert pixels.shape[0] >= 1000 and pixels.shape[1] == 1280, \
        f"{page}: screenshot of shape {pixels.shape}"
    rgb = np.round(pixels[..., :3] * 255).astype(np.int64)
    colours = np.unique((rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    assert len(colours) > 50, f"{page}: the screenshot is blank ({len(colours)} colours)"
    # text, code and figures: a blank or unstyled-white page has (almost) no dark pixels
    dark = np.mean(pixels[..., :3].min(axis=-1) < 0.6)
    assert dark > 0.005, f"{page}: almost nothing is drawn ({dark:.2%} of pixels not white)"
