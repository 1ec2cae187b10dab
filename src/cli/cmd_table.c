/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The command table: every subcommand with its one-line summary and its full
 * help text. main() dispatches through it; `sluice --help` lists it.
 */
#include <stddef.h>

#include "cli/cli.h"
#include "common/banned.h"

static const char inspect_help[] =
    "usage: sluice inspect PATH... [--json] [--tensors]\n"
    "\n"
    "Reads the headers of a model's weight files (never the tensor data) and reports\n"
    "its parameters: total, active per token for mixtures of experts, per storage\n"
    "dtype, and the architecture the shapes and config.json reveal.\n"
    "\n"
    "PATH is a file or a folder; all PATHs together are one model. Folders give their\n"
    "*.safetensors, model.safetensors.index.json, *.gguf and config.json (not\n"
    "subfolders). An index decides the shards; several GGUF files must be one\n"
    "gguf-split set. Pickle checkpoints (.bin, .pt) are never read.\n"
    "\n"
    "Counting rules: buffers (attention masks, position ids) and quantisation\n"
    "bookkeeping (scales, zero points, g_idx) are not parameters; packed 4-bit\n"
    "containers count by value; routed experts count k/E towards the active figure,\n"
    "embeddings and output head count fully.\n"
    "\n"
    "  --json      machine-readable output (keys in docs/cli.md)\n"
    "  --tensors   also list every tensor\n"
    "\n"
    "Supported: safetensors (all dtypes incl. F8/F6/F4), GGUF v2/v3 (all ggml types up to\n"
    "id 42). Not supported: PyTorch pickles, GGUF v1, big-endian GGUF, ONNX, TF.\n";

static const char classify_help[] =
    "usage: sluice classify [PATH...] [--facts FILE] [--tokens N] [--as-of DATE]\n"
    "                       [--pack ID]... [--policy-dir DIR] [--json]\n"
    "\n"
    "Estimates training compute, evaluates the policy packs and prints the minimum\n"
    "release tier (open, click, gated, hosted, withheld), the labels and the\n"
    "obligations that apply, each rule with its citation and the reason it fired.\n"
    "\n"
    "  PATH           weight files or folders (as for inspect); optional when the\n"
    "                 facts give params\n"
    "  --facts FILE   declared facts: training tokens, hardware, base model, license,\n"
    "                 markets, evaluations (docs/facts.md); unknown keys are errors\n"
    "  --tokens N     training tokens (sets training.tokens)\n"
    "  --as-of DATE   evaluate the law as it stood on DATE (YYYY-MM-DD; default today)\n"
    "  --pack ID      evaluate only these packs (repeat); historical packs such as\n"
    "                 us-eo14110 (revoked 2025-01-20), us-bis-ai-diffusion (rescinded\n"
    "                 2025-05-13) and us-ca-sb1047 (vetoed) are only evaluated this way\n"
    "  --policy-dir   extra packs (*.json) to load; same id replaces a built-in pack\n"
    "                 (also SLUICE_POLICY_DIR)\n"
    "  --json         the decision as JSON (keys in docs/cli.md)\n"
    "\n"
    "Compute: 6 x active parameters x tokens, hardware (chips x hours x peak x\n"
    "utilisation; peaks for nvidia-v100, nvidia-a100, nvidia-a800, nvidia-h100-sxm,\n"
    "nvidia-h100-pcie, nvidia-h800, nvidia-h20, nvidia-h200, nvidia-b200, google-tpu-v4,\n"
    "google-tpu-v5e, google-tpu-v5p, google-tpu-v6e, amd-mi300x), and declared FLOP. The\n"
    "central estimate is the declared figure, else the geometric mean; the range is\n"
    "+/-30%. This is an estimate to inform a decision, not legal advice; the packs\n"
    "mark the figures whose primary text is still to be verified.\n";

static const char policy_help[] =
    "usage: sluice policy list [--json] [--policy-dir DIR]\n"
    "       sluice policy show ID [--json] [--policy-dir DIR]\n"
    "\n"
    "Lists the policy packs (EU AI Act, California SB 53, New York RAISE, the tiered\n"
    "release framework, and historical packs kept for what-if use) or shows one pack:\n"
    "its status and dates, every rule with its citation and condition, its\n"
    "obligations and sources. Pack format: docs/policy.md.\n";

const struct sl_cli_cmd sl_cli_commands[] = {
    {"inspect", sl_cmd_inspect, "count parameters and read architecture from weight headers",
     inspect_help},
    {"classify", sl_cmd_classify, "minimum release tier and obligations for a model, with reasons",
     classify_help},
    {"policy", sl_cmd_policy, "list or show the policy packs", policy_help},
    {NULL, NULL, NULL, NULL},
};
