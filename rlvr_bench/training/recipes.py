"""Training recipes: typed, validated views of ``training/NAME.yaml``.

A recipe names the policy, the data, the reward, the algorithm and its
hyper-parameters. Every section is a frozen dataclass whose ``__post_init__``
raises a ValueError that says what to change; :func:`load_recipe` turns those
into one-line :class:`ConfigError` messages naming the file and the field.
Nothing here loads weights, so ``rlvr-bench train --dry-run`` can validate a
7B recipe on a laptop.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlvr_bench.assets import asset_dir
from rlvr_bench.errors import ConfigError, unknown_name
from rlvr_bench.records import read_yaml_mapping
from rlvr_bench.training.rewards import RewardChoice
from rlvr_bench.training.sft import SftSettings
from rlvr_bench.training.tiny_models import TinyPolicySpec
from rlvr_bench.training.trackers import REPORT_TO_PACKAGES

#: algorithm name -> (trl trainer, GRPO loss settings it implies unless the recipe sets them)
ALGORITHMS: dict[str, tuple[str, dict[str, Any]]] = {
    "grpo": ("grpo", {"loss_type": "grpo"}),
    "dr_grpo": ("grpo", {"loss_type": "dr_grpo", "scale_rewards": "none"}),
    "dapo": ("grpo", {"loss_type": "dapo", "epsilon_high": 0.28, "mask_truncated_completions": True}),
    "bnpo": ("grpo", {"loss_type": "bnpo"}),
    "gspo": ("grpo", {"loss_type": "grpo", "importance_sampling_level": "sequence"}),
    "cispo": ("grpo", {"loss_type": "cispo", "epsilon_high": 5.0}),
    "sapo": ("grpo", {"loss_type": "sapo"}),
    "rloo": ("rloo", {}),
}
SCALE_REWARDS = ("group", "batch", "none")
#: the prompt shown to the policy; ``{question}`` is replaced by the item's question
DEFAULT_PROMPT = "Question: {question}\nAnswer:\n"


@dataclass(frozen=True)
class InitialPolicy:
    """The recipe's ``policy:`` section: which model training starts from, ``tiny`` (built here from
    ``tiny``) or a hub id / checkpoint folder, and its dtype. (What ``--policy`` evaluates is a
    :class:`rlvr_bench.policies.PolicySpec`.)"""

    source: str = "tiny"
    tiny: TinyPolicySpec = field(default_factory=TinyPolicySpec)
    #: load the checkpoint in this dtype ("float32", "bfloat16", "float16")
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not self.source:
            raise ValueError("source must be 'tiny', a hub id (Qwen/Qwen2.5-7B) or a checkpoint folder")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be float32, bfloat16 or float16, got {self.dtype!r}")

    @property
    def is_tiny(self) -> bool:
        return self.source == "tiny"


@dataclass(frozen=True)
class ProceduralData:
    """Sizes of the procedural splits (problems per domain)."""

    seed: int = 0
    train_per_domain: int = 1000
    validation_per_domain: int = 50
    test_per_domain: int = 250

    def __post_init__(self) -> None:
        if min(self.train_per_domain, self.validation_per_domain, self.test_per_domain) < 1:
            raise ValueError("every split needs at least one problem per domain")


@dataclass(frozen=True)
class DataSpec:
    """Where the questions come from.

    ``source``: ``procedural`` (generated, see ``procedural``), a bundled task name or task
    folder (items with ``split``), or ``hf:ORG/NAME`` for a hub data set in the study's chat
    format (``query`` = [system, user] messages, ``label`` = reference answer).
    """

    source: str = "procedural"
    procedural: ProceduralData = field(default_factory=ProceduralData)
    #: "template": ``prompt_template`` as plain text (a base or tiny model); "chat": the question as a user
    #: message after ``system_prompt``, rendered with the policy's chat template (an instruct model)
    prompt_format: str = "template"
    prompt_template: str = DEFAULT_PROMPT
    #: the system message of ``prompt_format: chat`` (None: rlvr-bench's default answer-format instruction)
    system_prompt: str | None = None
    train_split: str = "train"
    eval_split: str = "test"
    #: evaluate on at most this many items of ``eval_split`` (None = all)
    max_eval_items: int | None = None

    def __post_init__(self) -> None:
        if self.prompt_format not in ("template", "chat"):
            raise ValueError(f"prompt_format must be 'template' or 'chat', got {self.prompt_format!r}")
        if "{question}" not in self.prompt_template:
            raise ValueError("prompt_template must contain '{question}'")
        if self.system_prompt is not None and self.prompt_format != "chat":
            raise ValueError("system_prompt is read with prompt_format: chat only")
        if self.max_eval_items is not None and self.max_eval_items < 1:
            raise ValueError(f"max_eval_items must be positive or null, got {self.max_eval_items}")

    @property
    def is_hub(self) -> bool:
        return self.source.startswith("hf:")


@dataclass(frozen=True)
class RewardSpec:
    """The training reward (``judge`` in ``mode``) and the held-out reference judge."""

    judge: str = "numeric"
    mode: str = "binary"
    #: judged on the same completions for the reward-hacking gap, and used for evaluation; None = ``judge``
    reference_judge: str | None = None

    def __post_init__(self) -> None:
        RewardChoice(self.judge, self.mode)  # raises on a bad mode

    @property
    def choice(self) -> RewardChoice:
        return RewardChoice(self.judge, self.mode)

    @property
    def evaluation_judge(self) -> str:
        return self.reference_judge or self.judge


@dataclass(frozen=True)
class AlgorithmSpec:
    """The RL algorithm; unset (null) fields take the algorithm's default (see :data:`ALGORITHMS`)."""

    name: str = "grpo"
    #: completions sampled per prompt (the group)
    num_generations: int = 8
    #: KL coefficient (0 = no reference model)
    beta: float = 0.0
    #: GRPO family only: "group", "batch" or "none"
    scale_rewards: str | None = None
    #: RLOO only: z-score the advantages over the batch
    normalize_advantages: bool = False
    loss_type: str | None = None
    epsilon: float = 0.2
    epsilon_high: float | None = None
    #: policy updates per generation batch (mu)
    num_iterations: int = 1
    mask_truncated_completions: bool | None = None
    importance_sampling_level: str | None = None

    def __post_init__(self) -> None:
        if self.name not in ALGORITHMS:
            close = difflib.get_close_matches(self.name, ALGORITHMS, n=2)
            hint = f"did you mean {', '.join(close)}?" if close else f"one of {', '.join(ALGORITHMS)}"
            raise ValueError(f"unknown algorithm {self.name!r}; {hint}")
        if self.num_generations < 2:
            raise ValueError(f"num_generations must be at least 2 (the group baseline needs siblings), "
                             f"got {self.num_generations}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")
        if self.scale_rewards is not None and self.scale_rewards not in SCALE_REWARDS:
            raise ValueError(f"scale_rewards must be one of {', '.join(SCALE_REWARDS)}, got {self.scale_rewards!r}")
        if self.trainer == "rloo" and (self.scale_rewards is not None or self.loss_type is not None):
            raise ValueError("rloo takes no scale_rewards or loss_type; use normalize_advantages for a batch z-score")
        if self.trainer == "grpo" and self.normalize_advantages:
            raise ValueError("normalize_advantages is an rloo setting; GRPO normalises with scale_rewards")
        if self.num_iterations < 1:
            raise ValueError(f"num_iterations must be at least 1, got {self.num_iterations}")

    @property
    def trainer(self) -> str:
        return ALGORITHMS[self.name][0]

    def trl_settings(self) -> dict[str, Any]:
        """The trl config fields this algorithm sets (explicit recipe values over algorithm defaults)."""
        settings: dict[str, Any] = {"num_generations": self.num_generations, "beta": self.beta,
                                    "epsilon": self.epsilon, "num_iterations": self.num_iterations}
        if self.trainer == "rloo":
            settings["normalize_advantages"] = self.normalize_advantages
            if self.epsilon_high is not None:
                settings["epsilon_high"] = self.epsilon_high
            return settings
        settings.update(ALGORITHMS[self.name][1])
        for name in ("scale_rewards", "loss_type", "epsilon_high", "mask_truncated_completions",
                     "importance_sampling_level"):
            value = getattr(self, name)
            if value is not None:
                settings[name] = value
        settings.setdefault("scale_rewards", "group")
        return settings


