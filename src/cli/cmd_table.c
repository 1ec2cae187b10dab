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

static const char serve_help[] =
    "usage: sluice serve [--data DIR] [--listen HOST:PORT] [--origin NAME]\n"
    "                    [--policy-dir DIR] [--threads N] [--drain SECONDS]\n"
    "\n"
    "Runs the registry server (HTTP API in docs/api.md). The first start creates the\n"
    "data folder (SQLite database, pack files, the server's Ed25519 key) and the\n"
    "first admin token, printed once and written to DIR/admin.token (mode 0600).\n"
    "\n"
    "  --data DIR        data folder (default $SLUICE_DATA or ./sluice-data)\n"
    "  --listen H:P      address to listen on (default 127.0.0.1:8080; numeric)\n"
    "  --origin NAME     name of this registry in signed statements (default sluice)\n"
    "  --policy-dir DIR  extra policy packs (as for classify)\n"
    "  --threads N       worker threads (default: one per CPU)\n"
    "  --drain SECONDS   on SIGTERM, how long requests in flight may take (default 10)\n"
    "\n"
    "Logs one JSON line per request on stderr. Serves open versions to anyone;\n"
    "other tiers answer 401/403 naming the tier and what to do. Not yet: license\n"
    "acceptance, access grants, the transparency log, fingerprinting (later issues).\n";

static const char admin_help[] =
    "usage: sluice admin COMMAND [--data DIR] [--json]\n"
    "\n"
    "  user add NAME [--email E] [--affiliation A] [--country CC] [--admin]\n"
    "                     create an account; prints its token once ({\"user\",\"token\"})\n"
    "  org add ORG        create an org\n"
    "  org member add ORG USER [--role publisher|member]\n"
    "                     add a member (publishers may push to the org)\n"
    "  token new USER [--scopes read,write,admin] [--expires DATE]\n"
    "                     issue another token (32 random bytes, stored hashed)\n"
    "  token revoke (--token TOKEN | --user USER)\n"
    "                     revoke one token, or every token of a user\n"
    "  gc [--grace SECONDS]\n"
    "                     online garbage collection: drops chunks no version uses\n"
    "                     (older than the grace period, default 86400), rewrites mostly\n"
    "                     dead packs, deletes retired packs; reads and writes go on\n"
    "  fsck               re-hashes every stored chunk and file and checks every\n"
    "                     reference; exit 1 when anything is wrong\n"
    "\n"
    "Admin commands work on the data folder directly (--data, $SLUICE_DATA or\n"
    "./sluice-data), also while the server runs.\n";

static const char login_help[] =
    "usage: sluice login URL --token TOKEN\n"
    "\n"
    "Checks that URL answers as a sluice server (GET /api/v1/health, sent with the\n"
    "token, which the server refuses if it does not know it) and saves the\n"
    "server and its token in $XDG_CONFIG_HOME/sluice/config.json (default\n"
    "~/.config/sluice/config.json, mode 0600), where push and pull find them.\n"
    "SLUICE_URL and SLUICE_TOKEN, when set, take precedence over the file; a saved\n"
    "token is only ever sent to the server it was saved for.\n"
    "\n"
    "  --token TOKEN   the API token (`sluice admin user add` prints one); `-` reads\n"
    "                  it from the first line of standard input\n";

static const char push_help[] =
    "usage: sluice push ORG/NAME PATH [--facts FILE] [--tier TIER] [--license FILE]\n"
    "                   [--json]\n"
    "\n"
    "Publishes a new version of ORG/NAME. PATH is a folder (every regular file under\n"
    "it, recursively; names starting with '.' and unfinished pulls (*.sluice-part)\n"
    "are skipped; symbolic links must stay inside the folder) or a single file.\n"
    "Files are cut into content-defined chunks and hashed locally; only the chunks\n"
    "the server lacks are uploaded (4 streams), then the server re-verifies\n"
    "everything, classifies the model and either creates the version or refuses\n"
    "it, naming the rule. An interrupted push, run again, uploads only what is\n"
    "still missing; unchanged files are not re-hashed (scan cache in\n"
    "$XDG_STATE_HOME/sluice, default ~/.local/state/sluice).\n"
    "\n"
    "  --facts FILE    declared facts (docs/facts.md), checked before any upload\n"
    "  --tier TIER     open, click, gated, hosted or withheld (default: the minimum\n"
    "                  tier the policy allows); a tier below the minimum is refused\n"
    "  --license FILE  license text shown to people who download (UTF-8)\n"
    "  --json          model, version, commit, tier, min_tier, bytes_total,\n"
    "                  bytes_uploaded, decision\n"
    "\n"
    "Server and token: `sluice login`, or SLUICE_URL and SLUICE_TOKEN. Exit codes: 1\n"
    "refused by the server, 2 bad usage or local input, 3 server unreachable or\n"
    "local I/O failure.\n";

static const char pull_help[] =
    "usage: sluice pull ORG/NAME[@REV] [--dest DIR] [--json]\n"
    "\n"
    "Downloads a model version into DIR (default ./NAME). REV is a ref (default\n"
    "main), a version number (v3) or a commit digest; files are fetched from the\n"
    "commit REV resolves to, so a ref that moves meanwhile cannot mix versions.\n"
    "Files already in DIR with the right SHA-256 are skipped; the others are fetched\n"
    "with parallel ranged requests into PATH.sluice-part (progress beside it in\n"
    "PATH.sluice-part.state, so an interrupted pull resumes), verified and renamed\n"
    "into place. A file whose bytes do not match its SHA-256 is deleted (exit 1).\n"
    "\n"
    "  --dest DIR   where to write (created if missing)\n"
    "  --json       commit, files [{path, size, sha256, downloaded}],\n"
    "               bytes_downloaded\n"
    "\n"
    "Open models need no token; other tiers answer with what to do (exit 1).\n";

const struct sl_cli_cmd sl_cli_commands[] = {
    {"inspect", sl_cmd_inspect, "count parameters and read architecture from weight headers",
     inspect_help},
    {"classify", sl_cmd_classify, "minimum release tier and obligations for a model, with reasons",
     classify_help},
    {"policy", sl_cmd_policy, "list or show the policy packs", policy_help},
    {"serve", sl_cmd_serve, "run the registry server", serve_help},
    {"admin", sl_cmd_admin, "accounts, orgs, tokens, garbage collection, fsck", admin_help},
    {"login", sl_cmd_login, "save a server URL and token for push and pull", login_help},
    {"push", sl_cmd_push, "upload a model version (only missing chunks) and see its decision",
     push_help},
    {"pull", sl_cmd_pull, "download a model version, resumably and verified", pull_help},
    {NULL, NULL, NULL, NULL},
};
