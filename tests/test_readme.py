"""The README as a newcomer runs it: where its examples write."""

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# the profiler's section writes models, questions and traces of its own (docs/profiling.md)
OWN_SECTIONS = re.sub(r"\n## Measured traces from your own models\n.*?(?=\n## )", "\n", README,
                      flags=re.S)
KEPT_OUT_OF_GIT = ("examples/", "results/")


def _code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", OWN_SECTIONS, flags=re.S)


def test_readme_commands_write_under_examples_or_results():
    """Every file or folder a README command writes (--out, --plot) lies under examples/ or
    results/, both kept out of git, never in the repository root (they used to write inst.json,
    set/, big.json ... there)."""
    written = []
    for block in _code_blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            written += [words[k + 1] for k, word in enumerate(words[:-1])
                        if word in ("--out", "--plot")]
    assert len(written) >= 6, written
    assert all(path.startswith(KEPT_OUT_OF_GIT) for path in written), written


def test_readme_python_examples_save_under_examples():
    """The Python examples save and load their instance files under examples/."""
    paths = [match for block in _code_blocks("python")
             for match in re.findall(r"instances\.(?:save|load)\([^\"]*\"([^\"]+)\"", block)]
    assert len(paths) >= 3, paths
    assert all(path.startswith("examples/") for path in paths), paths


def test_examples_folder_exists_and_is_ignored():
    """examples/ exists in a fresh clone (so that saving there works) and git ignores what the
    examples write into it."""
    ignore = (ROOT / "examples" / ".gitignore").read_text(encoding="utf-8").split()
    assert "*" in ignore and "!.gitignore" in ignore