@dataclass(frozen=True)
class TrainSpec:
    """RL hyper-parameters. Batch sizes are global (summed over processes)."""

    steps: int = 100
    #: prompts per generation round; each gets ``num_generations`` completions
    prompts_per_generation: int = 16
    #: completions per optimizer step (default: the whole generation round = on-policy)
    completions_per_step: int | None = None
    #: completions per forward/backward on one device (default: the whole step on one device)
    per_device_batch_size: int | None = None
    learning_rate: float = 5e-5
    lr_scheduler: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    temperature: float = 1.0
    max_completion_length: int = 48
    #: save a checkpoint every this many steps (0 = only the final policy)
    save_steps: int = 0
    logging_steps: int = 1
    gradient_checkpointing: bool = False
    #: trl's ``report_to``: where the training logs also go (wandb, trackio, tensorboard); () = none
    report_to: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.steps < 1 or self.prompts_per_generation < 1:
            raise ValueError("steps and prompts_per_generation must be positive")
        unknown = [name for name in self.report_to if name not in REPORT_TO_PACKAGES]
        if unknown:
            raise ValueError(f"report_to: unknown tracker {unknown[0]!r}; one of {', '.join(REPORT_TO_PACKAGES)} "
                             "(or none)")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.temperature <= 0.0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.max_completion_length < 1 or self.save_steps < 0 or self.logging_steps < 1:
            raise ValueError("max_completion_length and logging_steps must be positive, save_steps >= 0")


