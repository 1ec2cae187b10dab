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
    "                 2025-05-13) and us-ca-sb1047 (vetoed) are only evaluated this way;\n"
    "                 ID@VERSION re-runs an earlier version (eu-ai-act@1.0.0)\n"
    "  --policy-dir   extra packs (*.json) to load; same id replaces a built-in pack\n"
    "                 (also SLUICE_POLICY_DIR)\n"
    "  --json         the decision as JSON (keys in docs/cli.md)\n"
    "\n"
    "Compute: 6 x active parameters x tokens, hardware (chips x hours x peak x\n"
    "utilisation; peaks for nvidia-v100, nvidia-a100, nvidia-a800, nvidia-h100-sxm,\n"
    "nvidia-h100-pcie, nvidia-h800, nvidia-h20, nvidia-h200, nvidia-b200, google-tpu-v4,\n"
    "google-tpu-v5e, google-tpu-v5p, google-tpu-v6e, amd-mi300x), and declared FLOP. The\n"
    "central estimate is the declared figure, else the geometric mean; when figures\n"
    "differ by more than 30% the highest is used and facts.compute-conflict blocks.\n"
    "The range is +/-30%. This is an estimate to inform a decision, not legal advice; the packs\n"
    "mark the figures whose primary text is still to be verified.\n";

static const char policy_help[] =
    "usage: sluice policy list [--json] [--policy-dir DIR]\n"
    "       sluice policy show ID[@VERSION] [--json] [--policy-dir DIR]\n"
    "       sluice policy diff ID@VERSION ID@VERSION [--json] [--policy-dir DIR]\n"
    "\n"
    "Lists the policy packs (EU AI Act, California SB 53, New York RAISE, the tiered\n"
    "release framework, and historical packs kept for what-if use) or shows one pack:\n"
    "its status and dates, every rule with its citation and condition, its\n"
    "obligations and sources; or what changed between two versions of a pack\n"
    "(earlier versions are kept: eu-ai-act@1.0.0). Pack format: docs/policy.md.\n";

static const char serve_help[] =
    "usage: sluice serve [--config FILE] [--data DIR] [--db URL] [--keys DIR]\n"
    "                    [--listen HOST:PORT]\n"
    "                    [--origin NAME | --public-url URL]\n"
    "                    [--policy-dir DIR] [--threads N] [--drain SECONDS]\n"
    "                    [--max-conns-per-ip N] [--store URL] [--mirror-of URL]\n"
    "                    [--signup open|invite|closed] [--session-hours N]\n"
    "                    [--trust-proxy yes|no]\n"
    "\n"
    "Runs the registry server (HTTP API in docs/api.md). The first start creates the\n"
    "data folder (SQLite database, pack files, the server's Ed25519 key) and the\n"
    "first admin token, written to DIR/admin.token (mode 0600) and printed once\n"
    "when stdout is a terminal. A data folder group or others may enter is made\n"
    "private (0700, files 0600) first.\n"
    "\n"
    "  --config FILE     read options from FILE: \"key = value\" lines, keys the long\n"
    "                    options without --, # comments; the command line wins\n"
    "                    (docs/cli.md, \"Configuration file\")\n"
    "  --data DIR        data folder (default $SLUICE_DATA or ./sluice-data)\n"
    "  --db URL          database: sqlite:PATH (default $SLUICE_DB or\n"
    "                    sqlite:DIR/sluice.db) or postgresql://... (docs/database.md)\n"
    "  --keys DIR        the key files server.key, fp.key, log.secret (default the\n"
    "                    data folder); give every server of one hub the same files\n"
    "  --listen H:P      address to listen on (default 127.0.0.1:8080; numeric)\n"
    "  --origin NAME     the log's origin, the name in every signed statement: globally\n"
    "                    unique, a URL without scheme (registry.example.org/log).\n"
    "                    Required for a new log (or --public-url); kept in the\n"
    "                    database after that, and a different one is refused\n"
    "  --public-url URL  the address users reach this server at; a new log's origin\n"
    "                    is derived from it (https://hub.example.org -> hub.example.org/log)\n"
    "  --policy-dir DIR  extra policy packs (as for classify)\n"
    "  --threads N       worker threads (default: one per CPU)\n"
    "  --drain SECONDS   on SIGTERM, how long requests in flight may take (default 10)\n"
    "  --store URL       where pack bytes live: file:PATH (default: the last one\n"
    "                    used, recorded in DIR/store.url, else DIR/packs) or\n"
    "                    s3://BUCKET/PREFIX (credentials and endpoint from AWS_*\n"
    "                    variables; docs/storage.md). Exit 3 when it is unreachable\n"
    "  --max-conns-per-ip N\n"
    "                    connections one client address may hold; its further ones\n"
    "                    are answered 503 with Retry-After (default 64)\n"
    "  --mirror-of URL   run a pull-through mirror of the sluice at URL: open and click\n"
    "                    files fetched on first request and kept in DIR/mirror, the\n"
    "                    upstream's log key pinned at first contact (docs/mirror.md)\n"
    "  --signup MODE     web UI self-service sign-up: closed (default), invite (with\n"
    "                    an admin's invitation code) or open (docs/web.md)\n"
    "  --session-hours N how long a browser session lasts (default 12)\n"
    "  --trust-proxy yes|no\n"
    "                    a TLS-terminating proxy in front sets X-Forwarded-Proto; with\n"
    "                    yes the web UI is served (with Secure cookies) to requests it\n"
    "                    marks https. Without a proxy the web UI is served only on a\n"
    "                    loopback listener: browsers give WebCrypto and secure cookies\n"
    "                    only to https or localhost (docs/web.md)\n"
    "\n"
    "Logs one JSON line per request on stderr. Serves open versions to anyone;\n"
    "other tiers answer 401/403 naming the tier and what to do (tiered access:\n"
    "docs/access.md). Gated downloads are fingerprinted per recipient while they\n"
    "stream (docs/fingerprint.md). Hugging Face clients work against it with\n"
    "HF_ENDPOINT or hubUrl set to its URL (docs/api.md).\n";

