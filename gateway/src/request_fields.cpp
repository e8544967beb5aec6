// The shared request fields: body checks, typed field readers, generation parameters.
#include "request_fields.h"

#include <cmath>
#include <limits>

namespace rs::gateway {

namespace {

// One pass over the body outside strings, calling on_open(depth, bracket) at '[' / '{',
// on_member(depth) at ',' and on_close(depth) at ']' / '}' (depth: the container's level).
template <typename Open, typename Member, typename Close>
void scan_structure(std::string_view body, Open on_open, Member on_member, Close on_close) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      on_open(++depth, c);
    } else if (c == ',' && depth > 0) {
      on_member(depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      on_close(depth--);
    }
  }
}

}  // namespace

size_t json_depth(std::string_view body) {
  size_t max_depth = 0;
  scan_structure(
      body, [&](size_t d, char) { max_depth = std::max(max_depth, d); }, [](size_t) {},
      [](size_t) {});
  return max_depth;
}

size_t json_widest_object(std::string_view body) {
  // Commas per open object (one more member than commas); arrays are not counted. Levels
  // past kLevels share the last slot, which only over-counts (a body that deep is refused
  // anyway).
  constexpr size_t kLevels = 64;
  std::vector<size_t> commas(kLevels + 1, 0);
  std::vector<bool> is_object(kLevels + 1, false);
  size_t widest = 0;
  auto slot = [&](size_t d) { return std::min(d, kLevels); };
  scan_structure(
      body,
      [&](size_t d, char bracket) {
        commas[slot(d)] = 0;
        is_object[slot(d)] = bracket == '{';
      },
      [&](size_t d) {
        if (is_object[slot(d)]) widest = std::max(widest, ++commas[slot(d)] + 1);
      },
      [](size_t) {});
  return widest;
}

std::optional<ApiError> parse_body_object(std::string_view body, const RequestLimits& limits,
                                          Json& out) {
  if (json_depth(body) > limits.max_json_depth) {
    return bad_request(
        "", "JSON nested deeper than " + std::to_string(limits.max_json_depth) + " levels",
        "invalid_json");
  }
  if (json_widest_object(body) > limits.max_object_members) {
    return bad_request(
        "",
        "a JSON object with more than " + std::to_string(limits.max_object_members) + " members",
        "invalid_json");
  }
  out = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    return bad_request("", "the body is not valid JSON (UTF-8)", "invalid_json");
  }
  if (!out.is_object()) return bad_request("", "the body must be a JSON object", "invalid_json");
  return std::nullopt;
}

const char* json_type_name(const Json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

ApiError wrong_type(const std::string& param, const char* want, const Json& v) {
  return bad_request(param, "'" + param + "' must be " + want + ", got " + json_type_name(v),
                     "invalid_type");
}

bool field_given(const Json& body, const char* name) {
  auto it = body.find(name);
  return it != body.end() && !it->is_null();
}

std::optional<ApiError> number_field(const Json& body, const char* name, double lo, double hi,
                                     double& out) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return wrong_type(name, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return bad_request(name, "'" + std::string(name) + "' must be between " + Json(lo).dump() +
                                 " and " + Json(hi).dump() + ", got " + it->dump());
  }
  out = v;
  return std::nullopt;
}

std::optional<ApiError> integer_field(const Json& body, const char* name, int64_t lo, int64_t hi,
                                      int64_t& out, bool* given) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return wrong_type(name, "an integer", *it);
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    return bad_request(name, "'" + std::string(name) + "' must be at most " + std::to_string(hi));
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return bad_request(name, "'" + std::string(name) + "' must be between " + std::to_string(lo) +
                                 " and " + std::to_string(hi) + ", got " + std::to_string(v));
  }
  out = v;
  if (given != nullptr) *given = true;
  return std::nullopt;
}

std::optional<ApiError> bool_field(const Json& body, const char* name, bool& out) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return wrong_type(name, "a boolean", *it);
  out = it->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> string_field(const Json& body, const char* name, size_t max_bytes,
                                     std::string& out) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return wrong_type(name, "a string", *it);
  out = it->get<std::string>();
  if (out.size() > max_bytes) {
    return bad_request(
        name, "'" + std::string(name) + "' is longer than " + std::to_string(max_bytes) + " bytes");
  }
  return std::nullopt;
}

namespace {

std::optional<ApiError> parse_stop(const Json& body, GenerationParams& out) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) {
    out.stop = {it->get<std::string>()};
  } else if (it->is_array()) {
    for (const Json& s : *it) {
      if (!s.is_string()) return wrong_type("stop", "a string or an array of strings", s);
      out.stop.push_back(s.get<std::string>());
    }
  } else {
    return wrong_type("stop", "a string or an array of strings", *it);
  }
  for (const auto& s : out.stop) {
    if (s.empty() || s.size() > 256)
      return bad_request("stop", "each 'stop' string must be 1 to 256 bytes");
  }
  if (out.stop.size() > 4) return bad_request("stop", "at most 4 'stop' strings");
  return std::nullopt;
}

