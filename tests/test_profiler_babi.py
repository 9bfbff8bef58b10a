"""profiler.babi: the seeded bAbI generator, the original-format loader, the JSONL questions file
and the ``python -m profiler babi`` command (none of these need torch)."""

import json
import re
import subprocess
import sys

import pytest

from profiler import babi
from profiler.cli import main as cli_main
from profiler.recipe import build_prompt

ALL_TASKS = sorted(babi.TASK_NAMES)


@pytest.fixture(scope="module")
def generated():
    """60 generated questions of every task, seed 0."""
    return babi.generate_questions(tasks=ALL_TASKS, per_task=60, seed=0)


def test_same_seed_same_questions_and_tasks_independent():
    """The same seed gives the same questions; another seed others; adding a task leaves the
    questions of the other tasks unchanged."""
    a = babi.generate_questions(tasks=(1, 15), per_task=20, seed=3)
    b = babi.generate_questions(tasks=(1, 15), per_task=20, seed=3)
    assert a == b
    assert a != babi.generate_questions(tasks=(1, 15), per_task=20, seed=4)
    wider = babi.generate_questions(tasks=(1, 2, 15), per_task=20, seed=3)
    assert [q for q in wider if q.task != 2] == a
    assert [q.id.rsplit("-", 1)[0] for q in a[:2]] == ["qa1-00000", "qa1-00001"]


def test_ids_depend_on_the_content_not_only_the_position():
    """Two seeds give different questions at the same position, and so different ids (a trace
    resumed onto another file cannot take one for the other); the id ends with the first 8 hex
    characters of the content digest, which ignores the id itself."""
    a = babi.generate_questions(tasks=(1,), per_task=5, seed=3)
    b = babi.generate_questions(tasks=(1,), per_task=5, seed=4)
    assert not {q.id for q in a} & {q.id for q in b}
    for q in a:
        assert q.id == f"qa1-{a.index(q):05d}-{q.digest[:8]}"
        assert babi.Question(**{**q.__dict__, "id": "other"}).digest == q.digest
    changed = babi.Question(**{**a[0].__dict__, "answer": "office"})
    assert changed.digest != a[0].digest
    assert babi.questions_digest(a) != babi.questions_digest(b)
    assert babi.questions_digest(a) == babi.questions_digest(list(a))


def test_generated_questions_are_well_formed(generated):
    """Each task gives its count; ids are unique; answers are one lower-case word; supporting
    facts point into the story; the world's words are the original generators'."""
    assert len(generated) == 60 * len(ALL_TASKS)
    assert len({q.id for q in generated}) == len(generated)
    world = set(babi.LOCATIONS) | set(babi.OBJECTS) | set(babi.ACTORS)
    for q in generated:
        assert re.fullmatch(r"[a-z]+", q.answer), q
        assert q.supporting and all(1 <= s <= len(q.story) for s in q.supporting)
        assert q.question.endswith("?")
        if q.task in (1, 2, 3, 6, 9, 11, 12):
            words = set(re.findall(r"[A-Za-z]+", " ".join(q.story)))
            assert words & world
            assert not {w for w in words if w[0].isupper()} - set(babi.ACTORS) - {
                "Then", "Afterwards", "Following"}, q.story


def _last_location(story, actor):
    """Independent solver for tasks 1, 6, 11 and 12: the actor's last stated location and the
    position of that statement (pronouns resolve to the previous sentence's subject)."""
    found, subject = None, None
    for pos, sentence in enumerate(story, start=1):
        names = re.findall(r"\b(John|Mary|Sandra|Daniel)\b", sentence)
        if names:
            subject = names
        elif re.search(r"\b(he|she)\b", sentence):
            names = subject or []
        place = re.search(r"the (\w+)\.$", sentence)
        if actor in names and place and place.group(1) in babi.LOCATIONS:
            found = (place.group(1), pos)
    return found


