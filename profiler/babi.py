"""bAbI questions: a seeded generator of bAbI-style questions, the loader of the original data
set's text format, and a JSONL file of questions.

The generator simulates the world of the original bAbI task generators (Weston et al., 2015):
the actors John, Mary, Sandra and Daniel move between the bedroom, kitchen, garden, hallway,
bathroom and office, pick up, carry and drop the apple, the football and the milk, with the
original phrasings ("went back to the", "picked up the ... there", "discarded the ..."); tasks 15
and 16 use the original animals, names and colours. Every answer is one word.

A :class:`Question` carries its story as a tuple of sentences (the statements before the
question, as the original data set shows them, question lines left out) and its supporting facts
as 1-based positions in that tuple.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ACTORS = ("John", "Mary", "Sandra", "Daniel")
LOCATIONS = ("bedroom", "kitchen", "garden", "hallway", "bathroom", "office")
OBJECTS = ("apple", "football", "milk")
MOVE_VERBS = ("moved to", "went to", "journeyed to", "travelled to", "went back to")
GET_VERBS = ("got", "picked up", "grabbed", "took")
DROP_VERBS = ("dropped", "discarded", "put down", "left")
PRONOUNS = {"John": "he", "Daniel": "he", "Mary": "she", "Sandra": "she"}
COREF_STARTS = ("Then", "Afterwards", "Following that")
DIRECTIONS = ("north", "south", "east", "west")
# task 15: animal -> plural form
ANIMALS_15 = {"mouse": "mice", "sheep": "sheep", "wolf": "wolves", "cat": "cats"}
NAMES_15 = ("Gertrude", "Winona", "Emily", "Jessica")
# task 16
ANIMALS_16 = ("swan", "lion", "frog", "rhino")
COLOURS_16 = ("white", "gray", "yellow", "green")
NAMES_16 = ("Lily", "Bernhard", "Greg", "Julius", "Brian")

TASK_NAMES = {
    1: "single-supporting-fact",
    2: "two-supporting-facts",
    3: "three-supporting-facts",
    4: "two-arg-relations",
    6: "yes-no-questions",
    9: "simple-negation",
    11: "basic-coreference",
    12: "conjunction",
    15: "basic-deduction",
    16: "basic-induction",
}
"""The tasks :func:`generate_questions` writes (task id -> the original data set's name)."""

# Tasks whose answers are not one word (lists, paths, counts of several words): the profiling
# recipe leaves them out of the original data set by default.
MULTI_WORD_TASKS = (7, 8, 19)


@dataclass(frozen=True)
class Question:
    """One bAbI question.

    Attributes
    ----------
    id : str
        Unique within a questions file.
    task : int
        The bAbI task (1-20).
    story : tuple of str
        The statements before the question, in order, each one sentence.
    question : str
        The question, e.g. ``"Where is Mary?"``.
    answer : str
        The gold answer (one word for every generated task).
    supporting : tuple of int
        1-based positions in ``story`` of the facts that answer the question.
    """

    id: str
    task: int
    story: tuple[str, ...]
    question: str
    answer: str
    supporting: tuple[int, ...]

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id: must be a non-empty string, got {self.id!r}")
        if isinstance(self.task, bool) or not isinstance(self.task, int) or self.task < 1:
            raise ValueError(f"task: must be a positive integer, got {self.task!r}")
        if not isinstance(self.story, tuple) or not all(isinstance(s, str) for s in self.story):
            raise ValueError("story: must be a tuple of strings")
        for name in ("question", "answer"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name}: must be a non-empty string, got {value!r}")
        if not isinstance(self.supporting, tuple) or not all(
                isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= len(self.story)
                for s in self.supporting):
            raise ValueError(f"supporting: must be positions 1..{len(self.story)} of the story, "
                             f"got {self.supporting!r}")

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the question's content: task, story, question, answer and
        supporting facts (not the id)."""
        return content_digest(self.task, self.story, self.question, self.answer, self.supporting)

    @property
    def context(self) -> str:
        """The story as one line of text: the sentences joined by single spaces."""
        return " ".join(self.story)

    def to_json(self) -> dict:
        """A plain JSON object (lists for tuples)."""
        out = asdict(self)
        out["story"] = list(self.story)
        out["supporting"] = list(self.supporting)
        return out

    @classmethod
    def from_json(cls, record: dict) -> Question:
        """The inverse of :meth:`to_json`; raises ``ValueError`` naming a missing or bad field."""
        if not isinstance(record, dict):
            raise ValueError("a question must be a JSON object")
        for key in ("id", "task", "story", "question", "answer", "supporting"):
            if key not in record:
                raise ValueError(f"missing field {key!r}")
        for key in ("story", "supporting"):
            if not isinstance(record[key], list):
                raise ValueError(f"{key}: must be a list, got {record[key]!r}")
        return cls(id=record["id"], task=record["task"], story=tuple(record["story"]),
                   question=record["question"], answer=record["answer"],
                   supporting=tuple(record["supporting"]))


def content_digest(task, story, question, answer, supporting) -> str:
    """SHA-256 (hex) of a question's content, the part of its id that tells two questions at
    the same position of two files apart."""
    text = json.dumps([int(task), list(story), question, answer, [int(s) for s in supporting]],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def questions_digest(questions) -> str:
    """SHA-256 (hex) of a list of questions, ids and order included: equal for the same
    questions whatever file (or formatting) they were read from."""
    h = hashlib.sha256()
    for q in questions:
        h.update(json.dumps(q.to_json(), ensure_ascii=False, sort_keys=True,
                            separators=(",", ":")).encode("utf-8") + b"\n")
    return h.hexdigest()


ID_DIGEST_CHARS = 8
"""Hex characters of :func:`content_digest` at the end of every id the generator and the
loader give: ids depend on the question's content, not only on its position."""


def _content_id(prefix: str, task, story, question, answer, supporting) -> str:
    digest = content_digest(task, story, question, answer, supporting)
    return f"{prefix}-{digest[:ID_DIGEST_CHARS]}"


# --------------------------------------------------------------------------------------------
# The generator


class _Story:
    """A story under construction: its sentences and the questions asked so far."""

    def __init__(self, task: int, rng: np.random.Generator):
        self.task = task
        self.rng = rng
        self.lines: list[str] = []
        self.questions: list[tuple[str, str, tuple[int, ...], int]] = []

    def say(self, sentence: str) -> int:
        """Append a statement; returns its 1-based position."""
        self.lines.append(sentence)
        return len(self.lines)

    def ask(self, question: str, answer: str, supporting) -> None:
        self.questions.append((question, answer, tuple(sorted(set(supporting))),
                               len(self.lines)))

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]


