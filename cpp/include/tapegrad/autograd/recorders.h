// What listens to this thread's ops: the active tapes (innermost last) and at most one trace.
// One thread-local record, so "is anything recording?" is a single check on the eager hot path.
#pragma once
#include <vector>

namespace tg {

class Tape;
class Trace;
class VariableWatcher;
class ForwardAccumulator;

namespace detail {
struct Recorders {
  std::vector<Tape*> tapes;  // a tape in one thread never sees another's ops
  Trace* trace = nullptr;
  std::vector<VariableWatcher*> variable_watchers;  // see tape.h
  std::vector<ForwardAccumulator*> accumulators;    // forward mode, innermost last (forward.h)
};
Recorders& recorders();
}  // namespace detail

inline Trace* active_trace() { return detail::recorders().trace; }

// With nothing recording, the cost of recording an op is this one check.
inline bool any_recorder_active() {
  const detail::Recorders& r = detail::recorders();
  return !r.tapes.empty() || r.trace != nullptr || !r.accumulators.empty();
}

}  // namespace tg
