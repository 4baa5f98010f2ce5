"""`rlvr-bench distill`: a small verifier trained on a teacher judge's YES/NO verdicts, and how well it imitates it.

The study (Su et al. 2025) distilled a 7B generative verifier by supervised
fine-tuning on the verdicts Qwen2.5-72B-Instruct gave during RL exploration. This
module does the same for any teacher judge and any student:

1. teacher verdicts from run directories (and/or generated exploration-like data,
   :mod:`rlvr_bench.training.distill_data`); unscored teacher verdicts are dropped
   and counted;
2. a seeded split by *question* into training and held-out examples;
3. training (:mod:`rlvr_bench.training.distill_students`): SFT of a generative
   student on the verdict word's tokens, or a MiniLM classifier head (``--compare``
   trains students of other kinds on the same examples, judged beside it);
4. a judge preset ``<run>/judge.yaml`` pointing at the saved student, so every
   command can use it at once (``--judges <run>/judge.yaml``);
5. held-out evaluation through the agreement harness: the student judges the
   held-out responses through that preset's backend, and its verdicts are compared
   with the teacher's (teacher = gold: accuracy, Cohen's kappa, false-positive and
   false-negative rates) and with every other judge that judged the same responses,
   with clustered-bootstrap CIs (questions resampled).

Full scale (the study's setting: Qwen2.5-7B-Instruct on the 72B teacher's verdicts from
an RL run's exploration log, 128 examples per step, prompts up to 4,096 tokens) runs the
same command under accelerate with the bundled DeepSpeed config, on one node of 8 GPUs
(4 per device x 4 accumulation steps x 8 processes = 128)::

    accelerate launch --config_file training/accelerate/deepspeed_zero3.yaml --num_processes 8 \
        $(which rlvr-bench) distill --judgments runs/train-qwen2.5-7b-rloo-rm7b --teacher qwen72b \
        --student Qwen/Qwen2.5-7B-Instruct --grad-accum 4 --out runs/distill-rm7b

Every process prepares the same data (deterministic in the seed) and trains; process 0
alone evaluates the held-out questions and writes the run directory. (Not exercised on
this CPU-only machine; the single-process path is the one tested.)
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from rlvr_bench.errors import ConfigError, UserError
from rlvr_bench.judges.base import Judge, JudgeSpec
from rlvr_bench.judges.prompting import load_template
from rlvr_bench.judges.registry import build_judge, build_judges, judge
from rlvr_bench.judges.verdict_parsing import VerdictWords
from rlvr_bench.judging import judge_responses
from rlvr_bench.records import Judgment, Response
from rlvr_bench.rundir import RunWriter
from rlvr_bench.training.distill_data import (
    HELD_OUT_FILE,
    Example,
    JudgedData,
    Split,
    balanced,
    capped,
    exploration_like_data,
    load_data_files,
    load_judged_runs,
    merge,
    split_by_question,
    teacher_examples,
    write_held_out_triples,
)
from rlvr_bench.training.distill_evaluation import checkpoint_curve, held_out_agreement, student_vs_teacher
from rlvr_bench.training.distill_lora import BUILT_BASE_DIR
from rlvr_bench.training.distill_students import (
    CLASSIFIER_STUDENT,
    SMOLLM2_STUDENT,
    TINY_STUDENT,
    DistillSettings,
    train_classifier_student,
    train_generative_student,
    write_train_log,
)

RESULTS_SCHEMA = "rlvr-bench/distill/v1"
#: the issue's target for the student's agreement with its teacher on held-out questions
TARGET_KAPPA = 0.8
CHECKPOINT_DIR = "checkpoint"
CLASSIFIER_FILE = "classifier.npz"
PRESET_FILE = "judge.yaml"
TRAIN_LOG_FILE = "train_log.jsonl"

Say = Callable[[str], None]


@dataclass(frozen=True)
class DistillRequest:
    """Everything `rlvr-bench distill` needs; see the CLI help for each option."""

    teacher: str
    student: str
    out: Path
    #: run directories holding the teacher's verdicts
    inputs: tuple[Path, ...] = ()
    #: data files in any layout ``--data`` reads (human-labelled verifier sets: ``--teacher column:label``)
    data_files: tuple[Path, ...] = ()
    #: generate this many procedural questions with exploration-like responses, judged by the teacher
    generate_questions: int = 0
    responses_per_question: int = 4
    #: judges (preset names / files) that also judge the held-out responses, for comparison
    also_judges: tuple[str, ...] = ()
    held_out_fraction: float = 0.2
    seed: int = 0
    #: verifier prompt template of generative students (as in the hf presets)
    prompt: str = "verifier"
    #: the student judge's name (default "<teacher>-distilled-<student kind>")
    name: str | None = None
    #: also write the preset here (e.g. judges/NAME.yaml); its name is the file's stem
    preset_out: Path | None = None
    n_bootstrap: int = 1000
    settings: DistillSettings = field(default_factory=DistillSettings)
    #: student kinds also trained on the same training examples (with their default settings) and judged on the
    #: same held-out questions, for comparison (e.g. ("minilm-classifier",) beside a smollm2 student)
    compare_students: tuple[str, ...] = ()
    #: judge every saved LoRA checkpoint on at most this many held-out examples (the learning curve; 0: off)
    curve_examples: int = 0

    @property
    def student_kind(self) -> str:
        if self.student in (TINY_STUDENT, CLASSIFIER_STUDENT):
            return self.student
        return "checkpoint"

    def student_name(self, taken: Sequence[str]) -> str:
        short = self.student
        if self.student_kind == "checkpoint":
            path = Path(self.student.rstrip("/"))
            short = path.stem if path.suffix == ".gguf" else path.name
        name = self.name or f"{self.teacher}-distilled-{short}".replace(" ", "-")
        if name in taken and self.name is None:
            name += "-new"
        if name in taken:
            raise UserError(f"student name {name!r} is already a judge in the inputs; choose another with --name")
        return name


# ---------------------------------------------------------------- inputs


def _teacher_judge(name: str) -> Judge:
    return judge(name)


def gather_inputs(request: DistillRequest, say: Say) -> JudgedData:
    """The runs' verdicts plus (when asked) generated exploration-like data judged by the teacher."""
    if not request.inputs and not request.data_files and request.generate_questions <= 0:
        raise UserError("give --judgments RUN (runs holding the teacher's verdicts), --data FILE (labelled data) "
                        "and/or --generate N")
    parts: list[JudgedData] = []
    if request.inputs:
        parts.append(load_judged_runs(list(request.inputs)))
    if request.data_files:
        teacher = _teacher_judge(request.teacher)
        say(f"reading {len(request.data_files)} data file(s); teacher {teacher.name}")
        parts.append(load_data_files(list(request.data_files), teacher))
    if request.generate_questions > 0:
        teacher = _teacher_judge(request.teacher)
        say(f"generating {request.generate_questions} procedural questions x {request.responses_per_question} "
            f"exploration-like responses, judged by {teacher.name}")
        parts.append(exploration_like_data(teacher, request.generate_questions, request.responses_per_question,
                                           request.seed))
    return merge(parts)