static const char admin_help[] =
    "usage: sluice admin COMMAND [--config FILE] [--data DIR] [--db URL] [--store URL]\n"
    "                    [--keys DIR] [--json]\n"
    "\n"
    "  user add NAME [--email E] [--affiliation A] [--country CC] [--admin]\n"
    "                     create an account; prints its token once ({\"user\",\"token\"})\n"
    "  user remove NAME   its tokens stop working at once; its memberships go\n"
    "  org add ORG        create an org\n"
    "  org member add ORG USER [--role admin|publisher|member]\n"
    "                     add a member or change its role: admins and publishers push\n"
    "                     and manage access; plain members download click and gated\n"
    "                     versions, never hosted or withheld weights\n"
    "  org member remove ORG USER\n"
    "                     remove a member\n"
    "  token new USER [--scopes read,write,admin] [--expires DATE]\n"
    "                     issue another token (32 random bytes, stored hashed)\n"
    "  token revoke (--token TOKEN | --user USER)\n"
    "                     revoke one token, or every token of a user\n"
    "  gc [--grace SECONDS]\n"
    "                     online garbage collection: drops chunks no version uses\n"
    "                     (older than the grace period, default 86400), rewrites mostly\n"
    "                     dead packs, deletes retired packs; reads and writes go on\n"
    "  fsck               re-hashes every stored chunk and file and checks every\n"
    "                     reference; exit 1 when anything is wrong; lists objects in\n"
    "                     the store that are not sluice packs (never removed)\n"
    "  migrate [--from-db sqlite:PATH --to-db postgresql://...]\n"
    "          [--from-store file:PATH --to-store s3://BUCKET/PREFIX]\n"
    "                     copy the database into PostgreSQL, verifying every table's\n"
    "                     rows and that the log is the same tree under the same key,\n"
    "                     and/or every pack into another store, each read back and\n"
    "                     its sha256 compared; a second run continues or only\n"
    "                     verifies (docs/database.md)\n"
    "\n"
    "Admin commands work on the data folder directly (--data, $SLUICE_DATA or\n"
    "./sluice-data), its database (--db, $SLUICE_DB, as for serve) and key files\n"
    "(--keys, as for serve), also while the server runs, and the store the server\n"
    "last ran with unless --store says otherwise. --config FILE reads data, db,\n"
    "store and keys from the server's configuration file (other keys in it are\n"
    "the server's and are ignored); the command line wins.\n";

static const char login_help[] =
    "usage: sluice login URL [--token TOKEN]\n"
    "\n"
    "Checks that URL answers as a sluice server (GET /api/v1/health, sent with the\n"
    "token, which the server refuses if it does not know it) and saves the\n"
    "server and its token in $XDG_CONFIG_HOME/sluice/config.json (default\n"
    "~/.config/sluice/config.json, mode 0600), where push and pull find them.\n"
    "SLUICE_URL and SLUICE_TOKEN, when set, take precedence over the file; a saved\n"
    "token is only ever sent to the server it was saved for.\n"
    "\n"
    "Without --token the token is read from standard input: at a terminal it asks\n"
    "for it without echoing it, otherwise it reads the first line (so the token\n"
    "stays out of the shell history and the process list).\n"
    "\n"
    "  --token TOKEN   the API token (`sluice admin user add` prints one), for\n"
    "                  scripts; `-` reads it from the first line of standard input\n";

static const char logout_help[] =
    "usage: sluice logout [URL]\n"
    "\n"
    "Forgets the token saved for URL (default: the server `sluice login` saved\n"
    "last) in $XDG_CONFIG_HOME/sluice/config.json; other servers' tokens stay.\n"
    "Exit 1 when no token was saved for it. The token itself stays valid on the\n"
    "server until it expires or an admin revokes it (`sluice admin token revoke`);\n"
    "SLUICE_TOKEN, when set, is still used.\n";

