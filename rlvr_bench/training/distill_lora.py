"""LoRA students of `rlvr-bench distill` and their trainer checkpoints: which layers get adapters, where a killed
run resumes from, and how a trained adapter becomes a checkpoint folder the hf judge loads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rlvr_bench.training.distill_students import DistillSettings


#: every linear layer of a llama-family block (SmolLM2, Qwen2.5, Llama): attention and MLP projections
LORA_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
#: where a LoRA student built here (tiny) keeps its base weights, inside trl's work folder
BUILT_BASE_DIR = "base"
#: where a LoRA student's adapter is saved inside its checkpoint folder (beside the merged model the judge loads)
ADAPTER_DIR = "adapter"


def lora_config(settings: DistillSettings, model: Any) -> Any:
    """peft's LoraConfig for ``settings.lora_rank`` (None without LoRA): every linear layer of the top
    ``lora_layers`` blocks, alpha = 2 x rank, no dropout (one pass over the data: nothing to regularise)."""
    if not settings.lora_rank:
        return None
    from peft import LoraConfig
    from transformers import AutoConfig

    config = model.config if not isinstance(model, str) else AutoConfig.from_pretrained(model)
    n_layers = int(config.num_hidden_layers)
    layers = None
    if settings.lora_layers is not None and settings.lora_layers < n_layers:
        layers = list(range(n_layers - settings.lora_layers, n_layers))
    return LoraConfig(r=settings.lora_rank, lora_alpha=2 * settings.lora_rank, lora_dropout=0.0,
                      target_modules=LORA_MODULES, layers_to_transform=layers, task_type="CAUSAL_LM")


def last_trainer_checkpoint(work_dir: Path) -> Path | None:
    """The newest complete ``checkpoint-N`` folder a (killed) earlier run left in ``work_dir``."""
    from transformers.trainer_utils import get_last_checkpoint

    if not work_dir.is_dir():
        return None
    found = get_last_checkpoint(str(work_dir))
    return Path(found) if found else None


def save_student(trainer: Any, tokenizer: Any, checkpoint: Path, lora: bool) -> None:
    """The trained student as a checkpoint folder the hf judge loads; a LoRA student also keeps its adapter
    (``checkpoint/adapter``), merged into the base weights for the judge."""
    if not lora:
        trainer.save_model(str(checkpoint))  # every process: DeepSpeed ZeRO-3 gathers the shards here
    elif trainer.is_world_process_zero():
        trainer.model.save_pretrained(str(checkpoint / ADAPTER_DIR))
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(checkpoint))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(checkpoint))
