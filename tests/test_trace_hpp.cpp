// trace.hpp: span handles that own their reference, entry guards, spans in lambdas and threads.
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>

#include "trace.hpp"

#include "helpers.hpp"

// The ownership rules, as types.
static_assert(std::is_copy_constructible<trace::span>::value, "a copy is a new reference");
static_assert(std::is_nothrow_move_constructible<trace::span>::value, "");
static_assert(std::is_nothrow_move_assignable<trace::span>::value, "");
static_assert(!std::is_copy_constructible<trace::entered_span>::value, "one entry, one exit");
static_assert(!std::is_copy_assignable<trace::entered_span>::value, "");
static_assert(std::is_nothrow_move_constructible<trace::entered_span>::value, "");
static_assert(std::is_nothrow_move_assignable<trace::entered_span>::value, "");
static_assert(!std::is_copy_constructible<trace::span_entry>::value, "");
static_assert(std::is_nothrow_move_constructible<trace::span_entry>::value, "");
// Only a fresh reference converts implicitly: a trace_span lvalue must be moved in.
static_assert(std::is_convertible<trace_span &&, trace::span>::value, "");
static_assert(!std::is_convertible<trace_span &, trace::span>::value, "");
static_assert(!std::is_constructible<trace::span, const trace_span &>::value, "");

enum class phase : unsigned { parse = 1, run = 2 };

static void span_owns_one_reference(void **) {
  expect_log(
      [] {
        {
          trace::span a = TRACE_INFO_SPAN("a", TF(n, 1));
          assert_true(static_cast<bool>(a));
          assert_string_equal(a.name(), "a");
          trace::span copy = a; // a second reference: closing needs both gone
          trace::span moved = std::move(a);
          assert_true(a.is_none());
          assert_null(a.name());
          copy.close();
          assert_true(copy.is_none());
          TRACE_INFO("a still open");
        } // moved closes the span here
        trace_span raw = TRACE_INFO_SPAN("raw");
        trace::span adopted(std::move(raw)); // the C handle is given up
        assert_true(trace_span_is_none(&raw));
        trace::span other = TRACE_INFO_SPAN("other");
        adopted = other; // drops "raw", shares "other"
        trace_span back = other.release();
        assert_true(other.is_none());
        trace_span_close(&back);
      },
      "new 1 a parent=- n=1\n"
      "event INFO test_trace_hpp: a still open\n"
      "close 1\n"
      "new 2 raw parent=-\n"
      "new 3 other parent=-\n"
      "close 2\n"
      "close 3\n");
}

// entered_span: the RAII form of TRACE_SCOPE (entered now, exited and closed at scope end).
static trace::entered_span make_entered(int id) {
  trace::entered_span g = TRACE_INFO_SPAN("made", TF(id, id));
  TRACE_INFO("in maker");
  return g; // moved out, still entered
}

static void entered_span_scopes(void **) {
  expect_log(
      [] {
        {
          trace::entered_span g = TRACE_INFO_SPAN("scope", TF(k, "v"));
          TRACE_INFO("inside");
          g.span().record("k", std::string("recorded"));
        }
        TRACE_INFO("outside");
        {
          trace::entered_span g = make_entered(7);
          TRACE_INFO("still in made");
          trace::entered_span h = std::move(g);
          trace::span s = std::move(h).exit(); // exits, keeps the span open
          TRACE_INFO("exited, open");
          auto again = std::move(s).entered();
          TRACE_INFO("entered again");
        }
        trace::entered_span none;
        TRACE_INFO("after");
      },
      "new 1 scope parent=- k=\"v\"\n"
      "enter 1\n"
      "event INFO test_trace_hpp: inside in=1\n"
      "record 1 k=\"recorded\"\n"
      "exit 1\n"
      "close 1\n"
      "event INFO test_trace_hpp: outside\n"
      "new 2 made parent=- id=7\n"
      "enter 2\n"
      "event INFO test_trace_hpp: in maker in=2\n"
      "event INFO test_trace_hpp: still in made in=2\n"
      "exit 2\n"
      "event INFO test_trace_hpp: exited, open\n"
      "enter 2\n"
      "event INFO test_trace_hpp: entered again in=2\n"
      "exit 2\n"
      "close 2\n"
      "event INFO test_trace_hpp: after\n");
}

// Moving an entered_span onto one that is entered exits and closes the old one first.
static void entered_span_move_assignment(void **) {
  expect_log(
      [] {
        trace::entered_span a = TRACE_INFO_SPAN("a");
        trace::entered_span b = TRACE_INFO_SPAN("b");
        a = std::move(b);
        TRACE_INFO("in b");
      },
      "new 1 a parent=-\n"
      "enter 1\n"
      "new 2 b parent=1\n"
      "enter 2\n"
      "exit 1\n"
      "close 1\n"
      "event INFO test_trace_hpp: in b in=2\n"
      "exit 2\n"
      "close 2\n");
}