// Fields we cannot honour with the value given: a 400 naming them, never ignored.
std::optional<ApiError> refuse_shared(const Json& body) {
  if (field_given(body, "logit_bias") &&
      !(body["logit_bias"].is_object() && body["logit_bias"].empty())) {
    return unsupported_field("logit_bias", "");
  }
  for (const char* name : {"presence_penalty", "frequency_penalty"}) {
    double v = 0;
    if (auto e = number_field(body, name, -2.0, 2.0, v)) return e;
    if (v != 0) return unsupported_field(name, "other than 0");
  }
  return std::nullopt;
}

std::optional<ApiError> parse_sampling(const Json& body, GenerationParams& out) {
  double temperature = 1.0, top_p = 1.0, min_p = 0.0, repetition = 1.0;
  if (auto e = number_field(body, "temperature", 0.0, 2.0, temperature)) return e;
  if (auto e = number_field(body, "top_p", 0.0, 1.0, top_p)) return e;
  if (auto e = number_field(body, "min_p", 0.0, 1.0, min_p)) return e;
  if (auto e = number_field(body, "repetition_penalty", 0.01, 10.0, repetition)) return e;
  if (top_p <= 0) return bad_request("top_p", "'top_p' must be > 0");
  int64_t top_k = 0, seed = 0;
  if (auto e = integer_field(body, "top_k", -1, 1 << 20, top_k)) return e;
  if (auto e = integer_field(body, "seed", std::numeric_limits<int64_t>::min(),
                             std::numeric_limits<int64_t>::max(), seed, &out.seed_given)) {
    return e;
  }
  out.sampling.temperature = static_cast<float>(temperature);
  out.sampling.top_p = static_cast<float>(top_p);
  out.sampling.min_p = static_cast<float>(min_p);
  out.sampling.repetition_penalty = static_cast<float>(repetition);
  out.sampling.top_k = top_k < 0 ? 0 : static_cast<int32_t>(top_k);
  out.sampling.seed = static_cast<uint64_t>(seed);
  return std::nullopt;
}

std::optional<ApiError> parse_lengths(const Json& body, const RequestLimits& limits,
                                      GenerationParams& out) {
  int64_t max_tokens = out.max_tokens, n = 1;
  if (auto e = integer_field(body, "max_tokens", 0, limits.max_tokens, max_tokens)) return e;
  if (auto e = integer_field(body, "max_completion_tokens", 0, limits.max_tokens, max_tokens))
    return e;
  if (auto e = integer_field(body, "n", 1, limits.max_n, n)) return e;
  out.max_tokens = static_cast<uint32_t>(max_tokens);
  out.n = static_cast<uint32_t>(n);
  return std::nullopt;
}

std::optional<ApiError> parse_extensions(const Json& body, GenerationParams& out) {
  if (auto e = bool_field(body, "stream", out.stream)) return e;
  auto so = body.find("stream_options");
  if (so != body.end() && !so->is_null()) {
    if (!so->is_object()) return wrong_type("stream_options", "an object", *so);
    if (auto e = bool_field(*so, "include_usage", out.include_usage)) {
      e->param = "stream_options.include_usage";
      return e;
    }
  }
  if (auto e = string_field(body, "user", 256, out.user)) return e;
  if (auto e = string_field(body, "affinity_key", 256, out.affinity_key)) return e;
  if (auto e = bool_field(body, "ignore_eos", out.ignore_eos)) return e;
  if (auto e = bool_field(body, "background", out.background)) return e;
  std::string priority;
  if (auto e = string_field(body, "priority", 32, priority)) return e;
  if (!priority.empty()) {
    auto p = schemas::parse_priority(priority);
    if (!p) return bad_request("priority", "'priority' must be \"interactive\" or \"batch\"");
    out.priority = *p;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> parse_generation_params(const Json& body, const RequestLimits& limits,
                                                GenerationParams& out) {
  if (auto e = string_field(body, "model", 256, out.model)) return e;
  if (out.model.empty())
    return bad_request("model", "'model' is required", "missing_required_parameter");
  if (auto e = refuse_shared(body)) return e;
  if (auto e = parse_sampling(body, out)) return e;
  if (auto e = parse_lengths(body, limits, out)) return e;
  if (auto e = parse_stop(body, out)) return e;
  return parse_extensions(body, out);
}

}  // namespace rs::gateway