static const char whoami_help[] =
    "usage: sluice whoami [--json]\n"
    "\n"
    "Asks the configured server who the saved token (or SLUICE_TOKEN) belongs to:\n"
    "the account, the token's role (read, write or admin, from its scopes), and\n"
    "the orgs with your role in each (publisher or member). Exit 1 when not\n"
    "logged in or when the server refuses the token.\n"
    "\n"
    "  --json   the server's GET /api/whoami-v2 document plus \"server\"\n";

static const char models_help[] =
    "usage: sluice models [--search S] [--org O] [--json]\n"
    "\n"
    "Lists the models on the configured server with their tier (what main\n"
    "serves), main's version, downloads in the last 30 days and the date main\n"
    "last moved. No token is needed: model metadata is public in every tier.\n"
    "\n"
    "  --search S   only models whose ORG/NAME contains S (any case; at most 200\n"
    "               bytes)\n"
    "  --org O      only the models of org O\n"
    "  --json       the server's items (GET /api/models, every page)\n";

static const char show_help[] =
    "usage: sluice show ORG/NAME[@REV] [--json]\n"
    "\n"
    "Shows a model: its tier and downloads, every version (newest first) with its\n"
    "commit, tier, date, size and downloads and which one main names, then for\n"
    "REV (default main) its commit, tier, minimum and floor, whether you may\n"
    "download it (and if not, why and which version you can), the rules that\n"
    "fired, where its facts came from, and the obligations still open.\n"
    "\n"
    "  --json   {model, version, decision, obligations}: the server's documents\n";

static const char completion_help[] =
    "usage: sluice completion bash|zsh|fish\n"
    "\n"
    "Prints a completion script for the shell, made from the same command table\n"
    "as this help: commands, their subcommands and their options. `make install`\n"
    "installs all three; to try one now:\n"
    "\n"
    "  source <(sluice completion bash)\n"
    "  sluice completion zsh > \"${fpath[1]}/_sluice\"\n"
    "  sluice completion fish > ~/.config/fish/completions/sluice.fish\n"
    "\n"
    "Another shell name is a usage error (exit 2).\n";

static const char man_help[] =
    "usage: sluice man\n"
    "\n"
    "Prints the sluice(1) manual page (roff), generated from the command table:\n"
    "every command's summary and help. `make install` installs it; to read it\n"
    "now: sluice man | man -l -\n";

static const char push_help[] =
    "usage: sluice push ORG/NAME PATH [--facts FILE] [--tier TIER] [--license FILE]\n"
    "                   [--force] [--limit-rate RATE] [--retry-for DURATION] [--json]\n"
    "\n"
    "Publishes a new version of ORG/NAME. PATH is a folder (every regular file under\n"
    "it, recursively; names starting with '.', unfinished pulls (*.sluice-part) and\n"
    "LICENSE.sluice (a pulled license) are skipped; symbolic links must stay inside\n"
    "the folder) or a single file.\n"
    "Files are cut into content-defined chunks and hashed locally while the chunks\n"
    "already hashed are uploaded (only those the server lacks, 4 streams); the\n"
    "server re-verifies everything, classifies the model and either creates the\n"
    "version or refuses it, naming the rule. An interrupted push, run again,\n"
    "uploads only what is still missing; unchanged files are not re-hashed (scan\n"
    "cache in $XDG_STATE_HOME/sluice, default ~/.local/state/sluice).\n"
    "\n"
    "  --facts FILE    declared facts (docs/facts.md), checked before any upload;\n"
    "                  without it the newest version's facts carry over (the answer\n"
    "                  says \"facts inherited from vN\"); a file holding {} declares none\n"
    "  --tier TIER     open, click, gated, hosted or withheld (default: the minimum\n"
    "                  tier the policy allows); a tier below the minimum is refused\n"
    "  --license FILE  license text shown to people who download (UTF-8)\n"
    "  --force         move main to the new version even when its tier is stricter\n"
    "                  than main's (without it the version is stored, main stays and\n"
    "                  the answer says why)\n"
    "  --limit-rate RATE     bytes per second over all streams: 500K, 2M (1024-based)\n"
    "  --retry-for DURATION  keep retrying through failures this long (default 10m)\n"
    "  --json          model, version, commit, tier, min_tier, floor_tier, held_by,\n"
    "                  bytes_total, bytes_uploaded, files, bytes_local, on_main,\n"
    "                  main_version, main_note, facts_note, log_index, log_proof,\n"
    "                  decision\n"
    "\n"
    "Server and token: `sluice login`, or SLUICE_URL and SLUICE_TOKEN. Exit codes: 1\n"
    "refused by the server, 2 bad usage or local input, 3 server unreachable or\n"
    "local I/O failure.\n";