class _World:
    """Actors, locations and objects of tasks 1, 2, 3, 6, 9, 11 and 12, with the line of the
    statement behind each fact."""

    def __init__(self, story: _Story):
        self.story = story
        self.where: dict[str, str] = {}        # actor -> location
        self.moved_at: dict[str, tuple[int, ...]] = {}  # actor -> lines establishing `where`
        self.holds: dict[str, str] = {}        # object -> actor
        self.held_at: dict[str, int] = {}      # object -> line of its last get or drop
        self.dropped_at: dict[str, tuple[str, tuple[int, ...]]] = {}  # object -> (loc, lines)
        # object -> [(location, lines that put it there)]
        self.history: dict[str, list[tuple[str, tuple[int, ...]]]] = {}

    def move(self, actor: str, sentence: str | None = None, to: str | None = None,
             extra: tuple[int, ...] = ()) -> None:
        s = self.story
        here = self.where.get(actor)
        to = to or s.pick([loc for loc in LOCATIONS if loc != here])
        line = s.say(sentence.format(to=to) if sentence else
                     f"{actor} {s.pick(MOVE_VERBS)} the {to}.")
        self.where[actor] = to
        self.moved_at[actor] = extra + (line,)
        for obj, holder in self.holds.items():
            if holder == actor:
                self.history.setdefault(obj, []).append((to, (self.held_at[obj], line)))

    def can_get(self, actor: str) -> list[str]:
        if actor not in self.where:
            return []
        return [o for o in OBJECTS if o not in self.holds
                and self.dropped_at.get(o, (self.where[actor],))[0] == self.where[actor]]

    def get(self, actor: str, obj: str) -> None:
        s = self.story
        line = s.say(f"{actor} {s.pick(GET_VERBS)} the {obj} there.")
        self.holds[obj] = actor
        self.held_at[obj] = line
        self.dropped_at.pop(obj, None)
        hist = self.history.setdefault(obj, [])
        if not hist or hist[-1][0] != self.where[actor]:
            hist.append((self.where[actor], self.moved_at[actor] + (line,)))

    def drop(self, obj: str) -> None:
        s = self.story
        actor = self.holds.pop(obj)
        line = s.say(f"{actor} {s.pick(DROP_VERBS)} the {obj}.")
        self.held_at[obj] = line
        self.dropped_at[obj] = (self.where[actor], self.moved_at[actor] + (line,))

    def object_location(self, obj: str) -> tuple[str, tuple[int, ...]] | None:
        if obj in self.holds:
            actor = self.holds[obj]
            return self.where[actor], self.moved_at[actor] + (self.held_at[obj],)
        return self.dropped_at.get(obj)

    def random_event(self, actors=ACTORS) -> None:
        """A move, or (a third of the time, when possible) a get or a drop."""
        s = self.story
        actor = s.pick(actors)
        gettable = self.can_get(actor)
        held = [o for o, a in self.holds.items() if a == actor]
        u = s.rng.random()
        if u < 0.2 and gettable:
            self.get(actor, s.pick(gettable))
        elif u < 0.3 and held:
            self.drop(s.pick(held))
        else:
            self.move(actor)


