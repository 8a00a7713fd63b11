"""Issue 10: a deeply nested JSON document is a one-line InputError, never a RecursionError."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from safemed_desktop.cli import main
from safemed_desktop.errors import InputError
from safemed_desktop.jsonio import MAX_JSON_DEPTH, decode_json_document


@pytest.mark.parametrize("raw", [b"[" * 100_000, b"[" * 100_000 + b"]" * 100_000,
                                 b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
                                 b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)])
def test_deep_documents_are_an_input_error(raw):
    with pytest.raises(InputError, match="nested too deeply"):
        decode_json_document(raw, "input file x.json")


def test_documents_at_the_depth_limit_are_read():
    depth = MAX_JSON_DEPTH
    assert decode_json_document(b"[" * depth + b"]" * depth, "x") is not None
    assert decode_json_document(b'{"a": [1, {"b": [2, 3]}], "c": "[[[["}', "x") == {"a": [1, {"b": [2, 3]}],
                                                                                     "c": "[[[["}


@pytest.mark.parametrize("option", ["--file", "--patient"])
def test_signals_with_a_deep_file_exits_2_with_one_line(safemed_home, tmp_path, capsys, option):
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    argv = ["signals", "--json", "--file", str(deep)]
    if option == "--patient":
        doc = tmp_path / "doc.json"
        doc.write_text('{"question": "q?", "answer": "a."}', encoding="utf-8")
        argv = ["signals", "--json", "--file", str(doc), "--patient", str(deep)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("safemed: error:") and "nested too deeply" in err[0]


def test_signals_subprocess_deep_file(safemed_home, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    env = dict(os.environ, SAFEMED_HOME=str(safemed_home))
    proc = subprocess.run([sys.executable, "-m", "safemed_desktop", "signals", "--file", str(deep)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "nested too deeply" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_read_user_file_refuses_a_file_over_its_limit_and_a_directory(tmp_path):
    from safemed_desktop.jsonio import read_user_file

    f = tmp_path / "q.txt"
    f.write_bytes(b"x" * 2049)
    assert read_user_file(f, "question file", 4096) == b"x" * 2049
    with pytest.raises(InputError, match=r"question file .*q\.txt is 2,049 bytes, more than the 2,048 it may be"):
        read_user_file(f, "question file", 2048)
    with pytest.raises(InputError, match="is a directory, not a file"):
        read_user_file(tmp_path, "patient file")
    with pytest.raises(InputError, match="question file not found"):
        read_user_file(tmp_path / "nope.txt", "question file", 10)


def test_an_oversized_question_file_is_refused_in_one_line(safemed_home, tmp_path, capsys):
    from safemed_desktop.cli import main
    from safemed_desktop.commands._common import MAX_TEXT_INPUT_BYTES

    f = tmp_path / "q.txt"
    f.write_bytes(b"a" * (MAX_TEXT_INPUT_BYTES + 1))
    assert main(["ask", "--file", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"is {MAX_TEXT_INPUT_BYTES + 1:,} bytes, more than the {MAX_TEXT_INPUT_BYTES:,} it may be" in err[0]


def test_loads_refuses_deep_json_as_a_value_error_and_reads_the_rest():
    from safemed_desktop.jsonio import JsonTooDeep, loads

    for text in ("[" * 100_000, "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)):
        with pytest.raises(JsonTooDeep) as info:
            loads(text)
        assert isinstance(info.value, ValueError)  # callers that catch invalid JSON catch this too
    assert loads('{"a": [1, {"b": null}]}') == {"a": [1, {"b": None}]}


def test_jsonl_objects_numbers_lines_and_refuses_bad_ones():
    from safemed_desktop.jsonio import jsonl_objects

    assert jsonl_objects('{"a": 1}\n\n  \n{"b": 2}\n', "f.jsonl") == [(1, {"a": 1}), (4, {"b": 2})]
    with pytest.raises(InputError, match=r"f.jsonl, line 2: not valid JSON"):
        jsonl_objects('{"a": 1}\nnot json\n', "f.jsonl")
    with pytest.raises(InputError, match=r"f.jsonl, line 1: nested too deeply"):
        jsonl_objects("[" * 100_000 + "\n", "f.jsonl")
    with pytest.raises(InputError, match=r"f.jsonl, line 1: each line must be a thing"):
        jsonl_objects("[1, 2]\n", "f.jsonl", "a thing")


@pytest.mark.parametrize("reader", ["mcq", "redteam", "judge", "study cases"])
def test_jsonl_readers_refuse_a_deeply_nested_line_in_one_line(reader, tmp_path):
    from safemed_desktop.evaluation import judge, mcq, redteam
    from safemed_desktop.validation import cases

    deep = "[" * 100_000 + "\n"
    read = {"mcq": lambda: mcq._jsonl(deep.encode(), "items.jsonl"),
            "redteam": lambda: redteam._jsonl_items(deep.encode(), "suite.jsonl"),
            "judge": lambda: judge.read_pairs(_write(tmp_path / "pairs.jsonl", deep)),
            "study cases": lambda: cases.parse_cases(('{"a":' * 100_000 + "1" + "}" * 100_000 + "\n").encode(),
                                                     "cases.jsonl")}[reader]
    with pytest.raises(InputError, match="line 1: nested too deeply"):
        read()


def _write(path, text):
    path.write_text(text)
    return path