static const char pull_help[] =
    "usage: sluice pull ORG/NAME[@REV] [--dest DIR] [--include GLOB]... [--exclude GLOB]...\n"
    "                   [--seed DIR]... [--cache DIR | --no-cache] [--limit-rate RATE]\n"
    "                   [--retry-for DURATION] [--json]\n"
    "\n"
    "Downloads a model version into DIR (default ./NAME). REV is a ref (default\n"
    "main), a version number (v3) or a commit digest; files are fetched from the\n"
    "commit REV resolves to, so a ref that moves meanwhile cannot mix versions.\n"
    "Files already in DIR with the right SHA-256 are skipped. Of an open or click\n"
    "version only the chunks no local file holds are downloaded (the files in DIR,\n"
    "an earlier version say, and in --seed folders; every reused chunk is checked),\n"
    "with parallel ranged requests into PATH.sluice-part (progress beside it in\n"
    "PATH.sluice-part.state, so an interrupted pull resumes), verified and renamed\n"
    "into place. A file whose bytes do not match its SHA-256 is deleted (exit 1).\n"
    "\n"
    "  --dest DIR            where to write (created if missing)\n"
    "  --include GLOB        pull only matching paths (repeatable; Hugging Face\n"
    "                        rules: '*' matches '/', a trailing '/' is a folder)\n"
    "  --exclude GLOB        skip matching paths (repeatable; wins over --include)\n"
    "  --seed DIR            another folder whose files may hold chunks (read only)\n"
    "  --cache DIR           chunk lists of local files (default\n"
    "                        $XDG_CACHE_HOME/sluice/scan-cache); --no-cache: none\n"
    "  --limit-rate RATE     bytes per second over all streams: 500K, 2M (1024-based)\n"
    "  --retry-for DURATION  keep retrying through failures this long (default 10m)\n"
    "  --json                commit, files [{path, size, sha256, downloaded}],\n"
    "                        bytes_downloaded, bytes_reused, bytes_total,\n"
    "                        bad_local_chunks\n"
    "\n"
    "Open models need no token; other tiers answer with what to do (exit 1). A\n"
    "gated version is always fetched whole (copies are fingerprinted); its license\n"
    "(`sluice license get`) is saved as DIR/LICENSE.sluice, checked against the\n"
    "server's key, which is pinned at first contact.\n";

static const char export_help[] =
    "usage: sluice export ORG/NAME[@REV] --out FILE [--seed DIR]... [--json]\n"
    "\n"
    "Writes one file that carries a version to a machine with no link to the\n"
    "server (docs/bundle.md): a tar whose first entry is a manifest, then the\n"
    "server's key, a checkpoint signed with it, the version's log entry and its\n"
    "inclusion proof, for a gated copy the signed manifest of your copy and your\n"
    "license (the copy stays fingerprinted), then the files as you may have them.\n"
    "The files are pulled first into FILE.sluice-export (kept to resume when\n"
    "anything fails; --seed as for pull); FILE is written atomically.\n";

static const char verify_bundle_help[] =
    "usage: sluice verify-bundle FILE [--key VKEY|KEYFILE] [--json]\n"
    "\n"
    "Checks a bundle with no network: its key is the trusted one (--key, or the\n"
    "key pinned for its server at an earlier contact), the checkpoint is signed\n"
    "with it and not older than the one this machine verified, the version's log\n"
    "entry is included in it, and every file hashes to the logged digest (a gated\n"
    "copy: to the signed manifest of the copy). Exit 0 verified, 1 a check failed,\n"
    "2 a malformed bundle (truncated, entries out of order or duplicated, unsafe\n"
    "names, sizes that disagree with the manifest), naming the entry.\n";

static const char import_help[] =
    "usage: sluice import FILE --dest DIR [--key VKEY|KEYFILE] [--json]\n"
    "\n"
    "Verifies a bundle as verify-bundle does while unpacking it into a staging\n"
    "folder inside DIR, and moves the files into DIR only when everything holds;\n"
    "nothing is written outside DIR. A gated copy's license is saved as\n"
    "DIR/LICENSE.sluice.\n";

static const char accept_help[] =
    "usage: sluice accept ORG/NAME[@REV] [--show] [--json]\n"
    "\n"
    "Accepts the license text of a version in tier click (default main): reads the\n"
    "terms, then records your account, the text's SHA-256 and the time. The server\n"
    "refuses if the text changed in between. One acceptance covers every version\n"
    "with the same text; a new text needs a new acceptance.\n"
    "\n"
    "  --show   print the license text (and its SHA-256 on stderr) without accepting\n"
    "  --json   the server's answer ({model, license_sha256, accepted}; with --show,\n"
    "           the terms)\n"
    "\n"
    "Needs a token (`sluice login`). Tiers gated and above need a grant instead\n"
    "(`sluice access request`).\n";

