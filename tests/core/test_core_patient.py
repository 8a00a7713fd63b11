"""Patient context parsing: fields, ranges, invalid UTF-8 and JSON."""

from __future__ import annotations

import pytest

from safemed_desktop.errors import InputError
from safemed_desktop.records.patient import PatientContext


def test_full_record_round_trip(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"age": 72, "sex": "Female", "weight_kg": 61.5, "pregnant": false, "egfr": 28,'
                 ' "allergies": ["penicillin"], "medications": ["warfarin 5 mg daily", " "]}', encoding="utf-8")
    p = PatientContext.from_file(f)
    assert p.sex == "female" and p.egfr == 28 and p.medications == ("warfarin 5 mg daily",)
    assert "eGFR 28" in p.describe() and "allergies: penicillin" in p.describe()
    assert PatientContext.from_dict(p.to_dict()) == p


def test_invalid_utf8_names_offset(tmp_path):
    f = tmp_path / "bad.json"
    f.write_bytes(b'{"allergies": ["p\xe9nicilline"]}')
    with pytest.raises(InputError, match=r"not valid UTF-8 \(invalid byte at offset 17\)"):
        PatientContext.from_file(f)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"[1, 2]", "JSON object"),
        (b'{"age": "old"}', "age must be a number"),
        (b'{"age": 300}', "between"),
        (b'{"weight_kg": true}', "weight_kg must be a number"),
        (b'{"allergies": "penicillin"}', "list of strings"),
        (b'{"sex": "x"}', "sex must be one of"),
        (b'{"pregnant": "yes"}', "true or false"),
        (b'{"blood_type": "O"}', "unknown field"),
        (b'{"age": 3,', "not valid JSON"),
    ],
)
def test_bad_fields(raw, message):
    with pytest.raises(InputError, match=message):
        PatientContext.from_json_bytes(raw)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        PatientContext.from_file(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "raw, field, value",
    [
        (b'{"age": "seventy-three"}', "age", "seventy-three"),
        (b'{"age": 987}', "age", "987"),
        (b'{"weight_kg": 777.5}', "weight_kg", "777.5"),
        (b'{"egfr": 345}', "egfr", "345"),
        (b'{"sex": "hermaphroditic"}', "sex", "hermaphroditic"),
        (b'{"pregnant": "unknown-status"}', "pregnant", "unknown-status"),
    ],
)
def test_bad_field_errors_name_the_field_not_the_value(raw, field, value):
    with pytest.raises(InputError) as exc:
        PatientContext.from_json_bytes(raw)
    message = str(exc.value)
    assert f"patient {field}" in message
    assert value not in message