@dataclass(frozen=True)
class EvalSpec:
    """Held-out evaluation before and after RL, judged by the reference judge."""

    enabled: bool = True
    #: "greedy" or "sample"
    decoding: str = "greedy"
    samples_per_question: int = 1
    temperature: float = 1.0
    max_new_tokens: int = 48
    batch_size: int = 128
    bootstrap_samples: int = 2000

    def __post_init__(self) -> None:
        if self.decoding not in ("greedy", "sample"):
            raise ValueError(f"decoding must be 'greedy' or 'sample', got {self.decoding!r}")
        if self.samples_per_question < 1 or self.bootstrap_samples < 100:
            raise ValueError("samples_per_question must be >= 1 and bootstrap_samples >= 100")


@dataclass(frozen=True)
class RuntimeSpec:
    """Where and how the run executes."""

    device: str = "cpu"
    #: torch CPU threads (0 = torch's default)
    threads: int = 2
    #: bfloat16 mixed precision (autocast). On CPU it pays only where the CPU has bfloat16 matrix
    #: instructions (avx512_bf16 / AMX); `python benchmarks/smol_grpo_step.py` measures it on this machine
    bf16: bool = False
    #: data-parallel processes the batch sizes are split over (accelerate launch)
    num_processes: int = 1
    use_vllm: bool = False
    #: "server" (trl vllm-serve) or "colocate"
    vllm_mode: str = "server"
    vllm_server_base_url: str | None = None
    #: accelerate config for ``accelerate launch`` (relative to training/ or absolute)
    accelerate_config: str | None = None

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.num_processes < 1 or self.threads < 0:
            raise ValueError("num_processes must be >= 1 and threads >= 0")
        if self.vllm_mode not in ("server", "colocate"):
            raise ValueError(f"vllm_mode must be 'server' or 'colocate', got {self.vllm_mode!r}")
        if self.use_vllm and self.device != "cuda":
            raise ValueError("use_vllm needs device: cuda")


