"""`safemed models list|verify|add` and `safemed doctor` through cli.main, errors and exit codes."""

from __future__ import annotations

import json

from safemed_desktop.cli import main
from safemed_desktop.config import write_config_file

from .conftest import tiny_llama_metadata, tiny_llama_tensors, write_gguf

DEMO_ID = "smollm2-135m-instruct-q4_1"
DEMO_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PROD_ID = "safemed-r1-32b-q4_k_m"


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("safemed: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_models_list(safemed_home, capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows[DEMO_ID]["state"] == "present" and rows[DEMO_ID]["configured"]
    assert rows[PROD_ID]["state"] == "not imported"
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{DEMO_ID}  [present]" in out and "not clinically validated" in out
    assert f"{PROD_ID}  [not imported]" in out


def test_models_verify_all_rehashes(safemed_home, capsys):
    assert main(["models", "verify", "--json"]) == 0
    captured = capsys.readouterr()
    res = {r["id"]: r["status"] for r in json.loads(captured.out)["models"]}
    assert res == {DEMO_ID: "ok", PROD_ID: "not imported"}
    assert "100%" in captured.err  # the progress bar, on stderr
    # verify ignores the cache: a second run hashes again
    assert main(["models", "verify", DEMO_ID]) == 0
    captured = capsys.readouterr()
    assert f"{DEMO_ID}: ok" in captured.out and "100%" in captured.err


def test_models_verify_flipped_byte_exit_2(safemed_home, damaged_models, capsys):
    assert main(["models", "verify", str(damaged_models["flipped"])]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "refusing to run a file that is not the approved one" in line


def test_models_verify_truncated_exit_2(safemed_home, damaged_models, capsys):
    assert main(["models", "verify", str(damaged_models["truncated"])]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "truncated: tensor" in line and "but file has 49181216 bytes" in line


def test_models_add_not_gguf_exit_2(safemed_home, damaged_models, capsys):
    assert main(["models", "add", str(damaged_models["not_gguf"])]) == 2
    assert "not a GGUF model file" in one_error_line(capsys.readouterr().err)
    assert not (safemed_home / "site" / "models").exists()  # nothing written


def test_models_add_missing_exit_2(safemed_home, tmp_path, capsys):
    assert main(["models", "add", str(tmp_path / "absent.gguf")]) == 2
    assert "model file not found" in one_error_line(capsys.readouterr().err)


def test_models_add_then_list_and_verify(safemed_home, tmp_path, capsys):
    p = write_gguf(tmp_path / "Clinic-7B.Q4_K_M.gguf", tiny_llama_metadata(), tiny_llama_tensors())
    assert main(["models", "add", str(p), "--id", "clinic-7b", "--chat-format", "think-answer"]) == 0
    captured = capsys.readouterr()
    assert "approved clinic-7b" in captured.out and "100%" in captured.err
    assert (safemed_home / "site" / "models" / "clinic-7b.toml").is_file()
    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)["models"]}
    assert rows["clinic-7b"]["state"] == "present" and rows["clinic-7b"]["chat_format"] == "think-answer"
    assert main(["models", "verify", "clinic-7b"]) == 0


def test_unapproved_forbidden_exit_2(safemed_home, tmp_path, capsys, monkeypatch):
    p = write_gguf(tmp_path / "random.gguf", tiny_llama_metadata(), tiny_llama_tensors())
    assert main(["models", "verify", str(p)]) == 0
    assert "unapproved:random.gguf" in capsys.readouterr().out
    write_config_file(safemed_home / "site" / "site.toml", {"allow_unapproved_models": False})
    assert main(["models", "verify", str(p)]) == 2
    assert "site policy forbids unapproved models" in one_error_line(capsys.readouterr().err)
    monkeypatch.setenv("SAFEMED_MODEL", str(p))
    assert main(["doctor", "--json"]) == 2
    rep = json.loads(capsys.readouterr().out)
    assert rep["model"]["status"] == "unapproved (forbidden by site policy)" and not rep["healthy"]


def test_doctor_json_healthy(safemed_home, capsys):
    assert main(["doctor", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    # healthy = a usable model and a window that can start; the latter depends on this machine's Qt system
    # libraries (tests/gui/test_cli_conversation_and_doctor.py drives both outcomes of that check)
    assert rep["healthy"] is (rep["desktop"]["status"] != "missing_libraries")
    assert rep["model"]["status"] == "ok" and rep["model"]["identity"]["sha256"] == DEMO_SHA
    assert rep["model"]["gguf"]["n_layers"] == 30 and rep["model"]["gguf"]["architecture"] == "llama"
    assert rep["llama_cpp"]["python_package"] == "0.3.36"
    off = rep["offload"]
    assert off["n_layers"] == 30 and off["reason"]
    if not rep["gpu"]["supports_offload"]:
        assert off["n_gpu_layers"] == 0 and "no GPU backend" in off["reason"]
    assert rep["paths"]["data_dir"] == str(safemed_home / "data")
    assert rep["config"]["site_file"] == str(safemed_home / "site" / "site.toml")


def test_doctor_text_and_unusable_models(safemed_home, damaged_models, capsys, monkeypatch):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    healthy = "healthy: yes" if "plugin: missing_libraries" not in out else "healthy: no - the desktop window"
    assert healthy in out and "gpu layers" in out and str(safemed_home / "data") in out
    for model, status in ((str(damaged_models["flipped"]), "mismatch"),
                          (str(damaged_models["truncated"]), "corrupt"),
                          (str(damaged_models["dir"] / "gone.gguf"), "missing"),
                          (PROD_ID, "not imported")):
        monkeypatch.setenv("SAFEMED_MODEL", model)
        assert main(["doctor", "--json"]) == 2, model
        rep = json.loads(capsys.readouterr().out)
        assert rep["model"]["status"] == status and rep["offload"] is None and rep["model"]["error"]
    assert main(["doctor"]) == 2
    assert "healthy: no" in capsys.readouterr().out
