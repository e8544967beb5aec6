// The sequence filters (filters_seq.cpp), declared for the registry in filters.cpp.
// Called on the rendering thread only.
#pragma once

#include "value.h"

namespace rs::engine::jinja {

Value f_batch(Evaluator& ev, const Value& v, CallArgs& args);
Value f_dictsort(Evaluator& ev, const Value& v, CallArgs& args);
Value f_first(Evaluator& ev, const Value& v, CallArgs& args);
Value f_items(Evaluator& ev, const Value& v, CallArgs& args);
Value f_join(Evaluator& ev, const Value& v, CallArgs& args);
Value f_last(Evaluator& ev, const Value& v, CallArgs& args);
Value f_list(Evaluator& ev, const Value& v, CallArgs& args);
Value f_map(Evaluator& ev, const Value& v, CallArgs& args);
Value f_max(Evaluator& ev, const Value& v, CallArgs& args);
Value f_min(Evaluator& ev, const Value& v, CallArgs& args);
Value f_reject(Evaluator& ev, const Value& v, CallArgs& args);
Value f_rejectattr(Evaluator& ev, const Value& v, CallArgs& args);
Value f_reverse(Evaluator& ev, const Value& v, CallArgs& args);
Value f_select(Evaluator& ev, const Value& v, CallArgs& args);
Value f_selectattr(Evaluator& ev, const Value& v, CallArgs& args);
Value f_slice(Evaluator& ev, const Value& v, CallArgs& args);
Value f_sort(Evaluator& ev, const Value& v, CallArgs& args);
Value f_sum(Evaluator& ev, const Value& v, CallArgs& args);
Value f_unique(Evaluator& ev, const Value& v, CallArgs& args);

}  // namespace rs::engine::jinja