static const char access_help[] =
    "usage: sluice access request ORG/NAME --purpose TEXT [--field KEY=VALUE]... [--json]\n"
    "       sluice access status ORG/NAME [--json]\n"
    "       sluice access appeal ORG/NAME --text TEXT [--json]\n"
    "       sluice access list ORG/NAME [--status S] [--json]\n"
    "       sluice access approve ORG/NAME USER [--expires DATE] [--json]\n"
    "       sluice access deny ORG/NAME USER --reason TEXT [--json]\n"
    "       sluice access revoke ORG/NAME USER --reason TEXT [--json]\n"
    "       sluice access rules ORG/NAME [--everyone|--no-everyone] [--email-domain D]...\n"
    "                           [--org O]... [--require-field KEY]... [--clear] [--json]\n"
    "\n"
    "Gated access to a model (docs/access.md). Requesters: `request` asks, with what\n"
    "the weights are for (1-2,000 bytes, one line) and the fields the publisher\n"
    "requires (KEY 1-32 of a-z 0-9 _ -, VALUE up to 500 bytes, at most 16); `status`\n"
    "shows the state (pending, approved, denied, revoked, expired), the reason of a\n"
    "denial or revocation, the expiry and the appeal; `appeal` contests a denial,\n"
    "once. One request per account and model.\n"
    "\n"
    "Publishers of the org and admins: `list` shows the requests (--status pending,\n"
    "approved, denied, revoked or expired); `approve` grants (DATE is YYYY-MM-DD or\n"
    "YYYY-MM-DDTHH:MM:SSZ in the future; default no expiry) and issues a signed\n"
    "license; `deny` and `revoke` need a reason, which the requester sees; a\n"
    "revocation stops downloads at their next request. `rules` without change\n"
    "options shows the auto-approval rules; with them it reads, changes and writes\n"
    "them back: --everyone approves every request, --email-domain and --org approve\n"
    "accounts by email domain or org membership (added to the lists), --require-field\n"
    "makes a field mandatory, --clear empties everything first.\n"
    "\n"
    "Needs a token (`sluice login`). Exit 1 when the server refuses.\n";

static const char license_help[] =
    "usage: sluice license get ORG/NAME[@REV] [--out FILE]\n"
    "       sluice license show FILE [--json]\n"
    "       sluice license verify FILE [--online] [--key VKEY] [--json]\n"
    "\n"
    "A license is a signed note (C2SP signed-note, Ed25519) the server issues for\n"
    "one version under your grant; `sluice pull` of a gated version saves it as\n"
    "LICENSE.sluice. It proves the grant; it is not a credential.\n"
    "\n"
    "  get      fetches your license of the version (default main), checks it is\n"
    "           signed by the server's key and is for that model, and prints it or\n"
    "           writes it to --out atomically\n"
    "  show     prints the fields and the signer's key name and ID, offline, without\n"
    "           checking the signature\n"
    "  verify   checks the signature against --key VKEY, else against the key pinned\n"
    "           for the configured server, and the expiry against the local clock;\n"
    "           --online also fetches the server's signed revocation list, checks its\n"
    "           signature with the same key and that the license is not on it\n"
    "\n"
    "The server's key (GET /log/key) is pinned per server URL at first contact in\n"
    "$XDG_STATE_HOME/sluice/servers.json (`license get`, `pull` of a gated version,\n"
    "`verify --online`); a server that later presents another key is refused.\n"
    "verify exits 0 valid, 1 invalid (bad signature, expired, revoked), 2 when FILE\n"
    "is not a license, 3 when the file cannot be read or the server reached.\n";

static const char eval_help[] =
    "usage: sluice eval keygen --name NAME --out FILE\n"
    "       sluice eval sign --key FILE --model ORG/NAME@COMMIT --domain D --level L\n"
    "                        --method TEXT [--out FILE]\n"
    "       sluice eval attach ORG/NAME@REV FILE [--json]\n"
    "       sluice eval list ORG/NAME[@REV] [--json]\n"
    "       sluice eval key add NAME VKEY [--json]\n"
    "       sluice eval key remove NAME [--json]\n"
    "       sluice eval key list [--json]\n"
    "\n"
    "Evaluations attested by registered evaluators (docs/access.md).\n"
    "\n"
    "  keygen    makes an Ed25519 key pair named NAME (your account name), writes the\n"
    "            private key to FILE as one PRIVATE+KEY+NAME+ID+... line (mode 0600;\n"
    "            an existing file is never replaced) and prints the verifier key\n"
    "  sign      offline: signs an attestation for the version with the full 64-hex\n"
    "            COMMIT (`sluice pull --json` prints it), dated now; D is cbrn, cyber,\n"
    "            autonomy or persuasion, L none, low, medium, high or critical, TEXT\n"
    "            one line of up to 500 bytes; prints the signed note or writes --out\n"
    "  attach    publishers: attaches a signed attestation; the server checks the\n"
    "            signature and the version, re-runs the decision and moves the\n"
    "            version up when its minimum tier rose (downloads the new tier does\n"
    "            not allow stop at their next request); prints min tier and tier\n"
    "  list      the attestations attached to a version\n"
    "  key add   admins: registers NAME's verifier key; NAME (an existing account,\n"
    "            the key's name) may then see withheld versions\n"
    "  key remove admins: revokes NAME's key (a log entry); attestations it signs\n"
    "            are refused from then on, what it attested before stands\n"
    "  key list  the registered evaluator keys\n";

