"""Instance files (save/load) and the ``python -m instances`` command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import instances
from instances import InstanceError, evaluate, generate, load, save
from instances.cli import main
from instances.instance import ARRAY_FIELDS, SCALAR_FIELDS

DATA = Path(__file__).parent / "data"


# --- files -------------------------------------------------------------------------------------

@pytest.mark.parametrize("interference", ["full", "none"])
def test_save_load_round_trip_is_exact(tmp_path, interference):
    """Every float survives a save and a load bit for bit, with provenance and interference."""
    inst = generate(25, 3, seed=4, interference=interference, area_m=800.0)
    back = load(save(inst, tmp_path / "inst.json"))
    for name in ARRAY_FIELDS:
        assert getattr(back, name).tobytes() == getattr(inst, name).tobytes(), name
    for name in SCALAR_FIELDS:
        assert getattr(back, name) == getattr(inst, name)
    assert back.interference == interference
    assert back.provenance == inst.provenance


def test_shipped_hand_file_gives_the_hand_figures():
    """tests/data/hand_2x2_full.json: the 2x2 hand case, 68 ms with users on ES 0 and ES 1."""
    inst = load(DATA / "hand_2x2_full.json")
    assert evaluate(inst, [0, 1]).total_delay_ms == pytest.approx(68.0, rel=1e-12)


def test_save_leaves_no_temporary_file_and_replaces_atomically(tmp_path):
    """After a save the folder holds exactly the target file; a second save overwrites it."""
    target = tmp_path / "inst.json"
    save(generate(5, seed=1), target)
    save(generate(6, seed=2), target)
    assert [p.name for p in tmp_path.iterdir()] == ["inst.json"]
    assert load(target).n_users == 6


def test_failed_save_leaves_nothing_behind(tmp_path, monkeypatch):
    """If writing fails midway, neither the target nor a temporary file remains."""
    target = tmp_path / "inst.json"
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        save(generate(5, seed=1), target)
    monkeypatch.setattr(os, "replace", real_replace)
    assert list(tmp_path.iterdir()) == []


def _doc():
    return json.loads((DATA / "hand_2x2_full.json").read_text())


def _mutations():
    """(description, mutate(doc), expected message fragment)."""
    def drop(group, name):
        return lambda d: d[group].pop(name)

    def put(group, name, value):
        return lambda d: d[group].__setitem__(name, value)

    return [
        ("missing field", drop("users", "prompt_bits"), "users.prompt_bits: missing"),
        ("missing section", lambda d: d.pop("servers"), "servers: missing"),
        ("wrong shape", put("channel", "gain", [[1e-9, 1e-9]]), "gain: shape"),
        ("ragged", put("channel", "gain", [[1e-9], [1e-9, 2e-9]]), "channel.gain"),
        ("NaN", put("users", "prompt_bits", [float("nan"), 1.0]), "users.prompt_bits.*NaN"),
        ("negative capacity", put("servers", "server_flops", [-1.0, 1e14]), "server_flops.*positive"),
        ("string value", put("servers", "bandwidth_hz", ["1e6", 1e6]), "bandwidth_hz.*numbers"),
        ("bool value", put("scalars", "area_m", True), "area_m.*numbers"),
        ("unknown version", lambda d: d.__setitem__("version", 99), "version.*99"),
        ("wrong format", lambda d: d.__setitem__("format", "other"), "format"),
        ("bad interference", lambda d: d.__setitem__("interference", "x"), "interference"),
        ("missing provenance", lambda d: d.pop("provenance"), "provenance: missing"),
    ]


@pytest.mark.parametrize("what, mutate, message", _mutations(), ids=[m[0] for m in _mutations()])
def test_bad_file_is_rejected_naming_the_field(tmp_path, what, mutate, message):
    """Each kind of bad file raises one InstanceError whose message names the field."""
    doc = _doc()
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InstanceError, match=message):
        load(path)


def test_not_json_and_missing_file(tmp_path):
    """Truncated JSON and a missing file are clear InstanceErrors naming the file."""
    path = tmp_path / "cut.json"
    path.write_text((DATA / "hand_2x2_full.json").read_text()[:100])
    with pytest.raises(InstanceError, match="cut.json: not valid JSON"):
        load(path)
    with pytest.raises(InstanceError, match="cannot read"):
        load(tmp_path / "absent.json")


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_generate_one_and_show(tmp_path, capsys):
    """generate writes a loadable file equal to generate(); show prints the summary."""
    out = tmp_path / "inst.json"
    assert main(["generate", "--users", "12", "--servers", "3", "--seed", "5",
                 "--interference", "none", "--bandwidth-hz", "2e7", "--out", str(out)]) == 0
    inst = load(out)
    ref = generate(12, 3, seed=5, interference="none", bandwidth_hz=2e7)
    assert inst.gain.tobytes() == ref.gain.tobytes()
    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    for fragment in ("N = 12", "M = 3", "local delay", "alpha", "SLM", "LLM", "all-local",
                     "all-edge"):
        assert fragment in text


def test_cli_generate_count_writes_consecutive_seeds(tmp_path):
    """--count 3 --seed 7 writes three files with seeds 7, 8, 9."""
    out = tmp_path / "set"
    assert main(["generate", "--users", "5", "--count", "3", "--seed", "7", "--out", str(out)]) == 0
    seeds = sorted(load(p).provenance["seed"] for p in out.iterdir())
    assert seeds == [7, 8, 9]


def test_cli_trace_profile(tmp_path):
    """--profile with the shipped example trace draws its queries from the trace."""
    out = tmp_path / "t.json"
    assert main(["generate", "--users", "20", "--profile", str(instances.EXAMPLE_TRACE),
                 "--out", str(out)]) == 0
    assert load(out).provenance["profile"] == "trace:example_trace.jsonl"


@pytest.mark.parametrize("argv, message", [
    (["generate", "--users", "0", "--out", "x.json"], "n_users"),
    (["generate", "--users", "abc", "--out", "x.json"], "--users"),
    (["generate", "--users", "5", "--servers", "-1", "--out", "x.json"], "n_servers"),
    (["generate", "--users", "5", "--seed", "-3", "--out", "x.json"], "--seed"),
    (["generate", "--users", "5", "--area-m", "-5", "--out", "x.json"], "area_m"),
    (["generate", "--users", "5", "--interference", "half", "--out", "x.json"], "interference"),
    (["generate", "--users", "5", "--count", "0", "--out", "d"], "--count"),
    (["generate", "--users", "5", "--profile", "nope.jsonl", "--out", "x.json"], "nope.jsonl"),
    (["generate", "--users", "5", "--out", "no/such/dir/x.json"], "does not exist"),
    (["generate", "--users", "5"], "--out"),
    (["show", "absent.json"], "absent.json"),
    (["frobnicate"], "invalid choice"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    """Every bad argument: exit code 2, a one-line message on stderr, no traceback, no file."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        sys.exit(main(argv))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


