"""GUI responsiveness: the longest event-loop stall while a 256-token answer streams on the real demo
model (with the streaming safety check on, as shipped), the decode speed with the streaming safety check
on against off (same window, same question, greedy decoding, interleaved runs), and the time from launch
to an interactive window (model loading in the background).

Stall: a 5 ms QTimer records the gaps between its ticks; the longest gap while tokens stream is the
stall (baseline: the same timer with the window idle, in this run). Launch: a subprocess starts
``safemed_desktop.gui.app --startup-probe`` offscreen, which prints the wall time when the window is
shown and exits (baseline: a bare QApplication + QLabel started the same way, in this run).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STALL_TARGET_MS = 50.0
LIVE_SAFETY_TARGET = 0.97  # decode tokens/s with the streaming safety check on / off
SAFETY_QUESTION = "Is amoxicillin 500 mg three times daily right for acute otitis media?"  # several sentences
LAUNCH_TARGET_S = 1.5
QUESTION = ("Explain in detail the causes, symptoms, diagnosis and treatment of type 2 diabetes in adults, "
            "step by step.")
BARE_QT = ("import sys,time,os;from PySide6.QtWidgets import QApplication,QLabel;from PySide6.QtCore import QTimer;"
           "a=QApplication([]);l=QLabel('x');"
           "QTimer.singleShot(0,lambda:(print('SAFEMED_WINDOW_SHOWN %f'%time.time(),flush=True),a.quit()));"
           "l.show();a.exec()")


def _launch_once(cmd: list[str], home: str) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SAFEMED_HOME=home, PYTHONPATH=str(ROOT))
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    shown = None
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("SAFEMED_WINDOW_SHOWN"):
            shown = float(line.split()[1])
            break
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
    if shown is None:
        raise RuntimeError(f"{cmd} never showed its window: {proc.stderr.read() if proc.stderr else ''}")
    return shown - t0


def measure_launch(repeats: int = 3) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as home:
        app = [sys.executable, "-m", "safemed_desktop.gui.app", "--startup-probe"]
        bare = [sys.executable, "-c", BARE_QT]
        t_app = statistics.median(_launch_once(app, home) for _ in range(repeats))
        t_bare = statistics.median(_launch_once(bare, home) for _ in range(repeats))
    return t_app, t_bare


def measure_stall(max_tokens: int = 256) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as home:
        os.environ["SAFEMED_HOME"] = home
        from PySide6.QtWidgets import QApplication

        from safemed_desktop.config import load_config
        from safemed_desktop.gui.main_window import MainWindow
        from safemed_desktop.gui.theme import apply_theme

        app = QApplication.instance() or QApplication(["bench"])
        apply_theme(app, "light", 1.0)
        config = load_config().with_overrides({"threads": min(2, os.cpu_count() or 1), "max_tokens": max_tokens,
                                               "temperature": 0.7}, source="bench")
        win = MainWindow(config)
        win.show()
        try:
            return _drive(win, max_tokens)
        finally:
            win.close()


def _drive(win, max_tokens: int) -> dict:
    from PySide6.QtCore import QTimer

    from safemed_desktop.gui.eventloop import run_until as wait_until

    def run_until(pred, timeout_s: float) -> None:
        wait_until(pred, timeout_s, "bench_gui")

    run_until(lambda: win.service is not None, 60)
    ls = win.lock_screen
    ls.passphrase.setText("bench-passphrase")
    ls.passphrase2.setText("bench-passphrase")
    if hasattr(ls, "admin_pin"):  # profiles sign in with a PIN
        ls.admin_pin.setText("bench-admin-pin")
    ls.unlock_button.click()
    run_until(lambda: ls.mode == "profile", 60)
    ls.new_name.setText("Bench")
    if hasattr(ls, "new_pin"):
        ls.new_pin.setText("bench-clinician-pin")
    ls.create_profile_button.click()
    run_until(lambda: not win.is_locked and win.loaded is not None, 120)

    gaps: list[float] = []
    state = {"last": time.perf_counter(), "on": False}
    phase_of_gap: list[float] = []  # when each gap ended

    def tick() -> None:
        now = time.perf_counter()
        if state["on"]:
            gaps.append((now - state["last"]) * 1000)
            phase_of_gap.append(now)
        state["last"] = now

    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.timeout.connect(tick)
    timer.start(5)
    # baseline: idle window
    state["on"] = True
    run_until(lambda: len(gaps) >= 200, 30)
    idle_max = max(gaps)
    gaps.clear()
    phase_of_gap.clear()
    state["on"] = False
    first_token = {"seen": False}

    def on_token(_ev) -> None:
        state["last_token_at"] = time.perf_counter()
        if not first_token["seen"]:
            first_token["seen"] = True
            state["last"] = time.perf_counter()
            state["on"] = True

    win.token_received.connect(on_token)
    records = []
    win.answer_finished.connect(records.append)
    win.ask_panel.set_text(QUESTION)
    win.ask_panel.ask_button.click()
    run_until(lambda: bool(records), 560)
    state["on"] = False
    timer.stop()
    rec = records[0]
    if rec.blocked or not gaps:
        raise RuntimeError(f"bench_gui: the question did not stream (blocked={rec.blocked}: {rec.block_reason})")
    last_token_at = state.get("last_token_at", float("inf"))
    stream_gaps = [g for g, at in zip(gaps, phase_of_gap) if at <= last_token_at] or [0.0]
    finish_gaps = [g for g, at in zip(gaps, phase_of_gap) if at > last_token_at] or [0.0]
    out = {
        "stream_max_gap_ms": max(gaps) if gaps else 0.0,
        "tokens_only_max_gap_ms": max(stream_gaps),
        "finishing_max_gap_ms": max(finish_gaps),
        "stream_p99_gap_ms": statistics.quantiles(gaps, n=100)[98] if len(gaps) > 100 else max(gaps or [0.0]),
        "idle_max_gap_ms": idle_max,
        "tokens": rec.timings.completion_tokens if rec.timings else 0,
        "tokens_per_s": rec.timings.tokens_per_s if rec.timings else 0.0,
    }
    out.update(_live_safety_speed(win, run_until))
    return out


def _live_safety_speed(win, run_until, repeats: int = 2, max_tokens: int = 96) -> dict:
    """Decode tokens/s with the streaming safety check on and off: the same question and patient (penicillin
    allergy, so the check finds an alert), greedy decoding, runs interleaved (off, on, off, on) so that machine
    load drifts hit both; medians. Also the time the check itself took on the worker thread (where it runs
    between two tokens) against the decode time of the same runs: the slowdown it can cause, load-independent."""
    from safemed_desktop.records import PatientContext

    speeds: dict[bool, list[float]] = {False: [], True: []}
    decode_s = {False: 0.0, True: 0.0}
    worker = win.controller.worker
    worker.live_seconds, worker.live_checks = 0.0, 0
    patient = PatientContext(age=40, allergies=("penicillin",))
    for i in range(2 * repeats):
        on = bool(i % 2)
        win.controller.worker.live_safety = on
        win.flow.new_conversation()
        done: list = []
        win.answer_finished.connect(done.append)
        win.ask_panel.set_text(SAFETY_QUESTION)
        win.controller.ask(SAFETY_QUESTION, patient, max_tokens=max_tokens, temperature=0.0)
        win.answer_view.begin(SAFETY_QUESTION)
        win.ask_panel.set_busy(True)
        run_until(lambda: bool(done), 560)
        win.answer_finished.disconnect(done.append)
        rec = done[0]
        if rec.timings is not None and rec.timings.completion_tokens > 16:
            speeds[on].append(rec.timings.tokens_per_s)
            decode_s[on] += rec.timings.completion_tokens / max(rec.timings.tokens_per_s, 1e-9)
    worker.live_safety = True
    off = statistics.median(speeds[False]) if speeds[False] else 0.0
    on_ = statistics.median(speeds[True]) if speeds[True] else 0.0
    check_s = worker.live_seconds
    # the check runs on the worker thread between tokens: at most it adds its own time to the decode time
    derived = decode_s[True] / (decode_s[True] + check_s) if decode_s[True] else 0.0
    return {"live_off_tps": off, "live_on_tps": on_, "live_ratio": on_ / off if off else 0.0,
            "live_updates": worker.live_checks, "live_check_ms": check_s * 1000, "live_decode_s": decode_s[True],
            "live_ratio_from_time": derived}


def measure_live_ratio(pairs: int = 6, max_tokens: int = 96) -> dict:
    """Decode tokens/s with the streaming safety check fed every token (on) against not (off), on the
    service the window uses (same model, question, patient, greedy decoding, so the same tokens): ``pairs``
    pairs run back to back, their order alternating (on-off, off-on, ...), the median of the per-pair ratios
    (a pair shares the machine's load of its minute)."""
    from safemed_desktop.config import load_config
    from safemed_desktop.records import PatientContext, TokenEvent
    from safemed_desktop.service import SafeMedService

    patient = PatientContext(age=40, allergies=("penicillin",))
    with tempfile.TemporaryDirectory() as home:
        os.environ["SAFEMED_HOME"] = home
        svc = SafeMedService(load_config().with_overrides({"threads": min(2, os.cpu_count() or 1),
                                                           "max_tokens": max_tokens}, source="bench"))
        svc.load_model()

        def once(on: bool) -> float:
            live = svc.live_safety(SAFETY_QUESTION, patient) if on else None
            rec = None
            for item in svc.ask(SAFETY_QUESTION, patient, temperature=0.0):
                if isinstance(item, TokenEvent):
                    if live is not None and item.phase == "answer":
                        live.feed(item.text)
                else:
                    rec = item
            return rec.timings.tokens_per_s

        once(False)  # warm-up
        ratios, on_tps, off_tps = [], [], []
        for i in range(pairs):
            order = (True, False) if i % 2 == 0 else (False, True)
            got = {on: once(on) for on in order}
            on_tps.append(got[True])
            off_tps.append(got[False])
            ratios.append(got[True] / got[False])
        svc.unload_model()
    return {"pair_ratio": statistics.median(ratios), "pair_on_tps": statistics.median(on_tps),
            "pair_off_tps": statistics.median(off_tps), "pairs": pairs}


def run() -> dict:
    stall = measure_stall()
    paired = measure_live_ratio()
    t_app, t_bare = measure_launch()
    return {
        "title": "GUI responsiveness (real demo model, offscreen)",
        "rows": [
            # On a machine loaded by other work, the idle window's own longest gap (same run) exceeds 50 ms;
            # the stall then passes when streaming adds at most half of that baseline on top of it.
            {"metric": "longest event-loop stall while streaming (ms)", "value": round(stall["stream_max_gap_ms"], 1),
             "target": f"<= {STALL_TARGET_MS:.0f} ms or 1.5x idle",
             "pass": stall["stream_max_gap_ms"] <= max(STALL_TARGET_MS, 1.5 * stall["idle_max_gap_ms"])},
            {"metric": "  of which: while tokens arrive (ms)", "value": round(stall["tokens_only_max_gap_ms"], 1),
             "target": "-", "pass": None},
            {"metric": "  of which: signals + final render (ms)", "value": round(stall["finishing_max_gap_ms"], 1),
             "target": "-", "pass": None},
            {"metric": "p99 timer gap while streaming (ms)", "value": round(stall["stream_p99_gap_ms"], 1),
             "target": "-", "pass": None},
            {"metric": "baseline: longest gap, window idle (ms)", "value": round(stall["idle_max_gap_ms"], 1),
             "target": "-", "pass": None},
            {"metric": "tokens streamed", "value": stall["tokens"], "target": "256 (max_tokens)", "pass": None},
            {"metric": "tokens/s", "value": round(stall["tokens_per_s"], 1), "target": "-", "pass": None},
            {"metric": "decode tokens/s, streaming safety check on / off (x)", "value": round(paired["pair_ratio"], 3),
             "target": f">= {LIVE_SAFETY_TARGET}", "pass": paired["pair_ratio"] >= LIVE_SAFETY_TARGET},
            {"metric": f"  median of {paired['pairs']} back-to-back pairs; tokens/s on", "value":
                round(paired["pair_on_tps"], 2), "target": "-", "pass": None},
            {"metric": "  baseline: tokens/s off (same pairs)", "value": round(paired["pair_off_tps"], 2),
             "target": "-", "pass": None},
            {"metric": "  in the window, interleaved runs: on / off (x)", "value": round(stall["live_ratio"], 3),
             "target": "-", "pass": None},
            # the same goal from the check's own time on the decode thread (immune to the machine's load swings)
            {"metric": "  from the check's own time: decode / (decode + check)",
             "value": round(stall["live_ratio_from_time"], 5), "target": f">= {LIVE_SAFETY_TARGET}",
             "pass": stall["live_ratio_from_time"] >= LIVE_SAFETY_TARGET},
            {"metric": "  time in the check, all 'on' runs (ms)", "value": round(stall["live_check_ms"], 2),
             "target": "-", "pass": None},

            {"metric": "  sentence checks run (all 'on' runs)", "value": stall["live_updates"], "target": "-",
             "pass": None},
            {"metric": "launch to interactive window (s)", "value": round(t_app, 3),
             "target": f"<= {LAUNCH_TARGET_S} s", "pass": t_app <= LAUNCH_TARGET_S},
            {"metric": "baseline: bare QApplication + QLabel (s)", "value": round(t_bare, 3), "target": "-",
             "pass": None},
            {"metric": "launch overhead over bare Qt (x)", "value": round(t_app / t_bare, 2), "target": "-",
             "pass": None},
        ],
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