static const char obligations_help[] =
    "usage: sluice obligations ORG/NAME[@REV] [--json]\n"
    "       sluice obligations satisfy ORG/NAME@REV ID --evidence TEXT [--json]\n"
    "       sluice obligations satisfy ORG/NAME@REV ID --evidence-file FILE [--json]\n"
    "\n"
    "Lists the obligations of a version's decision (default main), each open or\n"
    "satisfied and how, the version's tier and floor, and which obligations hold it\n"
    "there: a blocking obligation not yet satisfied holds the version at withheld.\n"
    "`satisfy` (publishers) records evidence (1 to 10,000 bytes) for an obligation;\n"
    "--evidence-file sends a finished document (e.g. from `sluice draft`): the file\n"
    "itself when it is text of at most 10,000 bytes, so the log's evidence_sha256\n"
    "is its SHA-256, else the line \"document sha256:HEX size N bytes\";\n"
    "one that requires evaluations is satisfied only by attached attestations\n"
    "(`sluice eval attach`).\n";

static const char tier_help[] =
    "usage: sluice tier set ORG/NAME[@REV] TIER [--json]\n"
    "       sluice tier schedule ORG/NAME[@REV] TIER --at DATE [--json]\n"
    "       sluice tier schedule ORG/NAME [--json]\n"
    "\n"
    "Publishers change a version's tier (default main): open, click, gated, hosted,\n"
    "withheld. `set` acts now and is refused below the version's floor, naming the\n"
    "rule or obligation. `schedule` adds a later step (DATE is YYYY-MM-DD, midnight\n"
    "UTC, or YYYY-MM-DDTHH:MM:SSZ, in the future): when it comes the server re-runs\n"
    "the decision under the policy in force that day and applies the step, or marks\n"
    "it refused with the reason. Without TIER, `schedule` lists the steps with\n"
    "their status (pending, done, refused) and reason.\n";

static const char trace_help[] =
    "usage: sluice trace FILE|FOLDER... --model ORG/NAME [--json]\n"
    "\n"
    "Traces a copy of a gated model found elsewhere back to the grant it came\n"
    "from. The files (*.safetensors, *.gguf, *.json; a folder gives its top-level\n"
    "ones) are sent to the server, which aligns them to the original by tensor\n"
    "name (resharded, renamed to llama.cpp names, converted between bf16, fp16\n"
    "and f32, or re-quantised to Q8_0), reads the fingerprint positions, scores\n"
    "every recipient the model's copies were ever issued to and decodes the\n"
    "payload (recipient id + MAC). It reports the accused with their z-score and\n"
    "the bound on the chance that an innocent recipient scores as high, and what\n"
    "it could not read. Publishers of the org and admins only. The mark does not\n"
    "survive distillation or long fine-tunes (docs/fingerprint.md).\n";

static const char log_help[] =
    "usage: sluice log key [--json]\n"
    "       sluice log checkpoint [--json]\n"
    "       sluice log entry N [--json]\n"
    "       sluice log proof N [--json]\n"
    "       sluice log verify [--full] [--json]\n"
    "       sluice log verify-proof PROOF --entry FILE [--license FILE] [--key VKEY] [--json]\n"
    "       sluice log monitor [--interval SECONDS] [--once] [--json]\n"
    "\n"
    "The server's transparency log (docs/log.md): every governance decision as one\n"
    "entry of an append-only Merkle tree whose checkpoints the server signs.\n"
    "\n"
    "  key           prints the server's verifier key, pinning it at first contact\n"
    "  checkpoint    prints the newest signed checkpoint after checking it\n"
    "  entry N       prints entry N (the exact logged bytes) once its inclusion in a\n"
    "                verified checkpoint is checked\n"
    "  proof N       prints a c2sp.org/tlog-proof@v1 of entry N, checkable offline\n"
    "  verify        checks the newest checkpoint: signed by the pinned key, under its\n"
    "                name, and an extension of the checkpoint this client verified\n"
    "                last (a consistency proof); --full also rebuilds the whole tree\n"
    "                from every entry, compares each entry with the server's hash\n"
    "                tiles (naming the first bad index) and the root with the\n"
    "                checkpoint\n"
    "  verify-proof  offline: checks a tlog-proof (or a decision or license document\n"
    "                holding one in \"log_proof\") for the entry in --entry FILE with\n"
    "                --key VKEY or the pinned key; --license FILE also checks that the\n"
    "                entry records that license's issuance\n"
    "  monitor       verifies every --interval seconds (default 60) and prints each new\n"
    "                entry in one line once it is checked against the new checkpoint;\n"
    "                --once checks once and stops\n"
    "\n"
    "Every command that fetches a checkpoint checks it and records it in\n"
    "$XDG_STATE_HOME/sluice/log/ (default ~/.local/state/sluice/log/), one file per\n"
    "server URL; the first checkpoint seen is trusted on first use. Exit codes: 0\n"
    "verified, 1 verification failed (bad signature, rollback, fork, a bad entry),\n"
    "2 bad usage or malformed data, 3 server unreachable or a file unreadable.\n";

