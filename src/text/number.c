#include "number.h"

const char trace__digit_pairs[201] = "00010203040506070809101112131415161718192021222324252627282930"
                                    "31323334353637383940414243444546474849505152535455565758596061"
                                    "62636465666768697071727374757677787980818283848586878889909192"
                                    "93949596979899";

void trace__buf_ptr(trace__buf *b, const void *p) {
  static const char hex[] = "0123456789abcdef";
  char tmp[18];
  uintptr_t v = (uintptr_t)p;
  char *q = tmp + sizeof tmp;
  do {
    *--q = hex[v & 0xF];
    v >>= 4;
  } while (v);
  *--q = 'x';
  *--q = '0';
  trace__buf_put(b, q, (size_t)(tmp + sizeof tmp - q));
}
