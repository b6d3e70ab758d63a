#!/usr/bin/env python3
"""Writes the adapter_config.json that PEFT 0.19.1 saves for a LoRA adapter, for AdapterTrainingTest.

PEFT's PeftConfigMixin.save_pretrained writes json.dumps(config.to_dict(), indent=2, sort_keys=True)
with no final newline; to_dict() holds every LoraConfig field, sets become lists. The fields and
their defaults below are those of PEFT 0.19.1's LoraConfig (as found in adapter_config.json files
it wrote), for
    LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["v_proj", "q_proj"],
               task_type="CAUSAL_LM")
on base model "tailor-test/tiny", saved (inference_mode becomes true on save). PEFT keeps
target_modules as a set, whose order is arbitrary; this file lists it sorted, as Tailor writes it.

Run from the repository root:  python3 src/test/python/make_peft_adapter_config.py
"""
import json
import os

OUT = os.path.join(os.path.dirname(__file__), "..", "resources", "peft", "adapter_config.json")

CONFIG = {
    "alora_invocation_tokens": None,
    "alpha_pattern": {},
    "arrow_config": None,
    "auto_mapping": None,
    "base_model_name_or_path": "tailor-test/tiny",
    "bias": "none",
    "corda_config": None,
    "ensure_weight_tying": False,
    "eva_config": None,
    "exclude_modules": None,
    "fan_in_fan_out": False,
    "inference_mode": True,
    "init_lora_weights": True,
    "layer_replication": None,
    "layers_pattern": None,
    "layers_to_transform": None,
    "loftq_config": {},
    "lora_alpha": 16,
    "lora_bias": False,
    "lora_dropout": 0.05,
    "lora_ga_config": None,
    "megatron_config": None,
    "megatron_core": "megatron.core",
    "modules_to_save": None,
    "peft_type": "LORA",
    "peft_version": "0.19.1",
    "qalora_group_size": 16,
    "r": 8,
    "rank_pattern": {},
    "revision": None,
    "target_modules": sorted({"v_proj", "q_proj"}),
    "target_parameters": None,
    "task_type": "CAUSAL_LM",
    "trainable_token_indices": None,
    "use_bdlora": None,
    "use_dora": False,
    "use_qalora": False,
    "use_rslora": False,
}

if __name__ == "__main__":
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.write(json.dumps(CONFIG, indent=2, sort_keys=True))