def _objects(story):
    """Independent reader of tasks 2 and 3: each object's path (its locations in order, a
    repeated location counted once) from the moves, gets and drops of the story."""
    actors = "|".join(babi.ACTORS)
    where, holder, path = {}, {}, {}
    for sentence in story:
        move = re.fullmatch(rf"({actors}) (?:{'|'.join(babi.MOVE_VERBS)}) the (\w+)\.", sentence)
        get = re.fullmatch(rf"({actors}) (?:{'|'.join(babi.GET_VERBS)}) the (\w+) there\.",
                           sentence)
        drop = re.fullmatch(rf"({actors}) (?:{'|'.join(babi.DROP_VERBS)}) the (\w+)\.", sentence)
        if move:
            actor, place = move.groups()
            where[actor] = place
            for obj, who in holder.items():
                if who == actor and path[obj][-1] != place:
                    path[obj].append(place)
        elif get:
            actor, obj = get.groups()
            holder[obj] = actor
            trail = path.setdefault(obj, [])
            if not trail or trail[-1] != where[actor]:
                trail.append(where[actor])
        elif drop:
            holder.pop(drop.group(2))
        else:
            raise AssertionError(f"unread sentence {sentence!r}")
    return path


def _presence(story, actor):
    """Independent reader of task 9: (the actor's last statement as ("in" | "not in", place),
    its position), from moves, "is in the" and "is no longer in the" sentences."""
    found = None
    for pos, sentence in enumerate(story, start=1):
        m = re.fullmatch(rf"{actor} (is no longer in|is in|{'|'.join(babi.MOVE_VERBS)}) the "
                         r"(\w+)\.", sentence)
        if m:
            found = ("not in" if m.group(1) == "is no longer in" else "in", m.group(2)), pos
    return found


def test_answers_follow_from_the_story(generated):
    """An independent reading of each story gives the gold answer (and, where one fact decides,
    a supporting fact), for every task the generator offers: last location (tasks 1, 11, 12),
    yes/no (6), yes/no with negation (9), the object's location (2) and its previous one (3),
    directions (4), fear chains (15), colour induction (16)."""
    checked = {task: 0 for task in ALL_TASKS}
    for q in generated:
        if q.task in (1, 11, 12):
            actor = re.match(r"Where is (\w+)\?", q.question).group(1)
            place, pos = _last_location(q.story, actor)
            assert place == q.answer and pos in q.supporting, q
        elif q.task == 6:
            actor, place = re.match(r"Is (\w+) in the (\w+)\?", q.question).groups()
            where, pos = _last_location(q.story, actor)
            assert q.answer == ("yes" if where == place else "no") and pos in q.supporting, q
        elif q.task == 9:
            actor, place = re.fullmatch(r"Is (\w+) in the (\w+)\?", q.question).groups()
            (state, where), pos = _presence(q.story, actor)
            assert state == "in" or where == place, q          # a negation is asked as such
            assert q.answer == ("yes" if (state, where) == ("in", place) else "no"), q
            assert pos in q.supporting, q
        elif q.task == 2:
            obj = re.fullmatch(r"Where is the (\w+)\?", q.question).group(1)
            assert _objects(q.story)[obj][-1] == q.answer, q
        elif q.task == 3:
            obj, now = re.fullmatch(r"Where was the (\w+) before the (\w+)\?",
                                    q.question).groups()
            path = _objects(q.story)[obj]
            assert path[-1] == now and path[-2] == q.answer, (q, path)
        elif q.task == 4:
            facts = {}
            for pos, s in enumerate(q.story, start=1):
                a, d, b = re.fullmatch(r"The (\w+) is (\w+) of the (\w+)\.", s).groups()
                facts[(a, d, b)] = pos
            north_of = re.fullmatch(r"What is (\w+) of the (\w+)\?", q.question)
            if north_of:
                d, b = north_of.groups()
                (a, pos), = [(x, p) for (x, dd, y), p in facts.items() if (dd, y) == (d, b)]
            else:
                b, d = re.fullmatch(r"What is the (\w+) (\w+) of\?", q.question).groups()
                (a, pos), = [(y, p) for (x, dd, y), p in facts.items() if (x, dd) == (b, d)]
            assert a == q.answer and q.supporting == (pos,), q
        elif q.task == 15:
            name = re.match(r"What is (\w+) afraid of\?", q.question).group(1)
            kind = next(re.match(rf"{name} is a (\w+)\.", s).group(1) for s in q.story
                        if s.startswith(f"{name} is a"))
            plural = babi.ANIMALS_15[kind].capitalize()
            feared = next(re.match(rf"{plural} are afraid of (\w+)\.", s).group(1)
                          for s in q.story if s.startswith(f"{plural} are"))
            assert babi.ANIMALS_15[q.answer] == feared, q
        elif q.task == 16:
            name = re.match(r"What color is (\w+)\?", q.question).group(1)
            kind = re.match(rf"{name} is a (\w+)\.", q.story[-1]).group(1)
            other = next(re.match(r"(\w+) is a", s).group(1) for s in q.story[:-1]
                         if s.endswith(f" is a {kind}."))
            colours = [s.split()[-1].rstrip(".") for s in q.story if s.startswith(f"{other} is ")
                       and " a " not in s]
            assert colours == [q.answer], q
        checked[q.task] += 1
    assert sorted(babi._TASKS) == ALL_TASKS                # every task the generator offers
    assert checked == {task: 60 for task in ALL_TASKS}