static void span_entry_guards(void **) {
  expect_log(
      [] {
        trace::span s = TRACE_INFO_SPAN("s", TF(step, TRACE_EMPTY));
        {
          auto e = s.enter();
          TRACE_INFO("entered");
          auto moved = std::move(e); // one exit, from the guard that holds the entry
        }
        auto e = s.enter();
        e.exit();
        e.exit(); // once only
        TRACE_INFO("not entered");
        assert_int_equal(s.record("step", phase::run), 0);
        trace::span none;
        assert_int_equal(none.record("step", 1), TRACE_ECLOSED);
        auto ne = none.enter(); // a none span enters as a no-op
      },
      "new 1 s parent=-\n"
      "enter 1\n"
      "event INFO test_trace_hpp: entered in=1\n"
      "exit 1\n"
      "enter 1\n"
      "exit 1\n"
      "event INFO test_trace_hpp: not entered\n"
      "record 1 step=2\n"
      "close 1\n");
}

// in_scope returns f's result; an exception passes through after the span is exited. TRACE_SCOPE
// (a cleanup attribute) exits on unwinding too.
static int throws_in_scope() {
  TRACE_SCOPE(TRACE_LEVEL_INFO, "c-scope");
  throw std::runtime_error("boom");
}

static void in_scope_and_exceptions(void **) {
  expect_log(
      [] {
        trace::span s = TRACE_INFO_SPAN("work");
        int r = s.in_scope([] {
          TRACE_INFO("computing");
          return 42;
        });
        assert_int_equal(r, 42);
        bool caught = false;
        try {
          s.in_scope([] { throw std::runtime_error("boom"); });
        } catch (const std::runtime_error &) {
          caught = true;
          TRACE_INFO("caught");
        }
        assert_true(caught);
        try {
          throws_in_scope();
        } catch (const std::runtime_error &) {
          TRACE_INFO("caught again");
        }
      },
      "new 1 work parent=-\n"
      "enter 1\n"
      "event INFO test_trace_hpp: computing in=1\n"
      "exit 1\n"
      "enter 1\n"
      "exit 1\n"
      "event INFO test_trace_hpp: caught\n"
      "new 2 c-scope parent=-\n"
      "enter 2\n"
      "exit 2\n"
      "close 2\n"
      "event INFO test_trace_hpp: caught again\n"
      "close 1\n");
}

static void current_and_follows_from(void **) {
  expect_log(
      [] {
        assert_true(trace::span::current().is_none());
        trace::span a = TRACE_INFO_SPAN("a");
        trace::span b = TRACE_SPAN_IN(TRACE_ROOT, TRACE_LEVEL_INFO, "b");
        auto e = a.enter();
        trace::span cur = trace::span::current();
        assert_string_equal(cur.name(), "a");
        assert_int_equal(b.follows_from(cur), 0);
        assert_int_equal(b.follows_from(trace::span()), TRACE_ECLOSED);
        TRACE_EVENT_IN(b.get(), TRACE_LEVEL_INFO, "explicit parent");
      },
      "new 1 a parent=-\n"
      "new 2 b parent=-\n"
      "enter 1\n"
      "follows 2 1\n"
      "event INFO test_trace_hpp: explicit parent in=2\n"
      "exit 1\n"
      "close 2\n"
      "close 1\n");
}

// Spans go to other threads by copy or by move, inside lambdas, std::function included; the
// events of a worker that entered the span have it as their parent. (The global default, so
// that the workers see the subscriber; TSan runs this test too.)
static void spans_across_threads(void **) {
  trace_capture *cap = trace_capture_new(TRACE_LEVEL_TRACE);
  assert_int_equal(trace_set_global_default(trace_capture_dispatch(cap)), 0);
  {
    trace::span req = TRACE_INFO_SPAN("request", TF(done, TRACE_EMPTY));
    std::thread by_copy([s = req] {
      auto e = s.enter();
      TRACE_INFO(TF(worker, std::string("copy")), "working");
    });
    by_copy.join();
    std::function<void()> job = [s = req.clone()] { s.in_scope([] { TRACE_INFO("from a job"); }); };
    std::thread by_function(job);
    by_function.join();
    job = nullptr; // drops the lambda's reference
    std::thread by_move([s = std::move(req)]() mutable {
      trace::entered_span g = TRACE_INFO_SPAN("child");
      g.span().follows_from(s);
      s.record("done", true);
    });
    by_move.join();
    assert_true(req.is_none());
  }
  trace_shutdown();
  assert_string_equal(trace_capture_log(cap), "new 1 request parent=-\n"
                                              "enter 1\n"
                                              "event INFO test_trace_hpp: working worker=\"copy\" in=1\n"
                                              "exit 1\n"
                                              "enter 1\n"
                                              "event INFO test_trace_hpp: from a job in=1\n"
                                              "exit 1\n"
                                              "new 2 child parent=-\n"
                                              "enter 2\n"
                                              "follows 2 1\n"
                                              "record 1 done=true\n"
                                              "exit 2\n"
                                              "close 2\n"
                                              "close 1\n");
  trace_capture_free(cap);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(span_owns_one_reference),      cmocka_unit_test(entered_span_scopes),
      cmocka_unit_test(entered_span_move_assignment), cmocka_unit_test(span_entry_guards),
      cmocka_unit_test(in_scope_and_exceptions),      cmocka_unit_test(current_and_follows_from),
      cmocka_unit_test(spans_across_threads)};
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