def check_student(request: DistillRequest) -> None:
    """Fail early, in one line, when a checkpoint student cannot be loaded here."""
    if request.student_kind != "checkpoint":
        return
    from rlvr_bench.checkpoints import checkpoint_problem, is_named_or_gguf
    from rlvr_bench.judges.model_judge import checkpoint_reason

    student = request.student
    if is_named_or_gguf(student):  # smollm2, or a .gguf file converted once
        problem = checkpoint_problem(student)
        if problem is not None:
            raise ConfigError(f"--student {student}: {problem}")
        return
    path = Path(student).expanduser()
    if path.exists() or path.is_absolute() or student.startswith((".", "~")) or student.count("/") > 1:
        if not (path / "config.json").is_file():
            raise ConfigError(f"--student {student}: no config.json there; give tiny, minilm-classifier, a checkpoint "
                              f"folder saved with save_pretrained, or a hub id")
        return
    if checkpoint_reason(JudgeSpec(name="student", backend="hf"), student) is not None:
        raise ConfigError(f"--student {student}: not in the local Hugging Face cache and downloads are off "
                          f"(HF_HUB_OFFLINE=1); give a local checkpoint folder")


# ---------------------------------------------------------------- presets


def student_preset(request: DistillRequest, name: str, artefact: Path, description: str) -> dict[str, Any]:
    """The preset (YAML content) of the trained student; ``artefact`` is its checkpoint folder or weights file."""
    if request.student_kind == CLASSIFIER_STUDENT:
        params: dict[str, Any] = {"weights": str(artefact.resolve())}
        backend = "minilm-classifier"
    else:
        params = {"model": str(artefact.resolve()), "prompt": request.prompt}
        if request.student_kind == TINY_STUDENT:
            # a model this small runs fastest in float32 on one CPU thread
            params.update(device="cpu", dtype="float32", batch_size=64, threads=1)
        elif request.student == SMOLLM2_STUDENT:
            # as the smollm2 preset runs its base model: float32 on cpu (bfloat16 on cuda), batches of ~220-token
            # prompts; the verdict is read from the same multi-token sequences ("Y" + "ES") the student learnt
            params.update(device="auto", dtype="auto", batch_size=16, max_batch_tokens=8192, max_prompt_tokens=4096,
                          **({"threads": request.settings.threads} if request.settings.threads else {}))
        backend = "hf"
    return {"name": name, "backend": backend, "offline": True, "description": description, "params": params}