def test_invalid_generator_arguments():
    """Unknown task, repeated task, a bad count or seed: ValueError naming the argument."""
    with pytest.raises(ValueError, match="tasks: no generator for task 7"):
        babi.generate_questions(tasks=(7,))
    with pytest.raises(ValueError, match="tasks: repeated"):
        babi.generate_questions(tasks=(1, 1))
    with pytest.raises(ValueError, match="per_task"):
        babi.generate_questions(per_task=0)
    with pytest.raises(ValueError, match="seed"):
        babi.generate_questions(seed=-1)


def test_prompt_is_the_recipe_text():
    """The prompt joins the story with spaces inside the fixed raw template."""
    q = babi.Question(id="x", task=1, story=("Mary moved to the bathroom.",
                                             "John went to the hallway."),
                      question="Where is Mary?", answer="bathroom", supporting=(1,))
    assert build_prompt(q) == (
        "Instruction: Answer with only one word. No explanation.\n"
        "Context: Mary moved to the bathroom. John went to the hallway.\n"
        "Question: Where is Mary?\nAnswer(only one word):")


def test_jsonl_roundtrip_and_errors(tmp_path, generated):
    """Questions survive write/read exactly; a malformed file names its line and field."""
    path = tmp_path / "q.jsonl"
    babi.write_questions(generated[:50], path)
    assert babi.read_questions(path) == generated[:50]
    lines = path.read_text().splitlines()
    bad = json.loads(lines[1])
    del bad["answer"]
    (tmp_path / "b1.jsonl").write_text(lines[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"b1.jsonl line 2: missing field 'answer'"):
        babi.read_questions(tmp_path / "b1.jsonl")
    (tmp_path / "b2.jsonl").write_text(lines[0] + "\n{oops\n")
    with pytest.raises(ValueError, match=r"b2.jsonl line 2: not valid JSON"):
        babi.read_questions(tmp_path / "b2.jsonl")
    (tmp_path / "b3.jsonl").write_text(lines[0] + "\n" + lines[0] + "\n")
    with pytest.raises(ValueError, match=r"line 2: repeated id 'qa1-00000-[0-9a-f]{8}'"):
        babi.read_questions(tmp_path / "b3.jsonl")
    bad = json.loads(lines[0])
    bad["supporting"] = [99]
    (tmp_path / "b4.jsonl").write_text(json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match=r"line 1: supporting"):
        babi.read_questions(tmp_path / "b4.jsonl")
    with pytest.raises(ValueError, match="repeated id"):
        babi.write_questions(generated[:2] * 2, tmp_path / "dup.jsonl")
    assert not (tmp_path / "dup.jsonl").exists()


ORIGINAL = (
    "1 Mary moved to the bathroom.\n"
    "2 John went to the hallway.\n"
    "3 Where is Mary? \tbathroom\t1\n"
    "4 Daniel went back to the hallway.\n"
    "5 Sandra moved to the garden.\n"
    "6 Where is Daniel? \thallway\t4\n"
    "1 Sandra travelled to the office.\n"
    "2 Where is Sandra? \toffice\t1\n"
)


def test_original_format_loader(tmp_path):
    """A hand-written file in the original format: stories restart at 1, question lines are left
    out of the story, supporting line numbers become positions in the story."""
    path = tmp_path / "qa1_single-supporting-fact_test.txt"
    path.write_text(ORIGINAL)
    qs = babi.load_babi(path)
    assert [q.id for q in qs] == [f"qa1-qa1_single-supporting-fact_test-{n}-{q.digest[:8]}"
                                  for n, q in enumerate(qs)]
    assert qs[0].story == ("Mary moved to the bathroom.", "John went to the hallway.")
    assert (qs[0].question, qs[0].answer, qs[0].supporting) == ("Where is Mary?", "bathroom", (1,))
    assert qs[1].story[2:] == ("Daniel went back to the hallway.", "Sandra moved to the garden.")
    assert qs[1].supporting == (3,)           # line 4 is the third statement
    assert qs[2].story == ("Sandra travelled to the office.",) and qs[2].task == 1


def test_original_format_folder_and_errors(tmp_path):
    """A folder: the test files of every one-word task (7, 8, 19 left out) or the chosen ones;
    malformed lines are named by file and line."""
    (tmp_path / "qa1_single-supporting-fact_test.txt").write_text(ORIGINAL)
    (tmp_path / "qa1_single-supporting-fact_train.txt").write_text(ORIGINAL)
    (tmp_path / "qa8_lists-sets_test.txt").write_text(
        "1 Mary got the milk there.\n2 What is Mary carrying?\tmilk,apple\t1\n")
    assert len(babi.load_babi(tmp_path)) == 3
    assert len(babi.load_babi(tmp_path, split=None)) == 6
    assert [q.answer for q in babi.load_babi(tmp_path, tasks=[8])] == ["milk,apple"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "qa2_x_test.txt").write_text("1 John went to the hallway.\n"
                                        "3 Where is John?\thallway\t1\n")
    with pytest.raises(ValueError, match=r"qa2_x_test.txt line 2: line number 3 follows 1"):
        babi.load_babi(bad)
    (bad / "qa2_x_test.txt").write_text("1 John went to the hallway.\n"
                                        "2 Where is John?\thallway\t2\n")
    with pytest.raises(ValueError, match=r"line 2: supporting fact '2' is not an earlier"):
        babi.load_babi(bad)
    (bad / "qa2_x_test.txt").write_text("John went to the hallway.\n")
    with pytest.raises(ValueError, match=r"line 1: must start with a line number"):
        babi.load_babi(bad)
    with pytest.raises(ValueError, match="no bAbI files"):
        babi.load_babi(tmp_path / "bad", tasks=[5])
    (tmp_path / "notes.txt").write_text(ORIGINAL)
    with pytest.raises(ValueError, match="cannot tell the task"):
        babi.load_babi(tmp_path / "notes.txt")


def test_cli_babi_generate_and_from(tmp_path, capsys):
    """``babi`` writes the generated questions (same as the API) or the original files'; bad
    input is one line on stderr and exit code 2, with no file written."""
    out = tmp_path / "q.jsonl"
    assert cli_main(["babi", "--tasks", "1", "16", "--per-task", "7", "--seed", "5",
                     "--out", str(out)]) == 0
    assert babi.read_questions(out) == babi.generate_questions((1, 16), 7, 5)
    assert "task 1: 7, task 16: 7" in capsys.readouterr().out
    (tmp_path / "qa1_a_test.txt").write_text(ORIGINAL)
    assert cli_main(["babi", "--from", str(tmp_path), "--out", str(tmp_path / "o.jsonl")]) == 0
    assert len(babi.read_questions(tmp_path / "o.jsonl")) == 3
    capsys.readouterr()
    assert cli_main(["babi", "--tasks", "5", "--out", str(tmp_path / "x.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--tasks: no generator for task 5" in err
    assert cli_main(["babi", "--from", str(tmp_path / "none"), "--out",
                     str(tmp_path / "x.jsonl")]) == 2
    assert "--from: no such file or folder" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def test_babi_command_needs_no_torch(tmp_path):
    """``python -m profiler babi`` runs without importing torch or transformers."""
    code = ("import sys, runpy; sys.argv = ['profiler', 'babi', '--per-task', '2', '--out', "
            f"{str(tmp_path / 'q.jsonl')!r}]\n"
            "try:\n    runpy.run_module('profiler', run_name='__main__')\n"
            "except SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