#: the study's four reward kinds, the rows of `train-and-eval`'s Table 1 ("model" = the distilled student)
REWARD_KINDS = ("rule-binary", "rule-soft", "model-binary", "model-soft")
#: optional rows: the teacher (= reference judge) itself as the reward, the study's "72B" rows that the
#: distilled student's rows are compared with
TEACHER_KINDS = ("teacher-binary", "teacher-soft")
ALL_REWARD_KINDS = (*REWARD_KINDS, *TEACHER_KINDS)


@dataclass(frozen=True)
class MatrixSpec:
    """How `rlvr-bench train-and-eval` runs this recipe's matrix (its command-line options override these)."""

    #: RL steps per cell (None: ``train.steps``); a matrix trains several cells, so it may take fewer than one run
    steps: int | None = None
    #: extra procedural questions with exploration-like responses, judged by the teacher, added to the
    #: distillation data (the rule cells' exploration logs are the rest)
    distill_extra_questions: int = 0
    #: the distilled verifier: "minilm-classifier", "tiny" (generative) or a checkpoint
    student: str = "minilm-classifier"
    #: distil from a seeded sample of at most this many teacher verdicts (None: every one)
    distill_max_examples: int | None = None
    #: reward kinds, the rows of Table 1 (rule-/model-/teacher- x binary/soft)
    rewards: tuple[str, ...] = REWARD_KINDS
    #: an existing model-based judge for the model rows instead of a distilled student (None: distil)
    model_judge: str | None = None
    #: judges of the held-out evaluation, each with its own Table 1 and findings (empty: the reference judge
    #: alone); a rule judge beside a model judge shows a cell judged by its own reward family as such
    evaluation_judges: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(set(self.evaluation_judges)) != len(self.evaluation_judges):
            raise ValueError(f"evaluation_judges names a judge twice: {list(self.evaluation_judges)}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be positive, got {self.steps}")
        unknown = [kind for kind in self.rewards if kind not in ALL_REWARD_KINDS]
        if unknown or not self.rewards:
            raise ValueError(f"rewards: unknown kind {unknown[0]!r}; choose from {', '.join(ALL_REWARD_KINDS)}"
                             if unknown
                             else "rewards must name at least one reward kind")
        if self.distill_extra_questions < 0:
            raise ValueError(f"distill_extra_questions must be >= 0, got {self.distill_extra_questions}")


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str = ""
    seed: int = 0
    policy: InitialPolicy = field(default_factory=InitialPolicy)
    data: DataSpec = field(default_factory=DataSpec)
    #: supervised warm start before RL (tiny policies only); None = start RL from the policy as is
    sft: SftSettings | None = None
    reward: RewardSpec = field(default_factory=RewardSpec)
    algorithm: AlgorithmSpec = field(default_factory=AlgorithmSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    eval: EvalSpec = field(default_factory=EvalSpec)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    matrix: MatrixSpec = field(default_factory=MatrixSpec)
    #: the YAML file it came from
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.sft is not None and not self.policy.is_tiny:
            raise ValueError("sft warm start is only for tiny policies; remove 'sft' or set policy.source: tiny")
        if self.policy.is_tiny and self.data.source != "procedural" and self.sft is not None:
            raise ValueError("a tiny policy's sft warm start needs data.source: procedural (its demonstrations)")
        self.batch_layout()  # raises on indivisible batch sizes

    def batch_layout(self) -> dict[str, int]:
        """Global and per-device batch sizes as trl needs them; ValueError when they do not divide."""
        completions_per_generation = self.train.prompts_per_generation * self.algorithm.num_generations
        per_step = self.train.completions_per_step or completions_per_generation
        per_device = self.train.per_device_batch_size or per_step // self.runtime.num_processes
        per_micro_step = per_device * self.runtime.num_processes
        if per_micro_step == 0 or per_step % per_micro_step:
            raise ValueError(
                f"train.completions_per_step ({per_step}) must be a multiple of runtime.num_processes x "
                f"train.per_device_batch_size ({self.runtime.num_processes} x {per_device})")
        if completions_per_generation % per_step:
            raise ValueError(
                f"train.prompts_per_generation x algorithm.num_generations ({completions_per_generation}) must be a "
                f"multiple of train.completions_per_step ({per_step})")
        return {
            "completions_per_generation": completions_per_generation,
            "completions_per_step": per_step,
            "per_device_train_batch_size": per_device,
            "gradient_accumulation_steps": per_step // per_micro_step,
            "steps_per_generation": completions_per_generation // per_micro_step,
            "optimizer_steps_per_generation": completions_per_generation // per_step,
        }

    def with_overrides(self, reward: RewardChoice | None = None, algorithm: str | None = None,
                       steps: int | None = None, seed: int | None = None,
                       report_to: tuple[str, ...] | None = None) -> Recipe:
        """A copy with the CLI's overrides applied (and validated again)."""
        recipe = self
        if report_to is not None:
            recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, report_to=report_to))
        if reward is not None:
            recipe = dataclasses.replace(recipe, reward=dataclasses.replace(recipe.reward, judge=reward.judge,
                                                                            mode=reward.mode))
        if algorithm is not None:
            # algorithm-specific fields of the old algorithm may not apply to the new one: keep only the common ones
            old = recipe.algorithm
            recipe = dataclasses.replace(recipe, algorithm=AlgorithmSpec(
                name=algorithm, num_generations=old.num_generations, beta=old.beta, epsilon=old.epsilon,
                num_iterations=old.num_iterations))
        if steps is not None:
            recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, steps=steps))
        if seed is not None:
            recipe = dataclasses.replace(recipe, seed=seed)
        return recipe

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["source"] = str(self.source) if self.source else None
        return data