def _task_1(s: _Story) -> None:
    w = _World(s)
    for _ in range(5):
        for _ in range(2):
            w.move(s.pick(ACTORS))
        actor = s.pick(sorted(w.where))
        s.ask(f"Where is {actor}?", w.where[actor], w.moved_at[actor])


def _task_6(s: _Story) -> None:
    w = _World(s)
    for _ in range(5):
        for _ in range(2):
            w.move(s.pick(ACTORS))
        actor = s.pick(sorted(w.where))
        yes = s.rng.random() < 0.5
        place = w.where[actor] if yes else s.pick([p for p in LOCATIONS if p != w.where[actor]])
        s.ask(f"Is {actor} in the {place}?", "yes" if yes else "no", w.moved_at[actor])


def _task_2(s: _Story) -> None:
    w = _World(s)
    for actor in ACTORS:
        w.move(actor)
    asked: dict[str, tuple] = {}   # object -> the facts last asked about, never asked twice
    while len(s.questions) < 5 and len(s.lines) < 60:
        for _ in range(int(s.rng.integers(1, 4))):
            w.random_event()
        fresh = [o for o in OBJECTS
                 if w.object_location(o) is not None and asked.get(o) != w.object_location(o)]
        if fresh:
            obj = s.pick(fresh)
            place, lines = asked[obj] = w.object_location(obj)
            s.ask(f"Where is the {obj}?", place, lines)


def _task_3(s: _Story) -> None:
    w = _World(s)
    for actor in ACTORS:
        w.move(actor)
    asked: dict[str, int] = {}     # object -> length of its history when last asked
    while len(s.questions) < 5 and len(s.lines) < 80:
        for _ in range(int(s.rng.integers(2, 5))):
            w.random_event()
        ready = [o for o in OBJECTS
                 if len(w.history.get(o, ())) >= 2 and asked.get(o) != len(w.history[o])]
        if ready:
            obj = s.pick(ready)
            asked[obj] = len(w.history[obj])
            (before, lines_before), (now, lines_now) = w.history[obj][-2:]
            s.ask(f"Where was the {obj} before the {now}?", before, lines_before + lines_now)