#: how every distilled preset's description begins (it is how --preset-out recognises one it may replace)
_DISTILLED_DESCRIPTION = "Verifier distilled by rlvr-bench distill"
_MAX_PRESET_BYTES = 1 << 20


def is_distilled_preset(path: Path) -> bool:
    """Whether ``path`` is a preset of a distilled student :func:`write_preset` wrote (``--preset-out`` replaces it)."""
    try:
        if path.stat().st_size > _MAX_PRESET_BYTES:
            return False
        preset = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(preset, dict) and str(preset.get("description", "")).startswith(_DISTILLED_DESCRIPTION)


def write_preset(preset: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(preset, sort_keys=False, width=110), encoding="utf-8")
    return path


def _spec(preset: dict[str, Any]) -> JudgeSpec:
    return JudgeSpec(name=preset["name"], backend=preset["backend"], description=preset["description"],
                     params=preset["params"])


# ---------------------------------------------------------------- evaluation


# ---------------------------------------------------------------- the run


def _rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def _records(split: Split, data: JudgedData, extra: list[Judgment]) -> tuple[list[Any], list[Response],
                                                                              list[Judgment]]:
    """Items, responses (tagged with their side of the split) and judgments of every example, for the run."""
    side = {e.response.id: "train" for e in split.train} | {e.response.id: "held_out" for e in split.held_out}
    examples = {e.response.id: e for e in (*split.train, *split.held_out)}
    responses = [replace(examples[rid].response, metadata={**examples[rid].response.metadata, "distill_split": s})
                 for rid, s in side.items()]
    item_ids = {r.item_id for r in responses}
    items = [item for item in data.items if item.id in item_ids]
    judgments = [j for j in data.judgments if j.response_id in side] + extra
    return items, responses, judgments


def _train_student(request: DistillRequest, train: Sequence[Example], folder: Path,
                   say: Say) -> tuple[Path, dict[str, Any]]:
    """Train ``request.student`` into ``folder`` (its checkpoint folder or classifier weights, and the train log);
    returns (artefact, training summary)."""
    settings = request.settings
    if request.student_kind == CLASSIFIER_STUDENT:
        artefact = folder / CLASSIFIER_FILE
        training = train_classifier_student(train, settings, artefact, request.seed, say)
    else:
        artefact = folder / CHECKPOINT_DIR
        work = _work_folder(request)
        try:
            training = train_generative_student(request.student, train, load_template(request.prompt), VerdictWords(),
                                                settings, work / CHECKPOINT_DIR, work / "trainer", request.seed, say)
            shutil.move(str(work / CHECKPOINT_DIR), str(artefact))
        except BaseException:
            if not settings.save_steps:  # nothing to resume from
                shutil.rmtree(work, ignore_errors=True)
            raise
    write_train_log(folder / TRAIN_LOG_FILE, training.pop("log_history", []))
    return artefact, training


def _learning_curve(request: DistillRequest, name: str, held_out: Sequence[Example], training: dict[str, Any],
                    say: Say) -> list[dict[str, Any]]:
    """The saved checkpoints judged on held-out examples (``curve_examples``); then trl's work folder goes.

    The work folder is removed only once the curve is done: if anything here fails, a rerun with the same
    ``--out`` resumes from its last checkpoint instead of training again."""
    work = _work_folder(request)
    curve: list[dict[str, Any]] = []
    if request.curve_examples > 0 and request.settings.lora_rank:
        built_base = work / "trainer" / BUILT_BASE_DIR
        base = str(built_base) if built_base.is_dir() else request.student
        curve = checkpoint_curve(base, lambda folder: student_preset(request, name, folder, ""),
                                 work / "trainer", held_out, request.curve_examples,
                                 int(training.get("examples_per_step", 1)), request.seed, say)
    shutil.rmtree(work, ignore_errors=True)
    return curve


def _work_folder(request: DistillRequest) -> Path:
    """trl's work folder, beside the run: accelerate processes must agree on where trl writes."""
    return request.out.with_name(f".{request.out.name}.distill-work")


#: student kinds ``compare_students`` accepts (trained on process 0 alone: no multi-process checkpoint students)
COMPARABLE_STUDENTS = (CLASSIFIER_STUDENT, TINY_STUDENT)
COMPARE_DIR = "compare"


