// libtrace for C++17: span handles that own their reference and guards that enter a span for a
// scope, over the C API of <trace.h> (header-only; link libtrace as from C). The macros of
// trace.h are the instrumentation in C++ too; this header adds the RAII half of it:
//
//   #include <trace.hpp>
//
//   trace::span req = TRACE_INFO_SPAN("request", TF(path, path), TF(status, TRACE_EMPTY));
//   {
//     auto entry = req.enter();              // entered until the end of the block
//     TRACE_INFO(TF(user, name), "loaded");  // name: a std::string
//     req.record("status", 200);
//   }
//   std::thread worker([s = req] {           // a copy is a new reference (trace_span_clone)
//     auto entry = s.enter();
//     TRACE_DEBUG("on another thread, inside request");
//   });
//
//   void handle() {
//     trace::entered_span g = TRACE_INFO_SPAN("handle");  // entered now, exited and closed at
//     ...                                                  // the end of the scope, however it ends
//   }
//
// Nothing here throws or allocates beyond what the C functions do; a none span (disabled,
// closed, moved from) accepts every operation as a no-op, as in C. Handles work on any thread;
// an entry (span_entry, entered_span) belongs to the thread that entered: destroy it there.
#ifndef TRACE_HPP
#define TRACE_HPP

#if __cplusplus < 201703L
#error "trace.hpp needs C++17 (trace.h alone works from C++11)"
#endif

#include <utility>

#include "trace.h"

namespace trace {

// Keeps a span entered on this thread while it lives: made by span::enter(), it exits the span
// when destroyed (or at exit()). It does not own the span: the span must outlive it, as a mutex
// outlives its lock_guard. Movable (within the thread), not copyable.
class [[nodiscard]] span_entry {
public:
  span_entry(span_entry &&other) noexcept : s_(other.s_) { other.s_ = trace_span_none(); }
  span_entry &operator=(span_entry &&other) noexcept {
    if (this != &other) {
      exit();
      s_ = other.s_;
      other.s_ = trace_span_none();
    }
    return *this;
  }
  span_entry(const span_entry &) = delete;
  span_entry &operator=(const span_entry &) = delete;
  ~span_entry() { exit(); }

  // Exits now rather than at destruction; later calls do nothing.
  void exit() noexcept {
    if (s_.id)
      trace_span_exit(&s_);
    s_ = trace_span_none();
  }

private:
  friend class span;
  friend class entered_span;
  // Enters through a copy of the handle (ids and dispatchers are values), so moving the span
  // object around meanwhile is harmless.
  explicit span_entry(const trace_span &s) noexcept : s_(s) {
    if (s_.id)
      trace_span_enter(&s_);
  }
  trace_span s_;
};

class entered_span;

// One reference to a span, closed when the object is destroyed; the C++ face of trace_span.
// Copying makes another reference (trace_span_clone), so a span can be captured by lambdas,
// stored in std::function and handed to other threads; moving transfers the reference.
class span {
public:
  // None.
  span() noexcept : s_(trace_span_none()) {}
  // Adopts a reference the caller owned: a span macro's result, or a handle moved in (which is
  // then set to none).   trace::span s = TRACE_INFO_SPAN("name", TF(k, v));
  span(trace_span &&s) noexcept : s_(s) { s = trace_span_none(); }
  span(const span &other) noexcept : s_(trace_span_clone(&other.s_)) {}
  span(span &&other) noexcept : s_(other.s_) { other.s_ = trace_span_none(); }
  span &operator=(span other) noexcept {
    swap(other);
    return *this;
  }
  ~span() { close(); }

  // The span this thread is in (innermost entered span), none if there is none.
  static span current() noexcept { return span(trace_span_current()); }

  // Another reference to the same span (what the copy constructor does, spelled out).
  span clone() const noexcept { return *this; }

  bool is_none() const noexcept { return s_.id == 0; }
  explicit operator bool() const noexcept { return s_.id != 0; }
  // The span's name, nullptr for none.
  const char *name() const noexcept { return trace_span_name(&s_); }