def _task_9(s: _Story) -> None:
    w = _World(s)
    negated: dict[str, tuple[str, int]] = {}   # actor -> (location no longer in, line)
    for _ in range(5):
        for _ in range(2):
            actor = s.pick(ACTORS)
            if actor in w.where and s.rng.random() < 0.4:
                line = s.say(f"{actor} is no longer in the {w.where[actor]}.")
                negated[actor] = (w.where.pop(actor), line)
            elif s.rng.random() < 0.5:
                w.move(actor, sentence=f"{actor} is in the {{to}}.")
                negated.pop(actor, None)
            else:
                w.move(actor)
                negated.pop(actor, None)
        actor = s.pick(sorted(set(w.where) | set(negated)))
        if actor in negated:
            place, line = negated[actor]
            s.ask(f"Is {actor} in the {place}?", "no", (line,))
        else:
            yes = s.rng.random() < 0.5
            place = w.where[actor] if yes else s.pick(
                [p for p in LOCATIONS if p != w.where[actor]])
            s.ask(f"Is {actor} in the {place}?", "yes" if yes else "no", w.moved_at[actor])


def _task_11(s: _Story) -> None:
    w = _World(s)
    for _ in range(5):
        actor = s.pick(ACTORS)
        w.move(actor)
        first = w.moved_at[actor]
        start, pronoun = s.pick(COREF_STARTS), PRONOUNS[actor]
        w.move(actor, sentence=f"{start} {pronoun} {s.pick(MOVE_VERBS)} the {{to}}.",
               extra=first)
        s.ask(f"Where is {actor}?", w.where[actor], w.moved_at[actor])


def _task_12(s: _Story) -> None:
    w = _World(s)
    for _ in range(5):
        for _ in range(2):
            a, b = (str(x) for x in s.rng.choice(ACTORS, size=2, replace=False))
            to = s.pick(LOCATIONS)
            line = s.say(f"{a} and {b} {s.pick(MOVE_VERBS)} the {to}.")
            for actor in (a, b):
                w.where[actor], w.moved_at[actor] = to, (line,)
        actor = s.pick(sorted(w.where))
        s.ask(f"Where is {actor}?", w.where[actor], w.moved_at[actor])


def _task_4(s: _Story) -> None:
    a, b, c = (str(x) for x in s.rng.choice(LOCATIONS, size=3, replace=False))
    d = s.pick(DIRECTIONS)
    first = f"The {a} is {d} of the {b}."
    second = f"The {b} is {d} of the {c}."
    lines = [first, second] if s.rng.random() < 0.5 else [second, first]
    for line in lines:
        s.say(line)
    if s.rng.random() < 0.5:
        s.ask(f"What is {d} of the {b}?", a, (lines.index(first) + 1,))
    else:
        s.ask(f"What is the {b} {d} of?", c, (lines.index(second) + 1,))


def _task_15(s: _Story) -> None:
    animals = list(ANIMALS_15)
    fears = {a: s.pick([b for b in animals if b != a]) for a in animals}
    kinds = {name: s.pick(animals) for name in NAMES_15}
    facts = [("fear", a) for a in animals] + [("kind", n) for n in NAMES_15]
    order = s.rng.permutation(len(facts))
    line_of = {}
    for i in order:
        kind, who = facts[i]
        if kind == "fear":
            text = f"{ANIMALS_15[who].capitalize()} are afraid of {ANIMALS_15[fears[who]]}."
        else:
            text = f"{who} is a {kinds[who]}."
        line_of[facts[i]] = s.say(text)
    for name in s.rng.permutation(NAMES_15):
        name = str(name)
        s.ask(f"What is {name} afraid of?", fears[kinds[name]],
              (line_of[("kind", name)], line_of[("fear", kinds[name])]))