@dataclass(frozen=True)
class ComparedStudent:
    """A student of another kind trained on the same examples, with its preset pointing at the staged files."""

    kind: str
    request: DistillRequest
    preset: dict[str, Any]
    training: dict[str, Any]

    def write_final_preset(self, main: DistillRequest, folder: Path, headline: dict[str, Any]) -> None:
        """``compare/<kind>/judge.yaml``, pointing at where the run's files will be once committed."""
        kappa = headline["cohen_kappa"]["estimate"]
        description = (f"{_DISTILLED_DESCRIPTION} from {main.teacher}'s verdicts into {self.kind}, for comparison; "
                       f"held-out Cohen's kappa vs the teacher {'undefined' if kappa is None else f'{kappa:.3f}'} "
                       f"on {headline['n_questions']} questions")
        artefact = Path(self.preset["params"].get("weights") or self.preset["params"]["model"]).name
        final = main.out.resolve() / COMPARE_DIR / self.kind / artefact
        write_preset(student_preset(self.request, self.preset["name"], final, description),
                     folder / COMPARE_DIR / self.kind / PRESET_FILE)


def _train_comparison(kind: str, used: Sequence[Example], request: DistillRequest, folder: Path,
                      taken: Sequence[str], say: Say) -> ComparedStudent:
    """Train a ``kind`` student with its default settings on the same (capped) training examples."""
    from rlvr_bench.training.distill_students import default_settings

    settings = default_settings(kind)
    sub = replace(request, student=kind, settings=settings, name=None, preset_out=None, compare_students=(),
                  out=request.out.with_name(f"{request.out.name}-compare-{kind}"))
    rows = balanced(used, request.seed) if settings.balance == "oversample" else list(used)
    say(f"comparison student {kind}: {len(rows)} rows (the same training questions)")
    target = folder / COMPARE_DIR / kind
    target.mkdir(parents=True)
    artefact, training = _train_student(sub, rows, target, say)
    say(f"comparison student {kind}: trained in {training['wall_time_s']} s")
    name = sub.student_name(list(taken))
    return ComparedStudent(kind, sub, student_preset(sub, name, artefact, ""), training)


