"""The engines' own client code, run here without a GPU: OpenRLHF 0.11.2 and verl 0.9.1 (pinned in the Makefile).

What runs verbatim, and what stands in for the GPU stack:

- OpenRLHF: ``openrlhf.utils.agent.SingleTurnAgentExecutor`` is imported and its ``execute`` runs as
  is (tokenise the prompt, generate, ``hf_tokenizer.decode(..., skip_special_tokens=False)``,
  ``_fetch_rewards_via_http`` with its aiohttp client and 5 retries). Only the vLLM engine is a stand-in
  (:class:`ScriptedEngine` returns the tokens of a fixed response plus the template's EOS tokens), and
  the tokenizer is a small byte-level BPE with the chat template's special tokens. Two pieces of
  OpenRLHF live in modules that import vLLM at import time; their source is read from the installed
  package and executed unchanged: the ``if __name__ == "__main__":`` block of
  ``openrlhf/cli/train_ppo_ray.py`` up to ``train(args)`` (the argument parser and its checks) and
  ``SamplesGenerator._process_response_into_experience`` of
  ``openrlhf/trainer/ppo_utils/samples_generator.py`` (turns the reward reply into tensors).
- verl: ``verl.trainer.ppo.reward.get_custom_reward_fn`` / ``load_reward_manager`` and the registered
  ``NaiveRewardManager.run_single`` are imported and run as is, on verl's own generated ``main_ppo``
  config (``verl/trainer/config/_generated_ppo_trainer.yaml``) with our overrides merged in.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from rlvr_bench.training.tiny_models import bpe_tokenizer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "training.md"


def package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed (make install)"
    return Path(next(iter(spec.submodule_search_locations))) / relative


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    jinja: str
    #: what the generation engine emits after the response (the end of turn, sometimes then EOS)
    stop_texts: tuple[str, ...]
    specials: tuple[str, ...]


def _loop(opening: str, closing: str) -> str:
    return "{% for m in messages %}" + opening + "{{ m['content'] }}" + closing + "{% endfor %}"


TEMPLATES = [
    ChatTemplate("chatml-qwen", _loop("<|im_start|>user\n", "<|im_end|>\n")
                 + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
                 ("<|im_end|>",), ("<|im_start|>", "<|im_end|>", "<|endoftext|>")),
    ChatTemplate("llama-3", "<|begin_of_text|>" + _loop("<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>")
                 + "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
                 ("<|eot_id|>",), ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
    ChatTemplate("mistral", "<s>" + _loop("[INST] ", " [/INST]"), ("</s>",), ("<s>", "</s>", "[INST]", "[/INST]")),
    ChatTemplate("gemma", "<bos>" + _loop("<start_of_turn>user\n", "<end_of_turn>\n")
                 + "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}",
                 ("<end_of_turn>", "<eos>"), ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>")),
    ChatTemplate("phi-3", _loop("<|user|>\n", "<|end|>\n") + "<|assistant|>\n", ("<|end|>", "<|endoftext|>"),
                 ("<|user|>", "<|assistant|>", "<|end|>", "<|endoftext|>")),
    ChatTemplate("deepseek", "<｜begin▁of▁sentence｜>" + _loop("<｜User｜>", "") + "<｜Assistant｜>",
                 ("<｜end▁of▁sentence｜>",), ("<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>",
                                             "<｜end▁of▁sentence｜>")),
]

_CORPUS = ["Final answer: 0.35 g", "The answer is 42.", "A patient weighs 70 kg; the dose is 5 mg/kg.",
           "What is the dose in grams?", "350 mg = 0.35 g", "0123456789 abcdefghijklmnopqrstuvwxyz"]


def template_tokenizer(template: ChatTemplate) -> Any:
    """A byte-level BPE tokenizer whose special tokens and chat template are ``template``'s."""
    return bpe_tokenizer(_CORPUS, 300, list(template.specials), eos_token=template.stop_texts[0],
                         chat_template=template.jinja, clean_up_tokenization_spaces=False)


class ScriptedEngine:
    """Stands in for OpenRLHF's vLLM engine: generates ``response`` then the template's stop tokens."""

    def __init__(self, tokenizer: Any, response: str, stop_texts: tuple[str, ...]) -> None:
        self.token_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [
            tokenizer.convert_tokens_to_ids(text) for text in stop_texts]
        self.text = response

    async def generate(self, prompt_token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None
                       ) -> Any:
        output = SimpleNamespace(token_ids=list(self.token_ids), text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[output])


def openrlhf_rollout(url: str, template: ChatTemplate, question: str, response: str, label: Any) -> dict[str, Any]:
    """One OpenRLHF single-turn rollout against ``url``: the data row goes through OpenRLHF's own
    ``preprocess_data`` (chat template, label as stored), then ``SingleTurnAgentExecutor.execute``."""
    from openrlhf.datasets.prompts_dataset import preprocess_data
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    tokenizer = template_tokenizer(template)
    prompt, stored_label = preprocess_data({"query": question, "label": label}, input_key="query", label_key="label",
                                           apply_chat_template=tokenizer.apply_chat_template)
    executor = SingleTurnAgentExecutor(url)
    params = SimpleNamespace(max_tokens=64, logprobs=None)
    output: dict[str, Any] = asyncio.run(executor.execute(prompt, stored_label, params, 512, tokenizer,
                                                          ScriptedEngine(tokenizer, response, template.stop_texts)))
    return output


