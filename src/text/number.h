/* Number formatting for output: fast decimal integers, hexadecimal, and doubles in the shortest
 * form that reads back to the same value (Rust's Debug style: 0.5, 1.0, 1e16, -3.5e-7). */
#ifndef TRACE_TEXT_NUMBER_H
#define TRACE_TEXT_NUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Writes the decimal digits of v into out (at least 20 bytes); returns the length. */
size_t trace__u64_dec(char *out, uint64_t v);
size_t trace__i64_dec(char *out, int64_t v); /* at least 21 bytes */

void trace__buf_u64(trace__buf *b, uint64_t v);
void trace__buf_i64(trace__buf *b, int64_t v);
/* 0x-prefixed lowercase hex, as Rust prints pointers. */
void trace__buf_ptr(trace__buf *b, const void *p);
/* Shortest round-trip form; NaN/inf as NaN, inf, -inf (json: false) or null (json: true). */
void trace__buf_f64(trace__buf *b, double v, bool json);

#endif