def run_distill(request: DistillRequest, say: Say = print) -> dict[str, Any]:
    """Distill, evaluate on held-out questions and write the run directory; returns ``results.json``'s content."""
    began = time.perf_counter()
    settings = request.settings
    check_student(request)
    for kind in request.compare_students:
        if kind not in COMPARABLE_STUDENTS or kind == request.student:
            raise ConfigError(f"--compare {kind}: give one of {', '.join(COMPARABLE_STUDENTS)}, other than --student")
    also = build_judges(list(request.also_judges)) if request.also_judges else []
    words = VerdictWords()
    template = load_template(request.prompt)
    data = gather_inputs(request, say)
    selected = teacher_examples(data, request.teacher)
    if selected.n_teacher_unscored or selected.n_without_teacher:
        say(f"left out {selected.n_teacher_unscored} responses the teacher could not score and "
            f"{selected.n_without_teacher} it did not judge")
    split = split_by_question(selected.examples, request.held_out_fraction, request.seed)
    used = capped(split.train, settings.max_train_examples, request.seed)
    train = balanced(used, request.seed) if settings.balance == "oversample" else used
    sizes = split.summary()
    say(f"{sizes['train']['n_examples']} training examples ({sizes['train']['n_questions']} questions), "
        f"{sizes['held_out']['n_examples']} held out ({sizes['held_out']['n_questions']} questions); "
        f"teacher YES rate {sizes['train']['teacher_yes_rate']:.3f} (train)")
    if len(used) < len(split.train):
        say(f"training on a seeded sample of {len(used)} of the {len(split.train)} training examples "
            f"(max_train_examples)")
    name = request.student_name([*data.judges, *(j.name for j in also)])
    config = {"teacher": request.teacher, "student": request.student, "student_name": name,
              "compare_students": list(request.compare_students),
              "inputs": data.sources, "data_files": [str(p) for p in request.data_files],
              "generate_questions": request.generate_questions,
              "responses_per_question": request.responses_per_question, "held_out_fraction": request.held_out_fraction,
              "seed": request.seed, "prompt": request.prompt, "also_judges": list(request.also_judges),
              "n_bootstrap": request.n_bootstrap, "settings": settings.to_json()}

    if _rank() != 0:
        # other accelerate processes train alongside process 0, which alone evaluates and writes the run
        if request.student_kind != CLASSIFIER_STUDENT:
            work = _work_folder(request)
            train_generative_student(request.student, train, template, words, settings, work / CHECKPOINT_DIR,
                                     work / "trainer", request.seed, lambda _: None)
        return {}

    with RunWriter(request.out, "distill", config) as writer:
        folder = writer.folder
        artefact, training = _train_student(request, train, folder, say)
        say(f"training done in {training['wall_time_s']} s")
        taken = [*data.judges, *(j.name for j in also), name]
        compared = [_train_comparison(kind, used, request, folder, taken, say) for kind in request.compare_students]

        # held-out evaluation through the student's own preset (pointing at the staged files for now)
        staged = student_preset(request, name, artefact, "")
        students = [build_judge(_spec(staged)), *(build_judge(_spec(c.preset)) for c in compared)]
        held_items = {e.item.id: e.item for e in split.held_out}
        held_responses = [e.response for e in split.held_out]
        say(f"judging {len(held_responses)} held-out responses with {', '.join(j.name for j in students)}"
            + (f" and {', '.join(j.name for j in also)}" if also else ""))
        eval_began = time.perf_counter()
        # a fresh student is never in the judgment cache and never will be again: bypass it
        new = judge_responses(students, list(held_items.values()), held_responses, cache=None)
        new += judge_responses(also, list(held_items.values()), held_responses) if also else []
        eval_s = time.perf_counter() - eval_began

        def versus_teacher(student_name: str) -> dict[str, Any]:
            verdicts = {j.response_id: j.verdict for j in new if j.judge == student_name}
            return student_vs_teacher(student_name, split.held_out, verdicts, request.n_bootstrap, request.seed)

        headline = versus_teacher(name)
        curve = _learning_curve(request, name, split.held_out, training, say)
        compared_names = [c.preset["name"] for c in compared]
        others = [j for j in data.judges if j not in (request.teacher, name)]
        names = [name, request.teacher, *compared_names, *others, *(j.name for j in also)]
        items, responses, judgments = _records(split, data, new)
        agreement = held_out_agreement(names, split.held_out, judgments, request.n_bootstrap, request.seed)

        kappa = headline["cohen_kappa"]["estimate"]
        kappa_text = "undefined" if kappa is None else f"{kappa:.3f}"
        description = (f"{_DISTILLED_DESCRIPTION} from {request.teacher}'s verdicts "
                       f"({len(split.train)} examples) into {request.student}; held-out Cohen's kappa vs the "
                       f"teacher {kappa_text} on {headline['n_questions']} questions")
        final_artefact = request.out.resolve() / artefact.name
        preset = student_preset(request, name, final_artefact, description)
        write_preset(preset, folder / PRESET_FILE)
        for student in compared:
            student.write_final_preset(request, folder, versus_teacher(student.preset["name"]))
        results: dict[str, Any] = {
            "schema": RESULTS_SCHEMA,
            "teacher": request.teacher,
            "student": {"name": name, "kind": request.student_kind, "source": request.student,
                        "backend": preset["backend"], "artefact": str(final_artefact),
                        "preset": str(request.out.resolve() / PRESET_FILE)},
            "data": {
                "n_responses": len(data.responses),
                "n_teacher_unscored_dropped": selected.n_teacher_unscored,
                "n_without_teacher_dropped": selected.n_without_teacher,
                "n_examples": len(selected.examples),
                "train": sizes["train"], "held_out": sizes["held_out"],
                "balance": settings.balance, "n_train_used": len(used), "n_train_rows": len(train),
                "split_unit": "question text", "held_out_fraction": request.held_out_fraction,
            },
            "training": training,
            "held_out": {"student_vs_teacher": headline, "agreement": agreement,
                         "compared_students": [{"name": c.preset["name"], "kind": c.kind,
                                                "artefact": c.preset["params"].get("weights") or
                                                c.preset["params"].get("model"), "training": c.training,
                                                "student_vs_teacher": versus_teacher(c.preset["name"])}
                                               for c in compared],
                         "evaluation_wall_time_s": round(eval_s, 1), "learning_curve": curve},
            "target_kappa": TARGET_KAPPA,
            "meets_target": kappa is not None and kappa >= TARGET_KAPPA,
            "wall_time_s": round(time.perf_counter() - began, 1),
        }
        if request.preset_out is not None:
            results["student"]["preset_out"] = str(request.preset_out)
        writer.write_items(items)
        writer.write_responses(responses)
        writer.write_judgments(judgments)
        write_held_out_triples(split.held_out, folder / HELD_OUT_FILE)
        writer.write_results(results)
        path = writer.commit()
    from rlvr_bench.report import write_run_report

    write_run_report(path)
    if request.preset_out is not None:
        write_preset({**preset, "name": request.preset_out.stem}, request.preset_out)
    return results
