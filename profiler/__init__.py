"""Measured query traces: run language models on bAbI questions and write the trace that
``instances`` reads (docs/profiling.md).

Importing ``profiler`` does not import torch or transformers; the in-process runner and the tiny
models import them when used (install the extra: ``pip install -e '.[llm]'``).
"""

from .babi import Question as Question
from .babi import generate_questions as generate_questions
from .babi import load_babi as load_babi
from .babi import read_questions as read_questions
from .babi import write_questions as write_questions
from .recipe import analytic_workload_flop as analytic_workload_flop
from .recipe import build_prompt as build_prompt
from .recipe import contains_word as contains_word
from .recipe import merge_topk as merge_topk
from .run import RunSummary as RunSummary
from .run import run_trace as run_trace
from .runners import HFRunner as HFRunner
from .runners import ModelRecord as ModelRecord
from .runners import Runner as Runner
from .server import OpenAIRunner as OpenAIRunner
from .tiny import build_tiny_llama as build_tiny_llama
from .tiny import save_tiny_model as save_tiny_model
from .vocab import build_tokenizer as build_tokenizer