static const char org_help[] =
    "usage: sluice org members ORG [--json]\n"
    "       sluice org member add ORG USER [--role admin|publisher|member] [--json]\n"
    "       sluice org member remove ORG USER [--json]\n"
    "\n"
    "An org's admins manage its members (server admins may too; offline, `sluice\n"
    "admin org member` does the same on the data folder). Roles: admin (members\n"
    "and access), publisher (push and access), member (downloads click and gated\n"
    "versions without a grant; never hosted or withheld weights). A role given to\n"
    "an existing member replaces its role. Needs a write token.\n";

static const char report_help[] =
    "usage: sluice report ORG/NAME [--json]\n"
    "\n"
    "A model's history as the log records it, for an auditor: its versions and\n"
    "tiers, evaluations, access requests by state and every logged event. The\n"
    "report's checkpoint is checked like `sluice log verify` does (pinned key,\n"
    "consistent with the last checkpoint this client verified) and each event's\n"
    "inclusion proof against it; the summary says how many events verified.\n"
    "Exit 1 when any does not. --json adds \"verification\" to the server's report.\n";

static const char draft_help[] =
    "usage: sluice draft ORG/NAME[@REV] --form FORM [--json] [--out FILE]\n"
    "\n"
    "Writes a pre-filled draft (Markdown; --json for the structure) of a document a\n"
    "regulator asks for, from the version's facts, its decision, its files, its\n"
    "attestations and the transparency log. Every field the facts cannot fill reads\n"
    "TODO(<fact key>) or TODO(<question>); the draft quotes the decision's log entry\n"
    "and inclusion proof, checked first against the server's pinned log key. File\n"
    "the finished document as evidence with `sluice obligations satisfy ... \n"
    "--evidence-file FILE`: the log records its hash. Forms:\n"
    "  eu-art52-notification      EU Art. 52(1) notification to the AI Office\n"
    "  eu-annex-xi                EU technical documentation (Annex XI)\n"
    "  eu-annex-xii               EU information for downstream providers (Annex XII)\n"
    "  eu-training-summary        EU public training-content summary (AI Office template)\n"
    "  ca-sb53-transparency       California SB 53 transparency report\n"
    "  ca-sb53-framework-outline  California SB 53 frontier AI framework outline\n"
    "  ny-raise-transparency      New York RAISE Act transparency report\n"
    "Not legal advice. docs/drafts.md lists each form's fields and their sources.\n";

