// The field list of every message: one function per struct, walked by the encoder
// (Writer), the decoder (Reader) and the field counter. Key names are the wire names.
#pragma once

#include <cstddef>
#include <type_traits>

#include "rs/schemas/errors.h"
#include "rs/schemas/messages.h"
#include "rs/schemas/protocol.h"

namespace rs::schemas::detail {

// How a field is decoded: required or optional; max bytes (strings) or count (arrays),
// 0 = no limit beyond the frame; and the error to report when over the max.
struct Opt {
  bool required = false;
  size_t max = 0;
  ErrorCode over = ErrorCode::kTooLarge;
  size_t max_each = 0;  // vector<string>: bytes per element
  bool omit_empty = false;  // vector: not written when empty (reads as empty when absent)
};
inline Opt req(size_t max = 0, ErrorCode over = ErrorCode::kTooLarge) { return {true, max, over, 0}; }
inline Opt opt(size_t max = 0, ErrorCode over = ErrorCode::kTooLarge) { return {false, max, over, 0}; }
inline Opt opt_list(size_t max) { return {false, max, ErrorCode::kTooLarge, 0, true}; }

template <class V, class M> void fields(V& v, M& m, const Limits& l);

#define RS_FIELDS(Type) template <class V, class M> void fields_##Type(V& v, M& m, const Limits& l)

RS_FIELDS(Sampling) {
  v.field("temperature", m.temperature, opt());
  v.field("top_k", m.top_k, opt());
  v.field("top_p", m.top_p, opt());
  v.field("min_p", m.min_p, opt());
  v.field("repetition_penalty", m.repetition_penalty, opt());
  v.field("seed", m.seed, opt());
}
RS_FIELDS(Usage) {
  v.field("prompt_tokens", m.prompt_tokens, opt());
  v.field("completion_tokens", m.completion_tokens, opt());
  v.field("queue_ms", m.queue_ms, opt());
  v.field("ttft_ms", m.ttft_ms, opt());
  v.field("decode_tps", m.decode_tps, opt());
}
RS_FIELDS(SubmitRequest) {
  v.field("request_id", m.request_id, opt());
  v.field("model", m.model, req(l.max_name_bytes));
  v.field("prompt", m.prompt, req(l.max_prompt_bytes, ErrorCode::kPromptTooLong));
  v.field("sampling", m.sampling, opt());
  v.field("max_tokens", m.max_tokens, opt());
  Opt stop = opt(l.max_stop_strings);
  stop.max_each = l.max_stop_bytes;
  v.field("stop", m.stop, stop);
  v.field("priority", m.priority, opt());
  v.field("affinity_key", m.affinity_key, opt(l.max_name_bytes));
  v.field("session_id", m.session_id, opt(l.max_name_bytes));
  v.field("idempotency_key", m.idempotency_key, opt(l.max_name_bytes));
  v.field("stream", m.stream, opt());
  v.field("api_meta", m.api_meta, opt(l.max_api_meta_bytes));
  v.field("detach", m.detach, opt());
  v.field("tenant", m.tenant, opt(l.max_tenant_bytes));
  v.field("ignore_eos", m.ignore_eos, opt());
  v.field("chat_messages", m.chat_messages, opt(l.max_prompt_bytes, ErrorCode::kPromptTooLong));
  v.field("chat_tools", m.chat_tools, opt(l.max_prompt_bytes, ErrorCode::kPromptTooLong));
  v.field("chat_kwargs", m.chat_kwargs, opt(l.max_prompt_bytes, ErrorCode::kPromptTooLong));
  v.field("add_generation_prompt", m.add_generation_prompt, opt());
  v.field("expires_ms", m.expires_ms, opt());
  v.field("top_logprobs", m.top_logprobs, opt());
  v.field("prompt_logprobs", m.prompt_logprobs, opt());
  v.field("prompt_top_logprobs", m.prompt_top_logprobs, opt());
  v.field("prompt_ids", m.prompt_ids, Opt{false, l.max_prompt_tokens, ErrorCode::kPromptTooLong, 0, true});
}
RS_FIELDS(CancelRequest) {
  v.field("request_id", m.request_id, opt());
  v.field("job_id", m.job_id, req(l.max_name_bytes));
}
RS_FIELDS(SubscribeRequest) {
  v.field("request_id", m.request_id, opt());
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("from_seq", m.from_seq, opt());
}
RS_FIELDS(StatusRequest) {
  v.field("request_id", m.request_id, opt());
  v.field("job_id", m.job_id, req(l.max_name_bytes));
}
RS_FIELDS(WorkersRequest) { v.field("request_id", m.request_id, opt()); }
RS_FIELDS(Ping) { v.field("request_id", m.request_id, opt()); }
RS_FIELDS(TokenEntry) {
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("attempt", m.attempt, opt());
  v.field("seq", m.seq, req());
  v.field("token", m.token, req());
  v.field("text", m.text, opt(l.max_text_bytes));
  v.field("logprob", m.logprob, opt());
  v.field("top", m.top, opt_list(l.max_top_logprobs));
  v.field("prompt", m.prompt, opt_list(l.max_prompt_tokens));
}
RS_FIELDS(TokenAlt) {
  v.field("token", m.token, req());
  v.field("text", m.text, opt(l.max_text_bytes));
  v.field("logprob", m.logprob, opt());
}
RS_FIELDS(PromptToken) {
  v.field("token", m.token, req());
  v.field("text", m.text, opt(l.max_text_bytes));
  v.field("logprob", m.logprob, opt());
  v.field("top", m.top, opt_list(l.max_top_logprobs));
}
RS_FIELDS(TokenExtras) {
  v.field("seq", m.seq, req());
  v.field("top", m.top, opt_list(l.max_top_logprobs));
  v.field("prompt", m.prompt, opt_list(l.max_prompt_tokens));
}
RS_FIELDS(TokenExtrasList) { v.field("entries", m.entries, req(l.max_entries)); }
RS_FIELDS(JobRecord) {
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("state", m.state, req());
  v.field("model", m.model, opt(l.max_name_bytes));
  v.field("model_version", m.model_version, opt());
  v.field("priority", m.priority, opt());
  v.field("worker", m.worker, opt(l.max_name_bytes));
  v.field("device", m.device, opt());
  v.field("attempt", m.attempt, opt());
  v.field("usage", m.usage, opt());
  v.field("error_code", m.error_code, opt());
  v.field("error", m.error, opt(l.max_text_bytes));
  v.field("created_ms", m.created_ms, opt());
  v.field("dispatched_ms", m.dispatched_ms, opt());
  v.field("started_ms", m.started_ms, opt());
  v.field("finished_ms", m.finished_ms, opt());
  v.field("api_meta", m.api_meta, opt(l.max_api_meta_bytes));
  v.field("tenant", m.tenant, opt(l.max_tenant_bytes));
  v.field("detach", m.detach, opt());
  v.field("finish_reason", m.finish_reason, opt(l.max_name_bytes));
}
RS_FIELDS(Accepted) {
  v.field("request_id", m.request_id, opt());
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("duplicate", m.duplicate, opt());
}
RS_FIELDS(Rejected) {
  v.field("request_id", m.request_id, opt());
  v.field("code", m.code, req());
  v.field("message", m.message, opt(l.max_text_bytes));
}
RS_FIELDS(TokenBatch) { v.field("entries", m.entries, req(l.max_entries)); }
RS_FIELDS(Done) { v.field("record", m.record, req()); }
RS_FIELDS(StatusReply) {
  v.field("request_id", m.request_id, opt());
  v.field("record", m.record, req());
}
RS_FIELDS(DeviceStatus) {
  v.field("worker", m.worker, req(l.max_name_bytes));
  v.field("device", m.device, req());
  Opt models = opt(l.max_models);
  models.max_each = l.max_name_bytes;
  v.field("models", m.models, models);
  v.field("free_slots", m.free_slots, opt());
  v.field("max_slots", m.max_slots, opt());
  v.field("running", m.running, opt());
  v.field("last_heartbeat_ms", m.last_heartbeat_ms, opt());
  v.field("kv_blocks_free", m.kv_blocks_free, opt());
  v.field("kv_blocks_total", m.kv_blocks_total, opt());
  Opt no_chat = opt(l.max_models);
  no_chat.max_each = l.max_text_bytes;
  v.field("no_chat", m.no_chat, no_chat);
}
RS_FIELDS(WorkersReply) {
  v.field("request_id", m.request_id, opt());
  v.field("devices", m.devices, req(l.max_entries));
}
RS_FIELDS(ErrorReply) {
  v.field("request_id", m.request_id, opt());
  v.field("code", m.code, req());
  v.field("message", m.message, opt(l.max_text_bytes));
  v.field("job_id", m.job_id, opt(l.max_name_bytes));
  v.field("next_seq", m.next_seq, opt());
}
RS_FIELDS(Pong) {
  v.field("request_id", m.request_id, opt());
  v.field("broker_time_ms", m.broker_time_ms, opt());
}
RS_FIELDS(DeviceInfo) {
  v.field("index", m.index, req());
  Opt models = opt(l.max_models);
  models.max_each = l.max_name_bytes;
  v.field("models", m.models, models);
  v.field("free_slots", m.free_slots, opt());
  v.field("max_slots", m.max_slots, opt());
}
RS_FIELDS(ReadyJob) {
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("attempt", m.attempt, req());
  v.field("device", m.device, req());
  v.field("n_tokens", m.n_tokens, opt());
}
RS_FIELDS(WorkerReady) {
  v.field("worker_id", m.worker_id, req(l.max_name_bytes));
  v.field("devices", m.devices, req(l.max_devices));
  v.field("heartbeat_interval_ms", m.heartbeat_interval_ms, opt());
  v.field("jobs", m.jobs, opt(l.max_entries));
}
RS_FIELDS(DeviceLoad) {
  v.field("index", m.index, req());
  v.field("free_slots", m.free_slots, opt());
  v.field("running", m.running, opt());
  v.field("kv_blocks_free", m.kv_blocks_free, opt());
  v.field("kv_blocks_total", m.kv_blocks_total, opt());
  v.field("has_models", m.has_models, opt());
  Opt models = opt(l.max_models);
  models.max_each = l.max_name_bytes;
  v.field("models", m.models, models);
  Opt no_chat = opt(l.max_models);
  no_chat.max_each = l.max_text_bytes;
  v.field("no_chat", m.no_chat, no_chat);
}
RS_FIELDS(WorkerHeartbeat) {
  v.field("worker_id", m.worker_id, req(l.max_name_bytes));
  v.field("devices", m.devices, opt(l.max_devices));
}
RS_FIELDS(WorkerTokens) { v.field("entries", m.entries, req(l.max_entries)); }
RS_FIELDS(WorkerDone) {
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("attempt", m.attempt, req());
  v.field("device", m.device, opt());
  v.field("usage", m.usage, opt());
  v.field("finish_reason", m.finish_reason, opt(l.max_name_bytes));
}
RS_FIELDS(WorkerFailed) {
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("attempt", m.attempt, req());
  v.field("device", m.device, opt());
  v.field("code", m.code, req());
  v.field("message", m.message, opt(l.max_text_bytes));
}
RS_FIELDS(WorkerDisconnect) {
  v.field("worker_id", m.worker_id, req(l.max_name_bytes));
  v.field("reason", m.reason, opt(l.max_text_bytes));
}
RS_FIELDS(Dispatch) {
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("attempt", m.attempt, req());
  v.field("device", m.device, req());
  v.field("request", m.request, req());
  v.field("created_ms", m.created_ms, opt());
  v.field("resume_tokens", m.resume_tokens, opt(l.max_tokens));
}
RS_FIELDS(CancelJob) {
  v.field("job_id", m.job_id, req(l.max_name_bytes));
  v.field("attempt", m.attempt, opt());
  v.field("device", m.device, opt());
}
RS_FIELDS(BrokerHeartbeat) { v.field("broker_time_ms", m.broker_time_ms, opt()); }
RS_FIELDS(BrokerDisconnect) { v.field("reason", m.reason, opt(l.max_text_bytes)); }

#undef RS_FIELDS

// Dispatches fields() to fields_<Type>() for T or const T.
#define RS_FIELDS_DISPATCH(Type)                                      \
  if constexpr (std::is_same_v<std::remove_const_t<M>, Type>) {       \
    fields_##Type(v, m, l);                                           \
    return;                                                           \
  }
template <class V, class M>
void fields(V& v, M& m, const Limits& l) {
  RS_FIELDS_DISPATCH(Sampling) RS_FIELDS_DISPATCH(Usage) RS_FIELDS_DISPATCH(SubmitRequest)
  RS_FIELDS_DISPATCH(CancelRequest) RS_FIELDS_DISPATCH(SubscribeRequest)
  RS_FIELDS_DISPATCH(StatusRequest) RS_FIELDS_DISPATCH(WorkersRequest) RS_FIELDS_DISPATCH(Ping)
  RS_FIELDS_DISPATCH(TokenEntry) RS_FIELDS_DISPATCH(JobRecord) RS_FIELDS_DISPATCH(Accepted)
  RS_FIELDS_DISPATCH(Rejected) RS_FIELDS_DISPATCH(TokenBatch) RS_FIELDS_DISPATCH(Done)
  RS_FIELDS_DISPATCH(StatusReply) RS_FIELDS_DISPATCH(DeviceStatus)
  RS_FIELDS_DISPATCH(WorkersReply) RS_FIELDS_DISPATCH(ErrorReply) RS_FIELDS_DISPATCH(Pong)
  RS_FIELDS_DISPATCH(DeviceInfo) RS_FIELDS_DISPATCH(ReadyJob) RS_FIELDS_DISPATCH(WorkerReady) RS_FIELDS_DISPATCH(DeviceLoad)
  RS_FIELDS_DISPATCH(WorkerHeartbeat) RS_FIELDS_DISPATCH(WorkerTokens)
  RS_FIELDS_DISPATCH(WorkerDone) RS_FIELDS_DISPATCH(WorkerFailed)
  RS_FIELDS_DISPATCH(WorkerDisconnect) RS_FIELDS_DISPATCH(Dispatch) RS_FIELDS_DISPATCH(CancelJob)
  RS_FIELDS_DISPATCH(BrokerHeartbeat) RS_FIELDS_DISPATCH(BrokerDisconnect)
  RS_FIELDS_DISPATCH(TokenAlt) RS_FIELDS_DISPATCH(PromptToken) RS_FIELDS_DISPATCH(TokenExtras)
  RS_FIELDS_DISPATCH(TokenExtrasList)
}
#undef RS_FIELDS_DISPATCH

}  // namespace rs::schemas::detail
