"""What a forward pass of an LLM costs on given hardware: specs, the roofline, batching.

The ground floor of the project: it imports nothing of ours (``instances`` and ``online``
import it). docs/serving.md explains the model and where each preset number comes from.
"""

from .batching import BatchScheduler as BatchScheduler
from .batching import Job as Job
from .batching import Pass as Pass
from .batching import batch_makespan_s as batch_makespan_s
from .batching import finish as finish
from .cost import Cost as Cost
from .presets import DEFAULT_DEVICE as DEFAULT_DEVICE
from .presets import DEFAULT_EDGE as DEFAULT_EDGE
from .presets import DEFAULT_LLM as DEFAULT_LLM
from .presets import DEFAULT_SLM as DEFAULT_SLM
from .presets import HARDWARE as HARDWARE
from .presets import MODELS as MODELS
from .presets import get_hardware as get_hardware
from .presets import get_model as get_model
from .presets import load_hardware as load_hardware
from .presets import save_hardware as save_hardware
from .specs import DTYPES as DTYPES
from .specs import PRECISIONS as PRECISIONS
from .specs import HardwareSpec as HardwareSpec
from .specs import ModelSpec as ModelSpec
from .specs import model_spec as model_spec

__all__ = [
    "BatchScheduler", "Job", "Pass", "batch_makespan_s", "finish", "Cost", "DEFAULT_DEVICE",
    "DEFAULT_EDGE", "DEFAULT_LLM", "DEFAULT_SLM", "HARDWARE", "MODELS", "get_hardware",
    "get_model", "load_hardware", "save_hardware", "DTYPES", "PRECISIONS", "HardwareSpec",
    "ModelSpec", "model_spec",
]
