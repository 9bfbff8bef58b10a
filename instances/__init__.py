"""Instances of uncertainty-aware LLM offloading: data model, generator, profiles, evaluator, files."""

from . import calibration as calibration
from . import starts as starts
from . import uncertainty as uncertainty
from .arrays import kernel_arrays as kernel_arrays
from .evaluate import Evaluation as Evaluation
from .evaluate import evaluate as evaluate
from .generator import PRESETS as PRESETS
from .generator import generate as generate
from .instance import FORMAT_VERSION as FORMAT_VERSION
from .instance import INTERFERENCE_MODELS as INTERFERENCE_MODELS
from .instance import Instance as Instance
from .instance import InstanceError as InstanceError
from .instance import check_tau as check_tau
from .io import load as load
from .law import Law as Law
from .io import save as save
from .profiles import EXAMPLE_TRACE as EXAMPLE_TRACE
from .profiles import Trace as Trace
from .profiles import accuracy_by_alpha as accuracy_by_alpha
from .profiles import auroc as auroc
from .profiles import NAMED_TRACES as NAMED_TRACES
from .profiles import load_trace as load_trace
from .result import Result as Result
from .result import Status as Status
from .result import relative_gap_pct as relative_gap_pct

__all__ = [
    "Evaluation", "evaluate", "PRESETS", "generate", "FORMAT_VERSION", "INTERFERENCE_MODELS",
    "Instance", "InstanceError", "Law", "check_tau", "load", "save", "EXAMPLE_TRACE", "Trace",
    "load_trace", "NAMED_TRACES", "auroc", "accuracy_by_alpha",
    "Result", "Status", "relative_gap_pct", "kernel_arrays", "starts", "uncertainty",
]