def test_cli_bad_file_in_show(tmp_path, capsys):
    """show on a file with a NaN prints one line naming the field, exit 2."""
    doc = _doc()
    doc["users"]["alpha"] = [float("nan"), 0.95]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "users.alpha" in err and len(err.strip().splitlines()) == 1


def test_module_and_console_script_run(tmp_path):
    """Both real entry points in fresh processes: ``python -m instances`` and the installed
    console script ``offload-instances`` (from this interpreter's bin folder) print their
    --help, run ``show``, and report a bad argument as one line prefixed with the command as
    typed, exit code 2."""
    script = Path(sys.executable).parent / "offload-instances"
    assert script.exists(), f"console script not installed next to {sys.executable}"
    commands = {"python -m instances": [sys.executable, "-m", "instances"],
                "offload-instances": [str(script)]}
    for typed, command in commands.items():
        helped = subprocess.run(command + ["--help"], capture_output=True, text=True,
                                check=False)
        assert helped.returncode == 0, helped.stderr
        assert helped.stdout.startswith(f"usage: {typed} ")
        assert "generate" in helped.stdout and "show" in helped.stdout
        shown = subprocess.run(command + ["show", str(DATA / "paper_N6_M2_none_seed11.json")],
                               capture_output=True, text=True, check=False)
        assert shown.returncode == 0, shown.stderr
        assert "N = 6" in shown.stdout
        bad = subprocess.run(command + ["generate", "--users", "-4", "--out", "x.json"],
                             capture_output=True, text=True, check=False, cwd=tmp_path)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr
        assert bad.stderr.splitlines() == [
            f"{typed}: error: n_users: must be a positive integer, got -4"]
    assert list(tmp_path.iterdir()) == []
