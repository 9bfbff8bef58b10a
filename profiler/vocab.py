"""A word-level tokenizer over the bAbI vocabulary, for small models trained or built here.

:func:`build_tokenizer` returns a ``transformers.PreTrainedTokenizerFast`` (a ``tokenizers``
WordLevel model) with the special tokens a Llama model needs (``<s>`` prepended to every
encoding, ``</s>``, ``<unk>``, ``<pad>``). Text is split on spaces and tabs, and every newline
and punctuation mark is a token of its own, so the prompt's ``"Answer(only one word):"`` reads
``Answer ( only one word ) :`` and its newlines are tokens. Decoding joins tokens with spaces.
Importing this module does not import transformers; calling :func:`build_tokenizer` does.
"""

from __future__ import annotations

from . import babi

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                  "pad_token": "<pad>"}
"""The special tokens, ids 0-3 in this order: ``<unk>``, ``<s>``, ``</s>``, ``<pad>``."""

PUNCTUATION = ("\n", ".", ",", "?", "!", ":", ";", "(", ")", "'", '"', "-")

# Words of the prompt, of the generator's phrasings and of the original data set's tasks that
# share the generator's world (extra actors and places of the original files).
_WORDS = """
instruction answer with only one word no explanation context question
moved to went journeyed travelled back got picked up grabbed took the there dropped discarded
put down left where is in was before what of are afraid a color then afterwards following that
he she and longer yes maybe either or who whom gave received did give
north south east west it its his her
fred bill jeff julie park school cinema
""".split()

SPLIT_SPACES = r"[ \t\r]+"
ISOLATE = r"\n|[^\sA-Za-z0-9]"


def babi_vocabulary() -> list[str]:
    """Every word of the generator's world, the prompt and common original-data words, each in
    lower case and capitalised, plus the digits, the punctuation marks and the newline; sorted
    (special tokens not included)."""
    words = set(_WORDS)
    for group in (babi.ACTORS, babi.LOCATIONS, babi.OBJECTS, babi.DIRECTIONS, babi.NAMES_15,
                  babi.ANIMALS_16, babi.COLOURS_16, babi.NAMES_16, tuple(babi.ANIMALS_15),
                  tuple(babi.ANIMALS_15.values()), babi.COREF_STARTS, babi.MOVE_VERBS,
                  babi.GET_VERBS, babi.DROP_VERBS):
        for phrase in group:
            words.update(phrase.lower().split())
    out = {w for word in words for w in (word, word.capitalize())}
    out.update(str(d) for d in range(10))
    out.update(PUNCTUATION)
    return sorted(out)


def build_tokenizer(vocabulary=None):
    """A word-level ``PreTrainedTokenizerFast`` over ``vocabulary``.

    Parameters
    ----------
    vocabulary : sequence of str, optional
        The words (default :func:`babi_vocabulary`); ids follow the order given, after the four
        special tokens.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Unknown words map to ``<unk>``; every encoding starts with ``<s>``.

    Raises
    ------
    ValueError
        For a repeated or empty word, or a word holding whitespace.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = list(babi_vocabulary() if vocabulary is None else vocabulary)
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    ids: dict[str, int] = {s: i for i, s in enumerate(specials)}
    for word in words:
        if not isinstance(word, str) or not word or (
                word != "\n" and any(c.isspace() for c in word)):
            raise ValueError(f"vocabulary: bad word {word!r}")
        if word in ids:
            raise ValueError(f"vocabulary: repeated word {word!r}")
        ids[word] = len(ids)
    tok = Tokenizer(models.WordLevel(ids, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_SPACES), "removed"),
        pre_tokenizers.Split(Regex(ISOLATE), "isolated")])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", ids["<s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_TOKENS)