def _task_16(s: _Story) -> None:
    names = [str(n) for n in s.rng.permutation(NAMES_16)]
    known, target = names[:4], names[4]
    colour = {a: s.pick(COLOURS_16) for a in ANIMALS_16}
    kinds = {n: s.pick(ANIMALS_16) for n in known}
    facts = [(n, "kind") for n in known] + [(n, "colour") for n in known]
    order = s.rng.permutation(len(facts))
    line_of = {}
    for i in order:
        name, what = facts[i]
        text = f"{name} is a {kinds[name]}." if what == "kind" else \
            f"{name} is {colour[kinds[name]]}."
        line_of[facts[i]] = s.say(text)
    example = s.pick(known)
    target_line = s.say(f"{target} is a {kinds[example]}.")
    # the latest known member of the same species is the evidence
    same = [n for n in known if kinds[n] == kinds[example]]
    witness = max(same, key=lambda n: line_of[(n, "kind")])
    s.ask(f"What color is {target}?", colour[kinds[example]],
          (target_line, line_of[(witness, "kind")], line_of[(witness, "colour")]))


_TASKS = {1: _task_1, 2: _task_2, 3: _task_3, 4: _task_4, 6: _task_6, 9: _task_9,
          11: _task_11, 12: _task_12, 15: _task_15, 16: _task_16}