def _source_tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def openrlhf_experience(output: dict[str, Any]) -> Any:
    """OpenRLHF's ``_process_response_into_experience`` (source executed unchanged) on an executor output."""
    from openrlhf.trainer.ppo_utils.experience import Experience

    path = package_file("openrlhf", "trainer/ppo_utils/samples_generator.py")
    method = next(node for node in ast.walk(_source_tree(path))
                  if isinstance(node, ast.FunctionDef) and node.name == "_process_response_into_experience")
    namespace: dict[str, Any] = {"torch": torch, "Experience": Experience}
    exec(compile(ast.Module([method], []), str(path), "exec"), namespace)
    return namespace["_process_response_into_experience"](None, output, max_len=2048)


def openrlhf_parse_args(argv: list[str]) -> Any:
    """OpenRLHF's ``train_ppo_ray`` argument parser and checks (its ``__main__`` block, executed unchanged up
    to ``train(args)``) on ``argv``; returns the hierarchical args it would train with. SystemExit on a bad flag."""
    import sys

    path = package_file("openrlhf", "cli/train_ppo_ray.py")
    tree = _source_tree(path)
    main = next(node for node in tree.body if isinstance(node, ast.If)
                and ast.unparse(node.test) == "__name__ == '__main__'")
    # the module's standard-library imports (argparse, os, datetime); ray and the GPU stack are not needed
    stdlib = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)
              and not ast.unparse(node).split()[1].startswith(("ray", "openrlhf"))]
    trained: list[Any] = []
    namespace: dict[str, Any] = {"__name__": "__main__", "train": trained.append}
    exec(compile(ast.Module(stdlib, []), str(path), "exec"), namespace)
    saved = sys.argv
    sys.argv = ["train_ppo_ray", *argv]
    try:
        exec(compile(ast.Module(main.body, []), str(path), "exec"), namespace)
    finally:
        sys.argv = saved
    assert trained, "the __main__ block did not reach train(args)"
    return trained[0]


def doc_blocks(language: str, containing: str) -> list[str]:
    """The fenced ``language`` code blocks of docs/training.md that contain ``containing``."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    return [block for block in blocks if containing in block]


def shell_commands(block: str) -> list[list[str]]:
    """The commands of a bash block (continuation lines joined, comments dropped), each split as the shell would."""
    joined = re.sub(r"\\\n", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if shlex.split(line, comments=True)]


def verl_config(overrides_yaml: str, dotlist: list[str] | None = None) -> Any:
    """verl's own ``main_ppo`` configuration (its generated full config) with ``overrides_yaml`` merged in,
    as Hydra composes it for ``python -m verl.trainer.main_ppo`` plus a config override."""
    from omegaconf import OmegaConf

    base = OmegaConf.load(package_file("verl", "trainer/config/_generated_ppo_trainer.yaml"))
    merged = OmegaConf.merge(base, OmegaConf.create(overrides_yaml), OmegaConf.from_dotlist(dotlist or []))
    return merged


def verl_cli_config(overrides: list[str]) -> Any:
    """verl's ``main_ppo`` configuration with Hydra command-line overrides applied as Hydra applies them: the
    composed config is in struct mode, so ``key=value`` must name an existing key and ``+key=value`` adds one."""
    from omegaconf import OmegaConf

    config = OmegaConf.load(package_file("verl", "trainer/config/_generated_ppo_trainer.yaml"))
    OmegaConf.set_struct(config, True)
    for override in overrides:
        key, _, value = override.partition("=")
        OmegaConf.update(config, key.lstrip("+"), yaml_value(value), merge=True, force_add=key.startswith("+"))
    return config


def yaml_value(text: str) -> Any:
    """A command-line value as Hydra reads it (YAML scalars: numbers, booleans, null; else the text)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def verl_sample(tokenizer: Any, prompt: str, response: str, stop_texts: tuple[str, ...], ground_truth: Any,
                extra_info: dict[str, Any], data_source: str = "rlvr-bench") -> Any:
    """One rollout sample as verl's reward loop hands it to ``run_single``: a DataProto with the prompt and
    response token ids (response padded on the right), the attention mask and the non-tensor fields."""
    import numpy as np
    from verl import DataProto

    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [
        tokenizer.convert_tokens_to_ids(text) for text in stop_texts]
    padded = response_ids + [tokenizer.convert_tokens_to_ids(stop_texts[-1])] * 3
    attention = [1] * (len(prompt_ids) + len(response_ids)) + [0] * 3
    return DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt_ids]), "responses": torch.tensor([padded]),
                 "attention_mask": torch.tensor([attention])},
        non_tensors={"data_source": np.array([data_source], dtype=object),
                     "reward_model": np.array([{"ground_truth": ground_truth, "style": "rule"}], dtype=object),
                     "extra_info": np.array([dict(extra_info)], dtype=object)})


def run_verl_samples(config: Any, tokenizer: Any, samples: list[Any]) -> list[dict[str, Any]]:
    """verl's ``load_reward_manager`` on ``config``, then its ``run_single`` on every sample concurrently (as
    verl's reward loop worker does: one task per sample, sync reward functions in the loop's thread pool)."""
    from verl.trainer.ppo.reward import load_reward_manager

    async def run() -> list[dict[str, Any]]:
        manager = load_reward_manager(config, tokenizer)
        return list(await asyncio.gather(*(manager.run_single(sample) for sample in samples)))

    return asyncio.run(run())