static const char hosted_help[] =
    "usage: sluice hosted backend add ORG/NAME[@REV] URL [--backend-model NAME]\n"
    "                                 [--api-key-env VAR] [--json]\n"
    "       sluice hosted backend list ORG/NAME [--json]\n"
    "       sluice hosted backend remove ORG/NAME ID [--json]\n"
    "       sluice hosted quota set ORG/NAME [--user U] [--rpm N] [--tokens-per-day N]\n"
    "                               [--concurrency N] [--json]\n"
    "       sluice hosted quota show ORG/NAME [--user U] [--json]\n"
    "       sluice hosted usage ORG/NAME [--since DATE] [--json]\n"
    "       sluice hosted filter set ORG/NAME FILE [--json]\n"
    "       sluice hosted filter show|clear ORG/NAME [--json]\n"
    "       sluice hosted retain set ORG/NAME --days N [--json]\n"
    "       sluice hosted retain show|clear ORG/NAME [--json]\n"
    "       sluice hosted retained ORG/NAME [--since DATE] [--json]\n"
    "\n"
    "`filter`, `retain` and `retained` are the publisher's (they talk to the\n"
    "server with your token; the model's publishers and org admins only), and\n"
    "so are `quota` and `usage` when neither --data nor --db is given. FILE is\n"
    "a JSON policy of input and output rules, a max_tokens cap and allowed\n"
    "parameters (docs/hosted.md, \"Filters\"); each change is a transparency-log\n"
    "entry.\n"
    "\n"
    "Prompts and completions are not stored by default. `retain set --days N`\n"
    "(1 to 365) keeps each call's prompt and completion (64 KiB each, marked\n"
    "truncated past that) with its caller, time and version for N days, then\n"
    "the server deletes them; the license text and the terms say so, and the\n"
    "change is a log entry. `retain clear` keeps nothing from the next call on\n"
    "(what was kept stays until its time); `retained` lists what was kept\n"
    "(docs/hosted.md, \"Retention\").\n"
    "\n"
    "The inference backends behind a model's OpenAI-compatible gateway (POST\n"
    "/v1/chat/completions and /v1/completions on `sluice serve`; docs/hosted.md):\n"
    "any OpenAI-compatible server inside the operator's trust boundary\n"
    "(llama-server, vLLM, TGI, Ollama). Several per model are used in turn;\n"
    "every server probes each one (GET /v1/models) every 5 s and skips those that\n"
    "are down; `backend list` shows each one's state and last error as the server\n"
    "on this data folder saw them. Without @REV a backend serves every version.\n"
    "\n"
    "  URL              the backend's base, with or without /v1\n"
    "                   (http://127.0.0.1:8081/v1)\n"
    "  --backend-model  the name the backend knows the model by (vLLM's served\n"
    "                   name, an Ollama tag); default the caller's ORG/NAME\n"
    "  --api-key-env    the environment variable of `sluice serve` holding the\n"
    "                   backend's key; the key itself is never stored\n"
    "\n"
    "  quota set        the model's default quota, or one caller's (--user): calls\n"
    "                   per minute, tokens per UTC day, calls at once; 0 removes a\n"
    "                   limit; over it a call gets 429 with Retry-After and\n"
    "                   x-ratelimit-* headers\n"
    "  quota show       the default and each caller's own limits (server only)\n"
    "  usage            calls and tokens by day, version and caller\n"
    "\n"
    "`backend` runs on the data folder (--data, --db as for `sluice admin`), and\n"
    "so do `quota set` and `usage` when --data or --db is given. Callers of the\n"
    "gateway never see a backend's URL or key.\n";

const struct sl_cli_cmd sl_cli_commands[] = {
    {"inspect", sl_cmd_inspect, "count parameters and read architecture from weight headers",
     inspect_help},
    {"classify", sl_cmd_classify, "minimum release tier and obligations for a model, with reasons",
     classify_help},
    {"policy", sl_cmd_policy, "list, show or diff the policy packs", policy_help},
    {"serve", sl_cmd_serve, "run the registry server", serve_help},
    {"admin", sl_cmd_admin, "accounts, orgs, tokens, garbage collection, fsck", admin_help},
    {"login", sl_cmd_login, "save a server URL and token for push and pull", login_help},
    {"push", sl_cmd_push, "upload a model version (only missing chunks) and see its decision",
     push_help},
    {"pull", sl_cmd_pull, "download a model version, resumably and verified", pull_help},
    {"export", sl_cmd_export, "write a version, its proofs and key into one offline bundle",
     export_help},
    {"verify-bundle", sl_cmd_verify_bundle, "check an offline bundle with no network",
     verify_bundle_help},
    {"import", sl_cmd_import, "verify an offline bundle and unpack it", import_help},
    {"accept", sl_cmd_accept, "accept a model's click-through license", accept_help},
    {"access", sl_cmd_access, "request, decide and review gated access to a model", access_help},
    {"license", sl_cmd_license, "get, show and verify signed licenses", license_help},
    {"eval", sl_cmd_eval, "evaluator keys, signed attestations, attaching them", eval_help},
    {"obligations", sl_cmd_obligations, "a version's obligations and their status",
     obligations_help},
    {"tier", sl_cmd_tier, "change a version's tier now or on a date", tier_help},
    {"org", sl_cmd_org, "an org's members and their roles (org admins)", org_help},
    {"log", sl_cmd_log, "check the server's transparency log: checkpoints, entries, proofs",
     log_help},
    {"report", sl_cmd_report, "a model's verified history from the transparency log", report_help},
    {"draft", sl_cmd_draft, "pre-filled drafts of the documents regulators ask for", draft_help},
    {"trace", sl_cmd_trace, "name the licensee a leaked gated copy came from", trace_help},
    {"models", sl_cmd_models, "list the models on the server", models_help},
    {"show", sl_cmd_show, "a model's versions, commits, tiers, decision and open duties",
     show_help},
    {"whoami", sl_cmd_whoami, "the account and orgs behind the saved token", whoami_help},
    {"logout", sl_cmd_logout, "forget the token saved for a server", logout_help},
    {"hosted", sl_cmd_hosted, "the inference backends behind a model's OpenAI-compatible gateway",
     hosted_help},
    {"completion", sl_cmd_completion, "print a bash, zsh or fish completion script",
     completion_help},
    {"man", sl_cmd_man, "print the sluice(1) manual page", man_help},
    {NULL, NULL, NULL, NULL},
};
