// SPDX-License-Identifier: Apache-2.0
// A small OpenAI-compatible inference server on a real llama.cpp engine
// (node-llama-cpp, its prebuilt CPU binary from npm), for the hosted
// gateway's end-to-end tests (tests/integration/test_hosted_engine.py).
// It answers GET /v1/models, POST /v1/chat/completions and /v1/completions,
// streamed (server-sent events, usage on request) and not, one generation
// at a time. Chat messages are joined as "role: content" lines (the tiny
// test model has no chat template). End of text is never sampled, so a call
// yields exactly max_tokens tokens (16 by default), one streamed chunk each.
//
//   node server.mjs MODEL.gguf PORTFILE [API_KEY]
// Listens on 127.0.0.1, an ephemeral port written to PORTFILE when ready.
import http from "node:http";
import { writeFileSync, renameSync } from "node:fs";
import { getLlama, TokenBias } from "node-llama-cpp";

const [modelPath, portFile, apiKey] = process.argv.slice(2);
if (!modelPath || !portFile) {
  console.error("usage: node server.mjs MODEL.gguf PORTFILE [API_KEY]");
  process.exit(2);
}
const MODEL_ID = "tiny-llama";
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize: 512 });
const sequence = context.getSequence();
const noEnd = new TokenBias(model.tokenizer);
noEnd.set(model.tokens.eos, "never");

let queue = Promise.resolve(); // one generation at a time
let seq = 0;

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function fail(res, status, message) {
  send(res, status, { error: { message, type: "invalid_request_error", param: null, code: null } });
}

async function generate(prompt, req, onToken, signal) {
  const maxTokens = Number.isInteger(req.max_tokens) ? req.max_tokens : 16;
  const run = async () => {
    await sequence.clearHistory();
    // the engine's own loop, one sampled token at a time: exactly max_tokens
    // tokens unless the caller leaves, each one counted and sent
    const input = [model.tokens.bos, ...model.tokenize(prompt, false)];
    const out = [];
    let finish = "length";
    const it = sequence.evaluate(input, {
      temperature: typeof req.temperature === "number" ? req.temperature : 0,
      seed: Number.isInteger(req.seed) ? req.seed : 1, tokenBias: noEnd,
    });
    for await (const t of it) {
      if (signal?.aborted) {
        finish = "stop";
        break;
      }
      onToken(model.detokenize([t], false, out));
      out.push(t);
      if (out.length >= maxTokens) break;
    }
    return { text: model.detokenize(out), promptTokens: input.length, completionTokens: out.length,
             finish };
  };
  const p = queue.then(run, run);
  queue = p.catch(() => {});
  return p;
}

function promptOf(chat, req) {
  if (!chat) return typeof req.prompt === "string" ? req.prompt : null;
  if (!Array.isArray(req.messages) || req.messages.length === 0) return null;
  return req.messages.map((m) => `${m.role}: ${typeof m.content === "string" ? m.content : ""}`).join("\n") + "\nassistant:";
}

async function complete(res, chat, req) {
  const prompt = promptOf(chat, req);
  if (prompt === null) return fail(res, 400, chat ? "messages must be a non-empty array" : "prompt must be a string");
  if (req.max_tokens !== undefined && !(Number.isInteger(req.max_tokens) && req.max_tokens > 0 && req.max_tokens <= 256))
    return fail(res, 400, "max_tokens must be an integer from 1 to 256");
  const id = (chat ? "chatcmpl-" : "cmpl-") + ++seq;
  const created = Math.floor(Date.now() / 1000);
  const object = chat ? "chat.completion" : "text_completion";
  if (!req.stream) {
    const r = await generate(prompt, req, () => {});
    const usage = { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens,
                    total_tokens: r.promptTokens + r.completionTokens };
    const finish = r.finish;
    const choice = chat
      ? { index: 0, message: { role: "assistant", content: r.text }, finish_reason: finish }
      : { index: 0, text: r.text, logprobs: null, finish_reason: finish };
    return send(res, 200, { id, object, created, model: MODEL_ID, choices: [choice], usage });
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const chunkObject = chat ? "chat.completion.chunk" : "text_completion";
  const event = (choices, extra) =>
    res.write(`data: ${JSON.stringify({ id, object: chunkObject, created, model: MODEL_ID, choices, ...extra })}\n\n`);
  if (chat) event([{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }]);
  const ac = new AbortController();
  res.on("close", () => ac.abort());
  const r = await generate(prompt, req, (piece) => {
    if (ac.signal.aborted) return;
    event([chat ? { index: 0, delta: { content: piece }, finish_reason: null }
                : { index: 0, text: piece, logprobs: null, finish_reason: null }]);
  }, ac.signal);
  if (ac.signal.aborted) return;
  const finish = r.finish;
  event([chat ? { index: 0, delta: {}, finish_reason: finish }
              : { index: 0, text: "", logprobs: null, finish_reason: finish }]);
  if (req.stream_options && req.stream_options.include_usage)
    event([], { usage: { prompt_tokens: r.promptTokens, completion_tokens: r.completionTokens,
                         total_tokens: r.promptTokens + r.completionTokens } });
  res.end("data: [DONE]\n\n");
}

const server = http.createServer((req, res) => {
  if (apiKey && req.headers.authorization !== `Bearer ${apiKey}`)
    return fail(res, 401, "wrong api key");
  const path = req.url.split("?")[0];
  if (req.method === "GET" && path === "/v1/models")
    return send(res, 200, { object: "list", data: [{ id: MODEL_ID, object: "model", created: 0, owned_by: "sluice-tests" }] });
  const chat = path === "/v1/chat/completions";
  if (req.method !== "POST" || !(chat || path === "/v1/completions"))
    return fail(res, 404, `no route ${req.method} ${path}`);
  const parts = [];
  req.on("data", (d) => parts.push(d));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(parts).toString("utf8"));
    } catch (e) {
      return fail(res, 400, "body is not JSON");
    }
    complete(res, chat, body).catch((e) => {
      if (!res.headersSent) fail(res, 500, String(e?.message ?? e));
      else res.end();
    });
  });
});
server.listen(0, "127.0.0.1", () => {
  writeFileSync(portFile + ".tmp", String(server.address().port));
  renameSync(portFile + ".tmp", portFile);
});