def generate_questions(tasks=(1, 2, 3, 6, 15, 16), per_task: int = 100,
                       seed: int = 0) -> list[Question]:
    """Generate bAbI-style questions, ``per_task`` of each task.

    Stories are generated one after another as the original generators do (several questions
    per story, each question seeing the statements before it) until ``per_task`` questions are
    collected. Each task draws from its own stream ``numpy.random.default_rng([seed, task])``,
    so adding a task leaves the others' questions unchanged.

    Parameters
    ----------
    tasks : sequence of int
        Task ids, each a key of :data:`TASK_NAMES`.
    per_task : int
        Questions per task (>= 1).
    seed : int
        Non-negative seed; the same seed gives the same questions.

    Returns
    -------
    list of Question
        Ordered by task, ids ``"qa{task}-{n:05d}-{digest}"`` (the first 8 hex characters of
        :func:`content_digest`).

    Raises
    ------
    ValueError
        For an unknown task, a non-positive ``per_task`` or a negative seed.
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks: give at least one task")
    for task in tasks:
        if task not in _TASKS:
            raise ValueError(f"tasks: no generator for task {task!r}; "
                             f"available: {sorted(_TASKS)}")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks: repeated task in {tasks}")
    if isinstance(per_task, bool) or not isinstance(per_task, (int, np.integer)) or per_task < 1:
        raise ValueError(f"per_task: must be a positive integer, got {per_task!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    out: list[Question] = []
    for task in tasks:
        rng = np.random.default_rng([int(seed), int(task)])
        made = 0
        while made < per_task:
            story = _Story(task, rng)
            _TASKS[task](story)
            for question, answer, supporting, n_lines in story.questions:
                if made == per_task:
                    break
                lines = tuple(story.lines[:n_lines])
                out.append(Question(
                    id=_content_id(f"qa{task}-{made:05d}", task, lines, question, answer,
                                   supporting),
                    task=int(task), story=lines, question=question, answer=answer,
                    supporting=supporting))
                made += 1
    return out


# --------------------------------------------------------------------------------------------
# The original data set's format

_TASK_FILE = re.compile(r"^qa(\d+)_")


def load_babi(path: str | Path, tasks=None, split: str | None = "test") -> list[Question]:
    """Read questions from the original bAbI text format.

    A file holds numbered lines; the numbering restarts at 1 for a new story. A statement line is
    ``"N sentence"``; a question line is ``"N question<TAB>answer<TAB>supporting line numbers"``.
    A question's story is the statements of its story before it.

    Parameters
    ----------
    path : str or Path
        One file (read whatever its task), or a folder: its files named like
        ``qa1_single-supporting-fact_test.txt``, filtered by ``tasks`` and ``split``.
    tasks : sequence of int, optional
        For a folder: the tasks to read (default: every task but 7, 8 and 19, whose answers are
        not one word).
    split : str or None
        For a folder: the files ending ``_{split}.txt`` (default ``"test"``); None for all.

    Returns
    -------
    list of Question
        Ids ``"qa{task}-{file stem}-{n}-{digest}"`` with n counting the file's questions from 0
        and the first 8 hex characters of :func:`content_digest`.

    Raises
    ------
    ValueError
        Naming the file and line of a malformed line, or a path that holds no bAbI file.
    """
    path = Path(path)
    if path.is_dir():
        wanted = set(tasks) if tasks is not None else None
        files = []
        for f in sorted(path.iterdir()):
            m = _TASK_FILE.match(f.name)
            if not m or f.suffix != ".txt":
                continue
            task = int(m.group(1))
            if wanted is not None and task not in wanted:
                continue
            if wanted is None and task in MULTI_WORD_TASKS:
                continue
            if split is not None and not f.stem.endswith(f"_{split}"):
                continue
            files.append((task, f))
        if not files:
            raise ValueError(f"path: no bAbI files (qa<N>_..._{split or '*'}.txt) in {str(path)!r}")
        files.sort(key=lambda tf: (tf[0], tf[1].name))
        out = []
        for task, f in files:
            out.extend(_load_file(f, task))
        return out
    if not path.is_file():
        raise ValueError(f"path: no such file or folder {str(path)!r}")
    m = _TASK_FILE.match(path.name)
    if not m:
        raise ValueError(f"path: cannot tell the task of {path.name!r}: name the file like "
                         "qa1_single-supporting-fact_test.txt")
    return _load_file(path, int(m.group(1)))


def _load_file(path: Path, task: int) -> list[Question]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"path: cannot read {str(path)!r}: {exc}") from None
    out: list[Question] = []
    statements: list[str] = []
    position: dict[int, int] = {}   # line number in the story -> position among its statements
    previous = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{path.name} line {number}"
        if not raw.strip():
            continue
        head, _, rest = raw.strip().partition(" ")
        if not head.isdigit():
            raise ValueError(f"{where}: must start with a line number, got {raw[:30]!r}")
        n = int(head)
        if n == 1:
            statements, position = [], {}
        elif n != previous + 1:
            raise ValueError(f"{where}: line number {n} follows {previous} "
                             "(numbers count up by one and restart at 1 for a new story)")
        previous = n
        if "\t" not in rest:
            if not rest.strip():
                raise ValueError(f"{where}: empty statement")
            statements.append(rest.strip())
            position[n] = len(statements)
            continue
        parts = rest.split("\t")
        if len(parts) < 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"{where}: a question line is 'N question<TAB>answer<TAB>facts'")
        question, answer = parts[0].strip(), parts[1].strip()
        facts = parts[2].split() if len(parts) > 2 else []
        supporting = []
        for fact in facts:
            if not fact.isdigit() or int(fact) not in position:
                raise ValueError(f"{where}: supporting fact {fact!r} is not an earlier "
                                 "statement of this story")
            supporting.append(position[int(fact)])
        story = tuple(statements)
        out.append(Question(
            id=_content_id(f"qa{task}-{path.stem}-{len(out)}", task, story, question, answer,
                           supporting),
            task=task, story=story, question=question, answer=answer,
            supporting=tuple(supporting)))
    if not out:
        raise ValueError(f"path: {path.name} holds no question lines")
    return out


# --------------------------------------------------------------------------------------------
# JSONL files


def write_questions(questions, path: str | Path) -> None:
    """Write questions as JSONL, one object per line (temporary file then rename).

    Raises
    ------
    ValueError
        For repeated ids.
    """
    questions = list(questions)
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"id: repeated id {dup!r}")
    path = Path(path)
    lines = "".join(json.dumps(q.to_json(), ensure_ascii=False) + "\n" for q in questions)
    atomic_write_text(path, lines)


def read_questions(path: str | Path) -> list[Question]:
    """Read a JSONL questions file written by :func:`write_questions`.

    Raises
    ------
    ValueError
        Naming the file, the line and the field of a malformed record, or a repeated id.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"questions: cannot read {str(path)!r}: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    out, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
        try:
            question = Question.from_json(record)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if question.id in seen:
            raise ValueError(f"{where}: repeated id {question.id!r}")
        seen.add(question.id)
        out.append(question)
    if not out:
        raise ValueError(f"questions: {str(path)!r} holds no questions")
    return out


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
