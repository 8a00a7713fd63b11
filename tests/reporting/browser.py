"""Headless Chromium checks of a report page (offline: file:// only, no host name resolves)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

from safemed_desktop.reporting.html import chromium_args, find_chromium

# The harness: the report page with a script that, after load, records each image's decode state in the DOM
# (the report itself allows no script: its Content-Security-Policy is relaxed in this copy only).
PROBE = ("<script>window.addEventListener('load',function(){var s=[].map.call(document.images,function(i){"
         "return [i.complete, i.naturalWidth, i.naturalHeight];});var p=document.createElement('pre');"
         "p.id='probe';p.textContent=JSON.stringify(s);document.body.appendChild(p);});</script>")
WINDOW = (1200, 5400)


def _run(args: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


def check_in_chromium(index: Path, work: Path) -> Path:
    """Assert that every image of ``index`` loads and decodes in Chromium, and render it to a screenshot;
    returns the screenshot's path."""
    page = index.read_text()
    n_images = page.count("<img ")
    base = chromium_args(find_chromium(), str(work / "chromium-profile"))
    assert "--host-resolver-rules=MAP * ~NOTFOUND" in base  # no host name resolves: file:// only
    harness = work / "harness.html"
    relaxed = re.sub(r"<meta http-equiv='Content-Security-Policy'[^>]*>", "", page)
    harness.write_text(relaxed.replace("</body>", PROBE + "</body>"))
    dom = _run(base + ["--virtual-time-budget=10000", "--dump-dom", harness.as_uri()])
    assert dom.returncode == 0, dom.stderr[-2000:]
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert m, dom.stdout[-500:]
    states = json.loads(m.group(1).replace("&quot;", '"'))
    assert len(states) == n_images > 0
    assert all(complete and w > 0 and h > 0 for complete, w, h in states), states
    # the report itself (strict CSP, no script) renders to a screenshot
    shot = work / "report.png"
    res = _run(base + [f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars",
                       index.as_uri()])
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == WINDOW
    assert shot.stat().st_size > 50_000  # a rendered page with figures, not a blank one
    return shot