  // Sets a field declared when the span was created (TF(field, TRACE_EMPTY)) to value, typed as
  // TF types it (std::string, std::string_view and enum class included). The subscriber copies
  // strings before this returns. Returns 0, TRACE_ECLOSED for none, TRACE_ENOFIELD for a field
  // the span did not declare (reported once per callsite and field, see trace_span_record).
  template <class T> int record(const char *field, const T &value) const noexcept {
    if (s_.id == 0)
      return TRACE_ECLOSED;
    return trace_span_record(&s_, field, trace_i_make_value(value));
  }

  // Records that this span follows from cause: see trace_span_follows_from.
  int follows_from(const span &cause) const noexcept {
    return trace_span_follows_from(&s_, &cause.s_);
  }

  // Enters the span on this thread until the returned guard is destroyed.
  //   auto entry = s.enter();
  span_entry enter() const & noexcept { return span_entry(s_); }
  // A temporary span would be closed while still entered: use entered() for that.
  void enter() const && = delete;

  // Moves the span into a guard that keeps it entered, then exits and closes it.
  //   auto g = trace::span(TRACE_INFO_SPAN("step")).entered();
  entered_span entered() && noexcept;

  // Runs f() with the span entered on this thread and returns its result; the span is exited
  // however f ends (an exception passes through).
  template <class F> decltype(auto) in_scope(F &&f) const {
    span_entry entry = enter();
    return std::forward<F>(f)();
  }

  // Drops the reference now; the object is none afterwards.
  void close() noexcept { trace_span_close(&s_); }

  // The C handle, for the C API and the macros: TRACE_EVENT_IN(s.get(), ...),
  // TRACE_SPAN_IN(s.get(), ...), TRACE_RECORD(s.get(), k, v). Owned by this object.
  const trace_span *get() const noexcept { return &s_; }
  // Gives up the reference to the caller, who closes it (trace_span_close); this becomes none.
  trace_span release() noexcept {
    trace_span s = s_;
    s_ = trace_span_none();
    return s;
  }

  void swap(span &other) noexcept { std::swap(s_, other.s_); }
  friend void swap(span &a, span &b) noexcept { a.swap(b); }

private:
  friend class entered_span;
  trace_span s_;
};

// A span entered for the lifetime of this guard, then exited and closed: the RAII form of
// TRACE_SCOPE.
//   trace::entered_span g = TRACE_INFO_SPAN("handle", TF(id, id));
// Movable (within the thread that entered: the entry belongs to it), not copyable.
class [[nodiscard]] entered_span {
public:
  // None.
  entered_span() noexcept : entry_(trace_span_none()) {}
  // Adopts a reference (a span macro's result) and enters it.
  entered_span(trace_span &&s) noexcept : entered_span(trace::span(std::move(s))) {}
  // Takes the span and enters it.
  explicit entered_span(trace::span s) noexcept : span_(std::move(s)), entry_(*span_.get()) {}
  entered_span(entered_span &&other) noexcept = default;
  entered_span &operator=(entered_span &&other) noexcept {
    if (this != &other) {
      entry_.exit(); // exit before the span it entered is closed
      entry_ = std::move(other.entry_);
      span_ = std::move(other.span_);
    }
    return *this;
  }
  entered_span(const entered_span &) = delete;
  entered_span &operator=(const entered_span &) = delete;
  // Exits, then closes: in one call (trace_span_end) while the entry is still the span's.
  ~entered_span() {
    if (entry_.s_.id != 0 && entry_.s_.id == span_.s_.id && entry_.s_.dispatch == span_.s_.dispatch) {
      entry_.s_ = trace_span_none();
      trace_span_end(&span_.s_);
    } else {
      entry_.exit(); // then span_ closes
    }
  }

  // Exits the span and gives it back (to be entered again elsewhere, or on another thread).
  trace::span exit() && noexcept {
    entry_.exit();
    return std::move(span_);
  }

  // The span, for record(), get(), clone()...
  const trace::span &span() const noexcept { return span_; }

private:
  trace::span span_;
  span_entry entry_;
};

inline entered_span span::entered() && noexcept { return entered_span(std::move(*this)); }

} // namespace trace

#endif // TRACE_HPP