# ---------------------------------------------------------------- loading


def recipe_paths() -> dict[str, Path]:
    """Bundled recipe name -> YAML path (``training/*.yaml``)."""
    return {path.stem: path for path in sorted(asset_dir("training").glob("*.yaml"))}


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def _convert(value: Any, kind: Any, where: str) -> Any:
    """Check ``value`` against a field type (int, float, str, bool, X | None, tuple[X, ...], nested dataclass)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        inner = [option for option in options if option is not type(None)]
        return _convert(value, inner[0], where)
    if origin is tuple:  # tuple[X, ...] from a YAML list
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: must be a list, got {value!r}")
        element = typing.get_args(kind)[0]
        return tuple(_convert(entry, element, f"{where}[{i}]") for i, entry in enumerate(value))
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: must be a mapping of {_type_name(kind)} fields")
        return _build(kind, value, where)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is float and isinstance(value, str):
        try:  # YAML 1.1 reads 5e-7 (no dot) as a string
            return float(value)
        except ValueError:
            pass
    if kind in (int, float, str, bool) and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ConfigError(f"{where}: must be {_type_name(kind)}, got {value!r}")
    return value


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "source" or cls is not Recipe]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"{where}: unknown field '{key}'{hint}")
        kwargs[key] = _convert(value, hints[key], f"{where}.{key}")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def recipe_from_mapping(data: Mapping[str, Any], source: Path | None = None) -> Recipe:
    """Build and validate a recipe; errors name the file and the dotted field."""
    where = str(source) if source else "recipe"
    data = dict(data)
    data.setdefault("name", source.stem if source else "recipe")
    if "sft" in data and data["sft"] is None:
        data.pop("sft")
    recipe: Recipe = _build(Recipe, data, where)
    return dataclasses.replace(recipe, source=source)


def load_recipe(name_or_path: str) -> Recipe:
    """A bundled recipe by name (``mini``) or the user's own YAML file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
        path = candidate
    else:
        paths = recipe_paths()
        if name_or_path not in paths:
            raise unknown_name("recipe", name_or_path, paths)
        path = paths[name_or_path]
    data = read_yaml_mapping(path, "a recipe")
    recipe = recipe_from_mapping(data, path)
    source = Path(recipe.policy.source)
    if not recipe.policy.is_tiny and not source.is_absolute() and (path.parent / source).is_dir():
        # a checkpoint shipped beside the recipe (training/checkpoints/...): found wherever the package is
        recipe = dataclasses.replace(recipe, policy=dataclasses.replace(recipe.policy,
                                                                        source=str(path.parent / source)))
    return recipe
