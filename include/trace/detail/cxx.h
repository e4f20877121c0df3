/* The C++ half of the macro plumbing of trace.h (C++11 and later): field values by overloading
 * where C uses _Generic, the checks that keep runtime strings out of static callsite metadata,
 * and the temporary that carries an event's values. Included by detail/macros.h in C++ only;
 * never include it directly. Nothing here is API: names start with TRACE_I_ / trace_i_ and may
 * change in any release. */
#ifndef TRACE_DETAIL_CXX_H
#define TRACE_DETAIL_CXX_H

#include <cstddef>
#include <type_traits>

/* ---------------------------------------------------------------------------------------- */
/* Field values: the C types, one overload each, typed as _Generic types them in C. */

static inline trace_value trace_i_make_value(bool x) { return trace_value_bool(x); }
static inline trace_value trace_i_make_value(char x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(signed char x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(short x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(int x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(long x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(long long x) { return trace_value_i64(x); }
static inline trace_value trace_i_make_value(unsigned char x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned short x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned long x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(unsigned long long x) { return trace_value_u64(x); }
static inline trace_value trace_i_make_value(float x) { return trace_value_f64(x); }
static inline trace_value trace_i_make_value(double x) { return trace_value_f64(x); }
static inline trace_value trace_i_make_value(long double x) { return trace_value_f64((double)x); }
static inline trace_value trace_i_make_value(const char *x) { return trace_value_str(x); }
static inline trace_value trace_i_make_value(const void *x) { return trace_value_ptr(x); }
static inline trace_value trace_i_make_value(decltype(nullptr)) { return trace_value_ptr(0); }
static inline trace_value trace_i_make_value(trace_empty_t) { return trace_value_empty(); }
static inline trace_value trace_i_make_value(trace_value v) { return v; }

/* C++ types, recognised by their shape so that this header needs no <string>:
 *   string-likes: a class whose data() is a pointer to char and whose size() is a size
 *     (std::string, std::string_view, std::vector<char>, ...): a string of size() bytes;
 *   scoped enums (enum class): their underlying integer, i64 or u64 by its signedness
 *     (unscoped enums promote to an integer type and take its overload, as in C);
 *   any other class: one static assertion that lists what TF() takes, instead of a page of
 *     overload candidates. */
template <class...> struct trace_i_void {
  typedef void type;
};
template <class T> struct trace_i_false : std::false_type {};

/* data() gives P and size() gives S: a string when P points to char and S is a size. */
template <class P, class S> struct trace_i_is_chars : std::false_type {};
template <class S> struct trace_i_is_chars<char *, S> : std::is_convertible<S, size_t> {};
template <class S> struct trace_i_is_chars<const char *, S> : std::is_convertible<S, size_t> {};
template <class T, class = void> struct trace_i_is_string_like : std::false_type {};
template <class T>
struct trace_i_is_string_like<
    T, typename trace_i_void<decltype(std::declval<const T &>().data()),
                             decltype(std::declval<const T &>().size())>::type>
    : trace_i_is_chars<decltype(std::declval<const T &>().data()),
                       decltype(std::declval<const T &>().size())> {};

template <class T>
struct trace_i_is_scoped_enum
    : std::integral_constant<bool, std::is_enum<T>::value && !std::is_convertible<T, int>::value> {
};

template <class T>
struct trace_i_is_unsupported
    : std::integral_constant<bool, (std::is_class<T>::value || std::is_union<T>::value) &&
                                       !trace_i_is_string_like<T>::value &&
                                       !std::is_convertible<const T &, long long>::value &&
                                       !std::is_convertible<const T &, const void *>::value &&
                                       !std::is_convertible<const T &, trace_value>::value &&
                                       !std::is_convertible<const T &, trace_empty_t>::value> {};

template <class T>
static inline typename std::enable_if<trace_i_is_string_like<T>::value, trace_value>::type
trace_i_make_value(const T &s) {
  return trace_value_strn(s.data(), static_cast<size_t>(s.size()));
}

template <class T>
static inline typename std::enable_if<trace_i_is_scoped_enum<T>::value, trace_value>::type
trace_i_make_value(T e) {
  typedef typename std::underlying_type<T>::type U;
  return std::is_signed<U>::value ? trace_value_i64(static_cast<int64_t>(e))
                                  : trace_value_u64(static_cast<uint64_t>(e));
}

/* Chosen for classes no other overload takes. Its result type holds the assertion: the
 * candidate stays viable (no list of rejected overloads follows the message), and the type must
 * be complete wherever the call is used, the unevaluated checks of compiled-out callsites too. */
template <class T> struct trace_i_unsupported_field {
  static_assert(
      trace_i_false<T>::value,
      "libtrace: TF() takes integers, floating point, bool, enums, strings (const char *, "
      "std::string, std::string_view, any class with char data() and size()), pointers, "
      "TRACE_EMPTY or a trace_value; use TF_FMT for other types");
  operator trace_value() const { return trace_value_empty(); }
};
template <class T, class = typename std::enable_if<trace_i_is_unsupported<T>::value>::type>
static inline trace_i_unsupported_field<T> trace_i_make_value(const T &) {
  return trace_i_unsupported_field<T>();
}

/* ---------------------------------------------------------------------------------------- */
/* Literal-only metadata. A format, a span name or a target is stored in the callsite, a static
 * made once. C accepts only constants there; C++ would initialise the static at run time from
 * the first call's value and keep it forever (a later call would print the first message, or
 * read a destroyed temporary as its format). The macros therefore check the argument's type
 * (a string literal is an lvalue of type const char[N], and so is __func__) with one clear
 * static assertion, then copy it into a constexpr pointer: that rejects the arrays whose address
 * is not a constant (a local array, a member reached through a pointer) as C would. */

template <class T> struct trace_i_is_literal : std::false_type {};
template <size_t N> struct trace_i_is_literal<const char (&)[N]> : std::true_type {};
template <class T> struct trace_i_is_format : trace_i_is_literal<T> {};
template <class T> struct trace_i_is_span_name : trace_i_is_literal<T> {};
/* A target may also be the default, TRACE_TARGET's nullptr ("derive it from the file name"). */
template <class T> struct trace_i_is_target : trace_i_is_literal<T> {};
template <> struct trace_i_is_target<decltype(nullptr)> : std::true_type {};

/* The pointer to store, read only when the type check passed (behind ?: in the macros), so a
 * rejected argument meets the static assertion alone. */
constexpr const char *trace_i_literal_ptr(const char *s) { return s; }
template <class T> constexpr const char *trace_i_literal_ptr(const T &) { return nullptr; }

#define TRACE_I_MSG_format                                                                         \
  "libtrace: the message format must be a string literal; pass runtime text as an argument: "      \
  "TRACE_INFO(\"%s\", text)"
#define TRACE_I_MSG_span_name                                                                      \
  "libtrace: a span name must be a string literal (or __func__); put runtime text in a field: "    \
  "TF(name, text)"
#define TRACE_I_MSG_target                                                                         \
  "libtrace: a target must be a string literal (TRACE_EVENT_AT, TRACE_SPAN_AT, TRACE_TARGET)"

/* For the expression form of compiled-out spans, where no static_assert statement fits. */
template <class T> struct trace_i_check_name {
  static_assert(trace_i_is_span_name<T>::value, TRACE_I_MSG_span_name);
};
template <class T> struct trace_i_check_target {
  static_assert(trace_i_is_target<T>::value, TRACE_I_MSG_target);
};

/* ---------------------------------------------------------------------------------------- */
/* An event's or a new span's values, as a temporary array of the call expression itself: a
 * temporary in a field (TF(s, std::to_string(n)), TF(s, str().c_str())) then lives until the
 * call returns, where a separate array declaration would see it destroyed first. */
template <size_t N> static inline const trace_value *trace_i_values(const trace_value (&v)[N]) {
  return v;
}

#endif /* TRACE_DETAIL_CXX_H */
