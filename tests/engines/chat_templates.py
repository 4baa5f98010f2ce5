"""The published chat templates of the policy families the reward server reads, with tokenizers that decode
the way the real ones do, and an OpenRLHF rollout on any of them.

SmolLM2's tokenizer and template are the real ones (the ``smollm2`` checkpoint in the model cache). For
the other families the ``chat_template`` strings are the published ones (sources beside each), rendered
by transformers' own ``apply_chat_template``; the tokenizer is a small BPE with the family's special
tokens. Mistral's (and Llama 2's) is SentencePiece-like (a Metaspace pre-tokenizer that prepends ``▁``
to every text segment): decoding ``<s>[INST] ...`` gives ``<s> [INST] ...`` with the space after ``<s>``,
as ``LlamaTokenizerFast`` does; the others are byte-level and decode exactly.
"""

from __future__ import annotations

import asyncio
import string
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

from engine_clients import ScriptedEngine

from rlvr_bench.paths import models_home


@dataclass(frozen=True)
class Family:
    name: str
    #: the published chat_template (None: the real tokenizer's own)
    jinja: str | None
    #: what the policy emits after its response (end of turn, then EOS where the family does)
    stop_texts: tuple[str, ...]
    specials: tuple[str, ...] = ()
    bos: str | None = None
    eos: str | None = None
    #: "bpe" (byte-level, exact decode), "sentencepiece" (Metaspace: a space after special tokens) or "real"
    tokenizer: str = "bpe"


# Qwen/Qwen2.5-7B-Instruct tokenizer_config.json chat_template, the branch without tools (ChatML with
# Qwen's default system turn)
QWEN25 = ("{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
          "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a "
          "helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}{%- if (message.role == "
          "'user') or (message.role == 'system' and not loop.first) or (message.role == 'assistant') %}{{- "
          "'<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}"
          "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
# ggml-org/llama.cpp tests/test-chat-template.cpp, case "Llama-3" (meta-llama/Meta-Llama-3-8B-Instruct)
LLAMA3 = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
          "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
          "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
          "{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}")
# ggml-org/llama.cpp tests/test-chat-template.cpp, case "mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1
# without a system prompt)"
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) "
           "%}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
           "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif "
           "message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only "
           "user and assistant roles are supported!') }}{% endif %}{% endfor %}")
# nvidia/Nemotron-Mini-4B-Instruct (and Hymba-1.5B-Instruct) chat_template, as quoted in OptimalScale/LMFlow
# src/lmflow/utils/conversation_template/hymba.py (tools and contexts left out)
NEMOTRON = ("{{'<extra_id_0>System'}}{% for message in messages %}{% if message['role'] == 'system' %}{{'\\n' + "
            "message['content'].strip()}}{% endif %}{% endfor %}{{'\\n\\n'}}{% for message in messages %}{% if "
            "message['role'] == 'user' %}{{ '<extra_id_1>User\\n' + message['content'].strip() + '\\n' }}{% elif "
            "message['role'] == 'assistant' %}{{ '<extra_id_1>Assistant\\n' + message['content'].strip() + '\\n' }}"
            "{% endif %}{% endfor %}{%- if add_generation_prompt %}{{'<extra_id_1>Assistant\\n'}}{%- endif %}")
# ggml-org/llama.cpp tests/test-chat-template.cpp, case "google/gemma-7b-it", with the bos_token that
# google/gemma-2-9b-it's template puts first
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
         "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
         "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
         "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
         "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
         "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}")
# ggml-org/llama.cpp tests/test-chat-template.cpp, case "Phi-3-small"
PHI3 = ("{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + "
        "'<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}"
        "{% endif %}")
# ggml-org/llama.cpp tests/test-chat-template.cpp, case "DeepSeek-V2"
DEEPSEEK_V2 = ("{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
               "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + "
               "message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + "
               "message['content'] + eos_token }}{% elif message['role'] == 'system' %}{{ message['content'] + "
               "'\\n\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")

FAMILIES = [
    Family("smollm2", None, ("<|im_end|>",), tokenizer="real"),
    Family("qwen2.5", QWEN25, ("<|im_end|>",), ("<|im_start|>", "<|im_end|>", "<|endoftext|>"), eos="<|im_end|>"),
    Family("llama-3", LLAMA3, ("<|eot_id|>",), ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                                "<|eot_id|>"), bos="<|begin_of_text|>", eos="<|eot_id|>"),
    Family("mistral", MISTRAL, ("</s>",), ("<unk>", "<s>", "</s>"), bos="<s>", eos="</s>", tokenizer="sentencepiece"),
    Family("nemotron", NEMOTRON, ("<extra_id_1>",), ("<extra_id_0>", "<extra_id_1>", "<s>", "</s>"), eos="</s>"),
    Family("gemma", GEMMA, ("<end_of_turn>", "<eos>"), ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"),
           bos="<bos>", eos="<eos>"),
    Family("phi-3", PHI3, ("<|end|>", "<|endoftext|>"), ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>",
                                                         "<|endoftext|>"), eos="<|endoftext|>"),
    Family("deepseek-v2", DEEPSEEK_V2, ("<｜end▁of▁sentence｜>",), ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
           bos="<｜begin▁of▁sentence｜>", eos="<｜end▁of▁sentence｜>"),
]

_CORPUS = [string.ascii_letters + string.digits + " .,:;?!'\"()[]/-+=*%&#\n", "Final answer: 0.35 g",
           "Convert 350 mg to grams.", "[INST] Paris or Lyon? [/INST]", "I am not sure", "The answer is Paris."]


@cache
def family_tokenizer(family: Family) -> Any:
    """The tokenizer OpenRLHF would load for ``family`` (see the module docstring)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if family.tokenizer == "real":
        return AutoTokenizer.from_pretrained(models_home() / family.name)
    if family.tokenizer == "sentencepiece":
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
        alphabet: list[str] = [*sorted(set("".join(_CORPUS)) - {" "}), "▁"]
    else:
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=list(family.specials), initial_alphabet=alphabet,
                                  show_progress=False)
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    extra = {"unk_token": "<unk>"} if family.tokenizer == "sentencepiece" else {}
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=family.bos, eos_token=family.eos,
                                   chat_template=family.jinja, clean_up_tokenization_spaces=False, **extra)


def openrlhf_rollout_on(family: Family, url: str | list[str], question: str, response: str, label: Any
                        ) -> dict[str, Any]:
    """One OpenRLHF single-turn rollout: the data row through OpenRLHF's ``preprocess_data`` (the family's chat
    template), then ``SingleTurnAgentExecutor.execute`` generating ``response`` + the family's stop texts."""
    from openrlhf.datasets.prompts_dataset import preprocess_data
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    tokenizer = family_tokenizer(family)
    prompt, stored_label = preprocess_data({"query": question, "label": label}, input_key="query", label_key="label",
                                           apply_chat_template=tokenizer.apply_chat_template)
    executor = SingleTurnAgentExecutor(url)
    params = SimpleNamespace(max_tokens=64, logprobs=None)
    output: dict[str, Any] = asyncio.run(executor.execute(prompt, stored_label, params, 1024, tokenizer,
                                                          ScriptedEngine(tokenizer, response, family.stop_texts)))
    return output


def decoded_query(family: Family, question: str, response: str) -> tuple[str, str]:
    """(prompt, query) exactly as OpenRLHF's executor builds them for ``family``."""
    tokenizer = family_tokenizer(family)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                           add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    engine = ScriptedEngine(tokenizer, response, family.stop_texts)
    return prompt, tokenizer.decode(ids + engine.token_ids, skip_special_tokens=False)
